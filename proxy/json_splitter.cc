#include "proxy/json_splitter.h"

#include <algorithm>
#include <cstring>

#include "proxy/json_scan.h"

namespace proxy {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

ListSplitter::ListSplitter(std::vector<std::string> split_keys, MemberFn on_member,
                           ElementFn on_element, size_t max_value_bytes)
    : split_keys_(std::move(split_keys)),
      on_member_(std::move(on_member)),
      on_element_(std::move(on_element)),
      max_(max_value_bytes) {}

kube::Outcome ListSplitter::Fail(std::string_view what) {
  state_ = State::kDone;
  syntax_error_ = true;
  return kube::NewInternalError("invalid response from the control plane: " + std::string(what));
}

size_t ListSplitter::ScanValue(std::string_view data, size_t i) {
  const size_t n = data.size();
  if (!started_) {  // leading whitespace is not part of the value
    while (i < n && IsSpace(data[i])) ++i;
    if (i == n) return std::string_view::npos;
  }
  const size_t begin = i;
  auto append = [&](size_t end) {
    if (buf_.size() + (end - begin) > max_) {
      overflow_ = true;
      return;
    }
    buf_.append(data.data() + begin, end - begin);
    peak_ = std::max(peak_, buf_.size() + key_.size());
  };
  while (i < n) {
    if (in_string_) {
      if (escape_) {
        escape_ = false;
        ++i;
        continue;
      }
      // Fast path: jump to the next quote or backslash.
      const char* stop = scan::StringStop<false>(data.data() + i, data.data() + n);
      if (stop == data.data() + n) {
        i = n;
        break;
      }
      i = static_cast<size_t>(stop - data.data()) + 1;
      if (*stop == '\\') {
        escape_ = true;
        continue;
      }
      in_string_ = false;
      if (depth_ == 0) {  // a top-level string value ended
        append(i);
        return i;
      }
      continue;
    }
    const char c = data[i];
    if (scalar_) {
      if (c == ',' || c == '}' || c == ']' || IsSpace(c)) {
        append(i);
        return i;
      }
      ++i;
      continue;
    }
    switch (c) {
      case '"':
        in_string_ = true;
        started_ = true;
        break;
      case '{':
      case '[':
        ++depth_;
        started_ = true;
        break;
      case '}':
      case ']':
        if (depth_ == 0) {
          syntax_error_ = true;
          return std::string_view::npos;
        }
        if (--depth_ == 0) {
          append(i + 1);
          return i + 1;
        }
        break;
      default:
        if (!started_) {
          if (IsSpace(c)) break;
          scalar_ = true;
          started_ = true;
        }
        break;
    }
    ++i;
  }
  append(n);
  return std::string_view::npos;
}

kube::Outcome ListSplitter::Feed(std::string_view data, std::string& out) {
  size_t i = 0;
  const size_t n = data.size();
  while (i < n) {
    const char c = data[i];
    switch (state_) {
      case State::kBeforeTop:
        if (IsSpace(c)) break;
        if (c != '{') return Fail("expected a JSON object");
        out.push_back('{');
        state_ = State::kKeyOrEnd;
        break;
      case State::kKeyOrEnd:
        if (IsSpace(c)) break;
        if (c == '}') {
          out.push_back('}');
          state_ = State::kDone;
          break;
        }
        if (c != '"') return Fail("expected a member name");
        key_.clear();
        key_escape_ = false;
        state_ = State::kKey;
        break;
      case State::kKeyAfterComma:
        if (IsSpace(c)) break;
        if (c != '"') return Fail("expected a member name");
        key_.clear();
        key_escape_ = false;
        state_ = State::kKey;
        break;
      case State::kAfterValue:
        if (IsSpace(c)) break;
        if (c == '}') {
          out.push_back('}');
          state_ = State::kDone;
          break;
        }
        if (c != ',') return Fail("expected ',' or '}'");
        state_ = State::kKeyAfterComma;
        break;
      case State::kKey:
        if (key_escape_) {
          key_escape_ = false;
          key_.push_back(c);
        } else if (c == '\\') {
          key_escape_ = true;
          key_.push_back(c);
        } else if (c == '"') {
          state_ = State::kColon;
        } else {
          if (key_.size() > 4096) return Fail("member name too long");
          key_.push_back(c);
        }
        break;
      case State::kColon:
        if (IsSpace(c)) break;
        if (c != ':') return Fail("expected ':'");
        state_ = State::kValueStart;
        break;
      case State::kValueStart: {
        if (IsSpace(c)) break;
        const bool split = c == '[' && std::find(split_keys_.begin(), split_keys_.end(), key_) !=
                                           split_keys_.end();
        if (split) {
          if (wrote_member_) out.push_back(',');
          out.push_back('"');
          out += key_;
          out += "\":[";
          wrote_member_ = true;
          wrote_element_ = false;
          state_ = State::kElemOrEnd;
          break;
        }
        StartValue();
        state_ = State::kValue;
        continue;  // re-scan this byte as part of the value
      }
      case State::kValue:
      case State::kElem: {
        const size_t end = ScanValue(data, i);
        if (overflow_) return Fail("an object exceeds the size limit");
        if (syntax_error_) return Fail("unbalanced brackets");
        if (end == std::string_view::npos) return kube::Ok{};
        i = end;
        if (state_ == State::kValue) {
          auto r = on_member_(key_, buf_);
          if (!r.ok()) {
            state_ = State::kDone;
            return std::move(r).error();
          }
          if (r->has_value()) {
            if (wrote_member_) out.push_back(',');
            out.push_back('"');
            out += key_;
            out += "\":";
            out += **r;
            wrote_member_ = true;
          }
          state_ = State::kAfterValue;
        } else {
          ++elements_seen_;
          auto r = on_element_(key_, buf_);
          if (!r.ok()) {
            state_ = State::kDone;
            return std::move(r).error();
          }
          if (r->has_value()) {
            if (wrote_element_) out.push_back(',');
            out += **r;
            wrote_element_ = true;
          }
          state_ = State::kAfterElem;
        }
        buf_.clear();
        continue;
      }
      case State::kElemOrEnd:
        if (IsSpace(c)) break;
        if (c == ']') {
          out.push_back(']');
          state_ = State::kAfterValue;
          break;
        }
        StartValue();
        state_ = State::kElem;
        continue;
      case State::kAfterElem:
        if (IsSpace(c)) break;
        if (c == ']') {
          out.push_back(']');
          state_ = State::kAfterValue;
          break;
        }
        if (c != ',') return Fail("expected ',' or ']'");
        ++i;
        StartValue();
        state_ = State::kElem;
        continue;
      case State::kDone:
        if (syntax_error_) return Fail("stopped after an error");
        if (!IsSpace(c)) return Fail("data after the end of the object");
        break;
    }
    ++i;
  }
  return kube::Ok{};
}

}  // namespace proxy

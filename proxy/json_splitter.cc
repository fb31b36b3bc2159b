#include "proxy/json_splitter.h"

#include <algorithm>
#include <cstring>

#include "proxy/json_scan.h"

namespace proxy {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

ListSplitter::ListSplitter(std::vector<std::string> split_keys, MemberFn on_member,
                           ElementFn on_element, size_t max_value_bytes, TryElementFn try_element)
    : split_keys_(std::move(split_keys)),
      on_member_(std::move(on_member)),
      on_element_(std::move(on_element)),
      max_(max_value_bytes),
      try_element_(std::move(try_element)) {}

bool ListSplitter::TryElement(std::string_view data, size_t& i, std::string& out) {
  while (i < data.size() && IsSpace(data[i])) ++i;
  if (i == data.size()) return false;
  const size_t mark = out.size();
  if (wrote_element_) out.push_back(',');
  bool kept = false;
  const size_t n = try_element_(key_, data.substr(i), out, kept);
  if (n == 0 || n > max_) {  // not handled here (or over the limit: the usual path says so)
    out.resize(mark);
    return false;
  }
  peak_ = std::max(peak_, n + key_.size());
  ++elements_seen_;
  if (kept) {
    wrote_element_ = true;
  } else {
    out.resize(mark);
  }
  i += n;
  return true;
}

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
  // The value's bytes in [begin, end) of this chunk: the whole value when it began in this chunk
  // (viewed in place, not copied), else its last part (appended to buf_).
  auto append = [&](size_t end) {
    const size_t total = buf_.size() + (end - begin);
    if (total > max_) {
      overflow_ = true;
      return;
    }
    peak_ = std::max(peak_, total + key_.size());
    if (buf_.empty()) {
      value_ = data.substr(begin, end - begin);
    } else {
      buf_.append(data.data() + begin, end - begin);
      value_ = buf_;
    }
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
  if (!overflow_ && buf_.empty()) buf_.assign(value_);  // the value continues in the next chunk
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
        if (state_ == State::kElem && try_element_ && !started_ && buf_.empty() &&
            TryElement(data, i, out)) {
          state_ = State::kAfterElem;
          continue;
        }
        const size_t end = ScanValue(data, i);
        if (overflow_) return Fail("an object exceeds the size limit");
        if (syntax_error_) return Fail("unbalanced brackets");
        if (end == std::string_view::npos) return kube::Ok{};
        i = end;
        if (state_ == State::kValue) {
          auto r = on_member_(key_, value_);
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
          const size_t mark = out.size();
          if (wrote_element_) out.push_back(',');
          auto r = on_element_(key_, value_, out);
          if (!r.ok()) {
            state_ = State::kDone;
            return std::move(r).error();
          }
          if (*r) {
            wrote_element_ = true;
          } else {
            out.resize(mark);
          }
          state_ = State::kAfterElem;
        }
        buf_.clear();
        value_ = {};
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

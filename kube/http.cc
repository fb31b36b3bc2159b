#include "kube/http.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace kube::http {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Lower() of eight bytes at once: 0x20 goes into the bytes 'A'..'Z' and no others. Per byte, the
// low seven bits plus a constant set the byte's high bit exactly when they are >= 'A' (resp.
// > 'Z'), without carrying into the next byte; a byte whose own high bit is set is not ASCII.
uint64_t LowerWord(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  const uint64_t low7 = v & (0x7f * kOnes);
  const uint64_t at_least_a = low7 + (0x80 - 'A') * kOnes;
  const uint64_t above_z = low7 + (0x7f - 'Z') * kOnes;
  const uint64_t upper = at_least_a & ~above_z & ~v & (0x80 * kOnes);
  return v | (upper >> 2);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // Header names and label keys: eight bytes at a time, then byte by byte.
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y && LowerWord(x) != LowerWord(y)) return false;
  }
  for (; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    // Runs without an escape are copied whole (a path or a query value usually has none).
    size_t special = plus_is_space ? FindFirstOf(s, "%+", i) : s.find('%', i);
    if (special == std::string_view::npos) special = s.size();
    out.append(s.data() + i, special - i);
    i = special;
    if (i == s.size()) break;
    if (s[i] == '+') {
      out.push_back(' ');
      ++i;
      continue;
    }
    if (i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 3;
        continue;
      }
    }
    out.push_back('%');  // a malformed escape is kept literally
    ++i;
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (Unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// ---- Headers ----

void Headers::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void Headers::Set(std::string name, std::string value) {
  Remove(name);
  fields_.emplace_back(std::move(name), std::move(value));
}

void Headers::Remove(std::string_view name) {
  std::erase_if(fields_, [&](const auto& f) { return EqualsIgnoreCase(f.first, name); });
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const auto& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) return std::string_view(f.second);
  }
  return std::nullopt;
}

std::vector<std::string_view> Headers::GetAll(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) out.emplace_back(f.second);
  }
  return out;
}

// ---- Query ----

Query::Query(std::string_view raw) {
  while (!raw.empty()) {
    size_t amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    items_.emplace_back(PercentDecode(key, true), PercentDecode(value, true));
  }
}

std::optional<std::string_view> Query::Get(std::string_view key) const {
  for (const auto& it : items_) {
    if (it.first == key) return std::string_view(it.second);
  }
  return std::nullopt;
}

std::vector<std::string_view> Query::GetAll(std::string_view key) const {
  std::vector<std::string_view> out;
  for (const auto& it : items_) {
    if (it.first == key) out.emplace_back(it.second);
  }
  return out;
}

void Query::Set(std::string key, std::string value) {
  auto first =
      std::find_if(items_.begin(), items_.end(), [&](const auto& it) { return it.first == key; });
  if (first == items_.end()) {
    items_.emplace_back(std::move(key), std::move(value));
    return;
  }
  first->second = std::move(value);
  // Drop later duplicates; the first keeps its position.
  auto idx = first - items_.begin();
  auto tail = std::remove_if(items_.begin() + idx + 1, items_.end(),
                             [&](const auto& it) { return it.first == key; });
  items_.erase(tail, items_.end());
}

void Query::Remove(std::string_view key) {
  std::erase_if(items_, [&](const auto& it) { return it.first == key; });
}

std::string Query::Encode() const {
  std::string out;
  for (const auto& it : items_) {
    if (!out.empty()) out.push_back('&');
    out += PercentEncode(it.first);
    out.push_back('=');
    out += PercentEncode(it.second);
  }
  return out;
}

// ---- Request / ResponseWriter ----

void ParseTarget(Request& req) {
  std::string_view target = req.target;
  // An absolute-form target ("https://host/path") keeps only its path.
  if (!target.empty() && target.front() != '/') {
    size_t scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      size_t slash = target.find('/', scheme + 3);
      size_t q = target.find('?', scheme + 3);
      if (slash == std::string_view::npos || (q != std::string_view::npos && q < slash)) {
        target = q == std::string_view::npos ? std::string_view("/") : target.substr(q);
      } else {
        target = target.substr(slash);
      }
    }
  }
  size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  req.path = PercentDecode(path);
  if (req.path.empty()) req.path = "/";
  req.raw_query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  req.query = Query(req.raw_query);
}

asio::awaitable<bool> ResponseWriter::WriteFramed(std::string& buf) {
  co_return co_await Write(FramedData(buf));
}

asio::awaitable<bool> ResponseWriter::Send(int status, Headers headers, std::string_view body) {
  // Plain statements: g++ 12 miscompiles co_await inside conditions and short-circuit operators.
  bool ok = co_await WriteHeader(status, std::move(headers), body.size());
  if (!ok) co_return false;
  if (!body.empty()) {
    ok = co_await Write(body);
    if (!ok) co_return false;
  }
  ok = co_await Finish();
  co_return ok;
}

}  // namespace kube::http

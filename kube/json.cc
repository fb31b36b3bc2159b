#include "kube/json.h"

#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace kube::json {

namespace {

// Deepest nesting of objects/arrays accepted: RapidJSON's parser, writer and deep copies (and
// our own tree walks) recurse once per level, so untrusted text nested deeper could overflow a
// thread's stack (found by tests/fuzz; kube-apiserver's decoder stops at 10000 levels).
constexpr int kMaxDepth = 1000;

// The document's own handler, refusing to open a level beyond kMaxDepth (the reader then stops
// with kParseErrorTermination before recursing any further).
struct DepthLimitedHandler {
  Document& d;
  int depth = 0;
  bool Null() { return d.Null(); }
  bool Bool(bool b) { return d.Bool(b); }
  bool Int(int i) { return d.Int(i); }
  bool Uint(unsigned i) { return d.Uint(i); }
  bool Int64(int64_t i) { return d.Int64(i); }
  bool Uint64(uint64_t i) { return d.Uint64(i); }
  bool Double(double v) { return d.Double(v); }
  // Numbers arrive as text (kParseNumbersAsStringsFlag) and are converted here, exactly:
  // RapidJSON's default conversion is off by up to 3 ULP (5e200 came back as
  // 4.9999999999999998e200) and its full-precision one has undefined behaviour on inputs like
  // 0e-241 (both found by fuzzing). Integers keep RapidJSON's typing (Int/Uint/Int64/Uint64).
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    const std::string text(s, n);  // NUL-terminated for strtod
    const char* end = text.data() + text.size();
    if (text.find_first_of(".eE") == std::string::npos) {
      if (text[0] == '-') {
        int64_t i = 0;
        auto r = std::from_chars(text.data(), end, i);
        if (r.ec == std::errc() && r.ptr == end) {
          return i >= INT32_MIN ? d.Int(static_cast<int>(i)) : d.Int64(i);
        }
      } else {
        uint64_t u = 0;
        auto r = std::from_chars(text.data(), end, u);
        if (r.ec == std::errc() && r.ptr == end) {
          return u <= UINT32_MAX ? d.Uint(static_cast<unsigned>(u)) : d.Uint64(u);
        }
      }
    }
    char* stop = nullptr;
    double v = std::strtod(text.c_str(), &stop);     // correctly rounded; "C" locale
    if (stop != end || std::isinf(v)) return false;  // too big for a double (as RapidJSON)
    return d.Double(v);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return d.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return d.Key(s, n, copy); }
  bool StartObject() { return ++depth <= kMaxDepth && d.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth;
    return d.EndObject(n);
  }
  bool StartArray() { return ++depth <= kMaxDepth && d.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth;
    return d.EndArray(n);
  }
};

}  // namespace

std::optional<Document> Parse(std::string_view text) {
  Document doc;
  // Without kParseStopWhenDoneFlag, anything but whitespace after the value is an error, as for
  // encoding/json.
  bool ok = false;
  auto generate = [&](Document& d) {
    DepthLimitedHandler h{d};
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::Reader reader;
    ok = !reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(ms, h).IsError();
    return ok;
  };
  doc.Populate(generate);
  if (!ok) return std::nullopt;
  return doc;
}

void AppendTo(const Value& v, std::string& out) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  out.append(buf.GetString(), buf.GetSize());
}

std::string Serialize(const Value& v) {
  std::string out;
  AppendTo(v, out);
  return out;
}

const Value* Find(const Value& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(Value(rapidjson::StringRef(key.data(), key.size())));
  if (it == obj.MemberEnd()) return nullptr;
  return &it->value;
}

Value* Find(Value& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(Value(rapidjson::StringRef(key.data(), key.size())));
  if (it == obj.MemberEnd()) return nullptr;
  return &it->value;
}

const Value* FindPath(const Value& obj, std::string_view dotted_path) {
  const Value* cur = &obj;
  while (cur) {
    size_t dot = dotted_path.find('.');
    std::string_view part = dotted_path.substr(0, dot);
    cur = Find(*cur, part);
    if (dot == std::string_view::npos) return cur;
    dotted_path.remove_prefix(dot + 1);
  }
  return nullptr;
}

std::string_view GetString(const Value& obj, std::string_view key, std::string_view fallback) {
  const Value* v = Find(obj, key);
  if (!v || !v->IsString()) return fallback;
  return View(*v);
}

std::optional<int64_t> GetInt(const Value& obj, std::string_view key) {
  const Value* v = Find(obj, key);
  if (!v) return std::nullopt;
  if (v->IsInt64()) return v->GetInt64();
  if (v->IsUint64()) return static_cast<int64_t>(v->GetUint64());
  return std::nullopt;
}

void SetString(Value& obj, std::string_view key, std::string_view value, Allocator& a) {
  SetMember(obj, key, Str(value, a), a);
}

void SetMember(Value& obj, std::string_view key, Value value, Allocator& a) {
  if (Value* existing = Find(obj, key)) {
    *existing = std::move(value);
    return;
  }
  obj.AddMember(Str(key, a), std::move(value), a);
}

Value& EnsureObject(Value& obj, std::string_view key, Allocator& a) {
  Value* v = Find(obj, key);
  if (v) {
    if (!v->IsObject()) v->SetObject();
    return *v;
  }
  obj.AddMember(Str(key, a), Value(rapidjson::kObjectType), a);
  return (obj.MemberEnd() - 1)->value;
}

bool RemoveMember(Value& obj, std::string_view key) {
  if (!obj.IsObject()) return false;
  auto it = obj.FindMember(Value(rapidjson::StringRef(key.data(), key.size())));
  if (it == obj.MemberEnd()) return false;
  obj.EraseMember(it);  // keeps the order of the remaining members
  return true;
}

}  // namespace kube::json

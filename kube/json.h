// Small helpers around RapidJSON shared by every library.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <string>
#include <string_view>

namespace kube::json {

using Document = rapidjson::Document;
using Value = rapidjson::Value;
using Allocator = rapidjson::Document::AllocatorType;

// Parses `text`; nullopt (never throws) on malformed input.
std::optional<Document> Parse(std::string_view text);
// Serializes compactly.
std::string Serialize(const Value& v);
void AppendTo(const Value& v, std::string& out);

// Member lookup that tolerates missing members and wrong types.
const Value* Find(const Value& obj, std::string_view key);
Value* Find(Value& obj, std::string_view key);
// "metadata.name" style lookup through objects only.
const Value* FindPath(const Value& obj, std::string_view dotted_path);
std::string_view GetString(const Value& obj, std::string_view key, std::string_view fallback = {});
std::optional<int64_t> GetInt(const Value& obj, std::string_view key);

// Sets obj[key] = value (string), creating or replacing the member. `obj` must be an object.
void SetString(Value& obj, std::string_view key, std::string_view value, Allocator& a);
void SetMember(Value& obj, std::string_view key, Value value, Allocator& a);
// Returns obj[key], creating an empty object there if missing or not an object.
Value& EnsureObject(Value& obj, std::string_view key, Allocator& a);
bool RemoveMember(Value& obj, std::string_view key);

inline std::string_view View(const Value& v) {
  return v.IsString() ? std::string_view(v.GetString(), v.GetStringLength()) : std::string_view();
}
// Copies `s` into a JSON string. An empty view may have a null data() (RapidJSON asserts on it).
inline Value Str(std::string_view s, Allocator& a) {
  if (s.empty()) return Value("", 0, a);
  return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

}  // namespace kube::json

#include "kube/json.h"

namespace kube::json {

std::optional<Document> Parse(std::string_view text) {
  Document doc;
  // Without kParseStopWhenDoneFlag, anything but whitespace after the value is an error, as for
  // encoding/json.
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) return std::nullopt;
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

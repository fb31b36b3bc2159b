#include "tests/chart/json_schema.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <regex>
#include <set>
#include <sstream>

namespace chart {

const Value* Value::Find(std::string_view key) const {
  if (type != Type::kObject) return nullptr;
  auto it = object.find(std::string(key));
  return it == object.end() ? nullptr : &it->second;
}

std::string Value::Debug() const {
  switch (type) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return b ? "true" : "false";
    case Type::kInt:
      return std::to_string(i);
    case Type::kFloat: {
      std::ostringstream os;
      os << f;
      return os.str();
    }
    case Type::kString:
      return "\"" + s + "\"";
    case Type::kArray: {
      std::string out = "[";
      for (size_t k = 0; k < array.size(); ++k) out += (k ? "," : "") + array[k].Debug();
      return out + "]";
    }
    case Type::kObject: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, v] : object) {
        out += (first ? "\"" : ",\"") + key + "\":" + v.Debug();
        first = false;
      }
      return out + "}";
    }
  }
  return "?";
}

bool Value::operator==(const Value& o) const {
  if (IsNumber() && o.IsNumber()) return AsDouble() == o.AsDouble();
  if (type != o.type) return false;
  switch (type) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return b == o.b;
    case Type::kString:
      return s == o.s;
    case Type::kArray:
      return array == o.array;
    case Type::kObject:
      return object == o.object;
    default:
      return false;
  }
}

namespace {

// ---- YAML ------------------------------------------------------------------------------------

// go-yaml v2 (what Helm's sigs.k8s.io/yaml uses) resolves plain scalars with YAML 1.1 rules.
Value ResolvePlainScalar(const std::string& text) {
  Value v;
  static const std::set<std::string> kNull = {"", "~", "null", "Null", "NULL"};
  static const std::set<std::string> kTrue = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                              "True", "TRUE", "on",  "On",  "ON"};
  static const std::set<std::string> kFalse = {"n",     "N",     "no",  "No",  "NO", "false",
                                               "False", "FALSE", "off", "Off", "OFF"};
  if (kNull.count(text)) return v;
  if (kTrue.count(text) || kFalse.count(text)) {
    v.type = Value::Type::kBool;
    v.b = kTrue.count(text) > 0;
    return v;
  }
  static const std::regex kInt("^[-+]?(0|[1-9][0-9_]*)$");
  static const std::regex kHex("^[-+]?0x[0-9a-fA-F_]+$");
  static const std::regex kFloat("^[-+]?(\\.[0-9]+|[0-9][0-9_]*(\\.[0-9_]*)?)([eE][-+]?[0-9]+)?$");
  std::string digits;
  for (char c : text) {
    if (c != '_') digits += c;
  }
  if (std::regex_match(text, kInt) || std::regex_match(text, kHex)) {
    try {
      v.type = Value::Type::kInt;
      v.i = std::stoll(digits, nullptr, 0);
      return v;
    } catch (...) {  // out of range: keep going and treat it as a float
    }
  }
  if (std::regex_match(text, kFloat)) {
    v.type = Value::Type::kFloat;
    v.f = std::stod(digits);
    return v;
  }
  if (text == ".inf" || text == ".Inf" || text == ".INF" || text == "+.inf") {
    v.type = Value::Type::kFloat;
    v.f = INFINITY;
    return v;
  }
  v.type = Value::Type::kString;
  v.s = text;
  return v;
}

Value FromYaml(const YAML::Node& node) {
  Value v;
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return v;
    case YAML::NodeType::Scalar:
      // Quoted (and explicitly tagged !) scalars carry the non-specific tag "!": strings.
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {
        v.type = Value::Type::kString;
        v.s = node.Scalar();
        return v;
      }
      return ResolvePlainScalar(node.Scalar());
    case YAML::NodeType::Sequence:
      v.type = Value::Type::kArray;
      for (const auto& item : node) v.array.push_back(FromYaml(item));
      return v;
    case YAML::NodeType::Map:
      v.type = Value::Type::kObject;
      for (const auto& kv : node) v.object[kv.first.as<std::string>()] = FromYaml(kv.second);
      return v;
  }
  return v;
}

// ---- JSON ------------------------------------------------------------------------------------

Value FromJson(const rapidjson::Value& j) {
  Value v;
  if (j.IsNull()) return v;
  if (j.IsBool()) {
    v.type = Value::Type::kBool;
    v.b = j.GetBool();
  } else if (j.IsInt64()) {
    v.type = Value::Type::kInt;
    v.i = j.GetInt64();
  } else if (j.IsNumber()) {
    v.type = Value::Type::kFloat;
    v.f = j.GetDouble();
  } else if (j.IsString()) {
    v.type = Value::Type::kString;
    v.s.assign(j.GetString(), j.GetStringLength());
  } else if (j.IsArray()) {
    v.type = Value::Type::kArray;
    for (const auto& item : j.GetArray()) v.array.push_back(FromJson(item));
  } else if (j.IsObject()) {
    v.type = Value::Type::kObject;
    for (const auto& m : j.GetObject()) {
      v.object[std::string(m.name.GetString(), m.name.GetStringLength())] = FromJson(m.value);
    }
  }
  return v;
}

// ---- Validation ------------------------------------------------------------------------------

const std::set<std::string>& SupportedKeywords() {
  static const std::set<std::string> k = {
      "$schema",   "title",      "description", "default",
      "type",      "properties", "required",    "additionalProperties",
      "enum",      "minimum",    "maximum",     "minLength",
      "maxLength", "items",      "pattern"};
  return k;
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string Where(const std::string& path) { return path.empty() ? "(root)" : path; }

bool HasType(const Value& instance, const std::string& type) {
  using T = Value::Type;
  if (type == "null") return instance.type == T::kNull;
  if (type == "boolean") return instance.type == T::kBool;
  if (type == "string") return instance.type == T::kString;
  if (type == "array") return instance.type == T::kArray;
  if (type == "object") return instance.type == T::kObject;
  if (type == "number") return instance.IsNumber();
  if (type == "integer") {
    return instance.type == T::kInt || (instance.type == T::kFloat && std::isfinite(instance.f) &&
                                        std::floor(instance.f) == instance.f);
  }
  return false;
}

std::string TypeName(const Value& v) {
  switch (v.type) {
    case Value::Type::kNull:
      return "null";
    case Value::Type::kBool:
      return "boolean";
    case Value::Type::kInt:
      return "integer";
    case Value::Type::kFloat:
      return "number";
    case Value::Type::kString:
      return "string";
    case Value::Type::kArray:
      return "array";
    case Value::Type::kObject:
      return "object";
  }
  return "?";
}

// Length in Unicode code points, as JSON Schema counts it.
size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void ValidateAt(const Value& schema, const Value& instance, const std::string& path,
                std::vector<std::string>* errors) {
  if (schema.type == Value::Type::kBool) {
    if (!schema.b) errors->push_back(Where(path) + ": not allowed");
    return;
  }
  if (schema.type != Value::Type::kObject) return;

  if (const Value* type = schema.Find("type")) {
    std::vector<std::string> types;
    if (type->type == Value::Type::kString) types.push_back(type->s);
    for (const auto& t : type->array) types.push_back(t.s);
    bool ok = false;
    std::string expected;
    for (const auto& t : types) {
      ok = ok || HasType(instance, t);
      expected += (expected.empty() ? "" : " or ") + t;
    }
    if (!ok) {
      errors->push_back(Where(path) + ": got " + TypeName(instance) + ", want " + expected);
      return;  // further keywords would only repeat the mismatch
    }
  }
  if (const Value* e = schema.Find("enum")) {
    bool found = false;
    std::string allowed;
    for (const auto& candidate : e->array) {
      found = found || candidate == instance;
      allowed += (allowed.empty() ? "" : ", ") + candidate.Debug();
    }
    if (!found) {
      errors->push_back(Where(path) + ": " + instance.Debug() + " is not one of [" + allowed + "]");
    }
  }
  if (instance.IsNumber()) {
    const Value* min = schema.Find("minimum");
    if (min && instance.AsDouble() < min->AsDouble()) {
      errors->push_back(Where(path) + ": " + instance.Debug() + " is less than the minimum " +
                        min->Debug());
    }
    const Value* max = schema.Find("maximum");
    if (max && instance.AsDouble() > max->AsDouble()) {
      errors->push_back(Where(path) + ": " + instance.Debug() + " is greater than the maximum " +
                        max->Debug());
    }
  }
  if (instance.type == Value::Type::kString) {
    const Value* min = schema.Find("minLength");
    if (min && CodePoints(instance.s) < static_cast<size_t>(min->AsDouble())) {
      errors->push_back(Where(path) + ": shorter than " + min->Debug() + " characters");
    }
    const Value* max = schema.Find("maxLength");
    if (max && CodePoints(instance.s) > static_cast<size_t>(max->AsDouble())) {
      errors->push_back(Where(path) + ": longer than " + max->Debug() + " characters");
    }
    if (const Value* pattern = schema.Find("pattern")) {
      std::regex re(pattern->s, std::regex::ECMAScript);
      if (!std::regex_search(instance.s, re)) {
        errors->push_back(Where(path) + ": " + instance.Debug() + " does not match " +
                          pattern->Debug());
      }
    }
  }
  if (instance.type == Value::Type::kArray) {
    if (const Value* items = schema.Find("items")) {
      for (size_t k = 0; k < instance.array.size(); ++k) {
        ValidateAt(*items, instance.array[k], path + "[" + std::to_string(k) + "]", errors);
      }
    }
  }
  if (instance.type == Value::Type::kObject) {
    const Value* properties = schema.Find("properties");
    if (const Value* required = schema.Find("required")) {
      for (const auto& name : required->array) {
        if (!instance.Find(name.s)) errors->push_back(Join(path, name.s) + ": is required");
      }
    }
    for (const auto& [key, member] : instance.object) {
      const Value* sub = properties ? properties->Find(key) : nullptr;
      if (sub) {
        ValidateAt(*sub, member, Join(path, key), errors);
        continue;
      }
      const Value* additional = schema.Find("additionalProperties");
      if (!additional) continue;
      if (additional->type == Value::Type::kBool) {
        if (!additional->b) {
          errors->push_back(Join(path, key) + ": additional property not allowed here");
        }
      } else {
        ValidateAt(*additional, member, Join(path, key), errors);
      }
    }
  }
}

void CollectUnsupported(const Value& schema, const std::string& path,
                        std::vector<std::string>* out) {
  if (schema.type != Value::Type::kObject) return;
  for (const auto& [key, member] : schema.object) {
    if (!SupportedKeywords().count(key)) out->push_back(Where(path) + ": " + key);
  }
  if (const Value* properties = schema.Find("properties")) {
    for (const auto& [key, sub] : properties->object) {
      CollectUnsupported(sub, Join(path, key), out);
    }
  }
  if (const Value* items = schema.Find("items")) CollectUnsupported(*items, path + "[]", out);
  if (const Value* additional = schema.Find("additionalProperties")) {
    CollectUnsupported(*additional, path + ".*", out);
  }
}

}  // namespace

bool ParseYaml(const std::string& text, Value* out, std::string* error) {
  try {
    *out = FromYaml(YAML::Load(text));
    return true;
  } catch (const YAML::Exception& e) {
    *error = e.what();
    return false;
  }
}

bool ParseJson(const std::string& text, Value* out, std::string* error) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    *error = std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
             std::to_string(doc.GetErrorOffset());
    return false;
  }
  *out = FromJson(doc);
  return true;
}

Value MergeValues(const Value& defaults, const Value& overrides) {
  if (defaults.type != Value::Type::kObject || overrides.type != Value::Type::kObject) {
    return overrides;
  }
  Value merged = defaults;
  for (const auto& [key, v] : overrides.object) {
    if (v.type == Value::Type::kNull) {
      merged.object.erase(key);
      continue;
    }
    auto it = merged.object.find(key);
    if (it == merged.object.end()) {
      merged.object[key] = v;
    } else {
      it->second = MergeValues(it->second, v);
    }
  }
  return merged;
}

bool Validate(const Value& schema, const Value& instance, std::vector<std::string>* errors) {
  size_t before = errors->size();
  ValidateAt(schema, instance, "", errors);
  return errors->size() == before;
}

std::vector<std::string> UnsupportedKeywords(const Value& schema) {
  std::vector<std::string> out;
  CollectUnsupported(schema, "", &out);
  return out;
}

const Value* SchemaFor(const Value& schema, const std::vector<std::string>& path) {
  const Value* node = &schema;
  for (const auto& key : path) {
    const Value* properties = node->Find("properties");
    node = properties ? properties->Find(key) : nullptr;
    if (!node) return nullptr;
  }
  return node;
}

}  // namespace chart

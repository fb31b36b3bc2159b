#include "discovery/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <exception>
#include <regex>

namespace discovery {
namespace {

namespace json = kube::json;

bool IsInt(const std::string& s) {
  static const std::regex re("^[-+]?[0-9]+$");
  return std::regex_match(s, re);
}
bool IsFloat(const std::string& s) {
  static const std::regex re(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  return std::regex_match(s, re);
}

json::Value ScalarToJson(const YAML::Node& node, json::Allocator& a) {
  const std::string& s = node.Scalar();
  // A quoted (or otherwise explicitly tagged) scalar is a string.
  if (node.Tag() != "?") return json::Str(s, a);
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return json::Value();
  if (s == "true" || s == "True" || s == "TRUE") return json::Value(true);
  if (s == "false" || s == "False" || s == "FALSE") return json::Value(false);
  if (IsInt(s)) {
    int64_t v = 0;
    const char* b = s.data() + (s[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return json::Value(v);
  }
  if (IsFloat(s)) {
    try {
      double d = std::stod(s);
      if (std::isfinite(d)) return json::Value(d);
    } catch (const std::exception&) {
    }
  }
  return json::Str(s, a);
}

json::Value NodeToJson(const YAML::Node& node, json::Allocator& a, int depth) {
  if (depth > 512) return json::Value();
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return ScalarToJson(node, a);
    case YAML::NodeType::Sequence: {
      json::Value arr(rapidjson::kArrayType);
      for (const auto& item : node) arr.PushBack(NodeToJson(item, a, depth + 1), a);
      return arr;
    }
    case YAML::NodeType::Map: {
      json::Value obj(rapidjson::kObjectType);
      for (const auto& kv : node) {
        std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
        json::SetMember(obj, key, NodeToJson(kv.second, a, depth + 1), a);
      }
      return obj;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
    default:
      return json::Value();
  }
}

}  // namespace

kube::Result<std::vector<json::Document>> YamlToJsonDocuments(std::string_view text) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const std::exception& e) {
    return kube::NewBadRequest(std::string("invalid YAML: ") + e.what());
  }
  std::vector<json::Document> out;
  for (const auto& node : nodes) {
    if (!node.IsDefined() || node.IsNull()) continue;
    json::Document doc;
    json::Value v = NodeToJson(node, doc.GetAllocator(), 0);
    static_cast<json::Value&>(doc).Swap(v);
    out.push_back(std::move(doc));
  }
  return out;
}

}  // namespace discovery

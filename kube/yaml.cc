#include "kube/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <string>

#include "kube/status.h"

namespace kube::yaml {
namespace {

using json::Value;

Status ConversionError(std::string_view detail) {
  return NewBadRequest("error converting YAML to JSON: yaml: " + std::string(detail));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// go-yaml v2's resolve table: the plain scalars with a fixed meaning.
enum class Fixed { kNone, kNull, kTrue, kFalse, kNotFinite };
Fixed FixedScalar(std::string_view s) {
  static constexpr std::string_view kTrue[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                               "True", "TRUE", "on",  "On",  "ON"};
  static constexpr std::string_view kFalse[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                                "False", "FALSE", "off", "Off", "OFF"};
  static constexpr std::string_view kNull[] = {"", "~", "null", "Null", "NULL"};
  static constexpr std::string_view kNotFinite[] = {".nan",  ".NaN",  ".NAN",  ".inf",
                                                    ".Inf",  ".INF",  "+.inf", "+.Inf",
                                                    "+.INF", "-.inf", "-.Inf", "-.INF"};
  for (auto t : kTrue)
    if (s == t) return Fixed::kTrue;
  for (auto f : kFalse)
    if (s == f) return Fixed::kFalse;
  for (auto n : kNull)
    if (s == n) return Fixed::kNull;
  for (auto n : kNotFinite)
    if (s == n) return Fixed::kNotFinite;
  return Fixed::kNone;
}

// Go's strconv.ParseInt/ParseUint with base 0 after go-yaml removed every '_': an optional sign,
// then 0x/0X hex, 0o/0O or a leading 0 octal, 0b/0B binary, else decimal.
bool ParseInteger(std::string s, Value& out) {
  std::erase(s, '_');
  if (s.empty()) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  int base = 10;
  if (s.size() - i > 1 && s[i] == '0') {
    char p = s[i + 1];
    if (p == 'x' || p == 'X') {
      base = 16, i += 2;
    } else if (p == 'o' || p == 'O') {
      base = 8, i += 2;
    } else if (p == 'b' || p == 'B') {
      base = 2, i += 2;
    } else {
      base = 8, i += 1;
    }
  }
  if (i >= s.size()) return false;
  for (size_t k = i; k < s.size(); ++k) {
    char c = s[k];
    int d = IsDigit(c)               ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : 99;
    if (d >= base) return false;
  }
  errno = 0;
  char* end = nullptr;
  unsigned long long magnitude = std::strtoull(s.c_str() + i, &end, base);
  if (errno != 0 || *end != '\0') return false;
  if (!neg) {
    if (magnitude <= static_cast<unsigned long long>(INT64_MAX)) {
      out.SetInt64(static_cast<int64_t>(magnitude));
    } else {
      out.SetUint64(magnitude);
    }
    return true;
  }
  if (magnitude > static_cast<unsigned long long>(INT64_MAX) + 1) return false;
  out.SetInt64(magnitude == static_cast<unsigned long long>(INT64_MAX) + 1
                   ? INT64_MIN
                   : -static_cast<int64_t>(magnitude));
  return true;
}

// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ (go-yaml's yamlStyleFloat).
bool LooksLikeFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
    if (int_digits == 0 && frac_digits == 0) return false;
  } else if (int_digits == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

class Converter {
 public:
  Converter(Limits limits, size_t input_size)
      : max_depth_(limits.max_depth),
        budget_(limits.max_values ? limits.max_values : input_size + 1024) {}

  // False with error() set when the document cannot become JSON.
  bool Convert(const YAML::Node& n, Value& out, json::Allocator& a, int depth) {
    if (depth > max_depth_) return Fail("exceeded max depth of " + std::to_string(max_depth_));
    if (budget_ == 0) return Fail("document expands to too many values (aliases)");
    --budget_;
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        out.SetNull();
        return true;
      case YAML::NodeType::Sequence:
        out.SetArray();
        for (const auto& e : n) {
          Value v;
          if (!Convert(e, v, a, depth + 1)) return false;
          out.PushBack(std::move(v), a);
        }
        return true;
      case YAML::NodeType::Map:
        out.SetObject();
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) return Fail("invalid map key: not a scalar");
          Value v;
          if (!Convert(kv.second, v, a, depth + 1)) return false;
          json::SetMember(out, kv.first.Scalar(), std::move(v), a);
        }
        return true;
      case YAML::NodeType::Scalar:
        return Scalar(n, out, a);
    }
    return Fail("unknown node type");
  }

  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string msg) {
    error_ = std::move(msg);
    return false;
  }

  bool Scalar(const YAML::Node& n, Value& out, json::Allocator& a) {
    const std::string& s = n.Scalar();
    const std::string& tag = n.Tag();
    // "?" is a plain scalar; "!" a quoted one; explicit core tags other than !!str resolve as
    // plain; any other tag keeps the text.
    bool plain = tag == "?" || tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
                 tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null";
    if (!plain) {
      out = json::Str(s, a);
      return true;
    }
    switch (FixedScalar(s)) {
      case Fixed::kNull:
        out.SetNull();
        return true;
      case Fixed::kTrue:
        out.SetBool(true);
        return true;
      case Fixed::kFalse:
        out.SetBool(false);
        return true;
      case Fixed::kNotFinite:
        return Fail("json: unsupported value: " + s);
      case Fixed::kNone:
        break;
    }
    char first = s[0];
    if (IsDigit(first) || first == '+' || first == '-' || first == '.') {
      if (first != '.' && ParseInteger(s, out)) return true;
      if (LooksLikeFloat(s)) {
        double d = std::strtod(s.c_str(), nullptr);
        if (std::isfinite(d)) {
          out.SetDouble(d);
          return true;
        }
      }
    }
    out = json::Str(s, a);
    return true;
  }

  int max_depth_;
  size_t budget_;
  std::string error_;
};

bool LooksLikeJson(std::string_view text) {
  size_t i = text.find_first_not_of(" \t\r\n");
  return i != std::string_view::npos && (text[i] == '{' || text[i] == '[');
}

Result<json::Document> Convert(const YAML::Node& node, Limits limits, size_t input_size) {
  json::Document doc;
  Converter c(limits, input_size);
  if (!c.Convert(node, doc, doc.GetAllocator(), 0)) return ConversionError(c.error());
  return doc;
}

}  // namespace

Result<json::Document> ToJson(std::string_view text, Limits limits) {
  if (LooksLikeJson(text)) {
    if (auto doc = json::Parse(text)) return std::move(*doc);
  }
  try {
    YAML::Node node = YAML::Load(std::string(text));
    return Convert(node, limits, text.size());
  } catch (const std::exception& e) {
    return ConversionError(e.what());
  }
}

Result<std::vector<json::Document>> ToJsonDocuments(std::string_view text, Limits limits) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const std::exception& e) {
    return ConversionError(e.what());
  }
  std::vector<json::Document> out;
  for (const auto& node : nodes) {
    if (!node.IsDefined() || node.IsNull()) continue;
    auto doc = Convert(node, limits, text.size());
    if (!doc.ok()) return doc.error();
    out.push_back(std::move(*doc));
  }
  return out;
}

}  // namespace kube::yaml

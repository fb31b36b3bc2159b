// A small JSON-Schema (draft-07 subset) validator and the value model it works on, so the Helm
// chart's values can be checked without helm. Values come from YAML (resolved the way Helm's
// YAML library, go-yaml v2, types plain scalars) or from JSON (the schema itself).
//
// Supported keywords: type, properties, required, additionalProperties (bool or schema), enum,
// minimum, maximum, minLength, maxLength, items (one schema), pattern (ECMAScript, unanchored,
// as JSON Schema specifies). Annotations ($schema, title, description, default) are ignored.
// Any other keyword is reported by UnsupportedKeywords() so a schema can never silently use
// something this validator does not check.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace chart {

struct Value {
  enum class Type { kNull, kBool, kInt, kFloat, kString, kArray, kObject };
  Type type = Type::kNull;
  bool b = false;
  long long i = 0;
  double f = 0;
  std::string s;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  bool IsNumber() const { return type == Type::kInt || type == Type::kFloat; }
  double AsDouble() const { return type == Type::kInt ? static_cast<double>(i) : f; }
  // Member lookup for objects; nullptr when absent or not an object.
  const Value* Find(std::string_view key) const;
  // JSON-like rendering for messages.
  std::string Debug() const;
  bool operator==(const Value& other) const;
};

// Parses YAML text (one document) into a Value; quoted scalars are strings, plain scalars are
// resolved like go-yaml v2 (null/~, YAML 1.1 booleans incl. yes/no/on/off, ints, floats).
// Returns false and sets *error on a syntax error.
bool ParseYaml(const std::string& text, Value* out, std::string* error);
// Parses JSON text into a Value. Returns false and sets *error on a syntax error.
bool ParseJson(const std::string& text, Value* out, std::string* error);

// Helm's coalescing of user values onto the chart's defaults: objects merge recursively, any
// other value replaces, and a null removes the key.
Value MergeValues(const Value& defaults, const Value& overrides);

// Validates `instance` against `schema`; every violation is appended to *errors as
// "<path>: <message>" where path is like "spaces.controlPlane.claimNamespace" or "extraArgs[0]"
// ("(root)" for the document). Returns true when there is none.
bool Validate(const Value& schema, const Value& instance, std::vector<std::string>* errors);

// Keywords used anywhere in `schema` that Validate() does not implement, as "<path>: <keyword>".
std::vector<std::string> UnsupportedKeywords(const Value& schema);

// The schema node for a dotted values path ("spaces.controlPlane.name"), following
// `properties`; nullptr when the schema does not declare it.
const Value* SchemaFor(const Value& schema, const std::vector<std::string>& path);

}  // namespace chart

// Label and field selectors as k8s.io/apimachinery parses, matches and prints them
// (pkg/labels.Parse, pkg/fields.ParseSelector). Parse errors are returned as the message
// kube-apiserver puts in its 400 BadRequest Status (wrap with kube::NewBadRequest); nothing throws.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kube {

// ---- Label selectors ----

enum class LabelOperator {
  kEquals,        // a=b
  kDoubleEquals,  // a==b
  kNotEquals,     // a!=b
  kIn,            // a in (b,c)
  kNotIn,         // a notin (b,c)
  kExists,        // a
  kDoesNotExist,  // !a
  kGreaterThan,   // a>1
  kLessThan,      // a<1
};

using LabelMap = std::map<std::string, std::string, std::less<>>;

struct LabelRequirement {
  std::string key;
  LabelOperator op = LabelOperator::kExists;
  std::vector<std::string> values;  // sorted, unique (as labels.Parse builds them)

  bool Matches(const LabelMap& labels) const;
  // "a=b", "a==b", "a!=b", "a in (b,c)", "a notin (b,c)", "a", "!a", "a>1", "a<1".
  std::string String() const;
  bool operator==(const LabelRequirement&) const = default;
};

// The AND of its requirements, kept sorted by key (stable), like apimachinery's internalSelector.
class LabelSelector {
 public:
  LabelSelector() = default;  // selects everything

  // labels.Parse. On error returns the message, e.g.
  // "unable to parse requirement: found '', expected: identifier".
  static std::variant<LabelSelector, std::string> Parse(std::string_view text);
  // Builds a requirement with labels.NewRequirement's validation; error message on failure.
  static std::variant<LabelRequirement, std::string> NewRequirement(
      std::string key, LabelOperator op, std::vector<std::string> values);

  bool Empty() const { return requirements_.empty(); }
  bool Matches(const LabelMap& labels) const;
  // Canonical form: requirements sorted by key, joined with ",".
  std::string String() const;

  // Adds requirements (AND), keeping the key order. Returns *this.
  LabelSelector& Add(LabelRequirement r);
  LabelSelector& Add(const LabelSelector& other);
  // All requirements on `key` (there may be several: "a,!a" is legal).
  std::vector<const LabelRequirement*> RequirementsFor(std::string_view key) const;
  bool HasKey(std::string_view key) const { return !RequirementsFor(key).empty(); }
  // Removes every requirement on `key`; returns how many were removed.
  size_t RemoveKey(std::string_view key);
  // labels.Selector.RequiresExactMatch: the value of the first requirement on `key` when it is
  // =, == or `in` with exactly one value.
  std::optional<std::string> RequiresExactMatch(std::string_view key) const;
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<LabelRequirement> requirements_;
};

// ---- Field selectors ----

struct FieldRequirement {
  std::string field;        // "metadata.name"
  bool not_equals = false;  // "!=" (otherwise "=" or "==")
  std::string value;        // unescaped
  bool operator==(const FieldRequirement&) const = default;
};

// Returns the value of a field path of an object, or nullopt when the object has no such field.
using FieldGetter = std::function<std::optional<std::string>(std::string_view field)>;

class FieldSelector {
 public:
  FieldSelector() = default;  // selects everything

  // fields.ParseSelector. On error returns the message, e.g.
  // "invalid selector: 'metadata.name=a,foo'; can't understand 'foo'".
  static std::variant<FieldSelector, std::string> Parse(std::string_view text);

  bool Empty() const { return requirements_.empty(); }
  // A missing field matches "!=" and not "=" (compares as the empty string, as kube's
  // fields.Set does for an absent key).
  bool Matches(const FieldGetter& get) const;
  // "a=b,c!=d" (values escaped with fields.EscapeValue), terms in parse order (sorted).
  std::string String() const;
  std::optional<std::string> RequiresExactMatch(std::string_view field) const;
  // Fields referenced, in order (for "field label not supported" checks).
  std::vector<std::string_view> Fields() const;
  FieldSelector& Add(FieldRequirement r);
  size_t RemoveField(std::string_view field);
  const std::vector<FieldRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<FieldRequirement> requirements_;
};

// fields.EscapeValue / UnescapeValue ('\\', ',' and '=' escaped with a backslash).
std::string EscapeFieldValue(std::string_view v);

}  // namespace kube

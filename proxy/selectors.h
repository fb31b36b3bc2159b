// Label and field selectors: parsed like k8s.io/apimachinery (labels.Parse, fields.ParseSelector)
// and re-serialized canonically, so a translated selector can only ever narrow the scope.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kube/result.h"

namespace proxy {

struct LabelRequirement {
  enum class Op { kExists, kDoesNotExist, kEquals, kNotEquals, kIn, kNotIn, kGreaterThan, kLessThan };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;

  std::string String() const;
};

// Parses a label selector; an empty string is the empty (match-all) selector. Errors are 400
// BadRequest like kube-apiserver's ("unable to parse requirement: ...").
kube::Result<std::vector<LabelRequirement>> ParseLabelSelector(std::string_view s);
std::string FormatLabelSelector(const std::vector<LabelRequirement>& reqs);

struct FieldRequirement {
  enum class Op { kEquals, kNotEquals };
  std::string field;
  Op op = Op::kEquals;
  std::string value;  // unescaped

  std::string String() const;  // value re-escaped
};

kube::Result<std::vector<FieldRequirement>> ParseFieldSelector(std::string_view s);
std::string FormatFieldSelector(const std::vector<FieldRequirement>& reqs);

}  // namespace proxy

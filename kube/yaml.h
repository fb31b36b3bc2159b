// YAML -> JSON the way kube's decoders see YAML (sigs.k8s.io/yaml over go-yaml v2, YAML 1.1
// scalar resolution): plain scalars become null, booleans (true/yes/on/y, ...), integers
// (decimal, 0x, 0o, 0b, leading-0 octal, '_' separators) or floats; quoted or !!str-tagged ones
// stay strings; duplicate keys keep the last value. JSON text is parsed as JSON first (exact
// numbers). Hostile input is bounded: nesting depth, and the number of JSON values produced
// (aliases share nodes, so a small document could otherwise expand exponentially: "billion
// laughs", CVE-2019-11253 in kube). Never throws.
#pragma once

#include <string_view>
#include <vector>

#include "kube/json.h"
#include "kube/result.h"

namespace kube::yaml {

struct Limits {
  int max_depth = 200;
  // JSON values a document may expand to; 0 = the input's size in bytes + 1024 (more than any
  // document without aliases needs).
  size_t max_values = 0;
};

// Exactly one document (an empty document is JSON null). Errors are 400 Status values with
// the message "error converting YAML to JSON: yaml: <detail>", as sigs.k8s.io/yaml words them.
Result<json::Document> ToJson(std::string_view text, Limits limits = {});

// Every non-empty document of a multi-document stream ("---" separated).
Result<std::vector<json::Document>> ToJsonDocuments(std::string_view text, Limits limits = {});

}  // namespace kube::yaml

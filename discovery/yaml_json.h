// YAML -> RapidJSON conversion (for static API files and test fixtures).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kube/json.h"
#include "kube/result.h"

namespace discovery {

// Every non-empty document of a (multi-document) YAML stream as a JSON document. Plain scalars
// become numbers, booleans or null when YAML 1.2's core schema says so; quoted ones stay
// strings. JSON text is YAML, so this also reads JSON.
kube::Result<std::vector<kube::json::Document>> YamlToJsonDocuments(std::string_view text);

}  // namespace discovery

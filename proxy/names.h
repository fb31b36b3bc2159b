// proxy's view of naming/ on RapidJSON metadata: the control-plane name, origin labels and
// annotations, the reverse mapping, generateName and app-side validation.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kube/json.h"
#include "kube/status.h"
#include "naming/naming.h"
#include "proxy/proxy.h"

namespace proxy::names {

using KeyValues = naming::StringPairs;

inline std::string ObjectName(Kind kind, std::string_view name, std::string_view ns,
                              std::string_view cluster_id) {
  return naming::ControlPlaneName(kind, name, ns, cluster_id);
}

inline KeyValues OriginLabels(std::string_view name, std::string_view ns,
                              std::string_view cluster_id) {
  return naming::OriginLabels(cluster_id, ns, name);
}
inline KeyValues OriginAnnotations(std::string_view name, std::string_view, std::string_view) {
  return naming::OriginAnnotations(name);
}

// The origin recorded on a stored object's metadata; nullopt when incomplete or inconsistent.
std::optional<naming::AppRef> Reverse(const kube::json::Value& metadata);

inline std::string GenerateName(std::string_view base) { return naming::GenerateName(base); }

}  // namespace proxy::names

// One served resource of a group/version, as discovery documents and OpenAPI describe it.
// Shared by the connector (built from the control plane's XRDs/CRDs) and by fakekube (built
// from its own CRDs and built-in types).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kube/json.h"

namespace kube {

struct PrinterColumn {
  std::string name;
  std::string type;  // "string", "date", "integer", ...
  std::string format;
  std::string description;
  std::string json_path;  // ".status.conditions[?(@.type=='Ready')].status"
  int priority = 0;
};

struct APIResource {
  std::string group;      // "" for the core group
  std::string version;    // "v1alpha1"
  std::string resource;   // plural, "kubernetesclusters"
  std::string singular;   // "kubernetescluster"
  std::string kind;       // "KubernetesCluster"
  std::string list_kind;  // "KubernetesClusterList"
  bool namespaced = true;
  std::vector<std::string> verbs;  // discovery verbs
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool has_status = false;  // status subresource
  bool has_scale = false;
  std::vector<PrinterColumn> printer_columns;
  // The version's openAPIV3Schema (from the CRD), or null.
  std::shared_ptr<const json::Document> schema;

  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
};

// The verbs kube-apiserver advertises for a namespaced or cluster-scoped CRD resource.
std::vector<std::string> DefaultResourceVerbs();

}  // namespace kube

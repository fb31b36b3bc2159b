// OpenAPI documents as kube-apiserver publishes them for CRD-backed resources, rendered from a
// list of APIResource (their openAPIV3Schema): /openapi/v2 (swagger 2.0: definitions + paths),
// the /openapi/v3 index and /openapi/v3/apis/<g>/<v> (or /openapi/v3/api/v1) documents.
// Definitions are named like kube-openapi names CRD types ("org.starter.k8s.v1alpha1.Kind",
// core types "io.k8s.api.core.v1.Kind") and carry x-kubernetes-group-version-kind, which
// `kubectl explain` and ArgoCD look up. Pure functions: no I/O, no global state.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kube/api_resource.h"

namespace kube::openapi {

// "org.starter.k8s.v1alpha1.KubernetesCluster"; core group: "io.k8s.api.core.v1.Secret".
std::string DefinitionName(std::string_view group, std::string_view version, std::string_view kind);

// The v3 index key of a group/version: "api/v1" for the core group, else "apis/<g>/<v>".
std::string V3PathKey(std::string_view group, std::string_view version);

// (Overloads instead of default arguments: g++ 12 destroys a default argument's temporary twice
// when the call sits inside a co_await expression.)
struct Info {
  std::string title = "Kubernetes";
  std::string version = "v1.32.0";
};

// GET /openapi/v2: every resource's kind and list kind, the metav1 types they reference, and
// the REST paths (list, create, deletecollection, get, replace, patch, delete, watch, status,
// scale) with x-kubernetes-action and x-kubernetes-group-version-kind.
std::string RenderV2(const std::vector<APIResource>& resources, const Info& info);
std::string RenderV2(const std::vector<APIResource>& resources);

// GET /openapi/v3/<V3PathKey(group, version)>: the resources of that group/version only.
std::string RenderV3(std::string_view group, std::string_view version,
                     const std::vector<APIResource>& resources, const Info& info);
std::string RenderV3(std::string_view group, std::string_view version,
                     const std::vector<APIResource>& resources);

// GET /openapi/v3: {"paths":{"<key>":{"serverRelativeURL":"/openapi/v3/<key>?hash=<HASH>"}}}.
// Each entry is (V3PathKey, hash of that document as discovery::Hash computes it).
std::string RenderV3Index(const std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace kube::openapi

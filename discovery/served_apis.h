// The served-API computation: a pure function from the control plane's Crossplane XRDs and
// CRDs (as JSON objects) to the APIs this connector serves.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/snapshot.h"
#include "kube/json.h"

namespace discovery {

struct ServedAPIsOptions {
  // Take every CRD as Established (static files have no status).
  bool assume_established = false;
};

struct ServedAPIs {
  std::vector<ServedResource> resources;  // sorted by group, version, resource
  // Why an XRD (or one of its versions) is not served, for logs: "xrd X: CRD Y not established".
  std::vector<std::string> notes;
};

// For each XRD with spec.claimNames (Crossplane v1, LegacyCluster scope): the claim kind in the
// XRD's group for every version served by both the XRD and the claim CRD
// `<claimNames.plural>.<group>`. For each XRD with spec.scope Namespaced (Crossplane v2): the XR
// kind itself, from CRD `<names.plural>.<group>`. Cluster-scoped XRs are not served. Names,
// scope, short names, categories, subresources, printer columns and schema come from the CRD;
// nothing is served before that CRD is Established.
ServedAPIs ComputeServedAPIs(const std::vector<const kube::json::Value*>& xrds,
                             const std::vector<const kube::json::Value*>& crds,
                             const ServedAPIsOptions& options = {});

// Helpers exposed for tests.
bool CRDEstablished(const kube::json::Value& crd);
// The XRD's effective scope: spec.scope, else the default of the version it was read with
// (apiextensions.crossplane.io/v2: "Namespaced"; v1: "LegacyCluster"); "LegacyCluster" whenever
// spec.claimNames is set and the scope is absent.
std::string XRDScope(const kube::json::Value& xrd);
// One CRD version as an APIResource (nullopt when the CRD does not have that version).
std::optional<kube::APIResource> APIResourceFromCRD(const kube::json::Value& crd,
                                                    std::string_view version);

}  // namespace discovery

// Discovery documents as kube-apiserver serves them, rendered from a list of APIResource:
// /api (APIVersions), /api/v1 and /apis/<g>/<v> (APIResourceList), /apis (APIGroupList),
// /apis/<g> (APIGroup) and aggregated discovery (apidiscovery.k8s.io/v2 and v2beta1
// APIGroupDiscoveryList) with a stable ETag. Pure functions: no I/O, no global state.
// Shared by the connector's apiserver and by fakekube (k8s.io/apiserver/pkg/endpoints/discovery).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kube/api_resource.h"
#include "kube/result.h"

namespace kube::discovery {

inline constexpr std::string_view kAggregatedV2ContentType =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
inline constexpr std::string_view kAggregatedV2Beta1ContentType =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

// Which discovery format a request's Accept header asks for. kube-apiserver picks the first
// acceptable media type: aggregated discovery when that is an APIGroupDiscoveryList it serves,
// the legacy document otherwise (protobuf entries are skipped: JSON is what we serve).
enum class Format { kLegacy, kAggregatedV2, kAggregatedV2Beta1 };
Format NegotiateFormat(std::string_view accept);
std::string_view ContentType(Format f);  // "application/json" for kLegacy

// Kubernetes version ordering (k8s.io/apimachinery/pkg/version CompareKubeAwareVersionStrings):
// GA > beta > alpha, higher numbers first, non-kube-like versions last in lexical order.
// Returns true when `a` has higher priority than `b` (a strict weak order: sorts preferred first).
bool KubeVersionHigher(std::string_view a, std::string_view b);

// A group and its versions, versions in priority order (preferred first).
struct GroupVersions {
  std::string group;
  std::vector<std::string> versions;
};
// Groups in order of first appearance in `resources` (core group "" included when present),
// versions sorted with KubeVersionHigher.
std::vector<GroupVersions> CollectGroups(const std::vector<APIResource>& resources);

// GET /api: {"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[...]}.
std::string RenderAPIVersions(std::string_view server_address);  // "127.0.0.1:6443"
// GET /api/v1 or /apis/<g>/<v>: the resources of `resources` in that group/version, each
// followed by its "<name>/status" and "<name>/scale" entries.
std::string RenderAPIResourceList(std::string_view group, std::string_view version,
                                  const std::vector<APIResource>& resources);
// GET /apis: every non-core group.
std::string RenderAPIGroupList(const std::vector<APIResource>& resources);
// GET /apis/<g>; empty string when the group is not among `resources`.
std::string RenderAPIGroup(std::string_view group, const std::vector<APIResource>& resources);
// Aggregated discovery: `core` true renders /api (the core group only), false /apis (all other
// groups). `format` must be kAggregatedV2 or kAggregatedV2Beta1.
std::string RenderAggregated(const std::vector<APIResource>& resources, bool core, Format format);

// The ETag kube-apiserver uses for aggregated discovery and OpenAPI v3: upper-case hex of
// SHA-512 of the body, without quotes (the header value is this in double quotes).
std::string Hash(std::string_view body);

// Parses an APIResourceList (e.g. fetched from an aggregated API server) back into resources:
// "x/status" and "x/scale" entries set has_status/has_scale on x. Errors are BadRequest-ish
// Status values describing what was wrong.
Result<std::vector<APIResource>> ParseAPIResourceList(std::string_view body);

}  // namespace kube::discovery

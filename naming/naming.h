// naming: where an app-cluster object lives in the control plane, and back. Pure functions, no I/O.
//
// Control-plane name: "claim-" (claims) or "nxr-" (namespaced XRs) + the first 16 hex characters
// of SHA-256("<name>-x-<namespace>-x-<clusterID>"), exactly as `up controlplane migration import`
// writes it: ("my-bucket", "test", "00000000-0000-0000-0000-000000000000") ->
// claim-c603e518969b413e.
//
// Origin labels on every control-plane object:
//   mcp-connector.upbound.io/app-cluster        = <clusterID>
//   mcp-connector.upbound.io/app-namespace      = <app namespace>  (a DNS-1123 label, <= 63)
//   mcp-connector.upbound.io/app-resource-name  = <app name>       (see below)
//
// Long names (decision): an app name may have up to 253 characters but a label value only 63.
//   - name <= 63: the label holds the name itself, and no annotation is written (this is exactly
//     what the migration importer writes, so imported and connector-written objects look alike);
//   - name  > 63: the label holds LabelValueForName(name) = the first 46 characters of the name,
//     "-", and the first 16 hex characters of SHA-256(name) (63 characters, a valid label value
//     that still selects the object and cannot be produced by another long name in practice), and
//     the annotation mcp-connector.upbound.io/app-resource-name holds the full name.
//   The reverse mapping prefers the annotation (when it is consistent with the label) and falls
//   back to the label (migration imports: labels only, names <= 63).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kube/status.h"
#include "kube/validation.h"

namespace naming {

enum class Kind { kClaim, kNamespacedXR };

inline constexpr std::string_view kLabelAppCluster = "mcp-connector.upbound.io/app-cluster";
inline constexpr std::string_view kLabelAppNamespace = "mcp-connector.upbound.io/app-namespace";
inline constexpr std::string_view kLabelAppResourceName =
    "mcp-connector.upbound.io/app-resource-name";
// Full app name, written only when it does not fit the label (names longer than 63 characters).
inline constexpr std::string_view kAnnotationAppResourceName =
    "mcp-connector.upbound.io/app-resource-name";

inline constexpr size_t kHashHexChars = 16;
inline constexpr size_t kMaxLabelValue = 63;

// "claim-" or "nxr-".
std::string_view Prefix(Kind kind);

// A control-plane name without heap allocation: at most "claim-" + 16 hex = 22 characters.
class ControlPlaneNameBuf {
 public:
  std::string_view view() const { return {data_, size_}; }
  std::string str() const { return std::string(view()); }
  operator std::string_view() const { return view(); }  // NOLINT

 private:
  friend ControlPlaneNameBuf ControlPlaneNameFast(Kind, std::string_view, std::string_view,
                                                  std::string_view);
  char data_[24] = {};
  uint8_t size_ = 0;
};

// The hot path (>= 4M names/s/core): one SHA-256 over a stack buffer for inputs up to 512 bytes
// (names <= 253, namespaces <= 63 and a cluster ID always fit), no allocation.
ControlPlaneNameBuf ControlPlaneNameFast(Kind kind, std::string_view name, std::string_view ns,
                                         std::string_view cluster_id);
inline std::string ControlPlaneName(Kind kind, std::string_view name, std::string_view ns,
                                    std::string_view cluster_id) {
  return ControlPlaneNameFast(kind, name, ns, cluster_id).str();
}
// The same scheme with any prefix: `prefix` + the first 16 hex characters of
// SHA-256("<name>-x-<namespace>-x-<clusterID>") (the connector's "conn-" secret names).
std::string HashedName(std::string_view prefix, std::string_view name, std::string_view ns,
                       std::string_view cluster_id);
// Whether `name` has the shape of a control-plane name of that kind (prefix + 16 lower hex).
bool LooksLikeControlPlaneName(Kind kind, std::string_view name);

// The value of the app-resource-name label for `name` (see "Long names" above).
std::string LabelValueForName(std::string_view name);
// Whether the annotation is needed (the name does not fit a label value).
inline bool NeedsNameAnnotation(std::string_view name) { return name.size() > kMaxLabelValue; }

using StringPairs = std::vector<std::pair<std::string, std::string>>;
// The three origin labels, in the order above.
StringPairs OriginLabels(std::string_view cluster_id, std::string_view ns, std::string_view name);
// The origin annotations: empty for names <= 63, else {app-resource-name: name}.
StringPairs OriginAnnotations(std::string_view name);

struct AppRef {
  std::string cluster_id;
  std::string namespace_;
  std::string name;
  bool operator==(const AppRef&) const = default;
};

// Looks up a label or annotation by key; nullopt when absent.
using Lookup = std::function<std::optional<std::string_view>(std::string_view key)>;

// Reverse mapping of a control-plane object's metadata to its app-cluster origin. nullopt when the
// object carries no complete set of origin labels, or the annotation contradicts the label.
std::optional<AppRef> AppRefFromMetadata(const Lookup& labels, const Lookup& annotations);
std::optional<AppRef> AppRefFromMetadata(
    const std::map<std::string, std::string, std::less<>>& labels,
    const std::map<std::string, std::string, std::less<>>& annotations);

// kube's names.SimpleNameGenerator: base cut to 58 characters + 5 random characters from
// "bcdfghjklmnpqrstvwxz2456789".
inline constexpr std::string_view kGenerateNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";
inline constexpr size_t kMaxGeneratedNameBase = 58;
inline constexpr size_t kGeneratedNameRandomChars = 5;
std::string GenerateName(std::string_view base);
std::string GenerateName(std::string_view base, std::mt19937_64& rng);

// apimachinery validation.IsDNS1123Subdomain / IsDNS1123Label (Kubernetes 1.32 messages; empty
// when valid), re-exported: names are validated where they are mapped.
using kube::validation::IsDNS1123Label;
using kube::validation::IsDNS1123Subdomain;

// The causes kube-apiserver's ValidateObjectMeta gives for a custom resource's metadata, ready for
// kube::NewInvalid(kind_group, name, causes):
//  - metadata.generateName (validated with a trailing '-' masked) and metadata.name (DNS-1123
//    subdomain; "name or generateName is required" when both are empty);
//  - metadata.namespace: required and a DNS-1123 label when `namespaced`, else forbidden.
std::vector<kube::StatusCause> ValidateObjectName(std::string_view name,
                                                  std::string_view generate_name = {});
std::vector<kube::StatusCause> ValidateObjectNamespace(std::string_view ns, bool namespaced = true);

}  // namespace naming

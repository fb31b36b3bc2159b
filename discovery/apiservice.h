// APIService objects this connector writes in the app cluster: the desired object for a served
// group/version, the ownership rule, and the "is there a real difference" comparison.
// Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kube/json.h"

namespace discovery {

// Labels on every APIService we own. Both must match for an APIService to be ours.
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "mcp-connector";
inline constexpr std::string_view kClusterLabel = "mcp-connector.upbound.io/app-cluster";
// kube-apiserver's own APIServices (for built-in groups and local CRDs).
inline constexpr std::string_view kAutomanagedLabel = "kube-aggregator.kubernetes.io/automanaged";

inline constexpr int kGroupPriorityMinimum = 1000;

struct APIServiceSpec {
  std::string group;
  std::string version;
  std::string service_namespace;
  std::string service_name;
  int service_port = 443;
  std::string ca_bundle_pem;  // PEM; written base64-encoded as spec.caBundle
  std::string cluster_id;
};

// "<version>.<group>".
std::string APIServiceName(std::string_view group, std::string_view version);

// versionPriority: a positive number ordering versions like CompareKubeVersionPriority (a
// higher number for a preferred version), depending only on the version string so that adding
// or removing another version never rewrites this one:
// GA 2,000,100 + 1000*major; beta 1,000,100 + 1000*major + minor; alpha 100 + 1000*major +
// minor (major and minor capped at 999); non-Kubernetes versions 1.
int VersionPriority(std::string_view version);

// The whole desired object (apiVersion, kind, metadata.name + labels, spec).
kube::json::Document DesiredAPIService(const APIServiceSpec& spec);

// Ours: managed-by = mcp-connector and app-cluster = cluster_id.
bool OwnedBy(const kube::json::Value& apiservice, std::string_view cluster_id);
// Why an existing APIService is not ours (empty when it is ours), for logs and /readyz.
std::string ForeignReason(const kube::json::Value& apiservice, std::string_view cluster_id);

// nullopt when `current` already matches `desired` in everything we manage (our labels, group,
// version, service, caBundle, priorities, insecureSkipTLSVerify); otherwise the object to PUT:
// `current` with our fields replaced (other labels, annotations, resourceVersion and status
// kept).
std::optional<kube::json::Document> UpdateFor(const kube::json::Value& current,
                                              const kube::json::Value& desired);

std::string Base64Encode(std::string_view data);

}  // namespace discovery

// DiscoverySnapshot: the immutable set of APIs this connector serves, plus readiness facts,
// published atomically by the discovery controller and read (never waited on) by apiserver/.
//
// apiserver/ only ever calls SnapshotPublisher::Load() on the request path; it never calls into
// the controller. A snapshot never changes once published: a change publishes a new one with a
// higher generation.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kube/api_resource.h"
#include "kube/result.h"

namespace discovery {

// How the proxy names a served object in the control plane's claim namespace.
enum class NamingKind {
  kClaim,         // Crossplane v1 claim: "claim-<hash>"
  kNamespacedXR,  // Crossplane v2 namespaced composite resource: "nxr-<hash>"
};
// "claim-" or "nxr-".
std::string_view NamePrefix(NamingKind kind);
// "claim" or "nxr" (the spelling used in --api-file and in logs).
std::string_view NamingKindName(NamingKind kind);

// One served resource (one kind in one group/version).
struct ServedResource {
  kube::APIResource api;  // group, version, resource, kind, scope, verbs, schema, columns, ...
  NamingKind naming = NamingKind::kClaim;
  std::string xrd_name;  // the XRD it comes from ("xkubernetesclusters.k8s.starter.org"); may
                         // be empty for APIs loaded from a static file
  std::string crd_name;  // the control-plane CRD backing it ("kubernetesclusters.k8s.starter.org")
};

// All served resources of one group/version, sorted by resource name.
struct ServedGroupVersion {
  std::string group;
  std::string version;
  std::vector<ServedResource> resources;
  std::string GroupVersion() const { return group + "/" + version; }
};

// All served versions of one group, preferred (highest Kubernetes version order) first.
struct ServedGroup {
  std::string name;
  std::vector<ServedGroupVersion> versions;
  const ServedGroupVersion& preferred() const { return versions.front(); }
};

// An APIService in the app cluster that we would have written but refused to touch.
struct ForeignAPIService {
  std::string name;    // "v1alpha1.k8s.starter.org"
  std::string reason;  // "managed by kube-apiserver (label kube-aggregator.kubernetes.io/...)"
};

// One line of /readyz?verbose.
struct ReadinessCheck {
  std::string name;  // "discovery-loaded", "control-plane", "claim-namespace", ...
  bool ok = false;
  std::string message;  // why not ok, or extra information when ok (e.g. refused APIServices)
};

struct Readiness {
  bool loaded = false;                   // XRDs and CRDs listed at least once
  bool control_plane_reachable = false;  // the last list/watch attempt succeeded
  std::string control_plane_error;       // last error while unreachable
  bool claim_namespace_ok = false;       // the claim namespace exists in the control plane
  std::string claim_namespace_reason;    // why not
  bool leader = false;                   // this replica holds the APIService-writer lease
  std::vector<ForeignAPIService> foreign_apiservices;  // sorted by name

  // Ready to serve requests: loaded and the claim namespace ok. (Reachability is reported but
  // a short control-plane outage does not make every replica unready; the proxy answers 503.)
  bool Ready() const { return loaded && claim_namespace_ok; }
  // Named checks for /readyz?verbose, in a stable order. Foreign APIServices are reported in a
  // check that stays ok (they do not stop us from serving the other APIs).
  std::vector<ReadinessCheck> Checks() const;
};

class DiscoverySnapshot {
 public:
  // Groups and sorts `resources` (duplicates by group/version/resource: the first one wins).
  // The ETag is a hash of the served content (not of readiness), equal across replicas that
  // serve the same APIs.
  static std::shared_ptr<const DiscoverySnapshot> Make(std::vector<ServedResource> resources,
                                                       Readiness readiness, uint64_t generation);
  // Not loaded, nothing served; what SnapshotPublisher holds before the first publish.
  static std::shared_ptr<const DiscoverySnapshot> Empty();

  // Routing: the served resource, or nullptr.
  const ServedResource* Lookup(std::string_view group, std::string_view version,
                               std::string_view resource) const;
  // By kind (body apiVersion/kind checks), or nullptr.
  const ServedResource* LookupKind(std::string_view group, std::string_view version,
                                   std::string_view kind) const;
  const ServedGroupVersion* FindGroupVersion(std::string_view group,
                                             std::string_view version) const;
  const ServedGroup* FindGroup(std::string_view group) const;

  // Groups sorted by name; versions within each group preferred first.
  const std::vector<ServedGroup>& groups() const { return groups_; }
  // Every served resource, sorted by group, version (preferred first), resource.
  std::vector<const ServedResource*> AllResources() const;
  size_t size() const { return count_; }

  uint64_t generation() const { return generation_; }
  // Quoted strong ETag, e.g. "\"5d41402abc4b2a76\"", of the served API set.
  const std::string& etag() const { return etag_; }
  const Readiness& readiness() const { return readiness_; }

  // Same served content as `other` (used to avoid publishing no-op changes).
  bool SameAPIs(const DiscoverySnapshot& other) const { return etag_ == other.etag_; }
  // A copy with other readiness and generation, sharing the served content.
  std::shared_ptr<const DiscoverySnapshot> WithReadiness(Readiness readiness,
                                                         uint64_t generation) const;

 private:
  DiscoverySnapshot() = default;
  std::vector<ServedGroup> groups_;
  size_t count_ = 0;
  uint64_t generation_ = 0;
  std::string etag_;
  Readiness readiness_;
};

// Holds the latest snapshot. Load() never blocks on the writer for longer than a pointer copy.
class SnapshotPublisher {
 public:
  SnapshotPublisher();
  std::shared_ptr<const DiscoverySnapshot> Load() const noexcept;
  void Publish(std::shared_ptr<const DiscoverySnapshot> snapshot) noexcept;

 private:
  std::atomic<std::shared_ptr<const DiscoverySnapshot>> current_;
};

// Kubernetes version order, like apimachinery's version.CompareKubeAwareVersionStrings:
// GA > beta > alpha, higher major first, higher minor first, then non-kube versions
// lexicographically. Returns <0 when a sorts before b (a is preferred), 0 if equal, >0 otherwise.
// E.g. v2 < v1 < v1beta2 < v1beta1 < v1alpha1 < v1alpha0 < "foo".
int CompareKubeVersionPriority(std::string_view a, std::string_view b);

// A static API set for tests and for the apiserver's --api-file: JSON or YAML text holding
// either a list of entries (or {"resources": [...]}) of the form
//   {group, version, resource, singular, kind, listKind, namespaced (default true),
//    naming: claim|nxr, verbs (default DefaultResourceVerbs()), shortNames, categories,
//    subresources: [status, scale], printerColumns: [{name, type, jsonPath, priority, format,
//    description}], schema: {openAPIV3Schema}}
// or multi-document YAML of Crossplane XRDs and CRDs (as in tests' fixtures), from which the
// served set is computed as the controller would (every CRD taken as Established).
// The snapshot is loaded, reachable and claim-namespace-ok.
kube::Result<std::shared_ptr<const DiscoverySnapshot>> SnapshotFromText(std::string_view text);
kube::Result<std::shared_ptr<const DiscoverySnapshot>> SnapshotFromFile(const std::string& path);

}  // namespace discovery

// The resources fakekube serves: its built-in types plus every served version of every CRD in
// the store (kept in step through the store's change hook, like apiextensions-apiserver's
// establishing and naming controllers: a CRD gets NamesAccepted and Established conditions).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/api_resource.h"
#include "kube/status.h"

namespace fakekube {

class Store;

// A served group/version/resource plus what the handler needs to store it.
struct ServedResource {
  kube::APIResource api;
  // The group/resource the store keys objects by (the same for every version of a resource).
  kube::GroupResource StorageKey() const { return {api.group, api.resource}; }
  std::string storage_version;        // the CRD's storage version; the version for built-ins
  std::vector<std::string> versions;  // every served version of this group/resource
  bool builtin = true;
  // Create-only virtual resources (tokenreviews, subjectaccessreviews): served by fksurface's
  // code, never stored; ServeResource answers 405 for other verbs.
  bool virtual_create_only = false;
  // Whether objects carry metadata.generation (CRs and most built-ins with a spec).
  bool has_generation = false;
  // generation is bumped when anything but metadata and status changes (CRs with the status
  // subresource; kube's built-ins with a spec behave the same for the fields we serve).
  std::string crd_name;  // "<plural>.<group>" for CRD-backed resources
};

class Registry {
 public:
  // Registers the built-ins and the CRDs already in `store`, and subscribes to CRD changes.
  // The store must outlive the registry.
  explicit Registry(Store& store);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // nullptr when not served.
  std::shared_ptr<const ServedResource> Lookup(std::string_view group, std::string_view version,
                                               std::string_view resource) const;
  // By kind within a group/version (for apply bodies and Table rendering); nullptr when unknown.
  std::shared_ptr<const ServedResource> LookupKind(std::string_view group, std::string_view version,
                                                   std::string_view kind) const;
  // Every served resource: built-ins first, then CRD resources; each sorted by group, version
  // (kube version priority), resource.
  std::vector<std::shared_ptr<const ServedResource>> All() const;
  // Served group/versions of a group in preference order (kube version priority).
  std::vector<std::string> Versions(std::string_view group) const;
  // The preferred (first) version of a group, or "" when the group is not served.
  std::string PreferredVersion(std::string_view group) const;

  // Bumped whenever the set of served resources changes (discovery/OpenAPI caches key on it).
  uint64_t generation() const;
  // Called (without locks held) after each change of the served set.
  int AddChangeListener(std::function<void()> listener);
  void RemoveChangeListener(int id);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Creates what a fresh kube-apiserver has: namespaces default, kube-system, kube-public and
// kube-node-lease (Active, with the kubernetes finalizer and metadata.name label). Idempotent.
void SeedBuiltinObjects(Store& store);

// Kubernetes version priority (kube's version.CompareKubeAwareVersionStrings): v2 > v1 >
// v1beta2 > v1beta1 > v1alpha1 > other strings (alphabetical). Returns true when a sorts first.
bool KubeVersionLess(std::string_view a, std::string_view b);

}  // namespace fakekube

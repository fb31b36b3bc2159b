// Patches as kube-apiserver applies them (k8s.io/apiserver pkg/endpoints/handlers/patch.go):
// JSON patch (RFC 6902), JSON merge patch (RFC 7386), and server-side apply with managedFields.
//
// Known differences from kube-apiserver (listed in README.md):
//  - strategic merge patch is applied as a JSON merge patch (lists are replaced, not merged);
//  - server-side apply treats every list as atomic (kube merges lists marked
//    x-kubernetes-list-type=map/set, e.g. containers, ports, conditions, by their keys);
//  - managedFields sets omit the "." (the node itself) entries kube writes for Update managers.
#pragma once

#include <string>
#include <string_view>

#include "kube/json.h"
#include "kube/result.h"

namespace fakekube {

// RFC 6902. A malformed patch: 400 BadRequest; an operation that cannot apply (missing path,
// failed test): 422 Invalid with kube's generic message and the reason as a cause.
kube::Result<kube::json::Document> ApplyJsonPatch(const kube::json::Value& target,
                                                  std::string_view patch);

// RFC 7386 (null deletes, objects merge recursively, everything else replaces).
kube::Result<kube::json::Document> ApplyMergePatch(const kube::json::Value& target,
                                                   std::string_view patch);
void MergePatchInPlace(kube::json::Value& target, const kube::json::Value& patch,
                       kube::json::Allocator& a);

// Converts a YAML (or JSON) document into JSON like kube's decoders (kube::yaml::ToJson); a 400
// Status on parse failure.
kube::Result<kube::json::Document> YamlToJson(std::string_view yaml);

// ---- managedFields ----

struct ManagerInfo {
  std::string manager;      // fieldManager
  std::string api_version;  // apiVersion the manager used
  std::string time;         // RFC 3339
  std::string subresource;  // "" or "status"
};

// Records an Update operation (create, update, patch other than apply): the fields that differ
// between `old_obj` (null for create) and `new_obj` become owned by `info.manager` (operation
// Update), and are taken away from other managers. Writes metadata.managedFields of `new_obj`
// (starting from old_obj's entries; entries a client sent in new_obj are honoured when given).
void RecordUpdate(const kube::json::Value* old_obj, kube::json::Document& new_obj,
                  const ManagerInfo& info);

struct ApplyOptions {
  ManagerInfo info;
  bool force = false;
};

// Server-side apply of `applied` (the full intent of info.manager) onto `current` (null: the
// object is created from the applied configuration). Conflicts with other managers' fields of a
// different value give 409 Conflict ("Apply failed with N conflict(s): ...") unless force, which
// takes ownership. Fields this manager applied before and no longer applies, and nobody else
// owns, are removed. Returns the new object with metadata.managedFields updated.
kube::Result<kube::json::Document> ServerSideApply(const kube::json::Value* current,
                                                   const kube::json::Value& applied,
                                                   const ApplyOptions& opts);

}  // namespace fakekube

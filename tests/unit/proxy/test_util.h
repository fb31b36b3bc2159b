// Shared fixtures for the proxy unit tests: the upstream guide's KubernetesCluster claim API.
#pragma once

#include <string>

#include "kube/api_resource.h"
#include "kube/json.h"
#include "naming/naming.h"
#include "proxy/translator.h"

namespace proxy::testing {

inline constexpr const char* kCluster = "00000000-0000-0000-0000-000000000000";
inline constexpr const char* kOtherCluster = "11111111-1111-1111-1111-111111111111";
inline constexpr const char* kClaimNs = "claims";

inline kube::APIResource ClaimResource() {
  kube::APIResource r;
  r.group = "k8s.starter.org";
  r.version = "v1alpha1";
  r.resource = "kubernetesclusters";
  r.singular = "kubernetescluster";
  r.kind = "KubernetesCluster";
  r.list_kind = "KubernetesClusterList";
  r.namespaced = true;
  r.categories = {"claim"};
  r.has_status = true;
  r.printer_columns = {
      {"SYNCED", "string", "", "", ".status.conditions[?(@.type=='Synced')].status", 0},
      {"READY", "string", "", "", ".status.conditions[?(@.type=='Ready')].status", 0},
      {"CONNECTION-SECRET", "string", "", "", ".spec.writeConnectionSecretToRef.name", 0},
      {"AGE", "date", "", "", ".metadata.creationTimestamp", 0},
  };
  return r;
}

inline const kube::APIResource& Claims() {
  static const kube::APIResource r = ClaimResource();
  return r;
}

inline Translator MakeTranslator(const char* cluster = kCluster, Kind kind = Kind::kClaim) {
  return Translator(Scope{cluster, kClaimNs, kind, &Claims()});
}

inline kube::json::Document Parse(std::string_view text) {
  auto d = kube::json::Parse(text);
  if (!d) {
    kube::json::Document bad;
    bad.SetNull();
    return bad;
  }
  return std::move(*d);
}

inline std::string Cp(std::string_view name, std::string_view ns, const char* cluster = kCluster) {
  return naming::ControlPlaneName(naming::Kind::kClaim, name, ns, cluster);
}

// A control-plane object exactly as `up controlplane migration import` writes it (or as this
// connector wrote it, for short names without extras).
inline std::string StoredClaim(std::string_view name, std::string_view ns,
                               const char* cluster = kCluster, std::string_view extra_meta = "",
                               std::string_view spec = R"({"parameters":{"nodeCount":3}})") {
  std::string s = R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster",)";
  s += R"("metadata":{"name":")" + Cp(name, ns, cluster) + R"(","namespace":"claims",)";
  s += R"("uid":"uid-1","resourceVersion":"7",)";
  if (!extra_meta.empty()) s += std::string(extra_meta) + ",";
  s += R"("labels":{"mcp-connector.upbound.io/app-cluster":")" + std::string(cluster) +
       R"(","mcp-connector.upbound.io/app-namespace":")" + std::string(ns) +
       R"(","mcp-connector.upbound.io/app-resource-name":")" + std::string(name) + R"("}},)";
  s += R"("spec":)" + std::string(spec) +
       R"(,"status":{"conditions":[{"type":"Ready","status":"True"}]}})";
  return s;
}

}  // namespace proxy::testing

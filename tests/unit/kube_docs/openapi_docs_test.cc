#include "kube/openapi_docs.h"

#include <gtest/gtest.h>

#include "kube/discovery_docs.h"

namespace kube::openapi {
namespace {

APIResource Claim() {
  APIResource r;
  r.group = "k8s.starter.org";
  r.version = "v1alpha1";
  r.resource = "kubernetesclusters";
  r.singular = "kubernetescluster";
  r.kind = "KubernetesCluster";
  r.list_kind = "KubernetesClusterList";
  r.verbs = {"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"};
  r.has_status = true;
  auto schema = std::make_shared<json::Document>();
  schema->Parse(R"({"type":"object","required":["spec"],"properties":{)"
                R"("apiVersion":{"type":"string"},"kind":{"type":"string"},)"
                R"("metadata":{"type":"object"},)"
                R"("spec":{"type":"object","properties":{"parameters":{"type":"object",)"
                R"("properties":{"version":{"type":"string","description":"Kubernetes version"},)"
                R"("region":{"type":"string","nullable":true}}}}}}})");
  r.schema = schema;
  return r;
}

json::Document ParseOrDie(const std::string& s) {
  auto d = json::Parse(s);
  EXPECT_TRUE(d.has_value());
  return d ? std::move(*d) : json::Document();
}

TEST(DefinitionName, ReversesTheGroup) {
  EXPECT_EQ(DefinitionName("k8s.starter.org", "v1alpha1", "KubernetesCluster"),
            "org.starter.k8s.v1alpha1.KubernetesCluster");
  EXPECT_EQ(DefinitionName("", "v1", "Secret"), "io.k8s.api.core.v1.Secret");
  EXPECT_EQ(DefinitionName("example", "v1", "Foo"), "example.v1.Foo");
  EXPECT_EQ(V3PathKey("", "v1"), "api/v1");
  EXPECT_EQ(V3PathKey("k8s.starter.org", "v1alpha1"), "apis/k8s.starter.org/v1alpha1");
}

TEST(RenderV2, DefinitionsCarryGVKAndObjectMeta) {
  auto d = ParseOrDie(RenderV2({Claim()}));
  EXPECT_EQ(json::GetString(d, "swagger"), "2.0");
  const auto* def = json::Find(d["definitions"], "org.starter.k8s.v1alpha1.KubernetesCluster");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(json::Serialize((*def)["x-kubernetes-group-version-kind"]),
            R"([{"group":"k8s.starter.org","kind":"KubernetesCluster","version":"v1alpha1"}])");
  EXPECT_EQ(json::Serialize((*def)["properties"]["metadata"]),
            R"({"$ref":"#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"})");
  EXPECT_EQ(json::GetString(
                (*def)["properties"]["spec"]["properties"]["parameters"]["properties"]["version"],
                "description"),
            "Kubernetes version");
  // Swagger 2.0 has no nullable.
  EXPECT_EQ(
      json::Find((*def)["properties"]["spec"]["properties"]["parameters"]["properties"]["region"],
                 "nullable"),
      nullptr);
  const auto* list = json::Find(d["definitions"], "org.starter.k8s.v1alpha1.KubernetesClusterList");
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(json::Serialize((*list)["properties"]["items"]["items"]),
            R"({"$ref":"#/definitions/org.starter.k8s.v1alpha1.KubernetesCluster"})");
  EXPECT_NE(json::Find(d["definitions"], "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            nullptr);
  EXPECT_NE(json::Find(d["definitions"], "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"), nullptr);
}

TEST(RenderV2, PathsWithActions) {
  auto d = ParseOrDie(RenderV2({Claim()}));
  const auto& paths = d["paths"];
  const std::string coll =
      "/apis/k8s.starter.org/v1alpha1/namespaces/{namespace}/kubernetesclusters";
  ASSERT_NE(json::Find(paths, coll), nullptr);
  EXPECT_EQ(json::GetString(paths[coll.c_str()]["get"], "x-kubernetes-action"), "list");
  EXPECT_EQ(json::GetString(paths[coll.c_str()]["get"], "operationId"),
            "listK8sStarterOrgV1alpha1NamespacedKubernetesCluster");
  EXPECT_EQ(json::GetString(paths[coll.c_str()]["delete"], "x-kubernetes-action"),
            "deletecollection");
  const std::string item = coll + "/{name}";
  EXPECT_EQ(json::GetString(paths[item.c_str()]["patch"], "x-kubernetes-action"), "patch");
  EXPECT_NE(json::Find(paths, item + "/status"), nullptr);
  EXPECT_EQ(json::Find(paths, item + "/scale"), nullptr);
  EXPECT_NE(json::Find(paths, "/apis/k8s.starter.org/v1alpha1/kubernetesclusters"), nullptr);
}

TEST(RenderV3, OnlyTheGroupVersionWithComponents) {
  APIResource other = Claim();
  other.version = "v1";
  auto d = ParseOrDie(RenderV3("k8s.starter.org", "v1alpha1", {Claim(), other}));
  EXPECT_EQ(json::GetString(d, "openapi"), "3.0.0");
  const auto& schemas = d["components"]["schemas"];
  ASSERT_NE(json::Find(schemas, "org.starter.k8s.v1alpha1.KubernetesCluster"), nullptr);
  EXPECT_EQ(json::Find(schemas, "org.starter.k8s.v1.KubernetesCluster"), nullptr);
  const auto& def = schemas["org.starter.k8s.v1alpha1.KubernetesCluster"];
  EXPECT_EQ(json::Serialize(def["properties"]["metadata"]["allOf"]),
            R"([{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}])");
  // v3 keeps nullable.
  EXPECT_NE(
      json::Find(def["properties"]["spec"]["properties"]["parameters"]["properties"]["region"],
                 "nullable"),
      nullptr);
  // kubectl decides on server-side field validation from the PATCH operation's parameters.
  const auto& patch =
      d["paths"]["/apis/k8s.starter.org/v1alpha1/namespaces/{namespace}/kubernetesclusters/{name}"]
       ["patch"];
  bool found = false;
  for (const auto& p : patch["parameters"].GetArray()) {
    if (json::GetString(p, "name") == "fieldValidation") found = true;
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(json::Serialize(patch["x-kubernetes-group-version-kind"]),
            R"({"group":"k8s.starter.org","kind":"KubernetesCluster","version":"v1alpha1"})");
  EXPECT_NE(json::Find(patch["requestBody"]["content"], "application/apply-patch+yaml"), nullptr);
}

TEST(RenderV3, SchemaLessResourcePreservesUnknownFields) {
  APIResource r = Claim();
  r.schema = nullptr;
  auto d = ParseOrDie(RenderV3(r.group, r.version, {r}));
  const auto& def = d["components"]["schemas"]["org.starter.k8s.v1alpha1.KubernetesCluster"];
  EXPECT_TRUE(def["x-kubernetes-preserve-unknown-fields"].GetBool());
}

TEST(RenderV3Index, ServerRelativeURLsWithHash) {
  std::string doc = RenderV3("k8s.starter.org", "v1alpha1", {Claim()});
  std::string hash = discovery::Hash(doc);
  EXPECT_EQ(RenderV3Index({{"apis/k8s.starter.org/v1alpha1", hash}}),
            R"({"paths":{"apis/k8s.starter.org/v1alpha1":{"serverRelativeURL":)"
            R"("/openapi/v3/apis/k8s.starter.org/v1alpha1?hash=)" +
                hash + R"("}}})");
}

TEST(RenderV2, IsDeterministic) { EXPECT_EQ(RenderV2({Claim()}), RenderV2({Claim()})); }

}  // namespace
}  // namespace kube::openapi

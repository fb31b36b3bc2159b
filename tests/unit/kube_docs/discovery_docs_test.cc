#include "kube/discovery_docs.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kube::discovery {
namespace {

APIResource Claim() {
  APIResource r;
  r.group = "k8s.starter.org";
  r.version = "v1alpha1";
  r.resource = "kubernetesclusters";
  r.singular = "kubernetescluster";
  r.kind = "KubernetesCluster";
  r.list_kind = "KubernetesClusterList";
  r.namespaced = true;
  r.verbs = {"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"};
  r.short_names = {"kc"};
  r.categories = {"claim"};
  r.has_status = true;
  return r;
}

APIResource Secret() {
  APIResource r;
  r.version = "v1";
  r.resource = "secrets";
  r.singular = "secret";
  r.kind = "Secret";
  r.list_kind = "SecretList";
  r.verbs = {"create", "delete", "get", "list", "patch", "update", "watch"};
  return r;
}

json::Document ParseOrDie(const std::string& s) {
  auto d = json::Parse(s);
  EXPECT_TRUE(d.has_value()) << s;
  return d ? std::move(*d) : json::Document();
}

TEST(NegotiateFormat, PicksTheFirstAcceptableEntry) {
  EXPECT_EQ(NegotiateFormat(""), Format::kLegacy);
  EXPECT_EQ(NegotiateFormat("application/json"), Format::kLegacy);
  EXPECT_EQ(NegotiateFormat("*/*"), Format::kLegacy);
  // What kubectl 1.32 and the aggregator send.
  EXPECT_EQ(NegotiateFormat("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                            "application/json;g=apidiscovery.k8s.io;v=v2beta1;"
                            "as=APIGroupDiscoveryList,application/json"),
            Format::kAggregatedV2);
  EXPECT_EQ(NegotiateFormat("application/json;g=apidiscovery.k8s.io;v=v2beta1;"
                            "as=APIGroupDiscoveryList,application/json"),
            Format::kAggregatedV2Beta1);
  // Protobuf first is skipped (we serve JSON only), spaces tolerated.
  EXPECT_EQ(NegotiateFormat("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;"
                            "as=APIGroupDiscoveryList, application/json; g=apidiscovery.k8s.io; "
                            "v=v2; as=APIGroupDiscoveryList"),
            Format::kAggregatedV2);
  // Unknown discovery version falls through to the next entry.
  EXPECT_EQ(NegotiateFormat("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,"
                            "application/json"),
            Format::kLegacy);
  EXPECT_EQ(ContentType(Format::kAggregatedV2),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(ContentType(Format::kLegacy), "application/json");
}

TEST(KubeVersionHigher, MatchesKubeOrdering) {
  // The example from k8s.io/apimachinery/pkg/version/helpers.go.
  std::vector<std::string> want = {"v10",     "v2",        "v1",        "v11beta2", "v10beta3",
                                   "v3beta1", "v12alpha1", "v11alpha2", "foo1",     "foo10"};
  std::vector<std::string> got = want;
  std::reverse(got.begin(), got.end());
  std::sort(got.begin(), got.end(),
            [](const std::string& a, const std::string& b) { return KubeVersionHigher(a, b); });
  EXPECT_EQ(got, want);
}

TEST(RenderAPIVersions, CoreLegacyDocument) {
  auto d = ParseOrDie(RenderAPIVersions("127.0.0.1:6443"));
  EXPECT_EQ(json::GetString(d, "kind"), "APIVersions");
  EXPECT_EQ(json::Serialize(d["versions"]), R"(["v1"])");
  EXPECT_EQ(json::GetString(d["serverAddressByClientCIDRs"][0], "serverAddress"), "127.0.0.1:6443");
}

TEST(RenderAPIResourceList, ListsResourcesAndSubresources) {
  APIResource scaled = Claim();
  scaled.resource = "scalables";
  scaled.singular = "scalable";
  scaled.kind = "Scalable";
  scaled.has_status = false;
  scaled.has_scale = true;
  scaled.short_names.clear();
  scaled.categories.clear();
  std::vector<APIResource> rs = {Claim(), scaled, Secret()};
  std::string body = RenderAPIResourceList("k8s.starter.org", "v1alpha1", rs);
  EXPECT_EQ(
      body,
      R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"k8s.starter.org/v1alpha1",)"
      R"("resources":[{"name":"kubernetesclusters","singularName":"kubernetescluster",)"
      R"("namespaced":true,"kind":"KubernetesCluster","verbs":["delete","deletecollection",)"
      R"("get","list","patch","create","update","watch"],"shortNames":["kc"],)"
      R"("categories":["claim"]},{"name":"kubernetesclusters/status","singularName":"",)"
      R"("namespaced":true,"kind":"KubernetesCluster","verbs":["get","patch","update"]},)"
      R"({"name":"scalables","singularName":"scalable","namespaced":true,"kind":"Scalable",)"
      R"("verbs":["delete","deletecollection","get","list","patch","create","update","watch"]},)"
      R"({"name":"scalables/scale","singularName":"","namespaced":true,"group":"autoscaling",)"
      R"("version":"v1","kind":"Scale","verbs":["get","patch","update"]}]})");
  auto core = ParseOrDie(RenderAPIResourceList("", "v1", rs));
  EXPECT_EQ(json::GetString(core, "groupVersion"), "v1");
  ASSERT_EQ(core["resources"].Size(), 1u);
  EXPECT_EQ(json::GetString(core["resources"][0], "name"), "secrets");
  // An unknown group/version is an empty list (the router answers 404 before that).
  auto none = ParseOrDie(RenderAPIResourceList("x.io", "v1", rs));
  EXPECT_EQ(none["resources"].Size(), 0u);
}

TEST(RenderAPIGroupList, GroupsWithPreferredVersion) {
  APIResource v1 = Claim();
  v1.version = "v1";
  APIResource v1beta1 = Claim();
  v1beta1.version = "v1beta1";
  std::vector<APIResource> rs = {Secret(), Claim(), v1beta1, v1};
  EXPECT_EQ(RenderAPIGroupList(rs),
            R"({"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"k8s.starter.org",)"
            R"("versions":[{"groupVersion":"k8s.starter.org/v1","version":"v1"},)"
            R"({"groupVersion":"k8s.starter.org/v1beta1","version":"v1beta1"},)"
            R"({"groupVersion":"k8s.starter.org/v1alpha1","version":"v1alpha1"}],)"
            R"("preferredVersion":{"groupVersion":"k8s.starter.org/v1","version":"v1"}}]})");
  auto g = ParseOrDie(RenderAPIGroup("k8s.starter.org", rs));
  EXPECT_EQ(json::GetString(g, "kind"), "APIGroup");
  EXPECT_EQ(json::GetString(g, "apiVersion"), "v1");
  EXPECT_EQ(json::GetString(g["preferredVersion"], "version"), "v1");
  EXPECT_EQ(RenderAPIGroup("nope.io", rs), "");
  EXPECT_EQ(RenderAPIGroup("", rs), "");
}

TEST(RenderAggregated, V2DocumentForApis) {
  std::vector<APIResource> rs = {Secret(), Claim()};
  std::string body = RenderAggregated(rs, false, Format::kAggregatedV2);
  EXPECT_EQ(body,
            R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2",)"
            R"("metadata":{},"items":[{"metadata":{"name":"k8s.starter.org",)"
            R"("creationTimestamp":null},"versions":[{"version":"v1alpha1","resources":[{)"
            R"("resource":"kubernetesclusters","responseKind":{"group":"k8s.starter.org",)"
            R"("version":"v1alpha1","kind":"KubernetesCluster"},"scope":"Namespaced",)"
            R"("singularResource":"kubernetescluster","verbs":["delete","deletecollection",)"
            R"("get","list","patch","create","update","watch"],"shortNames":["kc"],)"
            R"("categories":["claim"],"subresources":[{"subresource":"status","responseKind":{)"
            R"("group":"k8s.starter.org","version":"v1alpha1","kind":"KubernetesCluster"},)"
            R"("verbs":["get","patch","update"]}]}],"freshness":"Current"}]}]})");
  auto beta = ParseOrDie(RenderAggregated(rs, false, Format::kAggregatedV2Beta1));
  EXPECT_EQ(json::GetString(beta, "apiVersion"), "apidiscovery.k8s.io/v2beta1");
}

TEST(RenderAggregated, CoreGroupHasNoName) {
  APIResource ns = Secret();
  ns.resource = "namespaces";
  ns.kind = "Namespace";
  ns.namespaced = false;
  std::vector<APIResource> rs = {Secret(), ns, Claim()};
  auto d = ParseOrDie(RenderAggregated(rs, true, Format::kAggregatedV2));
  ASSERT_EQ(d["items"].Size(), 1u);
  EXPECT_EQ(json::Serialize(d["items"][0]["metadata"]), R"({"creationTimestamp":null})");
  const auto& res = d["items"][0]["versions"][0]["resources"];
  ASSERT_EQ(res.Size(), 2u);
  EXPECT_EQ(json::GetString(res[1], "scope"), "Cluster");
  EXPECT_EQ(json::GetString(res[1]["responseKind"], "group"), "");
}

TEST(Hash, IsUpperHexSha512AndStable) {
  std::string h = Hash("abc");
  EXPECT_EQ(h.size(), 128u);
  EXPECT_EQ(h.substr(0, 16), "DDAF35A193617ABA");
  EXPECT_EQ(Hash("abc"), h);
  EXPECT_NE(Hash("abd"), h);
  std::vector<APIResource> rs = {Claim()};
  EXPECT_EQ(Hash(RenderAggregated(rs, false, Format::kAggregatedV2)),
            Hash(RenderAggregated(rs, false, Format::kAggregatedV2)));
}

TEST(ParseAPIResourceList, RoundTrips) {
  APIResource scaled = Claim();
  scaled.resource = "scalables";
  scaled.kind = "Scalable";
  scaled.has_scale = true;
  std::vector<APIResource> rs = {Claim(), scaled};
  auto parsed = ParseAPIResourceList(RenderAPIResourceList("k8s.starter.org", "v1alpha1", rs));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 2u);
  const APIResource& c = (*parsed)[0];
  EXPECT_EQ(c.group, "k8s.starter.org");
  EXPECT_EQ(c.version, "v1alpha1");
  EXPECT_EQ(c.resource, "kubernetesclusters");
  EXPECT_EQ(c.singular, "kubernetescluster");
  EXPECT_EQ(c.kind, "KubernetesCluster");
  EXPECT_TRUE(c.namespaced);
  EXPECT_TRUE(c.has_status);
  EXPECT_FALSE(c.has_scale);
  EXPECT_EQ(c.verbs, Claim().verbs);
  EXPECT_EQ(c.short_names, std::vector<std::string>{"kc"});
  EXPECT_EQ(c.categories, std::vector<std::string>{"claim"});
  EXPECT_TRUE((*parsed)[1].has_scale);
  // Rendering the parsed list again gives the same document.
  EXPECT_EQ(RenderAPIResourceList("k8s.starter.org", "v1alpha1", *parsed),
            RenderAPIResourceList("k8s.starter.org", "v1alpha1", rs));
}

TEST(ParseAPIResourceList, RejectsGarbage) {
  EXPECT_FALSE(ParseAPIResourceList("not json").ok());
  EXPECT_FALSE(ParseAPIResourceList(R"({"kind":"Status"})").ok());
  EXPECT_FALSE(ParseAPIResourceList(R"({"kind":"APIResourceList"})").ok());
  auto core = ParseAPIResourceList(R"({"kind":"APIResourceList","groupVersion":"v1",)"
                                   R"("resources":[{"name":"pods","kind":"Pod"},7,"x"]})");
  ASSERT_TRUE(core.ok());
  ASSERT_EQ(core->size(), 1u);
  EXPECT_EQ((*core)[0].group, "");
  EXPECT_EQ((*core)[0].version, "v1");
}

}  // namespace
}  // namespace kube::discovery

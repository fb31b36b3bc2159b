#include "discovery/served_apis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "kube/yaml.h"

namespace discovery {
namespace {

namespace json = kube::json;
using ::testing::ElementsAre;

std::string TestData(const std::string& file) {
  std::ifstream in(std::string(DISCOVERY_TESTDATA) + "/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::Document Load(const std::string& file) {
  auto docs = kube::yaml::ToJsonDocuments(TestData(file));
  EXPECT_TRUE(docs.ok());
  EXPECT_EQ(docs->size(), 1u) << file;
  return std::move((*docs)[0]);
}

void Establish(json::Document& crd, const char* status = "True") {
  auto& a = crd.GetAllocator();
  json::Value& st = json::EnsureObject(crd, "status", a);
  json::Value conds(rapidjson::kArrayType);
  json::Value c(rapidjson::kObjectType);
  json::SetString(c, "type", "NamesAccepted", a);
  json::SetString(c, "status", "True", a);
  conds.PushBack(c, a);
  json::Value e(rapidjson::kObjectType);
  json::SetString(e, "type", "Established", a);
  json::SetString(e, "status", status, a);
  conds.PushBack(e, a);
  json::SetMember(st, "conditions", std::move(conds), a);
}

class ServedAPIsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    xrd_claim = Load("10-xrd-xkubernetesclusters.yaml");
    crd_xr = Load("11-crd-xkubernetesclusters.yaml");
    crd_claim = Load("12-crd-kubernetesclusters.yaml");
    xrd_apps = Load("20-xrd-apps.yaml");
    crd_apps = Load("21-crd-apps.yaml");
    Establish(crd_xr);
    Establish(crd_claim);
    Establish(crd_apps);
  }
  ServedAPIs Compute() {
    return ComputeServedAPIs({&xrd_claim, &xrd_apps}, {&crd_xr, &crd_claim, &crd_apps});
  }
  json::Document xrd_claim, crd_xr, crd_claim, xrd_apps, crd_apps;
};

TEST_F(ServedAPIsTest, FixturesServeTheClaimAndTheNamespacedXR) {
  ServedAPIs s = Compute();
  ASSERT_EQ(s.resources.size(), 2u);
  const ServedResource& claim = s.resources[0];
  EXPECT_EQ(claim.api.group, "k8s.starter.org");
  EXPECT_EQ(claim.api.version, "v1alpha1");
  EXPECT_EQ(claim.api.resource, "kubernetesclusters");
  EXPECT_EQ(claim.api.singular, "kubernetescluster");
  EXPECT_EQ(claim.api.kind, "KubernetesCluster");
  EXPECT_EQ(claim.api.list_kind, "KubernetesClusterList");
  EXPECT_TRUE(claim.api.namespaced);
  EXPECT_EQ(claim.naming, NamingKind::kClaim);
  EXPECT_EQ(claim.xrd_name, "xkubernetesclusters.k8s.starter.org");
  EXPECT_EQ(claim.crd_name, "kubernetesclusters.k8s.starter.org");
  EXPECT_THAT(claim.api.categories, ElementsAre("claim"));
  EXPECT_TRUE(claim.api.has_status);
  EXPECT_FALSE(claim.api.has_scale);
  EXPECT_EQ(claim.api.verbs, kube::DefaultResourceVerbs());
  ASSERT_EQ(claim.api.printer_columns.size(), 4u);
  EXPECT_EQ(claim.api.printer_columns[2].name, "CONNECTION-SECRET");
  EXPECT_EQ(claim.api.printer_columns[2].json_path, ".spec.writeConnectionSecretToRef.name");
  EXPECT_EQ(claim.api.printer_columns[3].type, "date");
  ASSERT_TRUE(claim.api.schema);
  // The schema is the claim CRD's (it has compositeDeletePolicy), not the XR's.
  EXPECT_NE(json::FindPath(*claim.api.schema, "properties.spec.properties.compositeDeletePolicy"),
            nullptr);

  const ServedResource& app = s.resources[1];
  EXPECT_EQ(app.api.group, "platform.example.org");
  EXPECT_EQ(app.api.resource, "apps");
  EXPECT_EQ(app.api.kind, "App");
  EXPECT_EQ(app.naming, NamingKind::kNamespacedXR);
  EXPECT_THAT(app.api.categories, ElementsAre("composite"));
  ASSERT_EQ(app.api.printer_columns.size(), 5u);
  EXPECT_EQ(app.api.printer_columns[3].priority, 1);
}

TEST_F(ServedAPIsTest, ClusterScopedXRIsNeverServed) {
  for (const auto& r : Compute().resources) EXPECT_NE(r.api.kind, "XKubernetesCluster");
  // An XRD with scope Cluster (v2) is not served either.
  auto& a = xrd_apps.GetAllocator();
  json::SetString(json::EnsureObject(xrd_apps, "spec", a), "scope", "Cluster", a);
  ServedAPIs s = Compute();
  ASSERT_EQ(s.resources.size(), 1u);
  EXPECT_EQ(s.resources[0].api.kind, "KubernetesCluster");
}

TEST_F(ServedAPIsTest, NotServedUntilTheCRDIsEstablished) {
  Establish(crd_claim, "False");
  ServedAPIs s = Compute();
  ASSERT_EQ(s.resources.size(), 1u);
  EXPECT_EQ(s.resources[0].api.kind, "App");
  EXPECT_THAT(s.notes, ::testing::Contains(::testing::HasSubstr("not established")));
  json::RemoveMember(crd_apps, "status");
  EXPECT_TRUE(Compute().resources.empty());
  // Static files take every CRD as established.
  EXPECT_EQ(ComputeServedAPIs({&xrd_claim, &xrd_apps}, {&crd_xr, &crd_claim, &crd_apps},
                              {.assume_established = true})
                .resources.size(),
            2u);
}

TEST_F(ServedAPIsTest, LeavesWhenTheXRDOrTheCRDGoes) {
  EXPECT_EQ(ComputeServedAPIs({&xrd_apps}, {&crd_xr, &crd_claim, &crd_apps}).resources.size(), 1u);
  ServedAPIs s = ComputeServedAPIs({&xrd_claim, &xrd_apps}, {&crd_xr, &crd_apps});
  ASSERT_EQ(s.resources.size(), 1u);
  EXPECT_EQ(s.resources[0].api.kind, "App");
  EXPECT_THAT(s.notes, ::testing::Contains(::testing::HasSubstr("not found")));
}

// Adds version `v` (served) to an XRD or CRD by copying its first version.
void AddVersion(json::Document& obj, const char* v, bool served = true) {
  auto& a = obj.GetAllocator();
  json::Value& versions = obj["spec"]["versions"];
  json::Value copy;
  copy.CopyFrom(versions[0], a);
  json::SetString(copy, "name", v, a);
  json::SetMember(copy, "served", json::Value(served), a);
  json::SetMember(copy, "storage", json::Value(false), a);
  versions.PushBack(copy, a);
}

TEST_F(ServedAPIsTest, EveryVersionServedByBothXRDAndCRD) {
  AddVersion(xrd_claim, "v1beta1");
  AddVersion(crd_claim, "v1beta1");
  AddVersion(xrd_claim, "v1");         // not yet in the CRD: not served
  AddVersion(xrd_claim, "v2", false);  // not served by the XRD
  AddVersion(crd_claim, "v2");
  ServedAPIs s = ComputeServedAPIs({&xrd_claim}, {&crd_claim});
  ASSERT_EQ(s.resources.size(), 2u);
  EXPECT_EQ(s.resources[0].api.version, "v1alpha1");
  EXPECT_EQ(s.resources[1].api.version, "v1beta1");

  // Version no longer served by the XRD: removed.
  xrd_claim["spec"]["versions"][0]["served"] = false;
  s = ComputeServedAPIs({&xrd_claim}, {&crd_claim});
  ASSERT_EQ(s.resources.size(), 1u);
  EXPECT_EQ(s.resources[0].api.version, "v1beta1");
}

TEST_F(ServedAPIsTest, ScopeDefaultsFollowTheXRDVersion) {
  EXPECT_EQ(XRDScope(xrd_claim), "LegacyCluster");  // v1, claimNames, no scope
  EXPECT_EQ(XRDScope(xrd_apps), "Namespaced");
  auto& a = xrd_apps.GetAllocator();
  json::RemoveMember(xrd_apps["spec"], "scope");
  EXPECT_EQ(XRDScope(xrd_apps), "Namespaced");  // v2 default
  json::SetString(xrd_apps, "apiVersion", "apiextensions.crossplane.io/v1", a);
  EXPECT_EQ(XRDScope(xrd_apps), "LegacyCluster");  // v1 default
  // A v1 XRD read through v2 without scope but with claims is still LegacyCluster.
  json::SetString(xrd_claim, "apiVersion", "apiextensions.crossplane.io/v2", a);
  EXPECT_EQ(XRDScope(xrd_claim), "LegacyCluster");
}

TEST_F(ServedAPIsTest, ClaimNamesIgnoredOnANamespacedXRD) {
  auto& a = xrd_claim.GetAllocator();
  json::SetString(xrd_claim["spec"], "scope", "Namespaced", a);
  // Namespaced scope: the XR itself, whose CRD (11) is cluster-scoped in the fixture: refused.
  ServedAPIs s = ComputeServedAPIs({&xrd_claim}, {&crd_xr, &crd_claim});
  EXPECT_TRUE(s.resources.empty());
  EXPECT_THAT(s.notes, ::testing::Contains(::testing::HasSubstr("not namespaced")));
}

TEST_F(ServedAPIsTest, CRDOfAnotherGroupIsNotUsed) {
  auto& a = crd_claim.GetAllocator();
  json::SetString(crd_claim["spec"], "group", "evil.example.org", a);
  EXPECT_TRUE(ComputeServedAPIs({&xrd_claim}, {&crd_claim}).resources.empty());
}

TEST_F(ServedAPIsTest, DeterministicWhenTwoXRDsClaimTheSameResource) {
  json::Document twin;
  twin.CopyFrom(xrd_claim, twin.GetAllocator());
  json::SetString(twin["metadata"], "name", "aaa.k8s.starter.org", twin.GetAllocator());
  ServedAPIs s = ComputeServedAPIs({&xrd_claim, &twin}, {&crd_claim});
  ASSERT_EQ(s.resources.size(), 1u);
  EXPECT_EQ(s.resources[0].xrd_name, "aaa.k8s.starter.org");
}

TEST_F(ServedAPIsTest, MalformedInputNeverCrashes) {
  json::Document junk;
  junk.Parse(R"({"spec":{"group":5,"versions":"x","claimNames":[]},"metadata":7})");
  json::Document junk2;
  junk2.Parse(R"([1,2])");
  json::Document crd_junk;
  crd_junk.Parse(R"({"metadata":{"name":"kubernetesclusters.k8s.starter.org"},"spec":{}})");
  ServedAPIs s = ComputeServedAPIs({&junk, &junk2, &xrd_claim, nullptr}, {&crd_junk, nullptr});
  EXPECT_TRUE(s.resources.empty());
}

TEST(YamlJsonTest, ScalarsAndDocuments) {
  auto docs = kube::yaml::ToJsonDocuments(
      "a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: hello\ng: [x, 2]\n---\n---\n- k: v\n");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ(json::Serialize((*docs)[0]),
            R"({"a":1,"b":"1","c":true,"d":null,"e":1.5,"f":"hello","g":["x",2]})");
  EXPECT_EQ(json::Serialize((*docs)[1]), R"([{"k":"v"}])");
  EXPECT_FALSE(kube::yaml::ToJsonDocuments("a: [1, 2").ok());
  auto j = kube::yaml::ToJsonDocuments(R"({"x": {"y": [1, "2"]}})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(json::Serialize((*j)[0]), R"({"x":{"y":[1,"2"]}})");
}

}  // namespace
}  // namespace discovery

#include "discovery/apiservice.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "discovery/snapshot.h"

namespace discovery {
namespace {

namespace json = kube::json;

APIServiceSpec Spec() {
  APIServiceSpec s;
  s.group = "k8s.starter.org";
  s.version = "v1alpha1";
  s.service_namespace = "upbound-system";
  s.service_name = "mcp-connector";
  s.ca_bundle_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  s.cluster_id = "00000000-0000-0000-0000-000000000000";
  return s;
}

json::Document Parse(std::string_view text) {
  auto d = json::Parse(text);
  EXPECT_TRUE(d.has_value()) << text;
  return std::move(*d);
}

TEST(APIServiceTest, DesiredObject) {
  json::Document d = DesiredAPIService(Spec());
  EXPECT_EQ(APIServiceName("k8s.starter.org", "v1alpha1"), "v1alpha1.k8s.starter.org");
  EXPECT_EQ(json::Serialize(d),
            R"({"apiVersion":"apiregistration.k8s.io/v1","kind":"APIService","metadata":{)"
            R"("name":"v1alpha1.k8s.starter.org","labels":{"app.kubernetes.io/managed-by":)"
            R"("mcp-connector","mcp-connector.upbound.io/app-cluster":)"
            R"("00000000-0000-0000-0000-000000000000"}},"spec":{"group":"k8s.starter.org",)"
            R"("version":"v1alpha1","service":{"namespace":"upbound-system","name":)"
            R"("mcp-connector","port":443},"caBundle":")" +
                Base64Encode(Spec().ca_bundle_pem) +
                R"(","groupPriorityMinimum":1000,"versionPriority":1101}})");
  EXPECT_TRUE(OwnedBy(d, Spec().cluster_id));
  EXPECT_FALSE(OwnedBy(d, "another-cluster"));
  EXPECT_EQ(ForeignReason(d, Spec().cluster_id), "");
}

TEST(APIServiceTest, Base64) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\x00\xfe", 3)), "/wD+");
}

TEST(APIServiceTest, VersionPriorityFollowsKubeOrder) {
  std::vector<std::string> versions = {"v2",       "v1",       "v1beta2",   "v1beta1",
                                       "v1alpha2", "v1alpha1", "v12alpha1", "foo"};
  for (size_t i = 0; i < versions.size(); ++i) {
    EXPECT_GT(VersionPriority(versions[i]), 0) << versions[i];
    for (size_t j = i + 1; j < versions.size(); ++j) {
      bool kube_prefers_i = CompareKubeVersionPriority(versions[i], versions[j]) < 0;
      if (versions[j] == "foo") {
        EXPECT_GT(VersionPriority(versions[i]), VersionPriority(versions[j]));
        continue;
      }
      EXPECT_EQ(kube_prefers_i, VersionPriority(versions[i]) > VersionPriority(versions[j]))
          << versions[i] << " vs " << versions[j];
    }
  }
  EXPECT_EQ(VersionPriority("v1"), 2001100);
  EXPECT_EQ(VersionPriority("v1beta1"), 1001101);
  EXPECT_EQ(VersionPriority("v1alpha1"), 1101);
  EXPECT_EQ(VersionPriority("v99999"), VersionPriority("v999"));  // capped, still positive
}

TEST(APIServiceTest, ForeignAPIServices) {
  json::Document automanaged = Parse(R"({"metadata":{"name":"v1alpha1.k8s.starter.org","labels":
      {"kube-aggregator.kubernetes.io/automanaged":"true"}},"spec":{"group":"k8s.starter.org",
      "version":"v1alpha1","groupPriorityMinimum":1000,"versionPriority":100}})");
  EXPECT_FALSE(OwnedBy(automanaged, Spec().cluster_id));
  EXPECT_THAT(ForeignReason(automanaged, Spec().cluster_id),
              ::testing::HasSubstr("managed by kube-apiserver"));

  json::Document other = Parse(R"({"metadata":{"name":"v1alpha1.k8s.starter.org"},"spec":{
      "service":{"namespace":"other","name":"thing","port":443}}})");
  EXPECT_FALSE(OwnedBy(other, Spec().cluster_id));
  EXPECT_THAT(ForeignReason(other, Spec().cluster_id), ::testing::HasSubstr("other/thing"));

  json::Document other_cluster = Parse(R"({"metadata":{"name":"x","labels":{
      "app.kubernetes.io/managed-by":"mcp-connector",
      "mcp-connector.upbound.io/app-cluster":"someone-else"}}})");
  EXPECT_FALSE(OwnedBy(other_cluster, Spec().cluster_id));
  EXPECT_THAT(ForeignReason(other_cluster, Spec().cluster_id),
              ::testing::HasSubstr("someone-else"));

  // Our labels plus the automanaged label: still not ours.
  json::Document both = DesiredAPIService(Spec());
  json::SetString(both["metadata"]["labels"], kAutomanagedLabel, "onstart", both.GetAllocator());
  EXPECT_FALSE(OwnedBy(both, Spec().cluster_id));
}

// What an API server returns for our object: extra metadata, status, member order changed.
json::Document AsStored(const json::Document& desired) {
  json::Document cur;
  cur.CopyFrom(desired, cur.GetAllocator());
  auto& a = cur.GetAllocator();
  json::SetString(cur["metadata"], "resourceVersion", "42", a);
  json::SetString(cur["metadata"], "uid", "u-1", a);
  json::SetString(cur["metadata"]["labels"], "team", "x", a);
  json::Document status = Parse(R"({"conditions":[{"type":"Available","status":"True"}]})");
  json::Value status_copy;
  status_copy.CopyFrom(status, a);
  json::SetMember(cur, "status", std::move(status_copy), a);
  // Reorder spec members.
  json::Value spec;
  spec.CopyFrom(cur["spec"], a);
  json::Value reordered(rapidjson::kObjectType);
  for (auto it = spec.MemberEnd(); it != spec.MemberBegin();) {
    --it;
    reordered.AddMember(json::Value(it->name, a), json::Value(it->value, a), a);
  }
  cur["spec"] = reordered;
  return cur;
}

TEST(APIServiceTest, NoUpdateWithoutARealDifference) {
  json::Document desired = DesiredAPIService(Spec());
  json::Document cur = AsStored(desired);
  EXPECT_FALSE(UpdateFor(cur, desired).has_value());
}

TEST(APIServiceTest, UpdateKeepsForeignFieldsAndFixesOurs) {
  json::Document desired = DesiredAPIService(Spec());
  json::Document cur = AsStored(desired);
  auto& a = cur.GetAllocator();
  json::SetString(cur["spec"], "caBundle", "b2xk", a);
  json::SetMember(cur["spec"], "insecureSkipTLSVerify", json::Value(true), a);
  json::SetMember(cur["spec"], "versionPriority", json::Value(5), a);
  auto up = UpdateFor(cur, desired);
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(json::GetString((*up)["metadata"], "resourceVersion"), "42");
  EXPECT_EQ(json::GetString((*up)["metadata"]["labels"], "team"), "x");
  EXPECT_NE(json::Find(*up, "status"), nullptr);
  EXPECT_EQ(json::GetString((*up)["spec"], "caBundle"), Base64Encode(Spec().ca_bundle_pem));
  EXPECT_EQ(json::Find((*up)["spec"], "insecureSkipTLSVerify"), nullptr);
  EXPECT_EQ(*json::GetInt((*up)["spec"], "versionPriority"), 1101);
  EXPECT_FALSE(UpdateFor(*up, desired).has_value());  // converged

  // A changed service port and a missing label are differences too.
  json::Document cur2 = AsStored(desired);
  json::RemoveMember(cur2["metadata"]["labels"], kClusterLabel);
  EXPECT_TRUE(UpdateFor(cur2, desired).has_value());
  json::Document cur3 = AsStored(desired);
  cur3["spec"]["service"]["port"] = 8443;
  EXPECT_TRUE(UpdateFor(cur3, desired).has_value());
}

TEST(APIServiceTest, CABundleRemovedWhenEmpty) {
  APIServiceSpec s = Spec();
  s.ca_bundle_pem.clear();
  json::Document desired = DesiredAPIService(s);
  EXPECT_EQ(json::Find(desired["spec"], "caBundle"), nullptr);
  json::Document cur = AsStored(DesiredAPIService(Spec()));
  auto up = UpdateFor(cur, desired);
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(json::Find((*up)["spec"], "caBundle"), nullptr);
}

}  // namespace
}  // namespace discovery

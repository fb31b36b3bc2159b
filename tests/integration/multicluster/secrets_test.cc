// Connection secrets with two app clusters on one claim namespace (issue 7): identical claims
// (same app namespace, name and connection secret name) in both app clusters; Crossplane (played
// by the test) writes each claim's connection secret in the shared claim namespace under the
// translated name. Each connector copies only its own claims' secrets, into its own app cluster,
// and never writes, overwrites or deletes anything because of the other cluster's secrets.
//
// Namespaced XRs: the fixtures' v2 App XRD has no writeConnectionSecretToRef (Crossplane v2
// namespaced XRs write no connection secrets), so only claims are exercised here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/multicluster/harness.h"

namespace multicluster {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// base64 of the test payloads.
const std::string kDataA = "a3ViZWNvbmZpZy1h";       // kubeconfig-a
const std::string kDataA2 = "a3ViZWNvbmZpZy1hMg==";  // kubeconfig-a2
const std::string kDataB = "a3ViZWNvbmZpZy1i";       // kubeconfig-b

class MultiClusterSecretsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env();
    env_->Start();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(env_, nullptr);
    ASSERT_NE(env_->b().connector, nullptr) << "the environment did not start";
  }

  static void EnsureNamespace(const std::string& ns) {
    for (Side* s : {&env_->a(), &env_->b()}) {
      auto ok = s->app->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n");
      ASSERT_TRUE(ok.ok()) << ok.error().message;
    }
  }

  // The control-plane claim of `s` for ns/name.
  static fakekube::Object CpClaim(const Side& s, const std::string& ns, const std::string& name) {
    auto r = env_->cp->Get(ClaimApi().group, ClaimApi().resource, kClaimNamespace,
                           Env::CpName(ClaimApi(), s, ns, name));
    return r.ok() ? *r : nullptr;
  }

  // What Crossplane does: the connection secret of a claim, in the claim namespace, under the
  // name in the claim's spec.writeConnectionSecretToRef, owned by the claim.
  static std::string WriteConnectionSecret(const fakekube::Object& claim, const std::string& data) {
    std::string secret(
        json::GetString(*json::FindPath(*claim, "spec.writeConnectionSecretToRef"), "name"));
    const json::Value* md = json::Find(*claim, "metadata");
    std::string y = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + secret +
                    "\n  namespace: " + kClaimNamespace +
                    "\n  ownerReferences:\n  - {apiVersion: k8s.starter.org/v1alpha1, kind: "
                    "KubernetesCluster, name: " +
                    std::string(json::GetString(*md, "name")) +
                    ", uid: " + std::string(json::GetString(*md, "uid")) +
                    ", controller: true}\ntype: connection.crossplane.io/v1alpha1\n"
                    "data: {kubeconfig: " +
                    data + "}\n";
    auto ok = env_->cp->Apply(y);
    EXPECT_TRUE(ok.ok()) << ok.error().message;
    return secret;
  }

  static std::string Data(const fakekube::Object& secret) {
    if (!secret) return "<absent>";
    const json::Value* d = json::Find(*secret, "data");
    return d ? std::string(json::GetString(*d, "kubeconfig")) : "<no data>";
  }

  static inline Env* env_ = nullptr;
};

TEST_F(MultiClusterSecretsTest, EachClusterGetsOnlyItsOwnConnectionSecret) {
  const std::string ns = "secrets";
  EnsureNamespace(ns);
  Side& a = env_->a();
  Side& b = env_->b();
  for (Side* s : {&a, &b}) {
    auto r = env_->Do(*s, "POST", Path(ClaimApi(), ns),
                      ObjectJson(ClaimApi(), "db", s->marker, "db-conn"));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  auto claim_a = CpClaim(a, ns, "db");
  auto claim_b = CpClaim(b, ns, "db");
  ASSERT_TRUE(claim_a && claim_b);
  const std::string source_a = WriteConnectionSecret(claim_a, kDataA);
  const std::string source_b = WriteConnectionSecret(claim_b, kDataB);
  // Same user-visible name, two different control-plane secrets in the one namespace.
  ASSERT_NE(source_a, source_b);
  ASSERT_NE(source_a, "db-conn");

  ASSERT_TRUE(Eventually([&] { return Data(env_->AppSecret(a, ns, "db-conn")) == kDataA; }, 10s,
                         "A's copy with A's data"));
  ASSERT_TRUE(Eventually([&] { return Data(env_->AppSecret(b, ns, "db-conn")) == kDataB; }, 10s,
                         "B's copy with B's data"));
  for (Side* s : {&a, &b}) {
    auto copy = env_->AppSecret(*s, ns, "db-conn");
    const json::Value* labels = json::FindPath(*copy, "metadata.labels");
    ASSERT_NE(labels, nullptr);
    EXPECT_THAT(json::Serialize(*labels), HasSubstr(s->cluster_id));
    EXPECT_THAT(json::Serialize(*labels), Not(HasSubstr(env_->other(*s).cluster_id)));
    const json::Value* ann = json::FindPath(*copy, "metadata.annotations");
    ASSERT_NE(ann, nullptr);
    EXPECT_EQ(json::GetString(*ann, "mcp-connector.upbound.io/source-secret"),
              kClaimNamespace + "/" + (s == &a ? source_a : source_b));
    EXPECT_EQ(json::GetString(*ann, "mcp-connector.upbound.io/claim"),
              "KubernetesCluster.k8s.starter.org/db");
  }
  // Nothing else was copied anywhere (in particular not the other's source under its own name).
  for (Side* s : {&a, &b}) {
    EXPECT_EQ(env_->AppSecret(*s, ns, source_a), nullptr);
    EXPECT_EQ(env_->AppSecret(*s, ns, source_b), nullptr);
  }

  // A's source changes: A's copy follows; B's app cluster sees no Secret write at all.
  const std::string b_rv(json::GetString(
      *json::FindPath(*env_->AppSecret(b, ns, "db-conn"), "metadata"), "resourceVersion"));
  b.app->ClearRequests();
  WriteConnectionSecret(claim_a, kDataA2);
  ASSERT_TRUE(Eventually([&] { return Data(env_->AppSecret(a, ns, "db-conn")) == kDataA2; }, 10s,
                         "A's copy updated"));
  std::this_thread::sleep_for(700ms);
  EXPECT_THAT(env_->AppSecretWrites(b), IsEmpty());
  EXPECT_EQ(Data(env_->AppSecret(b, ns, "db-conn")), kDataB);
  EXPECT_EQ(json::GetString(*json::FindPath(*env_->AppSecret(b, ns, "db-conn"), "metadata"),
                            "resourceVersion"),
            b_rv);

  // B's source goes: B's copy goes; A's copy stays and A's app cluster sees no Secret write.
  a.app->ClearRequests();
  auto del = env_->CpDo("DELETE", "/api/v1/namespaces/" + kClaimNamespace + "/secrets/" + source_b);
  ASSERT_EQ(del.status, 200) << del.body;
  ASSERT_TRUE(Eventually([&] { return env_->AppSecret(b, ns, "db-conn") == nullptr; }, 10s,
                         "B's copy deleted"));
  std::this_thread::sleep_for(700ms);
  EXPECT_THAT(env_->AppSecretWrites(a), IsEmpty());
  EXPECT_EQ(Data(env_->AppSecret(a, ns, "db-conn")), kDataA2);
  // The control plane still holds A's source.
  auto src = env_->CpDo("GET", "/api/v1/namespaces/" + kClaimNamespace + "/secrets/" + source_a);
  EXPECT_EQ(src.status, 200);
}

TEST_F(MultiClusterSecretsTest, ClaimsNamingTheOthersSecretsGetNothingOfIt) {
  const std::string ns = "steal";
  EnsureNamespace(ns);
  Side& a = env_->a();
  Side& b = env_->b();
  auto r =
      env_->Do(a, "POST", Path(ClaimApi(), ns), ObjectJson(ClaimApi(), "db", a.marker, "db-conn"));
  ASSERT_EQ(r.status, 201) << r.body;
  auto claim_a = CpClaim(a, ns, "db");
  ASSERT_TRUE(claim_a);
  const std::string source_a = WriteConnectionSecret(claim_a, kDataA);
  ASSERT_TRUE(Eventually([&] { return Data(env_->AppSecret(a, ns, "db-conn")) == kDataA; }, 10s,
                         "A's copy"));

  // B's users name A's control-plane secret, and A's claim's control-plane name, as their own
  // connection secrets; B also has a claim with A's claim's control-plane name.
  b.app->ClearRequests();
  for (const auto& [name, secret] :
       {std::pair{std::string("thief"), source_a},
        std::pair{
            std::string("thief2"),
            claim_a ? std::string(json::GetString(*json::Find(*claim_a, "metadata"), "name")) : ""},
        std::pair{std::string(json::GetString(*json::Find(*claim_a, "metadata"), "name")),
                  std::string("db-conn")}}) {
    auto c =
        env_->Do(b, "POST", Path(ClaimApi(), ns), ObjectJson(ClaimApi(), name, b.marker, secret));
    ASSERT_EQ(c.status, 201) << name << ": " << c.body;
    // Their control-plane secret names are B's own translations, never A's source.
    auto cp = CpClaim(b, ns, name);
    ASSERT_TRUE(cp);
    EXPECT_NE(json::GetString(*json::FindPath(*cp, "spec.writeConnectionSecretToRef"), "name"),
              source_a);
  }
  std::this_thread::sleep_for(1500ms);
  // B's app cluster got no Secret at all (there is no source for B's claims) ...
  EXPECT_THAT(env_->AppSecretWrites(b), IsEmpty());
  auto secrets = b.app->Do("GET", "/api/v1/namespaces/" + ns + "/secrets");
  EXPECT_THAT(secrets.body, Not(HasSubstr(kDataA)));
  EXPECT_EQ(env_->AppSecret(b, ns, "db-conn"), nullptr);
  EXPECT_EQ(env_->AppSecret(b, ns, source_a), nullptr);
  // ... and A's copy is untouched.
  EXPECT_EQ(Data(env_->AppSecret(a, ns, "db-conn")), kDataA);
}

TEST_F(MultiClusterSecretsTest, TheOthersManagedCopyLookalikeIsNeverTouched) {
  // B's app cluster holds a Secret that looks like A's managed copy (A's cluster label and source
  // annotation): B's connector treats it as foreign; A's connector cannot reach it at all.
  const std::string ns = "lookalike";
  EnsureNamespace(ns);
  Side& a = env_->a();
  Side& b = env_->b();
  for (Side* s : {&a, &b}) {
    auto r = env_->Do(*s, "POST", Path(ClaimApi(), ns),
                      ObjectJson(ClaimApi(), "db", s->marker, "db-conn"));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  auto claim_a = CpClaim(a, ns, "db");
  auto claim_b = CpClaim(b, ns, "db");
  ASSERT_TRUE(claim_a && claim_b);
  std::string source_a(
      json::GetString(*json::FindPath(*claim_a, "spec.writeConnectionSecretToRef"), "name"));
  auto ok =
      b.app->Apply("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-conn\n  namespace: " + ns +
                   "\n  labels:\n    app.kubernetes.io/managed-by: mcp-connector\n"
                   "    mcp-connector.upbound.io/app-cluster: " +
                   a.cluster_id + "\n  annotations:\n    mcp-connector.upbound.io/source-secret: " +
                   kClaimNamespace + "/" + source_a + "\ndata: {kubeconfig: b3JpZ2luYWw=}\n");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  auto before = json::Serialize(*env_->AppSecret(b, ns, "db-conn"));

  WriteConnectionSecret(claim_a, kDataA);
  std::string source_b = WriteConnectionSecret(claim_b, kDataB);
  ASSERT_TRUE(Eventually([&] { return Data(env_->AppSecret(a, ns, "db-conn")) == kDataA; }, 10s,
                         "A's copy"));
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(json::Serialize(*env_->AppSecret(b, ns, "db-conn")), before);
  // A's source goes: A deletes its own copy only; B's lookalike stays.
  auto del = env_->CpDo("DELETE", "/api/v1/namespaces/" + kClaimNamespace + "/secrets/" + source_a);
  ASSERT_EQ(del.status, 200);
  ASSERT_TRUE(Eventually([&] { return env_->AppSecret(a, ns, "db-conn") == nullptr; }, 10s,
                         "A's copy deleted"));
  del = env_->CpDo("DELETE", "/api/v1/namespaces/" + kClaimNamespace + "/secrets/" + source_b);
  ASSERT_EQ(del.status, 200);
  std::this_thread::sleep_for(1000ms);
  ASSERT_NE(env_->AppSecret(b, ns, "db-conn"), nullptr);
  EXPECT_EQ(json::Serialize(*env_->AppSecret(b, ns, "db-conn")), before);
}

}  // namespace
}  // namespace multicluster

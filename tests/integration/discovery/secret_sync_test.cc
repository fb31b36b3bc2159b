// Connection secrets (issue 7): the control plane's connection secret of this cluster's claim is
// copied into the claim's app namespace under the name the user wrote, kept in sync, deleted
// when the source goes; a Secret the connector does not manage is never overwritten.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "discovery/secret_sync.h"
#include "tests/integration/discovery/harness.h"

namespace discovery::testing {
namespace {

// A claim as the proxy writes it into the claim namespace, and Crossplane's connection secret.
std::string Claim(const std::string& name, const std::string& app_ns, const std::string& app_name,
                  const std::string& user_secret, const std::string& cp_secret,
                  const std::string& cluster = kClusterID) {
  return "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\n"
         "metadata:\n  name: " +
         name +
         "\n  namespace: mcp-claims\n"
         "  labels:\n    mcp-connector.upbound.io/app-cluster: " +
         cluster +
         "\n"
         "    mcp-connector.upbound.io/app-namespace: " +
         app_ns +
         "\n"
         "    mcp-connector.upbound.io/app-resource-name: " +
         app_name +
         "\n"
         "  annotations:\n    mcp-connector.upbound.io/connection-secret-name: " +
         user_secret +
         "\nspec:\n  parameters: {version: \"1.30\"}\n"
         "  writeConnectionSecretToRef: {name: " +
         cp_secret + "}\n";
}

std::string Secret(const std::string& name, const std::string& owner, const std::string& data) {
  return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name +
         "\n  namespace: mcp-claims\n  ownerReferences:\n"
         "  - {apiVersion: k8s.starter.org/v1alpha1, kind: KubernetesCluster, name: " +
         owner +
         ", uid: u1, controller: true}\ntype: connection.crossplane.io/v1alpha1\n"
         "data: {kubeconfig: " +
         data + "}\n";
}

class SecretSyncIT : public ::testing::Test {
 protected:
  void SetUp() override {
    h.Start();
    h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
    h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
    h.ApplyCP("apiVersion: v1\nkind: Namespace\nmetadata: {name: mcp-claims}\n");
    h.ApplyApp("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n");
    h.ApplyApp("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n");
  }
  fakekube::Object AppSecret(const std::string& ns, const std::string& name) {
    auto r = h.app->Get("", "secrets", ns, name);
    return r.ok() ? *r : nullptr;
  }
  Harness h;
};

TEST_F(SecretSyncIT, CopiesSyncsAndDeletes) {
  h.ApplyCP(Claim("claim-aaaa", "team-a", "my-cluster", "my-kubeconfig", "conn-aaaa"));
  h.ApplyCP(Secret("conn-aaaa", "claim-aaaa", "djE="));  // "v1"
  // Another cluster's claim in the same claim namespace: never copied.
  h.ApplyCP(Claim("claim-bbbb", "team-a", "theirs", "their-secret", "conn-bbbb", "other"));
  h.ApplyCP(Secret("conn-bbbb", "claim-bbbb", "eA=="));
  ControllerOptions o = h.Options();
  o.sync_connection_secrets = true;
  Controller* c = h.StartController(o);

  ASSERT_TRUE(Eventually([&] { return AppSecret("team-a", "my-kubeconfig") != nullptr; }, 5s,
                         "copy created"));
  auto copy = AppSecret("team-a", "my-kubeconfig");
  EXPECT_EQ(json::GetString((*copy)["data"], "kubeconfig"), "djE=");
  EXPECT_EQ(json::GetString(*copy, "type"), "connection.crossplane.io/v1alpha1");
  EXPECT_TRUE(OwnedBy(*copy, kClusterID));  // managed-by + app-cluster labels
  EXPECT_EQ(json::GetString((*copy)["metadata"]["annotations"], kSourceSecretAnnotation),
            "mcp-claims/conn-aaaa");
  EXPECT_EQ(json::GetString((*copy)["metadata"]["annotations"], kClaimAnnotation),
            "KubernetesCluster.k8s.starter.org/my-cluster");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(AppSecret("team-a", "their-secret"), nullptr);
  EXPECT_EQ(c->counters().secret_creates, 1u);
  EXPECT_EQ(c->counters().secret_updates, 0u);

  // The source changes: the copy follows, once.
  h.ApplyCP(Secret("conn-aaaa", "claim-aaaa", "djI="));  // "v2"
  ASSERT_TRUE(Eventually(
      [&] {
        auto s = AppSecret("team-a", "my-kubeconfig");
        return s && json::GetString((*s)["data"], "kubeconfig") == "djI=";
      },
      5s, "copy updated"));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(c->counters().secret_updates, 1u);

  // The source goes: the copy goes.
  auto del = h.cp->Do("DELETE", "/api/v1/namespaces/mcp-claims/secrets/conn-aaaa");
  ASSERT_EQ(del.status, 200) << del.body;
  ASSERT_TRUE(Eventually([&] { return AppSecret("team-a", "my-kubeconfig") == nullptr; }, 5s,
                         "copy deleted"));
  ASSERT_TRUE(Eventually([&] { return c->counters().secret_deletes == 1u; }, 2s, "1 delete"));
}

TEST_F(SecretSyncIT, ForeignSecretIsNeverOverwritten) {
  h.ApplyApp(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: taken, namespace: team-b}\n"
      "data: {mine: b3JpZ2luYWw=}\n");
  auto before = AppSecret("team-b", "taken");
  h.ApplyCP(Claim("claim-cccc", "team-b", "c1", "taken", "conn-cccc"));
  h.ApplyCP(Secret("conn-cccc", "claim-cccc", "c2VjcmV0"));
  ControllerOptions o = h.Options();
  o.sync_connection_secrets = true;
  Controller* c = h.StartController(o);
  ASSERT_TRUE(
      Eventually([&] { return c->counters().secret_conflicts == 1u; }, 5s, "conflict counted"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(json::Serialize(*AppSecret("team-b", "taken")), json::Serialize(*before));
  EXPECT_EQ(c->counters().secret_creates + c->counters().secret_updates, 0u);
  std::string metrics;
  c->AppendMetrics(metrics);
  EXPECT_THAT(metrics, ::testing::HasSubstr("mcp_connector_connection_secret_conflicts_total 1"));
  // A Warning Event in the app namespace.
  EXPECT_TRUE(Eventually(
      [&] {
        auto events = h.app->Do("GET", "/api/v1/namespaces/team-b/events");
        return events.status == 200 &&
               events.body.find("ConnectionSecretConflict") != std::string::npos;
      },
      2s, "Warning Event"));

  // Deleting the source never deletes the foreign Secret.
  auto del = h.cp->Do("DELETE", "/api/v1/namespaces/mcp-claims/secrets/conn-cccc");
  ASSERT_EQ(del.status, 200);
  std::this_thread::sleep_for(500ms);
  EXPECT_NE(AppSecret("team-b", "taken"), nullptr);
  EXPECT_EQ(c->counters().secret_deletes, 0u);
}

TEST_F(SecretSyncIT, OnlyTheLeaderCopies) {
  h.ApplyCP(Claim("claim-dddd", "team-a", "d", "d-secret", "conn-dddd"));
  h.ApplyCP(Secret("conn-dddd", "claim-dddd", "ZA=="));
  ControllerOptions o = h.Options();
  o.sync_connection_secrets = true;
  o.leader_election = true;
  o.identity = "a";
  Controller* a = h.StartController(o);
  ASSERT_TRUE(Eventually([&] { return a->leading(); }, 3s, "a leads"));
  o.identity = "b";
  Controller* b = h.StartController(o);
  ASSERT_TRUE(Eventually([&] { return AppSecret("team-a", "d-secret") != nullptr; }, 5s, "copy"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a->counters().secret_creates, 1u);
  EXPECT_EQ(b->counters().secret_creates + b->counters().secret_updates, 0u);
}

}  // namespace
}  // namespace discovery::testing

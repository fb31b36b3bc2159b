// Discovery controller against fakekube on both sides: APIServices follow the control plane's
// XRDs, nothing spurious is written, foreign APIServices are never touched, only the leader
// writes, restarts and outages delete nothing, uninstall removes only ours.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/discovery/harness.h"

namespace discovery::testing {
namespace {

const std::string kClaimAPI = "v1alpha1.k8s.starter.org";
const std::string kAppAPI = "v1alpha1.platform.example.org";

// Adds a served version `v` (copy of the first) to the claim XRD and the claim CRD.
std::string WithVersion(std::string yaml, const std::string& kind_marker, const std::string& v) {
  (void)kind_marker;
  // The fixtures list one version; append a second by duplicating the "- name: v1alpha1" block.
  auto pos = yaml.find("  - name: v1alpha1");
  EXPECT_NE(pos, std::string::npos);
  std::string block = yaml.substr(pos);
  std::string copy = block;
  copy.replace(copy.find("v1alpha1"), 8, v);
  auto storage = copy.find("storage: true");
  if (storage != std::string::npos) copy.replace(storage, 13, "storage: false");
  if (copy.back() != '\n') copy += '\n';
  if (yaml.back() != '\n') yaml += '\n';
  return yaml + copy;
}

class DiscoveryIT : public ::testing::Test {
 protected:
  void SetUp() override { h.Start(); }
  Harness h;
};

TEST_F(DiscoveryIT, APIServicesFollowXRDsAndVersionsWithoutSpuriousWrites) {
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  Controller* c = h.StartController(h.Options());
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, true));

  auto svc = h.APIService(kClaimAPI);
  const json::Value& spec = (*svc)["spec"];
  EXPECT_EQ(json::GetString(spec, "group"), "k8s.starter.org");
  EXPECT_EQ(json::GetString(spec, "version"), "v1alpha1");
  EXPECT_EQ(json::GetString(spec["service"], "namespace"), "upbound-system");
  EXPECT_EQ(json::GetString(spec["service"], "name"), "mcp-connector");
  EXPECT_EQ(*json::GetInt(spec["service"], "port"), 443);
  EXPECT_EQ(json::GetString(spec, "caBundle"), Base64Encode(h.Options().ca_bundle_pem));
  EXPECT_EQ(*json::GetInt(spec, "groupPriorityMinimum"), 1000);
  EXPECT_EQ(*json::GetInt(spec, "versionPriority"), VersionPriority("v1alpha1"));
  EXPECT_TRUE(OwnedBy(*svc, kClusterID));

  auto snap = c->publisher()->Load();
  EXPECT_TRUE(snap->readiness().loaded);
  const ServedResource* r = snap->Lookup("k8s.starter.org", "v1alpha1", "kubernetesclusters");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->naming, NamingKind::kClaim);
  EXPECT_EQ(r->api.printer_columns.size(), 4u);

  // Steady state: nothing more is written.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(c->counters().apiservice_creates, 1u);
  EXPECT_EQ(c->counters().writes(), 1u);

  // A second version appears (CRD first, as Crossplane does): a new APIService, the first one
  // untouched.
  std::string rv1(json::GetString((*svc)["metadata"], "resourceVersion"));
  h.ApplyCP(WithVersion(TestData("12-crd-kubernetesclusters.yaml"), "", "v1beta1"));
  h.ApplyCP(WithVersion(TestData("10-xrd-xkubernetesclusters.yaml"), "", "v1beta1"));
  ASSERT_TRUE(h.WaitAPIService("v1beta1.k8s.starter.org", true));
  EXPECT_EQ(*json::GetInt((*h.APIService("v1beta1.k8s.starter.org"))["spec"], "versionPriority"),
            VersionPriority("v1beta1"));
  ASSERT_TRUE(Eventually(
      [&] {
        return c->publisher()->Load()->Lookup("k8s.starter.org", "v1beta1", "kubernetesclusters") !=
               nullptr;
      },
      2s, "v1beta1 in the snapshot"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(json::GetString((*h.APIService(kClaimAPI))["metadata"], "resourceVersion"), rv1);
  EXPECT_EQ(c->counters().apiservice_creates, 2u);
  EXPECT_EQ(c->counters().apiservice_updates, 0u);

  // v1alpha1 no longer served by the XRD: its APIService goes, v1beta1 stays.
  std::string xrd = WithVersion(TestData("10-xrd-xkubernetesclusters.yaml"), "", "v1beta1");
  xrd.replace(xrd.find("served: true"), 12, "served: false");
  h.ApplyCP(xrd);
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, false));
  EXPECT_NE(h.APIService("v1beta1.k8s.starter.org"), nullptr);
  EXPECT_EQ(c->publisher()->Load()->Lookup("k8s.starter.org", "v1alpha1", "kubernetesclusters"),
            nullptr);

  // The XRD goes: everything goes.
  auto del = h.cp->Do("DELETE",
                      "/apis/apiextensions.crossplane.io/v1/compositeresourcedefinitions/"
                      "xkubernetesclusters.k8s.starter.org");
  ASSERT_EQ(del.status, 200) << del.body;
  ASSERT_TRUE(h.WaitAPIService("v1beta1.k8s.starter.org", false));
  ASSERT_TRUE(Eventually([&] { return c->counters().apiservice_deletes == 2u; }, 2s, "deletes"));
  EXPECT_EQ(c->counters().apiservice_updates, 0u);
  EXPECT_EQ(c->publisher()->Load()->size(), 0u);
}

TEST_F(DiscoveryIT, CRDRemovalRemovesTheAPI) {
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  Controller* c = h.StartController(h.Options());
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, true));
  auto del = h.cp->Do("DELETE",
                      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                      "kubernetesclusters.k8s.starter.org");
  ASSERT_EQ(del.status, 200) << del.body;
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, false));
  // The counter moves once the app cluster has answered the DELETE, which can be just after the
  // APIService is seen gone.
  EXPECT_TRUE(Eventually([&] { return c->counters().apiservice_deletes == 1u; }, 2s, "deletes"));
}

TEST_F(DiscoveryIT, NamespacedV2XRDIsServedWithNxrNaming) {
  h.ApplyCPFile("21-crd-apps.yaml");
  h.ApplyCPFile("20-xrd-apps.yaml");
  // The cluster-scoped XR of a v1 XRD without claims is not served.
  h.ApplyCPFile("11-crd-xkubernetesclusters.yaml");
  Controller* c = h.StartController(h.Options());
  ASSERT_TRUE(h.WaitAPIService(kAppAPI, true));
  auto snap = c->publisher()->Load();
  const ServedResource* r = snap->Lookup("platform.example.org", "v1alpha1", "apps");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->naming, NamingKind::kNamespacedXR);
  EXPECT_EQ(NamePrefix(r->naming), "nxr-");
  EXPECT_TRUE(r->api.namespaced);
  EXPECT_EQ(snap->size(), 1u);
}

TEST_F(DiscoveryIT, ForeignAPIServiceForTheSameGroupVersionIsLeftUntouched) {
  // kube-apiserver's own APIService for a local CRD of the same group/version.
  h.ApplyApp(R"(apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.k8s.starter.org
  labels:
    kube-aggregator.kubernetes.io/automanaged: "true"
spec:
  group: k8s.starter.org
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 100
)");
  auto before = h.APIService(kClaimAPI);
  ASSERT_NE(before, nullptr);
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  h.ApplyCPFile("21-crd-apps.yaml");
  h.ApplyCPFile("20-xrd-apps.yaml");
  Controller* c = h.StartController(h.Options());
  ASSERT_TRUE(h.WaitAPIService(kAppAPI, true));
  ASSERT_TRUE(
      Eventually([&] { return !c->publisher()->Load()->readiness().foreign_apiservices.empty(); },
                 3s, "foreign APIService reported"));
  auto snap = c->publisher()->Load();
  ASSERT_EQ(snap->readiness().foreign_apiservices.size(), 1u);
  EXPECT_EQ(snap->readiness().foreign_apiservices[0].name, kClaimAPI);
  EXPECT_THAT(snap->readiness().foreign_apiservices[0].reason,
              ::testing::HasSubstr("kube-apiserver"));
  auto checks = snap->readiness().Checks();
  EXPECT_THAT(checks.back().message, ::testing::HasSubstr(kClaimAPI));
  std::string metrics;
  c->AppendMetrics(metrics);
  EXPECT_THAT(metrics, ::testing::HasSubstr("mcp_connector_apiservice_foreign_refusals_total 1"));

  std::this_thread::sleep_for(1s);
  auto after = h.APIService(kClaimAPI);
  EXPECT_EQ(json::Serialize(*after), json::Serialize(*before));
  EXPECT_EQ(c->counters().apiservice_creates, 1u);  // only the apps one
  EXPECT_EQ(c->counters().apiservice_updates, 0u);
  EXPECT_EQ(c->counters().apiservice_deletes, 0u);
  EXPECT_EQ(c->counters().apiservice_foreign_refusals, 1u);
  // Still served by us (the aggregator routes it elsewhere, but our snapshot is complete).
  EXPECT_NE(snap->Lookup("k8s.starter.org", "v1alpha1", "kubernetesclusters"), nullptr);

  // Even when the XRD goes, the foreign APIService is not deleted.
  auto del = h.cp->Do("DELETE",
                      "/apis/apiextensions.crossplane.io/v1/compositeresourcedefinitions/"
                      "xkubernetesclusters.k8s.starter.org");
  ASSERT_EQ(del.status, 200);
  ASSERT_TRUE(
      Eventually([&] { return c->publisher()->Load()->readiness().foreign_apiservices.empty(); },
                 3s, "conflict cleared"));
  EXPECT_NE(h.APIService(kClaimAPI), nullptr);
  EXPECT_EQ(c->counters().apiservice_deletes, 0u);
}

TEST_F(DiscoveryIT, OnlyTheLeaderWritesAndTheOtherTakesOver) {
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  ControllerOptions o = h.Options();
  o.leader_election = true;
  o.identity = "replica-a";
  Controller* a = h.StartController(o);
  ASSERT_TRUE(Eventually([&] { return a->leading(); }, 3s, "a leads"));
  o.identity = "replica-b";
  Controller* b = h.StartController(o);
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, true));
  ASSERT_TRUE(Harness::WaitLoaded(b));
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(a->leading());
  EXPECT_FALSE(b->leading());
  EXPECT_EQ(a->counters().apiservice_creates, 1u);
  EXPECT_EQ(b->counters().writes(), 0u);
  // Both serve the same APIs.
  EXPECT_EQ(a->publisher()->Load()->etag(), b->publisher()->Load()->etag());
  EXPECT_TRUE(a->publisher()->Load()->readiness().leader);
  EXPECT_FALSE(b->publisher()->Load()->readiness().leader);

  auto lease = h.app->Get("coordination.k8s.io", "leases", "upbound-system", "mcp-connector");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(json::GetString((**lease)["spec"], "holderIdentity"), "replica-a");

  // The leader stops (releasing the lease): b takes over at its next retry.
  auto stopped_at = std::chrono::steady_clock::now();
  h.StopController(a);
  lease = h.app->Get("coordination.k8s.io", "leases", "upbound-system", "mcp-connector");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(json::GetString((**lease)["spec"], "holderIdentity"), "");
  ASSERT_TRUE(Eventually([&] { return b->leading(); }, 3s, "b takes over"));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 2s);

  // b now writes; a never again.
  h.ApplyCPFile("21-crd-apps.yaml");
  h.ApplyCPFile("20-xrd-apps.yaml");
  ASSERT_TRUE(h.WaitAPIService(kAppAPI, true));
  ASSERT_TRUE(Eventually([&] { return b->counters().apiservice_creates == 1u; }, 2s, "b wrote"));
  EXPECT_EQ(b->counters().apiservice_updates, 0u);  // a's APIService was already right
  EXPECT_EQ(a->counters().writes(), 1u);
}

TEST_F(DiscoveryIT, LeaderThatCannotRenewStopsWriting) {
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  ControllerOptions o = h.Options();
  o.leader_election = true;
  o.identity = "replica-a";
  Controller* a = h.StartController(o);
  ASSERT_TRUE(Eventually([&] { return a->leading(); }, 3s, "a leads"));
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, true));
  // Lease updates fail from now on.
  fakekube::Fault fault;
  fault.method = "PUT";
  fault.path_prefix = "/apis/coordination.k8s.io";
  fault.status = 500;
  h.app->AddFault(fault);
  ASSERT_TRUE(Eventually([&] { return !a->leading(); }, 4s, "a gives up leadership"));
}

TEST_F(DiscoveryIT, RestartResumesWithoutDuplicateWrites) {
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  h.ApplyCPFile("21-crd-apps.yaml");
  h.ApplyCPFile("20-xrd-apps.yaml");
  Controller* first = h.StartController(h.Options());
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, true));
  ASSERT_TRUE(h.WaitAPIService(kAppAPI, true));
  ASSERT_TRUE(Eventually([&] { return first->counters().apiservice_creates == 2u; }, 2s, "2"));
  h.StopController(first);
  std::string rv(json::GetString((*h.APIService(kClaimAPI))["metadata"], "resourceVersion"));

  Controller* second = h.StartController(h.Options());
  ASSERT_TRUE(Harness::WaitLoaded(second));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(second->counters().writes(), 0u);
  EXPECT_EQ(second->counters().apiservice_write_errors, 0u);
  EXPECT_EQ(json::GetString((*h.APIService(kClaimAPI))["metadata"], "resourceVersion"), rv);
  EXPECT_EQ(second->publisher()->Load()->size(), 2u);
}

TEST_F(DiscoveryIT, ControlPlaneUnreachableAtStartDeletesNothing) {
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  Controller* first = h.StartController(h.Options());
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, true));
  h.StopController(first);

  ASSERT_TRUE(h.cp->SetRefuseConnections(true).ok());
  Controller* c = h.StartController(h.Options());
  std::this_thread::sleep_for(1500ms);
  auto snap = c->publisher()->Load();
  EXPECT_FALSE(snap->readiness().loaded);
  EXPECT_FALSE(snap->readiness().control_plane_reachable);
  EXPECT_FALSE(snap->readiness().control_plane_error.empty());
  EXPECT_FALSE(snap->readiness().Ready());
  EXPECT_NE(h.APIService(kClaimAPI), nullptr);
  EXPECT_EQ(c->counters().writes(), 0u);

  // The control plane comes back: loaded, still nothing written.
  ASSERT_TRUE(h.cp->SetRefuseConnections(false).ok());
  ASSERT_TRUE(Harness::WaitLoaded(c, 5s));
  ASSERT_TRUE(Eventually([&] { return c->publisher()->Load()->readiness().Ready(); }, 5s, "ready"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(c->counters().writes(), 0u);
  EXPECT_NE(h.APIService(kClaimAPI), nullptr);
}

TEST_F(DiscoveryIT, WatchesSurviveDropsAndExpiredResourceVersions) {
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  Controller* c = h.StartController(h.Options());
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, true));
  h.cp->ExpireResourceVersions();
  h.cp->DropStreams();
  h.ApplyCPFile("21-crd-apps.yaml");
  h.ApplyCPFile("20-xrd-apps.yaml");
  ASSERT_TRUE(h.WaitAPIService(kAppAPI, true, 5s));
  ASSERT_TRUE(Eventually([&] { return c->counters().apiservice_creates == 2u; }, 2s, "2"));
  EXPECT_EQ(c->counters().apiservice_updates, 0u);
  // No busy loop: a handful of watch requests, not thousands.
  auto watches =
      h.cp->Requests([](const fakekube::RecordedRequest& r) { return r.verb == "watch"; });
  EXPECT_LT(watches.size(), 30u);
}

TEST_F(DiscoveryIT, ClaimNamespaceIsCreatedWhenMissing) {
  Controller* c = h.StartController(h.Options());
  ASSERT_TRUE(Eventually([&] { return c->publisher()->Load()->readiness().Ready(); }, 5s, "ready"));
  EXPECT_TRUE(h.cp->Get("", "namespaces", "", "mcp-claims").ok());
  EXPECT_EQ(c->counters().claim_namespace_creates, 1u);
}

TEST_F(DiscoveryIT, ClaimNamespaceMissingAndNotCreatableIsNotReady) {
  ControllerOptions o = h.Options();
  o.create_claim_namespace = false;
  Controller* c = h.StartController(o);
  ASSERT_TRUE(Harness::WaitLoaded(c));
  ASSERT_TRUE(Eventually(
      [&] {
        return c->publisher()->Load()->readiness().claim_namespace_reason.find("does not exist") !=
               std::string::npos;
      },
      3s, "clear reason"));
  EXPECT_FALSE(c->publisher()->Load()->readiness().Ready());
  // Created by someone else: ready.
  h.ApplyCP("apiVersion: v1\nkind: Namespace\nmetadata: {name: mcp-claims}\n");
  ASSERT_TRUE(Eventually([&] { return c->publisher()->Load()->readiness().Ready(); }, 5s, "ready"));
}

TEST_F(DiscoveryIT, CABundleRotationUpdatesOnce) {
  h.ApplyCPFile("12-crd-kubernetesclusters.yaml");
  h.ApplyCPFile("10-xrd-xkubernetesclusters.yaml");
  Controller* c = h.StartController(h.Options());
  ASSERT_TRUE(h.WaitAPIService(kClaimAPI, true));
  c->SetCABundle("NEW CA");
  ASSERT_TRUE(Eventually(
      [&] {
        return json::GetString((*h.APIService(kClaimAPI))["spec"], "caBundle") ==
               Base64Encode("NEW CA");
      },
      3s, "caBundle updated"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(c->counters().apiservice_updates, 1u);
}

TEST_F(DiscoveryIT, UninstallDeletesOnlyOurs) {
  h.ApplyApp(R"(apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.k8s.starter.org
  labels: {app.kubernetes.io/managed-by: mcp-connector,
           mcp-connector.upbound.io/app-cluster: 11111111-2222-3333-4444-555555555555}
spec: {group: k8s.starter.org, version: v1alpha1, groupPriorityMinimum: 1000, versionPriority: 1,
       service: {namespace: upbound-system, name: mcp-connector, port: 443}}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.platform.example.org
  labels: {app.kubernetes.io/managed-by: mcp-connector,
           mcp-connector.upbound.io/app-cluster: 11111111-2222-3333-4444-555555555555}
spec: {group: platform.example.org, version: v1, groupPriorityMinimum: 1000, versionPriority: 1,
       service: {namespace: upbound-system, name: mcp-connector, port: 443}}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.other.example.org
  labels: {app.kubernetes.io/managed-by: mcp-connector,
           mcp-connector.upbound.io/app-cluster: another-cluster}
spec: {group: other.example.org, version: v1, groupPriorityMinimum: 1000, versionPriority: 1,
       service: {namespace: x, name: y, port: 443}}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.local.example.org
  labels: {kube-aggregator.kubernetes.io/automanaged: "true"}
spec: {group: local.example.org, version: v1beta1, groupPriorityMinimum: 1000, versionPriority: 100}
)");
  auto deleted = h.Run(Uninstall(h.Client(*h.app), kClusterID));
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  EXPECT_THAT(*deleted, ::testing::UnorderedElementsAre("v1alpha1.k8s.starter.org",
                                                        "v1.platform.example.org"));
  EXPECT_EQ(h.APIService("v1alpha1.k8s.starter.org"), nullptr);
  EXPECT_EQ(h.APIService("v1.platform.example.org"), nullptr);
  EXPECT_NE(h.APIService("v1.other.example.org"), nullptr);
  EXPECT_NE(h.APIService("v1beta1.local.example.org"), nullptr);
  // Idempotent.
  auto again = h.Run(Uninstall(h.Client(*h.app), kClusterID));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_F(DiscoveryIT, ClusterIDFromKubeSystemNamespace) {
  auto given = h.Run(ResolveClusterID(h.Client(*h.app), "given-id"));
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(*given, "given-id");
  auto resolved = h.Run(ResolveClusterID(h.Client(*h.app), ""));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  auto ns = h.app->Get("", "namespaces", "", "kube-system");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(*resolved, json::GetString((**ns)["metadata"], "uid"));
  EXPECT_FALSE(resolved->empty());
}

}  // namespace
}  // namespace discovery::testing

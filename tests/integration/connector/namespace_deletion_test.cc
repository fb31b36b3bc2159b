// Namespace deletion in the app cluster (issue 4's proof): `kubectl delete namespace` marks the
// namespace Terminating; the app cluster's namespace controller discovers the claim APIs through
// the aggregator, sends deletecollection for them to the connector, which deletes the claims of
// that app namespace (and only those) from the control plane's claim namespace; once nothing is
// left the namespace goes. kubectl keeps working against the namespace while it terminates.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include "tests/integration/connector/testbed.h"

namespace apiserver::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Crossplane's claim finalizer: the control plane keeps a claim until its composite is gone.
constexpr char kCrossplaneFinalizer[] = "finalizer.apiextensions.crossplane.io";

class NamespaceDeletionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(tb_.Start()); }
  Testbed tb_;
};

TEST_F(NamespaceDeletionTest, DeletingAnAppNamespaceDeletesItsClaimsOnly) {
  ASSERT_TRUE(tb_.app()
                  .Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\n"
                         "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n")
                  .ok());
  std::string claims = ClaimYaml("one", "team-a") + "---\n" + ClaimYaml("two", "team-a") + "---\n" +
                       ClaimYaml("one", "team-b");
  auto apply = tb_.Kubectl("apply -f " + tb_.WriteFile("claims.yaml", claims));
  ASSERT_EQ(apply.rc, 0) << apply.err;
  ASSERT_TRUE(tb_.CpClaim("one", "team-a").ok());
  ASSERT_TRUE(tb_.CpClaim("two", "team-a").ok());
  ASSERT_TRUE(tb_.CpClaim("one", "team-b").ok());

  // Crossplane holds claim "two" with its finalizer: the namespace must wait for it.
  auto fin =
      tb_.cp().Do("PATCH", tb_.CpPath("two", "team-a"),
                  std::string(R"({"metadata":{"finalizers":[")") + kCrossplaneFinalizer + "\"]}}",
                  "application/merge-patch+json");
  ASSERT_EQ(fin.status, 200) << fin.body;

  tb_.app().ClearRequests();
  // `kubectl delete namespace team-a --wait` blocks until the namespace is gone.
  auto deleting = std::async(std::launch::async, [this] {
    return tb_.Kubectl("delete namespace team-a --wait --timeout=90s", 100);
  });

  // Terminating, with the claim held by its finalizer reported the way kube reports it.
  ASSERT_TRUE(Eventually(
      [this] {
        auto ns = tb_.app().Get("", "namespaces", "", "team-a");
        return ns.ok() && ConditionField(**ns, "NamespaceFinalizersRemaining", "status") == "True";
      },
      30s, "team-a Terminating with NamespaceFinalizersRemaining"))
      << tb_.Kubectl("get namespace team-a -o yaml").out;
  auto ns = tb_.app().Get("", "namespaces", "", "team-a");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(json::GetString(*json::Find(**ns, "status"), "phase"), "Terminating");
  EXPECT_EQ(ConditionField(**ns, "NamespaceContentRemaining", "message"),
            "Some resources are remaining: kubernetesclusters.k8s.starter.org has 1 resource "
            "instances");
  EXPECT_EQ(ConditionField(**ns, "NamespaceFinalizersRemaining", "message"),
            std::string("Some finalizers are remaining: ") + kCrossplaneFinalizer +
                " in 1 resource instances");
  EXPECT_EQ(ConditionField(**ns, "NamespaceDeletionDiscoveryFailure", "status"), "False");
  EXPECT_EQ(ConditionField(**ns, "NamespaceDeletionContentFailure", "status"), "False");
  // The free claim is already gone from the control plane; the other app namespace is intact.
  EXPECT_FALSE(tb_.CpClaim("one", "team-a").ok());
  EXPECT_TRUE(tb_.CpClaim("two", "team-a").ok());
  EXPECT_TRUE(tb_.CpClaim("one", "team-b").ok());

  // kubectl works during Terminating: the namespace and its remaining claim are readable.
  auto get_ns = tb_.Kubectl("get namespace team-a");
  ASSERT_EQ(get_ns.rc, 0) << get_ns.err;
  EXPECT_THAT(get_ns.out, HasSubstr("Terminating"));
  auto get = tb_.Kubectl("get kubernetesclusters -n team-a -o name");
  ASSERT_EQ(get.rc, 0) << get.err;
  EXPECT_EQ(get.out, "kubernetescluster.k8s.starter.org/two\n");
  auto two = tb_.Kubectl("get kubernetescluster two -n team-a -o json");
  ASSERT_EQ(two.rc, 0) << two.err;
  auto doc = json::Parse(two.out);
  ASSERT_TRUE(doc);
  EXPECT_EQ(json::View(*json::FindPath(*doc, "metadata.name")), "two");
  EXPECT_NE(json::FindPath(*doc, "metadata.deletionTimestamp"), nullptr);
  EXPECT_THAT(two.out, Not(HasSubstr("claim-")));
  auto all = tb_.Kubectl("get kubernetesclusters -A -o name");
  ASSERT_EQ(all.rc, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("kubernetescluster.k8s.starter.org/one"));  // team-b's
  // Creating in the terminating namespace is refused for built-in content.
  auto cm = tb_.Kubectl("apply -f " + tb_.WriteFile("cm.yaml",
                                                    "apiVersion: v1\nkind: ConfigMap\n"
                                                    "metadata: {name: late, namespace: team-a}\n"));
  EXPECT_NE(cm.rc, 0);
  EXPECT_THAT(cm.err, HasSubstr("unable to create new content in namespace team-a because it is "
                                "being terminated"));

  // Crossplane finishes: the claim goes, then the namespace; kubectl's wait returns.
  auto release = tb_.cp().Do("PATCH", tb_.CpPath("two", "team-a"),
                             R"({"metadata":{"finalizers":null}})", "application/merge-patch+json");
  ASSERT_EQ(release.status, 200) << release.body;
  CmdResult del = deleting.get();
  EXPECT_EQ(del.rc, 0) << del.err;
  EXPECT_THAT(del.out, HasSubstr("namespace \"team-a\" deleted"));
  EXPECT_FALSE(tb_.app().Get("", "namespaces", "", "team-a").ok());
  auto gone = tb_.Kubectl("get namespace team-a");
  EXPECT_NE(gone.rc, 0);
  EXPECT_THAT(gone.err, HasSubstr("namespaces \"team-a\" not found"));
  EXPECT_FALSE(tb_.CpClaim("two", "team-a").ok());
  EXPECT_TRUE(tb_.CpClaim("one", "team-b").ok());
  auto b = tb_.Kubectl("get kubernetesclusters -n team-b -o name");
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(b.out, "kubernetescluster.k8s.starter.org/one\n");

  // The app cluster's namespace controller reached the connector as kube's would: a
  // deletecollection of the claim API in team-a, through the aggregator, answered 200.
  bool deletecollection = false;
  for (const auto& r : tb_.app().Requests()) {
    if (r.user == fakekube::kNamespaceControllerUser && r.verb == "deletecollection" &&
        r.path == "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/kubernetesclusters") {
      deletecollection = true;
      EXPECT_EQ(r.status, 200);
    }
  }
  EXPECT_TRUE(deletecollection);
}

TEST_F(NamespaceDeletionTest, UnreachableConnectorKeepsTheNamespaceTerminating) {
  ASSERT_TRUE(tb_.app().Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-c}\n").ok());
  auto apply = tb_.Kubectl("apply -f " + tb_.WriteFile("c.yaml", ClaimYaml("held", "team-c")));
  ASSERT_EQ(apply.rc, 0) << apply.err;
  ASSERT_TRUE(tb_.CpClaim("held", "team-c").ok());
  // The connector stops answering: the aggregator marks the APIService unavailable.
  tb_.connector().Shutdown();
  ASSERT_TRUE(Eventually(
      [this] {
        tb_.app().CheckAPIServicesNow();
        auto obj = tb_.app().Get("apiregistration.k8s.io", "apiservices", "", kAPIService);
        return obj.ok() && ConditionField(**obj, "Available", "status") == "False";
      },
      30s, "APIService unavailable"));
  auto del = tb_.Kubectl("delete namespace team-c --wait=false");
  ASSERT_EQ(del.rc, 0) << del.err;
  ASSERT_TRUE(Eventually(
      [this] {
        auto ns = tb_.app().Get("", "namespaces", "", "team-c");
        return ns.ok() &&
               ConditionField(**ns, "NamespaceDeletionDiscoveryFailure", "status") == "True";
      },
      30s, "NamespaceDeletionDiscoveryFailure"));
  auto ns = tb_.app().Get("", "namespaces", "", "team-c");
  ASSERT_TRUE(ns.ok());
  EXPECT_THAT(ConditionField(**ns, "NamespaceDeletionDiscoveryFailure", "message"),
              HasSubstr("k8s.starter.org/v1alpha1: the server is currently unable to handle the "
                        "request"));
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(tb_.app().Get("", "namespaces", "", "team-c").ok());
  EXPECT_TRUE(tb_.CpClaim("held", "team-c").ok());  // nothing was lost
}

}  // namespace
}  // namespace apiserver::testbed

// The real kubectl against fakekube: the flows users and the connector's tests rely on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "tests/fakekube/registry.h"
#include "tests/fakekube/server.h"
#include "tests/fakekube/testing/fakekube_testing.h"

namespace fakekube {
namespace {

using ::testing::HasSubstr;
using testing::Kubectl;
using testing::TempDir;

const std::string kFixtures = std::string(FAKEKUBE_TESTDATA) + "/crossplane";

constexpr const char* kClaim = R"(apiVersion: k8s.starter.org/v1alpha1
kind: KubernetesCluster
metadata:
  name: NAME
  namespace: default
spec:
  parameters:
    version: "1.30"
    nodeCount: 3
  writeConnectionSecretToRef:
    name: NAME-conn
)";

std::string Claim(const std::string& name) {
  std::string s = kClaim;
  for (size_t p; (p = s.find("NAME")) != std::string::npos;) s.replace(p, 4, name);
  return s;
}

class KubectlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    FakeKubeOptions o;
    o.fixtures_dir = kFixtures;
    kube_ = new FakeKube(o);
    auto r = kube_->Start();
    ASSERT_TRUE(r.ok()) << r.error().message;
    kubeconfig_ = dir_->path() + "/kubeconfig";
    ASSERT_TRUE(kube_->WriteKubeconfig(kubeconfig_).ok());
  }
  static void TearDownTestSuite() {
    delete kube_;
    kube_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  Kubectl kubectl() const { return Kubectl(kubeconfig_, dir_->path() + "/cache"); }
  std::string WriteFile(const std::string& name, const std::string& text) const {
    std::string path = dir_->path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  static TempDir* dir_;
  static FakeKube* kube_;
  static std::string kubeconfig_;
};

TempDir* KubectlTest::dir_ = nullptr;
FakeKube* KubectlTest::kube_ = nullptr;
std::string KubectlTest::kubeconfig_;

TEST_F(KubectlTest, ApiResourcesShowsFixturesWithCategoriesAndShortNames) {
  auto r = kubectl().Run("api-resources -o wide");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("kubernetesclusters"));
  EXPECT_THAT(r.output, HasSubstr("k8s.starter.org/v1alpha1"));
  EXPECT_THAT(r.output, HasSubstr("claim"));
  EXPECT_THAT(r.output, HasSubstr("composite"));
  EXPECT_THAT(r.output, HasSubstr("xrd,xrds"));  // Crossplane's XRD CRD shortNames
  EXPECT_THAT(r.output,
              HasSubstr("delete,deletecollection,get,list,patch,create,update,watch   claim"));
  // kubectl used aggregated discovery (one request for /apis, not one per group/version).
  EXPECT_TRUE(testing::WaitForRequest(
      *kube_,
      [](const RecordedRequest& r) {
        auto accept = r.headers.Get("Accept");
        return r.path == "/apis" && accept &&
               accept->find("as=APIGroupDiscoveryList") != std::string_view::npos &&
               r.status == 200;
      },
      "aggregated discovery of /apis"));
}

TEST_F(KubectlTest, ApplyCrdThenServeIt) {
  std::string crd = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.example.org
spec:
  group: test.example.org
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wd]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: SIZE, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
)";
  auto r = kubectl().Run("apply -f " + WriteFile("widget-crd.yaml", crd));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = kubectl().Run("wait --for=condition=Established crd/widgets.test.example.org --timeout=10s");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = kubectl().Run("apply -f " + WriteFile("widget.yaml", R"(apiVersion: test.example.org/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {size: 7}
)"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = kubectl().Run("get wd w1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("SIZE"));
  EXPECT_THAT(r.output, HasSubstr("7"));
}

TEST_F(KubectlTest, CreateGetListPatchServerSideApplyDelete) {
  auto k = kubectl();
  std::string file = WriteFile("c1.yaml", Claim("c1"));
  auto r = k.Run("create -f " + file);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("kubernetescluster.k8s.starter.org/c1 created"));
  r = k.Run("create -f " + file);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("AlreadyExists"));

  r = k.Run("get kubernetesclusters c1 -o jsonpath='{.spec.parameters.nodeCount}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "3");

  r = k.Run("get kubernetesclusters -o wide");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("CONNECTION-SECRET"));
  EXPECT_THAT(r.output, HasSubstr("c1-conn"));

  r = k.Run("get claim -A");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("NAMESPACE"));
  EXPECT_THAT(r.output, HasSubstr("c1"));

  r = k.Run(
      "patch kubernetescluster c1 --type merge -p '{\"spec\":{\"parameters\":"
      "{\"nodeCount\":5}}}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = k.Run(
      "patch kubernetescluster c1 --type json -p "
      "'[{\"op\":\"replace\",\"path\":\"/spec/parameters/region\",\"value\":\"eu\"}]'");
  // "replace" of a missing member fails in RFC 6902 (kube answers 422).
  EXPECT_NE(r.exit_code, 0) << r.output;
  r = k.Run(
      "patch kubernetescluster c1 --type json -p "
      "'[{\"op\":\"add\",\"path\":\"/spec/parameters/region\",\"value\":\"eu\"}]'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = k.Run(
      "get kubernetescluster c1 -o jsonpath='{.spec.parameters.nodeCount}/"
      "{.spec.parameters.region}/{.metadata.generation}'");
  EXPECT_EQ(r.output, "5/eu/3");

  std::string file2 = WriteFile("c2.yaml", Claim("c2"));
  r = k.Run("apply --server-side -f " + file2);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("serverside-applied"));
  r = k.Run(
      "get kubernetescluster c2 -o jsonpath='{.metadata.managedFields[0].manager}/"
      "{.metadata.managedFields[0].operation}'");
  EXPECT_EQ(r.output, "kubectl/Apply");

  r = k.Run("delete kubernetescluster c1 c2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = k.Run("get kubernetescluster c1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("NotFound"));
}

TEST_F(KubectlTest, WatchSeesChangesAndWaitForCondition) {
  auto k = kubectl();
  auto r = k.Run("apply -f " + WriteFile("w1.yaml", Claim("w1")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  testing::CommandResult watch;
  std::thread watcher([&] {
    watch = testing::RunCommand("timeout 6 kubectl --kubeconfig " + kubeconfig_ + " --cache-dir " +
                                dir_->path() + "/cache" + " get kubernetescluster w1 -w");
  });
  ASSERT_TRUE(testing::WaitForRequest(
      *kube_, [](const RecordedRequest& r) { return r.verb == "watch" && r.name == "w1"; },
      "kubectl's watch of w1"));
  r = k.Run(
      "patch kubernetescluster w1 --subresource status --type merge -p "
      "'{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
      "\"reason\":\"Available\",\"lastTransitionTime\":\"2024-01-01T00:00:00Z\"}]}}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = k.Run("wait --for=condition=Ready kubernetescluster/w1 --timeout=10s");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("condition met"));
  watcher.join();
  // The initial row and the status change (READY True) both arrived.
  EXPECT_THAT(watch.output, HasSubstr("w1"));
  EXPECT_THAT(watch.output, HasSubstr("True"));
  r = k.Run("delete kubernetescluster w1 --wait=true");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(KubectlTest, ExplainUsesOpenAPIV3) {
  auto r = kubectl().Run("explain kubernetesclusters.spec.parameters");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("KIND:       KubernetesCluster"));
  EXPECT_THAT(r.output, HasSubstr("version\t<string> -required-"));
  EXPECT_THAT(r.output, HasSubstr("Kubernetes version"));
  r = kubectl().Run("explain apps.platform.example.org");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(KubectlTest, RawDiscoveryHealthAndVersion) {
  auto r = kubectl().Run("get --raw /healthz");
  EXPECT_EQ(r.output, "ok");
  r = kubectl().Run("get --raw /readyz");
  EXPECT_EQ(r.output, "ok");
  r = kubectl().Run("version -o json");
  EXPECT_THAT(r.output, HasSubstr("\"gitVersion\": \"v1.32.0\""));
  r = kubectl().Run("get --raw /apis/k8s.starter.org");
  EXPECT_THAT(r.output, HasSubstr("\"preferredVersion\":{\"groupVersion\":"
                                  "\"k8s.starter.org/v1alpha1\""));
  r = kubectl().Run("get --raw /apis/nope.example.org/v1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("NotFound"));
}

TEST_F(KubectlTest, SelectorsAndDeleteCollection) {
  auto k = kubectl();
  for (std::string n : {"s1", "s2", "s3"}) {
    ASSERT_EQ(k.Run("apply -f " + WriteFile(n + ".yaml", Claim(n))).exit_code, 0);
  }
  ASSERT_EQ(k.Run("label kubernetescluster s1 s2 tier=gold").exit_code, 0);
  auto r = k.Run("get kubernetesclusters -l tier=gold -o name");
  EXPECT_EQ(r.output,
            "kubernetescluster.k8s.starter.org/s1\n"
            "kubernetescluster.k8s.starter.org/s2\n");
  r = k.Run("get kubernetesclusters -l 'tier notin (gold)' -o name");
  EXPECT_THAT(r.output, HasSubstr("/s3"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("/s1")));
  r = k.Run("delete kubernetesclusters -l tier=gold");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = k.Run("get kubernetesclusters -o name --chunk-size=1");
  EXPECT_THAT(r.output, HasSubstr("/s3"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("/s2")));
  k.Run("delete kubernetescluster s3");
}

}  // namespace
}  // namespace fakekube

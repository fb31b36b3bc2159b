// The whole connector end to end: fakekube as the control plane (seeded with Crossplane's XRD CRD,
// XRDs and generated CRDs), fakekube --aggregator as the app cluster, the connector between them
// (discovery registers the APIServices, the aggregator proxies to us with its front-proxy
// certificate), and the real kubectl against the app side. Every step is checked on both sides.
#include <glog/logging.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "apiserver/server.h"
#include "kube/json.h"
#include "kube/kubeconfig.h"
#include "naming/naming.h"
#include "tests/fakekube/server.h"

namespace apiserver {
namespace {

namespace fs = std::filesystem;
namespace json = kube::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const std::string kClusterID = "6f7c2b8e-1d2a-4c3b-9e8f-0a1b2c3d4e5f";
const std::string kClaimNamespace = "claims";
const std::string kGroup = "k8s.starter.org";
const std::string kResource = "kubernetesclusters";

std::string SourceDir() {
  const char* s = std::getenv("MCP_SOURCE_DIR");
  return s ? s : "/work/main";
}

std::string FixturesDir() {
  for (std::string d : {SourceDir() + "/../shared/fixtures/crossplane",
                        std::string("/work/shared/fixtures/crossplane")}) {
    if (fs::exists(d)) return d;
  }
  return "";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

::testing::AssertionResult Eventually(const std::function<bool()>& pred,
                                      std::chrono::milliseconds timeout, const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(50ms);
  }
  if (pred()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "timed out after " << timeout.count() << "ms: " << what;
}

struct CmdResult {
  int rc = -1;
  std::string out, err;
};

std::string CpName(const std::string& name, const std::string& ns) {
  return naming::ControlPlaneName(naming::Kind::kClaim, name, ns, kClusterID);
}

class ConnectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FLAGS_logtostderr = true;
    std::string tmpl = (fs::temp_directory_path() / "mcp-connector-it-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    ASSERT_FALSE(FixturesDir().empty()) << "Crossplane fixtures not found";

    fakekube::FakeKubeOptions cpo;
    cpo.fixtures_dir = FixturesDir();
    cp_ = std::make_unique<fakekube::FakeKube>(cpo);
    ASSERT_TRUE(cp_->Start().ok());

    fakekube::FakeKubeOptions appo;
    appo.aggregator = true;
    appo.availability_interval = 500ms;
    appo.tokens.push_back({"viewer-token", {"viewer", "uid-viewer", {"viewers"}, {}}});
    appo.tokens.push_back({"nobody-token", {"nobody", "uid-nobody", {}, {}}});
    auto policy = fakekube::ParsePolicy(R"(
rules:
- {groups: ["system:masters"], verbs: ["*"], apiGroups: ["*"], resources: ["*"],
   nonResourceURLs: ["*"]}
- {users: ["viewer"], verbs: [get, list, watch], apiGroups: ["*"], resources: ["*"],
   nonResourceURLs: ["*"]}
- {groups: ["system:authenticated"], verbs: [get], nonResourceURLs: ["*"]}
)");
    ASSERT_TRUE(policy.ok()) << policy.error().message;
    appo.policy = *policy;
    app_ = std::make_unique<fakekube::FakeKube>(appo);
    ASSERT_TRUE(app_->Start().ok());

    cp_kubeconfig_ = dir_ + "/control-plane.kubeconfig";
    app_kubeconfig_ = dir_ + "/app.kubeconfig";
    ASSERT_TRUE(cp_->WriteKubeconfig(cp_kubeconfig_).ok());
    ASSERT_TRUE(app_->WriteKubeconfig(app_kubeconfig_).ok());

    Options o;
    o.bind_address = "127.0.0.1";
    o.secure_port = 0;
    o.cert_dir = dir_ + "/certs";
    o.kubeconfig = app_kubeconfig_;
    o.control_plane_kubeconfig = cp_kubeconfig_;
    o.cluster_id = kClusterID;
    o.claim_namespace = kClaimNamespace;
    o.service_namespace = "kube-system";
    o.service_name = "mcp-connector";
    o.leader_election = false;
    o.request_timeout = 20s;
    o.shutdown_grace_period = 2s;
    connector_ = std::make_unique<ConnectorServer>(o);
    auto port = connector_->Start();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;

    // The Service the APIServices point at, with the connector as its endpoint.
    ASSERT_TRUE(app_->Apply(R"(
apiVersion: v1
kind: Service
metadata: {name: mcp-connector, namespace: kube-system}
spec:
  ports: [{name: https, port: 443, targetPort: 8443}]
)")
                    .ok());
    ASSERT_TRUE(app_->Apply("apiVersion: v1\nkind: Endpoints\nmetadata: {name: mcp-connector, "
                            "namespace: kube-system}\nsubsets:\n- addresses: [{ip: 127.0.0.1}]\n"
                            "  ports: [{name: https, port: " +
                            std::to_string(port_) + "}]\n")
                    .ok());
    ASSERT_TRUE(app_->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n").ok());
    ASSERT_TRUE(app_->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n").ok());
  }

  static void TearDownTestSuite() {
    if (connector_) connector_->Shutdown();
    if (app_) app_->Stop();
    if (cp_) cp_->Stop();
    connector_.reset();
    app_.reset();
    cp_.reset();
    if (!dir_.empty() && std::getenv("MCP_KEEP_TMP") == nullptr) fs::remove_all(dir_);
  }

  static bool APIServiceAvailable(const std::string& name) {
    auto obj = app_->Get("apiregistration.k8s.io", "apiservices", "", name);
    if (!obj.ok()) return false;
    const json::Value* conds = json::FindPath(**obj, "status.conditions");
    if (conds == nullptr || !conds->IsArray()) return false;
    for (const auto& c : conds->GetArray()) {
      if (json::GetString(c, "type") == "Available" && json::GetString(c, "status") == "True") {
        return true;
      }
    }
    return false;
  }

  void SetUp() override {
    ASSERT_TRUE(Eventually(
        [] {
          app_->CheckAPIServicesNow();
          return APIServiceAvailable("v1alpha1.k8s.starter.org");
        },
        30s, "APIService v1alpha1.k8s.starter.org Available"));
  }

  // Runs kubectl against the app cluster (the aggregator).
  static CmdResult Kubectl(const std::string& args, const std::string& extra_flags = "") {
    static int n = 0;
    std::string base = dir_ + "/cmd" + std::to_string(++n);
    std::string cmd = "timeout 60 kubectl --kubeconfig " + app_kubeconfig_ + " --cache-dir " +
                      dir_ + "/kubectl-cache " + extra_flags + " " + args + " >" + base +
                      ".out 2>" + base + ".err";
    CmdResult r;
    int status = std::system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAll(base + ".out");
    r.err = ReadAll(base + ".err");
    return r;
  }

  static std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  static std::string ClaimYaml(const std::string& name, const std::string& ns, int nodes = 3) {
    return "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n  name: " +
           name + "\n  namespace: " + ns +
           "\n  labels: {team: platform}\nspec:\n  parameters:\n    version: \"1.30\"\n"
           "    nodeCount: " +
           std::to_string(nodes) + "\n  writeConnectionSecretToRef:\n    name: " + name + "-conn\n";
  }

  static kube::Result<fakekube::Object> CpClaim(const std::string& name, const std::string& ns) {
    return cp_->Get(kGroup, kResource, kClaimNamespace, CpName(name, ns));
  }

  static std::string CpPath(const std::string& name, const std::string& ns) {
    return "/apis/k8s.starter.org/v1alpha1/namespaces/" + kClaimNamespace + "/kubernetesclusters/" +
           CpName(name, ns);
  }

  static inline std::string dir_;
  static inline std::string cp_kubeconfig_, app_kubeconfig_;
  static inline std::unique_ptr<fakekube::FakeKube> cp_, app_;
  static inline std::unique_ptr<ConnectorServer> connector_;
  static inline uint16_t port_ = 0;
};

TEST_F(ConnectorTest, DiscoveryThroughTheAggregator) {
  auto r = Kubectl("api-resources --api-group=k8s.starter.org");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("kubernetesclusters"));
  EXPECT_THAT(r.out, HasSubstr("KubernetesCluster"));
  auto explain = Kubectl("explain kubernetesclusters.spec.parameters");
  EXPECT_EQ(explain.rc, 0) << explain.err;
  EXPECT_THAT(explain.out, HasSubstr("version"));
}

TEST_F(ConnectorTest, ApplyGetDescribePatchDelete) {
  std::string file = WriteFile("c1.yaml", ClaimYaml("my-cluster", "team-a"));
  auto apply = Kubectl("apply -f " + file);
  ASSERT_EQ(apply.rc, 0) << apply.err;
  EXPECT_THAT(apply.out, HasSubstr("kubernetescluster.k8s.starter.org/my-cluster created"));

  // Control plane: claim-<hash> in the claim namespace, with the origin labels.
  auto cp = CpClaim("my-cluster", "team-a");
  ASSERT_TRUE(cp.ok()) << cp.error().message;
  const json::Value& obj = **cp;
  EXPECT_EQ(json::View(*json::FindPath(obj, "metadata.name")), CpName("my-cluster", "team-a"));
  const json::Value* labels = json::FindPath(obj, "metadata.labels");
  ASSERT_NE(labels, nullptr);
  EXPECT_EQ(json::GetString(*labels, naming::kLabelAppCluster), kClusterID);
  EXPECT_EQ(json::GetString(*labels, naming::kLabelAppNamespace), "team-a");
  EXPECT_EQ(json::GetString(*labels, naming::kLabelAppResourceName), "my-cluster");
  EXPECT_EQ(json::GetString(*labels, "team"), "platform");

  // App side: original names.
  auto get = Kubectl("get kubernetesclusters -n team-a");
  ASSERT_EQ(get.rc, 0) << get.err;
  EXPECT_THAT(get.out, HasSubstr("my-cluster"));
  EXPECT_THAT(get.out, Not(HasSubstr("claim-")));

  auto json_out = Kubectl("get kubernetescluster my-cluster -n team-a -o json");
  ASSERT_EQ(json_out.rc, 0) << json_out.err;
  auto doc = json::Parse(json_out.out);
  ASSERT_TRUE(doc);
  EXPECT_EQ(json::View(*json::FindPath(*doc, "metadata.name")), "my-cluster");
  EXPECT_EQ(json::View(*json::FindPath(*doc, "metadata.namespace")), "team-a");
  EXPECT_EQ(json::View(*json::FindPath(*doc, "spec.writeConnectionSecretToRef.name")),
            "my-cluster-conn");
  EXPECT_THAT(json_out.out, Not(HasSubstr("mcp-connector.upbound.io")));

  auto wide = Kubectl("get kubernetesclusters -n team-a -o wide");
  ASSERT_EQ(wide.rc, 0) << wide.err;
  EXPECT_THAT(wide.out, HasSubstr("CONNECTION-SECRET"));
  EXPECT_THAT(wide.out, HasSubstr("my-cluster-conn"));

  auto describe = Kubectl("describe kubernetescluster my-cluster -n team-a");
  ASSERT_EQ(describe.rc, 0) << describe.err;
  EXPECT_THAT(describe.out, HasSubstr("my-cluster"));
  EXPECT_THAT(describe.out, HasSubstr("team-a"));

  auto patch = Kubectl(
      "patch kubernetescluster my-cluster -n team-a --type merge -p "
      "'{\"spec\":{\"parameters\":{\"nodeCount\":5}}}'");
  ASSERT_EQ(patch.rc, 0) << patch.err;
  auto patched = CpClaim("my-cluster", "team-a");
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(json::GetInt(*json::FindPath(**patched, "spec.parameters"), "nodeCount"), 5);

  auto del = Kubectl("delete kubernetescluster my-cluster -n team-a --wait=false");
  ASSERT_EQ(del.rc, 0) << del.err;
  EXPECT_TRUE(Eventually([] { return !CpClaim("my-cluster", "team-a").ok(); }, 10s,
                         "claim deleted in the control plane"));
  auto gone = Kubectl("get kubernetescluster my-cluster -n team-a");
  EXPECT_NE(gone.rc, 0);
  EXPECT_THAT(gone.err, HasSubstr("\"my-cluster\" not found"))
      << Kubectl("get ns").out << Kubectl("get kubernetescluster my-cluster -n team-a -v=8").err;
  EXPECT_THAT(gone.err, Not(HasSubstr("claim-")));
}

TEST_F(ConnectorTest, AllNamespacesAndClaimCategory) {
  ASSERT_EQ(Kubectl("apply -f " + WriteFile("a.yaml", ClaimYaml("alpha", "team-a"))).rc, 0);
  ASSERT_EQ(Kubectl("apply -f " + WriteFile("b.yaml", ClaimYaml("beta", "team-b"))).rc, 0);
  auto all = Kubectl("get kubernetesclusters -A");
  ASSERT_EQ(all.rc, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("team-a"));
  EXPECT_THAT(all.out, HasSubstr("alpha"));
  EXPECT_THAT(all.out, HasSubstr("team-b"));
  EXPECT_THAT(all.out, HasSubstr("beta"));
  EXPECT_THAT(all.out, Not(HasSubstr("claim-")));

  auto claims = Kubectl("get claim -A");
  ASSERT_EQ(claims.rc, 0) << claims.err;
  EXPECT_THAT(claims.out, HasSubstr("alpha"));
  EXPECT_THAT(claims.out, HasSubstr("beta"));

  auto one_ns = Kubectl("get kubernetesclusters -n team-b -o name");
  ASSERT_EQ(one_ns.rc, 0) << one_ns.err;
  EXPECT_EQ(one_ns.out, "kubernetescluster.k8s.starter.org/beta\n");

  EXPECT_TRUE(CpClaim("alpha", "team-a").ok());
  EXPECT_TRUE(CpClaim("beta", "team-b").ok());
  Kubectl("delete kubernetesclusters --all -n team-a --wait=false");
  Kubectl("delete kubernetesclusters --all -n team-b --wait=false");
}

TEST_F(ConnectorTest, ServerSideApplyAndWaitForReady) {
  std::string file = WriteFile("ssa.yaml", ClaimYaml("ssa", "team-a", 4));
  auto apply = Kubectl("apply --server-side --field-manager=it -f " + file);
  ASSERT_EQ(apply.rc, 0) << apply.err;
  EXPECT_THAT(apply.out, HasSubstr("serverside-applied"));
  auto cp = CpClaim("ssa", "team-a");
  ASSERT_TRUE(cp.ok()) << cp.error().message;
  EXPECT_EQ(json::GetInt(*json::FindPath(**cp, "spec.parameters"), "nodeCount"), 4);

  // Crossplane marks the claim Ready in the control plane; kubectl wait sees it in the app.
  std::thread ready([] {
    std::this_thread::sleep_for(1s);
    auto r = cp_->Do("PATCH", CpPath("ssa", "team-a") + "/status",
                     R"({"status":{"conditions":[{"type":"Ready","status":"True",)"
                     R"("reason":"Available","lastTransitionTime":"2026-01-01T00:00:00Z"}]}})",
                     "application/merge-patch+json");
    EXPECT_EQ(r.status, 200) << r.body;
  });
  auto wait = Kubectl("wait --for=condition=Ready kubernetescluster/ssa -n team-a --timeout=30s");
  ready.join();
  EXPECT_EQ(wait.rc, 0) << wait.err;
  EXPECT_THAT(wait.out, HasSubstr("kubernetescluster.k8s.starter.org/ssa condition met"));

  // A second server-side apply changes the field in the control plane.
  auto again = Kubectl("apply --server-side --field-manager=it -f " +
                       WriteFile("ssa2.yaml", ClaimYaml("ssa", "team-a", 6)));
  ASSERT_EQ(again.rc, 0) << again.err;
  auto cp2 = CpClaim("ssa", "team-a");
  ASSERT_TRUE(cp2.ok());
  EXPECT_EQ(json::GetInt(*json::FindPath(**cp2, "spec.parameters"), "nodeCount"), 6);
  Kubectl("delete kubernetescluster ssa -n team-a --wait=false");
}

TEST_F(ConnectorTest, WatchSeesControlPlaneChanges) {
  ASSERT_EQ(Kubectl("apply -f " + WriteFile("w.yaml", ClaimYaml("watched", "team-a", 2))).rc, 0);
  std::thread change([] {
    std::this_thread::sleep_for(2s);
    auto r = cp_->Do("PATCH", CpPath("watched", "team-a"),
                     R"({"spec":{"parameters":{"nodeCount":9}}})", "application/merge-patch+json");
    EXPECT_EQ(r.status, 200) << r.body;
  });
  auto watch = Kubectl(
      "get kubernetescluster watched -n team-a -w --request-timeout=6s "
      "-o jsonpath='{.metadata.name}={.spec.parameters.nodeCount}{\"\\n\"}'");
  change.join();
  EXPECT_THAT(watch.out, HasSubstr("watched=2\n"));
  EXPECT_THAT(watch.out, HasSubstr("watched=9\n"));
  EXPECT_THAT(watch.out, Not(HasSubstr("claim-")));
  Kubectl("delete kubernetescluster watched -n team-a --wait=false");
}

TEST_F(ConnectorTest, ReviewsGoToTheAppCluster) {
  // A non-admin user: the connector asks the app cluster with a SubjectAccessReview.
  app_->ClearRequests();
  auto r = Kubectl("get kubernetesclusters -n team-a", "--token=viewer-token");
  ASSERT_EQ(r.rc, 0) << r.err;
  fakekube::RecordedRequest sar;
  ASSERT_TRUE(app_->WaitForRequest(
      [](const fakekube::RecordedRequest& q) {
        return q.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews" &&
               q.body.find("\"viewer\"") != std::string::npos;
      },
      5s, &sar));
  EXPECT_THAT(sar.body, HasSubstr("\"resource\":\"kubernetesclusters\""));
  EXPECT_THAT(sar.body, HasSubstr("\"namespace\":\"team-a\""));
  EXPECT_THAT(sar.body, HasSubstr("\"verb\":\"list\""));
  // The viewer may not create.
  auto denied = Kubectl("apply -f " + WriteFile("v.yaml", ClaimYaml("viewer-made", "team-a")),
                        "--token=viewer-token");
  EXPECT_NE(denied.rc, 0);
  EXPECT_THAT(denied.err, HasSubstr("forbidden"));
  EXPECT_FALSE(CpClaim("viewer-made", "team-a").ok());
}

TEST_F(ConnectorTest, DirectCallersWithoutTheFrontProxyCertificateAre401) {
  kube::ClusterConfig c;
  c.server = "https://127.0.0.1:" + std::to_string(port_);
  c.ca_pem = connector_->ca_bundle_pem();
  c.tls_server_name = "mcp-connector.kube-system.svc";
  std::string kc = dir_ + "/direct.kubeconfig";
  kube::KubeconfigSpec spec;
  spec.server = c.server;
  spec.ca_pem = c.ca_pem;
  spec.tls_server_name = c.tls_server_name;
  spec.token = "not-a-real-token";
  ASSERT_TRUE(kube::WriteKubeconfig(kc, spec).ok());
  std::string out = dir_ + "/direct.out";
  std::string ca = WriteFile("connector-ca.crt", connector_->ca_bundle_pem());
  std::string url = "https://mcp-connector.kube-system.svc:" + std::to_string(port_) +
                    "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/kubernetesclusters";
  // A spoofed identity without the front-proxy certificate: 401, never served.
  std::string cmd = "timeout 20 curl -s --cacert " + ca +
                    " --resolve mcp-connector.kube-system.svc:" + std::to_string(port_) +
                    ":127.0.0.1 -H 'X-Remote-User: system:admin' " +
                    "-H 'X-Remote-Group: system:masters' -o " + out + " -w '%{http_code}' '" + url +
                    "' > " + out + ".code";
  int status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ReadAll(out + ".code"), "401");
  EXPECT_THAT(ReadAll(out), HasSubstr("\"reason\":\"Unauthorized\""));

  // A bearer token the app cluster does not know: 401.
  cmd = "timeout 20 kubectl --kubeconfig " + kc + " get --raw " +
        "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/kubernetesclusters >" + out + " 2>&1";
  status = std::system(cmd.c_str());
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_THAT(ReadAll(out), HasSubstr("Unauthorized"));

  // Health needs no identity.
  cmd = "timeout 20 kubectl --kubeconfig " + kc + " get --raw '/readyz?verbose' >" + out + " 2>&1";
  status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadAll(out);
  EXPECT_THAT(ReadAll(out), HasSubstr("[+]discovery-loaded ok"));
  EXPECT_THAT(ReadAll(out), HasSubstr("readyz check passed"));
}

// Last in this file: it stops the shared connector (discovery would recreate the APIServices).
TEST_F(ConnectorTest, ZUninstallRemovesOnlyOwnedAPIServices) {
  connector_->Shutdown();
  ASSERT_TRUE(app_->Apply(R"(
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.foreign.example.org}
spec: {group: foreign.example.org, version: v1, groupPriorityMinimum: 1000, versionPriority: 10,
       service: {namespace: kube-system, name: other, port: 443}}
)")
                  .ok());
  std::string bin = std::string(std::getenv("MCP_BUILD_DIR") ? std::getenv("MCP_BUILD_DIR")
                                                             : "/work/main/build") +
                    "/mcp-connector";
  std::string out = dir_ + "/uninstall.out";
  std::string cmd = bin + " uninstall --kubeconfig " + app_kubeconfig_ + " --cluster-id " +
                    kClusterID + " >" + out + " 2>&1";
  int status = std::system(cmd.c_str());
  ASSERT_EQ(WEXITSTATUS(status), 0) << ReadAll(out);
  EXPECT_THAT(ReadAll(out), HasSubstr("v1alpha1.k8s.starter.org"));
  EXPECT_FALSE(
      app_->Get("apiregistration.k8s.io", "apiservices", "", "v1alpha1.k8s.starter.org").ok());
  EXPECT_FALSE(
      app_->Get("apiregistration.k8s.io", "apiservices", "", "v1alpha1.platform.example.org").ok());
  EXPECT_TRUE(
      app_->Get("apiregistration.k8s.io", "apiservices", "", "v1.foreign.example.org").ok());
  // Claims stay in the control plane.
  auto left = cp_->Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/" + kClaimNamespace +
                                 "/kubernetesclusters");
  EXPECT_EQ(left.status, 200);
}

}  // namespace
}  // namespace apiserver

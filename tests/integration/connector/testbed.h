// A whole connector setup for one test suite: fakekube as the control plane (Crossplane
// fixtures), fakekube --aggregator as the app cluster (with its namespace controller), the
// connector between them, and the real kubectl against the app side. Header-only: shared by the
// namespace-deletion and certificate-rotation suites.
#pragma once

#include <glog/logging.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "apiserver/server.h"
#include "kube/json.h"
#include "naming/naming.h"
#include "tests/fakekube/server.h"

namespace apiserver::testbed {

namespace fs = std::filesystem;
namespace json = kube::json;
using namespace std::chrono_literals;

inline const std::string kClusterID = "0b6c7d8e-2f3a-4b5c-8d9e-1a2b3c4d5e6f";
inline const std::string kClaimNamespace = "claims";
inline const std::string kGroup = "k8s.starter.org";
inline const std::string kResource = "kubernetesclusters";
inline const std::string kAPIService = "v1alpha1.k8s.starter.org";

inline std::string FixturesDir() {
  const char* s = std::getenv("MCP_SOURCE_DIR");
  std::string src = s ? s : "/work/main";
  for (std::string d :
       {src + "/../shared/fixtures/crossplane", std::string("/work/shared/fixtures/crossplane")}) {
    if (fs::exists(d)) return d;
  }
  return "";
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline ::testing::AssertionResult Eventually(const std::function<bool()>& pred,
                                             std::chrono::milliseconds timeout,
                                             const std::string& what) {
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

inline std::string CpName(const std::string& name, const std::string& ns) {
  return naming::ControlPlaneName(naming::Kind::kClaim, name, ns, kClusterID);
}

inline std::string ClaimYaml(const std::string& name, const std::string& ns) {
  return "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n  name: " +
         name + "\n  namespace: " + ns +
         "\nspec:\n  parameters:\n    version: \"1.30\"\n    nodeCount: 3\n";
}

// The condition `type`'s field of an object ("" when absent).
inline std::string ConditionField(const json::Value& obj, const std::string& type,
                                  const std::string& field) {
  const json::Value* conds = json::FindPath(obj, "status.conditions");
  if (conds == nullptr || !conds->IsArray()) return "";
  for (const auto& c : conds->GetArray()) {
    if (json::GetString(c, "type") == type) return std::string(json::GetString(c, field));
  }
  return "";
}

class Testbed {
 public:
  // `tweak` adjusts the connector's options before it starts (e.g. certificate files).
  ::testing::AssertionResult Start(const std::function<void(Options&)>& tweak = {}) {
    FLAGS_logtostderr = true;
    std::string tmpl = (fs::temp_directory_path() / "mcp-connector-tb-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    if (FixturesDir().empty()) return ::testing::AssertionFailure() << "no Crossplane fixtures";

    fakekube::FakeKubeOptions cpo;
    cpo.fixtures_dir = FixturesDir();
    cp_ = std::make_unique<fakekube::FakeKube>(cpo);
    if (auto r = cp_->Start(); !r.ok()) return Fail("control plane", r.error().message);

    fakekube::FakeKubeOptions appo;
    appo.aggregator = true;
    appo.availability_interval = 500ms;
    appo.namespace_controller_options.retry_initial = 100ms;
    appo.namespace_controller_options.retry_max = 1s;
    appo.namespace_controller_options.content_remaining_requeue = 500ms;
    app_ = std::make_unique<fakekube::FakeKube>(appo);
    if (auto r = app_->Start(); !r.ok()) return Fail("app cluster", r.error().message);

    cp_kubeconfig_ = dir_ + "/control-plane.kubeconfig";
    app_kubeconfig_ = dir_ + "/app.kubeconfig";
    if (auto r = cp_->WriteKubeconfig(cp_kubeconfig_); !r.ok()) return Fail("kc", "cp");
    if (auto r = app_->WriteKubeconfig(app_kubeconfig_); !r.ok()) return Fail("kc", "app");

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
    if (tweak) tweak(o);
    connector_ = std::make_unique<ConnectorServer>(o);
    auto port = connector_->Start();
    if (!port.ok()) return Fail("connector", port.error().message);
    port_ = *port;

    auto svc = app_->Apply(R"(
apiVersion: v1
kind: Service
metadata: {name: mcp-connector, namespace: kube-system}
spec:
  ports: [{name: https, port: 443, targetPort: 8443}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: mcp-connector, namespace: kube-system}
subsets:
- addresses: [{ip: 127.0.0.1}]
  ports: [{name: https, port: )" +
                           std::to_string(port_) + "}]\n");
    if (!svc.ok()) return Fail("service", svc.error().message);
    return WaitAvailable();
  }

  ~Testbed() {
    if (connector_) connector_->Shutdown();
    if (app_) app_->Stop();
    if (cp_) cp_->Stop();
    connector_.reset();
    app_.reset();
    cp_.reset();
    if (!dir_.empty() && std::getenv("MCP_KEEP_TMP") == nullptr) fs::remove_all(dir_);
  }

  ::testing::AssertionResult WaitAvailable(std::chrono::milliseconds t = 30s) {
    return Eventually(
        [this] {
          app_->CheckAPIServicesNow();
          auto obj = app_->Get("apiregistration.k8s.io", "apiservices", "", kAPIService);
          return obj.ok() && ConditionField(**obj, "Available", "status") == "True";
        },
        t, "APIService " + kAPIService + " Available");
  }

  // kubectl against the app cluster (through the aggregator).
  CmdResult Kubectl(const std::string& args, int timeout_s = 60) {
    std::string base = dir_ + "/cmd" + std::to_string(++commands_);
    std::string cmd = "timeout " + std::to_string(timeout_s) + " kubectl --kubeconfig " +
                      app_kubeconfig_ + " --cache-dir " + dir_ + "/kubectl-cache " + args + " >" +
                      base + ".out 2>" + base + ".err";
    CmdResult r;
    int status = std::system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAll(base + ".out");
    r.err = ReadAll(base + ".err");
    return r;
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  kube::Result<fakekube::Object> CpClaim(const std::string& name, const std::string& ns) {
    return cp_->Get(kGroup, kResource, kClaimNamespace, CpName(name, ns));
  }
  std::string CpPath(const std::string& name, const std::string& ns) {
    return "/apis/k8s.starter.org/v1alpha1/namespaces/" + kClaimNamespace + "/kubernetesclusters/" +
           CpName(name, ns);
  }

  const std::string& dir() const { return dir_; }
  fakekube::FakeKube& cp() { return *cp_; }
  fakekube::FakeKube& app() { return *app_; }
  ConnectorServer& connector() { return *connector_; }
  uint16_t port() const { return port_; }

 private:
  static ::testing::AssertionResult Fail(const std::string& what, const std::string& msg) {
    return ::testing::AssertionFailure() << what << ": " << msg;
  }

  std::string dir_;
  std::string cp_kubeconfig_, app_kubeconfig_;
  std::unique_ptr<fakekube::FakeKube> cp_, app_;
  std::unique_ptr<ConnectorServer> connector_;
  uint16_t port_ = 0;
  int commands_ = 0;
};

}  // namespace apiserver::testbed

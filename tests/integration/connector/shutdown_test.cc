// The real binary: `mcp-connector serve` with --api-file between two fakekubes, driven as the
// aggregator drives it (front-proxy client certificate + X-Remote-* headers), then SIGTERM:
// /readyz fails first, the open watch ends with a clean end of stream, exit 0 within the grace
// period.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/fakekube/server.h"

namespace apiserver {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string Fixtures() {
  for (std::string d : {Env("MCP_SOURCE_DIR", "/work/main") + "/../shared/fixtures/crossplane",
                        std::string("/work/shared/fixtures/crossplane")}) {
    if (fs::exists(d)) return d;
  }
  return "";
}

class BinaryShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mcp-connector-sd-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    ASSERT_FALSE(Fixtures().empty());
    cp_ = std::make_unique<fakekube::FakeKube>(fakekube::FakeKubeOptions{});
    ASSERT_TRUE(cp_->Start().ok());
    // With --api-file there is no discovery controller to create the claim namespace.
    ASSERT_TRUE(cp_->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: claims}\n").ok());
    ASSERT_TRUE(cp_->ApplyFile(Fixtures() + "/12-crd-kubernetesclusters.yaml").ok());
    fakekube::FakeKubeOptions appo;
    appo.aggregator = true;
    app_ = std::make_unique<fakekube::FakeKube>(appo);
    ASSERT_TRUE(app_->Start().ok());
    ASSERT_TRUE(cp_->WriteKubeconfig(dir_ + "/cp.kubeconfig").ok());
    ASSERT_TRUE(app_->WriteKubeconfig(dir_ + "/app.kubeconfig").ok());
    // The served API set from the fixtures (claim XRD + its CRD).
    WriteFile(dir_ + "/apis.yaml", ReadAll(Fixtures() + "/10-xrd-xkubernetesclusters.yaml") +
                                       "\n---\n" +
                                       ReadAll(Fixtures() + "/12-crd-kubernetesclusters.yaml"));
    const auto& fp = app_->front_proxy_client();
    WriteFile(dir_ + "/fp.crt", fp.cert_pem);
    WriteFile(dir_ + "/fp.key", fp.key_pem.RevealCopy());
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (app_) app_->Stop();
    if (cp_) cp_->Stop();
    app_.reset();
    cp_.reset();
    if (std::getenv("MCP_KEEP_TMP") == nullptr) fs::remove_all(dir_);
  }

  // Starts the binary; returns its port (parsed from the "serving on" log line).
  int StartConnector(std::vector<std::string> extra) {
    std::string bin = Env("MCP_BUILD_DIR", "/work/main/build") + "/mcp-connector";
    std::vector<std::string> args = {bin,
                                     "serve",
                                     "--bind-address=127.0.0.1",
                                     "--secure-port=0",
                                     "--cert-dir=" + dir_ + "/certs",
                                     "--kubeconfig=" + dir_ + "/app.kubeconfig",
                                     "--control-plane-kubeconfig=" + dir_ + "/cp.kubeconfig",
                                     "--cluster-id=abc",
                                     "--claim-namespace=claims",
                                     "--api-file=" + dir_ + "/apis.yaml",
                                     "-v=2"};
    args.insert(args.end(), extra.begin(), extra.end());
    log_ = dir_ + "/connector.log";
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = freopen(log_.c_str(), "w", stderr);
      (void)f;
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    std::regex re("serving on 127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 300; ++i) {
      std::smatch m;
      std::string log = ReadAll(log_);
      if (std::regex_search(log, m, re)) return std::stoi(m[1]);
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "the connector did not start:\n" << ReadAll(log_);
    return 0;
  }

  std::string Curl(int port, const std::string& path, const std::string& out,
                   bool background = false, bool as_proxy = true) {
    std::string host = "mcp-connector.kube-system.svc";
    std::string cmd = "timeout 30 curl -sN --cacert " + dir_ + "/certs/ca.crt --resolve " + host +
                      ":" + std::to_string(port) + ":127.0.0.1 ";
    if (as_proxy) {
      cmd += "--cert " + dir_ + "/fp.crt --key " + dir_ +
             "/fp.key -H 'X-Remote-User: admin' -H 'X-Remote-Group: system:masters' ";
    }
    cmd += "-o " + out + " -w '%{http_code}' 'https://" + host + ":" + std::to_string(port) + path +
           "' > " + out + ".code; echo $? > " + out + ".rc";
    if (background) cmd = "(" + cmd + ") &";
    int rc = std::system(cmd.c_str());
    (void)rc;
    return background ? "" : ReadAll(out + ".code");
  }

  // Ready (/readyz 200) once the authentication ConfigMap is loaded; false after 10 s.
  bool WaitReady(int port) {
    for (int i = 0; i < 100; ++i) {
      if (Curl(port, "/readyz", dir_ + "/ready", false, false) == "200") return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::string dir_, log_;
  pid_t pid_ = -1;
  std::unique_ptr<fakekube::FakeKube> cp_, app_;
};

TEST_F(BinaryShutdownTest, SigtermDrainsAndEndsWatchesCleanly) {
  int port = StartConnector({"--shutdown-delay-duration=1500ms", "--shutdown-grace-period=6s"});
  ASSERT_GT(port, 0);
  ASSERT_TRUE(WaitReady(port)) << ReadAll(dir_ + "/ready") << ReadAll(log_);

  // An authorized list through the connector, as the aggregator sends it.
  EXPECT_EQ(Curl(port, "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/kubernetesclusters",
                 dir_ + "/list"),
            "200")
      << ReadAll(dir_ + "/list");
  EXPECT_THAT(ReadAll(dir_ + "/list"), HasSubstr("KubernetesClusterList"));

  // An open watch.
  Curl(port, "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/kubernetesclusters?watch=1",
       dir_ + "/watch", true);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (cp_->open_watches() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GE(cp_->open_watches(), 1) << ReadAll(log_);

  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  std::this_thread::sleep_for(300ms);
  // During the shutdown delay /readyz fails while everything else still answers.
  EXPECT_EQ(Curl(port, "/readyz?verbose", dir_ + "/ready2", false, false), "500");
  EXPECT_THAT(ReadAll(dir_ + "/ready2"), HasSubstr("[-]shutdown failed"));
  EXPECT_EQ(Curl(port, "/livez", dir_ + "/live", false, false), "200");

  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(pid_, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() - start < 15s) {
    std::this_thread::sleep_for(50ms);
  }
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(done, pid_) << "the connector did not exit\n" << ReadAll(log_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadAll(log_);
  EXPECT_LT(took, 8s) << "exit later than the grace period";

  // The watch ended with a clean end of the chunked stream (curl exit 0, status 200).
  for (int i = 0; i < 100 && ReadAll(dir_ + "/watch.rc").empty(); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(ReadAll(dir_ + "/watch.code"), "200");
  EXPECT_EQ(ReadAll(dir_ + "/watch.rc"), "0\n") << ReadAll(log_);
  // Nothing secret reached the log at -v=2.
  std::string log = ReadAll(log_);
  EXPECT_THAT(log, HasSubstr("details="));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("BEGIN")));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("system:masters")));
}

// The binary runs on the allocator its build linked (mimalloc in a plain build, README
// "Dependencies"; a sanitizer's own under ASan), and /metrics says which, with its heap figures.
// hack/test.sh runs this file against the Release binary too.
TEST_F(BinaryShutdownTest, MetricsNameTheAllocatorServingMalloc) {
  int port = StartConnector({});
  ASSERT_GT(port, 0);
  ASSERT_TRUE(WaitReady(port)) << ReadAll(dir_ + "/ready") << ReadAll(log_);
  // The build says whether it linked mimalloc: `--version` ends in " (mimalloc)".
  const std::string version_out = dir_ + "/version";
  std::string cmd = Env("MCP_BUILD_DIR", "/work/main/build") + "/mcp-connector --version >" +
                    version_out + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << ReadAll(version_out);
  const bool linked = ReadAll(version_out).find("(mimalloc)") != std::string::npos;

  std::smatch m;
  const std::regex in_use("mcp_connector_heap_bytes\\{state=\"in_use\"\\} ([0-9]+)\n");
  const std::regex rounds("mcp_connector_heap_trims_total ([0-9]+)\n");
  auto scrape = [&] {
    EXPECT_EQ(Curl(port, "/metrics", dir_ + "/metrics"), "200") << ReadAll(dir_ + "/metrics");
    return ReadAll(dir_ + "/metrics");
  };
  std::string metrics = scrape();
  EXPECT_THAT(metrics, HasSubstr(std::string("mcp_connector_heap_allocator_info{allocator=\"") +
                                 (linked ? "mimalloc" : "glibc") + "\"} 1\n"))
      << ReadAll(version_out);
  ASSERT_TRUE(std::regex_search(metrics, m, in_use)) << metrics;
  // (Under a sanitizer's allocator, glibc's figures are about zero: nothing more to check.)
  if (!linked) return;
  // On mimalloc every period (10 s, the first 10 s after the start) is a collection round on
  // every thread, and the heap figure is what mimalloc has committed.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!(std::regex_search(metrics, m, rounds) && m[1] != "0") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
    metrics = scrape();
  }
  ASSERT_TRUE(std::regex_search(metrics, m, rounds)) << metrics;
  EXPECT_GE(std::stoull(m[1]), 1u) << metrics;
  ASSERT_TRUE(std::regex_search(metrics, m, in_use)) << metrics;
  // At least the served API set and the TLS contexts, at most the whole process.
  EXPECT_GT(std::stoull(m[1]), 1u << 20) << metrics;
  EXPECT_LT(std::stoull(m[1]), 1ull << 30) << metrics;
}

// The rest of issue 8's SIGTERM sequence on the real binary: after the shutdown delay the
// listener closes (new connections are refused), a request in flight that the control plane
// answers within the grace period finishes normally, and one still hanging at the end of the
// grace period is cut, so the process exits at the grace period, not at its request timeout.
TEST_F(BinaryShutdownTest, SigtermFinishesInFlightRequestsAndCutsHungOnes) {
  int port = StartConnector({"--shutdown-delay-duration=500ms", "--shutdown-grace-period=3s"});
  ASSERT_GT(port, 0);
  ASSERT_TRUE(WaitReady(port)) << ReadAll(dir_ + "/ready") << ReadAll(log_);

  fakekube::Fault slow;  // a GET answered after 2 s: within the grace period
  slow.verb = "get";
  slow.delay = 2s;
  cp_->AddFault(slow);
  fakekube::Fault hung;  // a LIST answered after 60 s: beyond it
  hung.verb = "list";
  hung.delay = 60s;
  cp_->AddFault(hung);
  const std::string base = "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/kubernetesclusters";
  Curl(port, base + "/missing", dir_ + "/slow", true);
  Curl(port, base, dir_ + "/hung", true);
  auto upstream = [this](const std::string& verb) {
    return cp_->WaitForRequest(
        [verb](const fakekube::RecordedRequest& q) {
          bool one = q.path.find("/kubernetesclusters/") != std::string::npos;
          return q.method == "GET" && q.path.find("/namespaces/claims/") != std::string::npos &&
                 (verb == "get" ? one : !one);
        },
        10s);
  };
  ASSERT_TRUE(upstream("get")) << ReadAll(log_);
  ASSERT_TRUE(upstream("list")) << ReadAll(log_);

  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  // After the delay the listener is closed: a new connection is refused (curl: 7).
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(Curl(port, "/livez", dir_ + "/late", false, false), "000");
  EXPECT_EQ(ReadAll(dir_ + "/late.rc"), "7\n");

  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(pid_, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() - start < 20s) {
    std::this_thread::sleep_for(50ms);
  }
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(done, pid_) << "the connector did not exit\n" << ReadAll(log_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadAll(log_);
  EXPECT_GE(took, 2500ms) << "the hung request was cut before the grace period ended";
  EXPECT_LT(took, 5s) << "exit later than the grace period";

  for (int i = 0;
       i < 100 && (ReadAll(dir_ + "/slow.rc").empty() || ReadAll(dir_ + "/hung.rc").empty()); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  // The request in flight finished with the control plane's answer (translated NotFound).
  EXPECT_EQ(ReadAll(dir_ + "/slow.code"), "404") << ReadAll(dir_ + "/slow");
  EXPECT_THAT(ReadAll(dir_ + "/slow"), HasSubstr("\"reason\":\"NotFound\""));
  // The hung one got no answer: its connection was closed (curl 52 empty reply / 56 recv error).
  EXPECT_EQ(ReadAll(dir_ + "/hung.code"), "000");
  EXPECT_NE(ReadAll(dir_ + "/hung.rc"), "0\n");
  EXPECT_THAT(ReadAll(log_), HasSubstr("shutdown grace period over"));
}

}  // namespace
}  // namespace apiserver

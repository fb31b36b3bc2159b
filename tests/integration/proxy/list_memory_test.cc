// Issue 4's streaming bound, measured on the real binary: the connector's peak memory while it
// relays a 10,000-item list (~20 MB) is no higher than while it relays a 1,000-item list, and
// grows by a few MB at most. The connector runs as a child process (fakekube's own memory does
// not count); its peak RSS (VmHWM) is reset through /proc/<pid>/clear_refs before each list.
// Under ASan the child runs without quarantine, so freed memory is reused as in a normal build
// instead of piling up (ASan would otherwise keep up to 256 MB of freed blocks).
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

#include "kube/json.h"
#include "naming/naming.h"
#include "tests/fakekube/server.h"

namespace proxy {
namespace {

namespace fs = std::filesystem;
namespace json = kube::json;
using namespace std::chrono_literals;

constexpr const char* kCluster = "abc";
constexpr const char* kClaimNs = "claims";

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

// A /proc/<pid>/status field in KB (-1 when missing).
long StatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

class ListMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mcp-connector-mem-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    ASSERT_FALSE(Fixtures().empty());
    cp_ = std::make_unique<fakekube::FakeKube>(fakekube::FakeKubeOptions{});
    ASSERT_TRUE(cp_->Start().ok());
    ASSERT_TRUE(cp_->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: claims}\n").ok());
    ASSERT_TRUE(cp_->ApplyFile(Fixtures() + "/12-crd-kubernetesclusters.yaml").ok());
    fakekube::FakeKubeOptions appo;
    appo.aggregator = true;
    app_ = std::make_unique<fakekube::FakeKube>(appo);
    ASSERT_TRUE(app_->Start().ok());
    ASSERT_TRUE(cp_->WriteKubeconfig(dir_ + "/cp.kubeconfig").ok());
    ASSERT_TRUE(app_->WriteKubeconfig(dir_ + "/app.kubeconfig").ok());
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

  // `n` claims of app namespace `ns` as this connector stores them, each with a 1,200-byte
  // annotation (so 10,000 are ~20 MB of JSON), written straight into the control plane's store.
  void Seed(const std::string& ns, int n) {
    const kube::GroupResource gr{"k8s.starter.org", "kubernetesclusters"};
    const std::string filler(1200, 'x');
    for (int i = 0; i < n; ++i) {
      const std::string name = "item-" + std::to_string(i);
      json::Document d;
      auto& a = d.GetAllocator();
      d.SetObject();
      json::SetString(d, "apiVersion", "k8s.starter.org/v1alpha1", a);
      json::SetString(d, "kind", "KubernetesCluster", a);
      json::Value& meta = json::EnsureObject(d, "metadata", a);
      json::SetString(meta, "name",
                      naming::ControlPlaneName(naming::Kind::kClaim, name, ns, kCluster), a);
      json::SetString(meta, "namespace", kClaimNs, a);
      json::Value& labels = json::EnsureObject(meta, "labels", a);
      for (const auto& [k, v] : naming::OriginLabels(kCluster, ns, name))
        json::SetString(labels, k, v, a);
      json::SetString(json::EnsureObject(meta, "annotations", a), "bench/filler", filler, a);
      json::Value& spec = json::EnsureObject(d, "spec", a);
      json::SetString(json::EnsureObject(spec, "parameters", a), "id", name, a);
      auto created = cp_->store().Create(gr, kClaimNs, std::move(d));
      ASSERT_TRUE(created.ok()) << created.error().message;
    }
  }

  int StartConnector() {
    std::string bin = Env("MCP_BUILD_DIR", "/work/main/build") + "/mcp-connector";
    std::vector<std::string> args = {bin,
                                     "serve",
                                     "--bind-address=127.0.0.1",
                                     "--secure-port=0",
                                     "--cert-dir=" + dir_ + "/certs",
                                     "--kubeconfig=" + dir_ + "/app.kubeconfig",
                                     "--control-plane-kubeconfig=" + dir_ + "/cp.kubeconfig",
                                     std::string("--cluster-id=") + kCluster,
                                     std::string("--claim-namespace=") + kClaimNs,
                                     "--api-file=" + dir_ + "/apis.yaml",
                                     "--leader-elect=false"};
    log_ = dir_ + "/connector.log";
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = freopen(log_.c_str(), "w", stderr);
      (void)f;
      // No quarantine (freed blocks are reused at once, as without ASan) and no leak check at the
      // SIGKILL that ends the child. Ignored by a build without ASan.
      setenv("ASAN_OPTIONS",
             "quarantine_size_mb=0:thread_local_quarantine_size_kb=0:detect_leaks=0:"
             "allocator_may_return_null=1",
             1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    std::regex re("serving on 127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 600; ++i) {
      std::smatch m;
      std::string log = ReadAll(log_);
      if (std::regex_search(log, m, re)) return std::stoi(m[1]);
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "the connector did not start:\n" << ReadAll(log_);
    return 0;
  }

  // GET through the connector as the aggregator sends it; the body goes to `out`. Returns the
  // HTTP status ("000" when curl failed).
  std::string Curl(int port, const std::string& path, const std::string& out,
                   const std::string& accept = "", bool as_proxy = true) {
    std::string host = "mcp-connector.kube-system.svc";
    std::string cmd = "timeout 300 curl -s --cacert " + dir_ + "/certs/ca.crt --resolve " + host +
                      ":" + std::to_string(port) + ":127.0.0.1 ";
    if (as_proxy) {
      cmd += "--cert " + dir_ + "/fp.crt --key " + dir_ +
             "/fp.key -H 'X-Remote-User: admin' -H 'X-Remote-Group: system:masters' ";
    }
    if (!accept.empty()) cmd += "-H 'Accept: " + accept + "' ";
    cmd += "-o " + out + " -w '%{http_code}' 'https://" + host + ":" + std::to_string(port) + path +
           "' > " + out + ".code";
    int rc = std::system(cmd.c_str());
    (void)rc;
    return ReadAll(out + ".code");
  }

  struct Peak {
    long growth_kb = 0;  // VmHWM during the list - VmRSS before it
    size_t items = 0;
    std::string status;
  };

  // One list of app namespace `ns`; the connector's peak RSS growth while it ran.
  Peak List(int port, const std::string& ns, bool table) {
    Peak p;
    {
      std::ofstream reset("/proc/" + std::to_string(pid_) + "/clear_refs");
      reset << "5";  // resets VmHWM to the current RSS
    }
    const long before = StatusKb(pid_, "VmRSS");
    const std::string out = dir_ + "/list-" + ns + (table ? "-table" : "");
    p.status = Curl(port, "/apis/k8s.starter.org/v1alpha1/namespaces/" + ns + "/kubernetesclusters",
                    out, table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "");
    const long hwm = StatusKb(pid_, "VmHWM");
    p.growth_kb = hwm - before;
    const std::string body = ReadAll(out);
    const std::string marker = table ? "\"cells\":[\"item-" : "\"name\":\"item-";
    for (size_t pos = body.find(marker); pos != std::string::npos; pos = body.find(marker, pos + 1))
      ++p.items;
    fs::remove(out);
    return p;
  }

  std::string dir_, log_;
  pid_t pid_ = -1;
  std::unique_ptr<fakekube::FakeKube> cp_, app_;
};

TEST_F(ListMemoryTest, PeakMemoryStaysFlatFrom1000To10000Items) {
  Seed("list-1000", 1000);
  Seed("list-10000", 10000);
  const int port = StartConnector();
  ASSERT_GT(port, 0);
  std::string code;
  for (int i = 0; i < 200 && code != "200"; ++i) {
    code = Curl(port, "/readyz", dir_ + "/ready", "", false);
    if (code != "200") std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(code, "200") << ReadAll(dir_ + "/ready") << ReadAll(log_);

  // Warm-up: connection pools, TLS sessions, caches and allocator arenas reach their steady
  // state on a first full pass over both sizes.
  ASSERT_EQ(List(port, "list-1000", false).items, 1000u) << ReadAll(log_);
  ASSERT_EQ(List(port, "list-10000", false).items, 10000u) << ReadAll(log_);
  ASSERT_EQ(List(port, "list-10000", true).items, 10000u) << ReadAll(log_);

  // The smallest growth of two runs per case: a transient allocation elsewhere in the process
  // (a log line, a cache refresh) can only add, never hide, memory the list itself needed.
  auto measure = [&](const std::string& ns, bool table, size_t want) {
    long best = -1;
    for (int rep = 0; rep < 2; ++rep) {
      Peak p = List(port, ns, table);
      EXPECT_EQ(p.status, "200");
      EXPECT_EQ(p.items, want) << ns << (table ? " Table" : "");
      if (best < 0 || p.growth_kb < best) best = p.growth_kb;
    }
    return best;
  };
  const long small = measure("list-1000", false, 1000);
  const long big = measure("list-10000", false, 10000);
  const long big_table = measure("list-10000", true, 10000);
  RecordProperty("peak_growth_kb_1000", std::to_string(small));
  RecordProperty("peak_growth_kb_10000", std::to_string(big));
  RecordProperty("peak_growth_kb_10000_table", std::to_string(big_table));
  std::printf(
      "connector peak RSS growth: 1,000 items %ld KB, 10,000 items %ld KB, "
      "10,000 Table rows %ld KB\n",
      small, big, big_table);
  // Issue 9's bound: <= 8 MB during the list, and the same for both sizes. A buffered list
  // would need ~20 MB more (x2 or more under ASan) for 10,000 items than for 1,000.
  constexpr long kSlackKb = 4 * 1024;
  EXPECT_LE(big, 8 * 1024);
  EXPECT_LE(big_table, 8 * 1024);
  EXPECT_LE(big, small + kSlackKb);
  EXPECT_LE(big_table, small + kSlackKb);
}

}  // namespace
}  // namespace proxy

// No secret reaches the logs, even at the highest verbosity (issue 8, "Secrets").
//
// The real build/mcp-connector runs at -v=10 between two real build/fakekube processes (control
// plane and app cluster with --aggregator). It holds a known control-plane bearer token (in its
// control-plane kubeconfig) and private keys (its serving and CA keys in --cert-dir, the app
// cluster's admin client key in its app kubeconfig). The test drives requests with marker values
// in Authorization and X-Remote-* headers — as the aggregator sends them (front-proxy client
// certificate), spoofed without it, and bearer tokens checked by TokenReview — and then asserts
// that no marker value appears anywhere in the connector's stderr or in any log file it wrote.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string Fixtures() {
  for (std::string d : {Env("MCP_SOURCE_DIR", "/work/main") + "/../shared/fixtures/crossplane",
                        std::string("/work/shared/fixtures/crossplane")}) {
    if (fs::exists(d)) return d;
  }
  return "";
}

std::string RandomHex(size_t n) {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kHex[rng() % 16];
  return s;
}

// The base64 body lines of a PEM block (the secret material itself), each >= 16 characters.
std::vector<std::string> PemBodyLines(const std::string& pem) {
  std::vector<std::string> out;
  std::istringstream in(pem);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("-----", 0) == 0 || line.size() < 16) continue;
    out.push_back(line);
  }
  return out;
}

// A process we started; killed and reaped by the destructor.
struct Child {
  pid_t pid = -1;
  std::string log;

  void Start(std::vector<std::string> args, std::string log_path) {
    log = std::move(log_path);
    pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      FILE* f = freopen(log.c_str(), "w", stderr);
      FILE* g = freopen(log.c_str(), "a", stdout);
      (void)f;
      (void)g;
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  void Stop() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = -1;
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~Child() { Stop(); }
};

struct Response {
  std::string code;
  std::string body;
};

class SecretsLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    build_ = Env("MCP_BUILD_DIR", "/work/main/build");
    for (const char* bin : {"mcp-connector", "fakekube"}) {
      ASSERT_TRUE(fs::exists(build_ + "/" + bin))
          << build_ << "/" << bin << " is missing: build it (the full build does)";
    }
    ASSERT_FALSE(Fixtures().empty()) << "Crossplane fixtures not found";
    std::string tmpl = (fs::temp_directory_path() / "mcp-connector-secrets-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    mark_ = RandomHex(12);
  }
  void TearDown() override {
    connector_.Stop();
    app_.Stop();
    cp_.Stop();
    if (std::getenv("MCP_KEEP_TMP") == nullptr) fs::remove_all(dir_);
  }

  // Waits for `path` to exist (a kubeconfig a fakekube writes once it listens).
  bool WaitForFile(const std::string& path, const Child& c) {
    for (int i = 0; i < 400; ++i) {
      if (fs::exists(path) && fs::file_size(path) > 0) return true;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << path << " never appeared:\n" << ReadAll(c.log);
    return false;
  }

  // One curl request. `headers` are passed verbatim; `client_cert` selects the front-proxy
  // client certificate (as the aggregator presents it).
  Response Curl(const std::string& method, const std::string& path,
                const std::vector<std::string>& headers, bool client_cert,
                const std::string& body = "") {
    static int n = 0;
    std::string out = dir_ + "/curl-" + std::to_string(++n);
    std::string host = "mcp-connector.kube-system.svc";
    std::string cmd = "timeout 30 curl -sS -X " + method + " --cacert " + dir_ +
                      "/certs/ca.crt --resolve " + host + ":" + std::to_string(port_) +
                      ":127.0.0.1 ";
    if (client_cert) {
      cmd += "--cert " + dir_ + "/app-certs/front-proxy-client.crt --key " + dir_ +
             "/app-certs/front-proxy-client.key ";
    }
    for (const auto& h : headers) cmd += "-H '" + h + "' ";
    if (!body.empty()) {
      WriteFile(out + ".in", body);
      cmd += "-H 'Content-Type: application/json' --data-binary @" + out + ".in ";
    }
    cmd += "-o " + out + " -w '%{http_code}' 'https://" + host + ":" + std::to_string(port_) +
           path + "' > " + out + ".code 2>/dev/null";
    int rc = std::system(cmd.c_str());
    (void)rc;
    return {ReadAll(out + ".code"), ReadAll(out)};
  }

  std::string build_, dir_, mark_;
  int port_ = 0;
  Child cp_, app_, connector_;
};

TEST_F(SecretsLogTest, NoTokenKeyOrIdentityHeaderReachesTheLogsAtV10) {
  // ---- markers
  const std::string cp_token = "cptoken" + mark_ + "CPTOKEN";
  const std::string app_token = "apptoken" + mark_ + "APPTOKEN";   // valid in the app cluster
  const std::string bogus_token = "bogustoken" + mark_ + "BOGUS";  // valid nowhere
  const std::string basic = "YmFzaWM" + mark_ + "QmFzaWM=";        // "Authorization: Basic"
  const std::string user = "user" + mark_ + "USER";
  const std::string group = "group" + mark_ + "GROUP";
  const std::string uid = "uid" + mark_ + "UID";
  const std::string extra_key = "scope" + mark_;
  const std::string extra_value = "extra" + mark_ + "EXTRA";
  const std::string spoofed_user = "spoofed" + mark_ + "SPOOFED";
  const std::string app_user = "appuser" + mark_ + "APPUSER";

  // ---- the control plane: accepts only the connector's token.
  WriteFile(dir_ + "/cp-tokens.csv",
            cp_token + ",mcp-connector,uid-connector,\"system:masters\"\n");
  cp_.Start({build_ + "/fakekube", "--bind-address", "127.0.0.1", "--secure-port", "0",
             "--write-kubeconfig", dir_ + "/cp-admin.kubeconfig", "--token-file",
             dir_ + "/cp-tokens.csv", "--anonymous-auth=false", "--fixtures", Fixtures()},
            dir_ + "/cp.log");
  // ---- the app cluster (aggregator): knows a user token, writes its certificates.
  WriteFile(dir_ + "/app-tokens.csv", app_token + "," + app_user + ",uid-app,\"system:masters\"\n");
  app_.Start({build_ + "/fakekube", "--aggregator", "--bind-address", "127.0.0.1", "--secure-port",
              "0", "--write-kubeconfig", dir_ + "/app.kubeconfig", "--token-file",
              dir_ + "/app-tokens.csv", "--cert-dir", dir_ + "/app-certs"},
             dir_ + "/app.log");
  ASSERT_TRUE(WaitForFile(dir_ + "/cp-admin.kubeconfig", cp_));
  ASSERT_TRUE(WaitForFile(dir_ + "/app.kubeconfig", app_));

  // The connector's control-plane kubeconfig: the fakekube's server and CA, our token.
  std::string admin = ReadAll(dir_ + "/cp-admin.kubeconfig");
  std::smatch server, ca;
  ASSERT_TRUE(std::regex_search(admin, server, std::regex("server: *(\\S+)"))) << admin;
  ASSERT_TRUE(std::regex_search(admin, ca, std::regex("certificate-authority-data: *(\\S+)")));
  WriteFile(dir_ + "/cp.kubeconfig",
            "apiVersion: v1\nkind: Config\ncurrent-context: cp\nclusters:\n- name: cp\n"
            "  cluster:\n    server: " +
                server[1].str() + "\n    certificate-authority-data: " + ca[1].str() +
                "\nusers:\n- name: cp\n  user:\n    token: " + cp_token +
                "\ncontexts:\n- name: cp\n  context: {cluster: cp, user: cp}\n");
  // The claim namespace, and the served API (the claim XRD + its CRD) given as a file.
  WriteFile(dir_ + "/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: claims}\n");
  std::string kc = "kubectl --kubeconfig " + dir_ + "/cp-admin.kubeconfig ";
  int rc = -1;
  for (int i = 0; i < 50 && rc != 0; ++i) {
    rc = std::system((kc + "apply -f " + dir_ + "/ns.yaml >/dev/null 2>&1").c_str());
    if (rc != 0) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(rc, 0) << ReadAll(cp_.log);
  WriteFile(dir_ + "/apis.yaml", ReadAll(Fixtures() + "/10-xrd-xkubernetesclusters.yaml") +
                                     "\n---\n" +
                                     ReadAll(Fixtures() + "/12-crd-kubernetesclusters.yaml"));

  // ---- the connector at the highest verbosity.
  connector_.Start(
      {build_ + "/mcp-connector", "serve", "--bind-address=127.0.0.1", "--secure-port=0",
       "--cert-dir=" + dir_ + "/certs", "--kubeconfig=" + dir_ + "/app.kubeconfig",
       "--control-plane-kubeconfig=" + dir_ + "/cp.kubeconfig", "--cluster-id=secrets-test",
       "--claim-namespace=claims", "--api-file=" + dir_ + "/apis.yaml", "-v=10"},
      dir_ + "/connector.log");
  std::regex re("serving on 127\\.0\\.0\\.1:([0-9]+)");
  for (int i = 0; i < 400 && port_ == 0; ++i) {
    std::smatch m;
    std::string log = ReadAll(connector_.log);
    if (std::regex_search(log, m, re))
      port_ = std::stoi(m[1]);
    else
      std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(port_, 0) << "the connector did not start:\n" << ReadAll(connector_.log);
  Response ready;
  for (int i = 0; i < 200 && ready.code != "200"; ++i) {
    ready = Curl("GET", "/readyz", {}, false);
    if (ready.code != "200") std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(ready.code, "200") << ready.body << ReadAll(connector_.log);

  // ---- requests carrying the markers
  const std::string base = "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/kubernetesclusters";
  const std::vector<std::string> identity = {"X-Remote-User: " + user,
                                             "X-Remote-Group: " + group,
                                             "X-Remote-Group: system:masters",
                                             "X-Remote-Uid: " + uid,
                                             "X-Remote-Extra-" + extra_key + ": " + extra_value,
                                             "Authorization: Bearer " + bogus_token};
  // As the aggregator sends them: authenticated by the front-proxy certificate.
  Response list = Curl("GET", base + "?labelSelector=team%3Da", identity, true);
  EXPECT_EQ(list.code, "200") << list.body;
  EXPECT_THAT(list.body, HasSubstr("KubernetesClusterList"));
  Response create = Curl("POST", base, identity, true,
                         R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster",)"
                         R"("metadata":{"name":"secret-test"},"spec":{"id":"x"}})");
  EXPECT_EQ(create.code, "201") << create.body;
  Response get = Curl("GET", base + "/secret-test", identity, true);
  EXPECT_EQ(get.code, "200") << get.body;
  Response missing = Curl("GET", base + "/does-not-exist", identity, true);
  EXPECT_EQ(missing.code, "404") << missing.body;
  Response watch = Curl("GET", base + "?watch=1&timeoutSeconds=1", identity, true);
  EXPECT_EQ(watch.code, "200") << watch.body;
  // Spoofed identity headers without the front-proxy certificate: never believed.
  Response spoofed = Curl("GET", base,
                          {"X-Remote-User: " + spoofed_user, "X-Remote-Group: system:masters",
                           "X-Remote-Extra-" + extra_key + ": " + extra_value},
                          false);
  EXPECT_EQ(spoofed.code, "401") << spoofed.body;
  // Bearer tokens: one the app cluster's TokenReview rejects, one it accepts.
  Response bogus = Curl("GET", base, {"Authorization: Bearer " + bogus_token}, false);
  EXPECT_EQ(bogus.code, "401") << bogus.body;
  Response good = Curl("GET", base, {"Authorization: Bearer " + app_token}, false);
  EXPECT_EQ(good.code, "200") << good.body;
  Response basic_auth = Curl("GET", base, {"Authorization: Basic " + basic}, false);
  EXPECT_EQ(basic_auth.code, "401") << basic_auth.body;
  // Discovery and a non-resource path with the same headers.
  (void)Curl("GET", "/apis/k8s.starter.org/v1alpha1", identity, true);
  (void)Curl("GET", "/openapi/v2", identity, true);
  std::this_thread::sleep_for(500ms);  // let the last access-log lines out

  // ---- the logs
  connector_.Stop();  // flushes everything it buffered
  std::string logs = ReadAll(connector_.log);
  std::vector<std::string> files = {connector_.log};
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    std::string p = e.path().string();
    if (e.is_regular_file() &&
        (p.find(".INFO") != std::string::npos || p.find(".WARNING") != std::string::npos ||
         p.find(".ERROR") != std::string::npos || p.find("mcp-connector.") != std::string::npos)) {
      logs += ReadAll(p);
      files.push_back(p);
    }
  }
  for (const char* d : {"/tmp"}) {  // glog's default log_dir when not logging to stderr
    for (const auto& e : fs::directory_iterator(d)) {
      std::string name = e.path().filename().string();
      if (name.rfind("mcp-connector.", 0) == 0 &&
          fs::last_write_time(e.path()) > fs::file_time_type::clock::now() - 10min) {
        logs += ReadAll(e.path().string());
        files.push_back(e.path().string());
      }
    }
  }
  // The verbosity took effect: requests are logged (path, user-independent lines).
  EXPECT_THAT(logs, HasSubstr("kubernetesclusters")) << "nothing was logged at -v=10?";
  ASSERT_GT(logs.size(), 2000u) << logs;

  std::vector<std::pair<std::string, std::string>> markers = {
      {"control-plane token", cp_token},
      {"app user token", app_token},
      {"rejected bearer token", bogus_token},
      {"Basic credentials", basic},
      {"X-Remote-User", user},
      {"X-Remote-Group", group},
      {"X-Remote-Uid", uid},
      {"X-Remote-Extra key", extra_key},
      {"X-Remote-Extra value", extra_value},
      {"spoofed X-Remote-User", spoofed_user},
      {"the marker itself", mark_}};
  auto add_key = [&](const std::string& what, const std::string& path) {
    std::string pem = ReadAll(path);
    auto lines = PemBodyLines(pem);
    EXPECT_FALSE(lines.empty()) << "no key in " << path;
    for (const auto& l : lines) markers.emplace_back(what + " (" + path + ")", l);
  };
  add_key("connector serving key", dir_ + "/certs/apiserver.key");
  add_key("connector CA key", dir_ + "/certs/ca.key");
  add_key("app cluster admin client key (app kubeconfig)", dir_ + "/app-certs/admin.key");
  add_key("front-proxy client key", dir_ + "/app-certs/front-proxy-client.key");
  for (const auto& [what, value] : markers) {
    EXPECT_EQ(logs.find(value), std::string::npos)
        << what << " appears in the connector's logs (" << files.size() << " files): ..."
        << logs.substr(logs.find(value) > 200 ? logs.find(value) - 200 : 0, 400) << "...";
  }
}

}  // namespace

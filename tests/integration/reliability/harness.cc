#include "tests/integration/reliability/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kube/json.h"
#include "naming/naming.h"

namespace reliability {

namespace fs = std::filesystem;
namespace json = kube::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FixturesDir() {
  const char* src = std::getenv("MCP_SOURCE_DIR");
  std::string s = src ? src : "/work/main";
  for (std::string d :
       {s + "/../shared/fixtures/crossplane", std::string("/work/shared/fixtures/crossplane")}) {
    if (fs::exists(d)) return d;
  }
  return "";
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* kDefaultPolicy = R"(
rules:
- {groups: ["system:masters"], verbs: ["*"], apiGroups: ["*"], resources: ["*"],
   nonResourceURLs: ["*"]}
- {users: ["alice"], verbs: ["*"], apiGroups: ["*"], resources: ["*"], nonResourceURLs: ["*"]}
)";

}  // namespace

std::string ClaimsPath(const std::string& ns, const std::string& name) {
  std::string p = "/apis/" + kGroupVersion + "/namespaces/" + ns + "/" + kResource;
  return name.empty() ? p : p + "/" + name;
}

std::string ControlPlaneClaimsPath(const std::string& name) {
  return ClaimsPath(kClaimNamespace, name);
}

std::string ControlPlaneName(const std::string& name, const std::string& ns,
                             const std::string& cluster_id) {
  return naming::ControlPlaneName(naming::Kind::kClaim, name, ns, cluster_id);
}

std::string ClaimJson(const std::string& name, const std::string& ns, int nodes) {
  return R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster",)"
         R"("metadata":{"name":")" +
         name + R"(","namespace":")" + ns +
         R"("},"spec":{"parameters":{"version":"1.30","nodeCount":)" + std::to_string(nodes) +
         "}}}";
}

::testing::AssertionResult Eventually(const std::function<bool()>& pred,
                                      std::chrono::milliseconds timeout, const std::string& what) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(50ms);
  }
  if (pred()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "timed out after " << timeout.count() << "ms: " << what;
}

// ---------------------------------------------------------------------------------------------
// HttpResponse

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? "" : it->second;
}

std::string HttpResponse::Reason() const {
  auto doc = json::Parse(body);
  if (!doc || !doc->IsObject() || json::GetString(*doc, "kind") != "Status") return "";
  return std::string(json::GetString(*doc, "reason"));
}

std::string HttpResponse::Message() const {
  auto doc = json::Parse(body);
  if (!doc || !doc->IsObject() || json::GetString(*doc, "kind") != "Status") return "";
  return std::string(json::GetString(*doc, "message"));
}

// ---------------------------------------------------------------------------------------------
// Client

Client::Client(uint16_t port, std::string ca_pem, std::string client_cert_pem,
               std::string client_key_pem)
    : port_(port),
      ca_pem_(std::move(ca_pem)),
      cert_pem_(std::move(client_cert_pem)),
      key_pem_(std::move(client_key_pem)) {
  std::signal(SIGPIPE, SIG_IGN);
}

Client::~Client() { Close(); }

void Client::Close() {
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (ctx_) {
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool Client::Connect(std::chrono::milliseconds timeout) {
  Close();
  buf_.clear();
  events_.clear();
  eof_ = timed_out_ = stream_done_ = stream_clean_end_ = false;
  auto deadline = Clock::now() + timeout;
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) {
    error_ = "socket failed";
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int flags = fcntl(fd_, F_GETFL, 0);
  fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno != EINPROGRESS) {
    error_ = std::string("connect: ") + strerror(errno);
    Close();
    return false;
  }
  if (rc != 0) {
    pollfd p{fd_, POLLOUT, 0};
    int ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (::poll(&p, 1, std::max(ms, 1)) != 1) {
      error_ = "connect timed out";
      Close();
      return false;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      error_ = std::string("connect: ") + strerror(err);
      Close();
      return false;
    }
  }
  fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{0, 100 * 1000};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  timeval stv{5, 0};
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &stv, sizeof stv);

  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  if (!ca_pem_.empty()) {
    BIO* bio = BIO_new_mem_buf(ca_pem_.data(), static_cast<int>(ca_pem_.size()));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, x);
      X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!cert_pem_.empty()) {
    BIO* bio = BIO_new_mem_buf(cert_pem_.data(), static_cast<int>(cert_pem_.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    BIO* kbio = BIO_new_mem_buf(key_pem_.data(), static_cast<int>(key_pem_.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(kbio, nullptr, nullptr, nullptr);
    BIO_free(kbio);
    if (x == nullptr || k == nullptr || SSL_CTX_use_certificate(ctx_, x) != 1 ||
        SSL_CTX_use_PrivateKey(ctx_, k) != 1) {
      error_ = "bad client certificate";
    }
    if (x) X509_free(x);
    if (k) EVP_PKEY_free(k);
  }
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  SSL_set_tlsext_host_name(ssl_, "mcp-connector.kube-system.svc");
  SSL_set1_host(ssl_, "mcp-connector.kube-system.svc");
  while (true) {
    int r = SSL_connect(ssl_);
    if (r == 1) break;
    int e = SSL_get_error(ssl_, r);
    if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
         (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))) &&
        Clock::now() < deadline) {
      continue;
    }
    unsigned long ossl = ERR_get_error();
    char msg[256] = {0};
    if (ossl) ERR_error_string_n(ossl, msg, sizeof msg);
    error_ = std::string("TLS handshake failed: ") + msg;
    ERR_clear_error();
    Close();
    return false;
  }
  return true;
}

std::string Client::PeerCommonName() const {
  if (!ssl_) return "";
  X509* x = SSL_get1_peer_certificate(ssl_);
  if (!x) return "";
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
  X509_free(x);
  return cn;
}

bool Client::SendRaw(std::string_view bytes, std::chrono::milliseconds timeout) {
  if (!ssl_) return false;
  auto deadline = Clock::now() + timeout;
  size_t off = 0;
  while (off < bytes.size()) {
    int n = SSL_write(ssl_, bytes.data() + off, static_cast<int>(bytes.size() - off));
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    if ((e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) && Clock::now() < deadline) {
      continue;
    }
    ERR_clear_error();
    return false;
  }
  return true;
}

bool Client::Fill(Clock::time_point deadline) {
  if (!ssl_ || eof_) return false;
  char tmp[16384];
  while (true) {
    if (Clock::now() >= deadline) {
      timed_out_ = true;
      return false;
    }
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
        (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))) {
      ERR_clear_error();
      continue;
    }
    ERR_clear_error();
    eof_ = true;  // close_notify, EOF or reset
    return false;
  }
}

std::string Client::BuildRequest(const std::string& method, const std::string& target,
                                 const std::string& body,
                                 std::map<std::string, std::string> headers) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: mcp-connector.kube-system.svc\r\n";
  if (!identity.user.empty()) r += "X-Remote-User: " + identity.user + "\r\n";
  for (const auto& g : identity.groups) r += "X-Remote-Group: " + g + "\r\n";
  if (!body.empty() && headers.find("Content-Type") == headers.end()) {
    headers["Content-Type"] = "application/json";
  }
  if (headers.find("Accept") == headers.end()) headers["Accept"] = "application/json";
  for (const auto& [k, v] : headers) r += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  r += "\r\n";
  r += body;
  return r;
}

HttpResponse Client::Do(const std::string& method, const std::string& target,
                        const std::string& body, std::map<std::string, std::string> headers,
                        std::chrono::milliseconds timeout) {
  if (!ssl_ && !Connect()) return {};
  if (!SendRaw(BuildRequest(method, target, body, std::move(headers)))) return {};
  return ReadResponse(timeout);
}

HttpResponse Client::ReadHead(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  HttpResponse r;
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill(deadline)) return r;
  }
  std::string head = buf_.substr(0, end);
  buf_.erase(0, end + 4);
  std::istringstream in(head);
  std::string line;
  std::getline(in, line);
  if (line.size() < 12) return r;
  r.status = std::atoi(line.c_str() + 9);
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(' '));
    r.headers[Lower(line.substr(0, colon))] = v;
  }
  stream_done_ = stream_clean_end_ = false;
  events_.clear();
  return r;
}

std::optional<std::string> Client::NextChunk(Clock::time_point deadline) {
  size_t eol;
  while ((eol = buf_.find("\r\n")) == std::string::npos) {
    if (!Fill(deadline)) return std::nullopt;
  }
  size_t size = std::strtoul(buf_.substr(0, eol).c_str(), nullptr, 16);
  if (size == 0) {
    // Trailers (none expected) end with an empty line.
    while (buf_.find("\r\n\r\n") == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    buf_.erase(0, buf_.find("\r\n\r\n") + 4);
    return std::string();
  }
  while (buf_.size() < eol + 2 + size + 2) {
    if (!Fill(deadline)) return std::nullopt;
  }
  std::string data = buf_.substr(eol + 2, size);
  buf_.erase(0, eol + 2 + size + 2);
  return data;
}

bool Client::ReadChunkedBody(HttpResponse& r, Clock::time_point deadline) {
  while (true) {
    auto chunk = NextChunk(deadline);
    if (!chunk) return false;
    if (chunk->empty()) return true;
    r.body += *chunk;
  }
}

HttpResponse Client::ReadResponse(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  HttpResponse r = ReadHead(timeout);
  if (r.status == 0) return r;
  if (Lower(r.Header("Transfer-Encoding")).find("chunked") != std::string::npos) {
    r.clean_end = ReadChunkedBody(r, deadline);
    return r;
  }
  std::string cl = r.Header("Content-Length");
  if (!cl.empty()) {
    size_t n = std::strtoul(cl.c_str(), nullptr, 10);
    while (buf_.size() < n) {
      if (!Fill(deadline)) break;
    }
    r.clean_end = buf_.size() >= n;
    r.body = buf_.substr(0, std::min(n, buf_.size()));
    buf_.erase(0, std::min(n, buf_.size()));
    return r;
  }
  while (Fill(deadline)) {
  }
  r.body = buf_;
  buf_.clear();
  r.clean_end = eof_;
  return r;
}

std::optional<std::string> Client::NextEvent(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  timed_out_ = false;
  while (true) {
    size_t nl = events_.find('\n');
    if (nl != std::string::npos) {
      std::string ev = events_.substr(0, nl);
      events_.erase(0, nl + 1);
      if (ev.empty()) continue;
      return ev;
    }
    if (stream_done_) return std::nullopt;
    auto chunk = NextChunk(deadline);
    if (!chunk) {
      if (!timed_out_) stream_done_ = true;  // cut: no terminating chunk
      return std::nullopt;
    }
    if (chunk->empty()) {
      stream_done_ = true;
      stream_clean_end_ = true;
      return std::nullopt;
    }
    events_ += *chunk;
  }
}

bool Client::WaitClosedByPeer(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Fill(deadline)) buf_.clear();
  return eof_;
}

// ---------------------------------------------------------------------------------------------
// Env

Env::Env(Config config) : config_(std::move(config)) { std::signal(SIGPIPE, SIG_IGN); }

Env::~Env() {
  StopConnector();
  app.reset();
  cp.reset();
  if (!dir.empty() && std::getenv("MCP_KEEP_TMP") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}

void Env::Start() {
  std::string tmpl = (fs::temp_directory_path() / "mcp-reliability-XXXXXX").string();
  dir = mkdtemp(tmpl.data());
  std::string fixtures = FixturesDir();
  ASSERT_FALSE(fixtures.empty()) << "Crossplane fixtures not found";

  fakekube::FakeKubeOptions cpo;
  cpo.fixtures_dir = fixtures;
  cpo.rotatable_serving_certificate = config_.rotatable_control_plane_certificate;
  cp = std::make_unique<fakekube::FakeKube>(cpo);
  ASSERT_TRUE(cp->Start().ok());
  ASSERT_TRUE(
      cp->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + kClaimNamespace + "}\n")
          .ok());
  ASSERT_TRUE(cp->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n").ok());

  fakekube::FakeKubeOptions appo;
  appo.aggregator = true;
  appo.availability_interval = 60s;  // no APIService traffic needed here
  auto policy = fakekube::ParsePolicy(config_.policy.empty() ? kDefaultPolicy : config_.policy);
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  appo.policy = *policy;
  app = std::make_unique<fakekube::FakeKube>(appo);
  ASSERT_TRUE(app->Start().ok());

  ASSERT_TRUE(cp->WriteKubeconfig(dir + "/cp.kubeconfig").ok());
  ASSERT_TRUE(app->WriteKubeconfig(dir + "/app.kubeconfig").ok());
  std::ofstream(dir + "/apis.yaml")
      << ReadAll(fixtures + "/10-xrd-xkubernetesclusters.yaml") << "\n---\n"
      << ReadAll(fixtures + "/12-crd-kubernetesclusters.yaml");
  if (!config_.start_connector) return;
  apiserver::Options o = BaseOptions();
  if (config_.tweak) config_.tweak(o);
  StartConnector(o);
}

apiserver::Options Env::BaseOptions() const {
  apiserver::Options o;
  o.bind_address = "127.0.0.1";
  o.secure_port = 0;
  o.cert_dir = dir + "/certs";
  o.kubeconfig = dir + "/app.kubeconfig";
  o.control_plane_kubeconfig = dir + "/cp.kubeconfig";
  o.cluster_id = kClusterID;
  o.claim_namespace = kClaimNamespace;
  o.api_file = dir + "/apis.yaml";
  o.leader_election = false;
  o.request_timeout = 5s;
  o.shutdown_grace_period = 3s;
  o.authorization_allow_ttl = 0ms;
  o.authorization_deny_ttl = 0ms;
  return o;
}

void Env::StartConnector(apiserver::Options o) {
  connector = std::make_unique<apiserver::ConnectorServer>(o);
  auto p = connector->Start();
  ASSERT_TRUE(p.ok()) << p.error().message;
  port = *p;
  ca_pem = connector->ca_bundle_pem();
  // Ready to authenticate the front proxy once the ConfigMap is loaded.
  ASSERT_TRUE(Eventually(
      [&] {
        auto r = Do("GET", "/readyz?verbose", "", {}, Identity{false, "", {}});
        return r.body.find("[+]authentication ok") != std::string::npos;
      },
      20s, "the connector loaded extension-apiserver-authentication"));
}

void Env::StopConnector() {
  if (connector) connector->Shutdown();
  connector.reset();
}

std::unique_ptr<Client> Env::NewClient(Identity id) {
  std::unique_ptr<Client> c;
  if (id.front_proxy) {
    const auto& fp = app->front_proxy_client();
    c = std::make_unique<Client>(port, ca_pem, fp.cert_pem, fp.key_pem.RevealCopy());
  } else {
    c = std::make_unique<Client>(port, ca_pem);
  }
  c->identity = std::move(id);
  return c;
}

HttpResponse Env::Do(const std::string& method, const std::string& target, const std::string& body,
                     std::map<std::string, std::string> headers, Identity id,
                     std::chrono::milliseconds timeout) {
  auto c = NewClient(std::move(id));
  if (!c->Connect()) return {};
  return c->Do(method, target, body, std::move(headers), timeout);
}

std::string Env::ClaimNamespaceState() {
  auto r = cp->Do("GET", ControlPlaneClaimsPath());
  if (r.status != 200) return "error " + std::to_string(r.status) + ": " + r.body;
  auto doc = json::Parse(r.body);
  if (!doc) return "error: unparsable list";
  std::vector<std::string> lines;
  const json::Value* items = json::Find(*doc, "items");
  if (items && items->IsArray()) {
    for (const auto& it : items->GetArray()) {
      const json::Value* meta = json::Find(it, "metadata");
      if (!meta) continue;
      lines.push_back(std::string(json::GetString(*meta, "name")) + "@" +
                      std::string(json::GetString(*meta, "resourceVersion")));
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::vector<fakekube::RecordedRequest> Env::ControlPlaneWrites() const {
  return cp->Requests([](const fakekube::RecordedRequest& q) {
    return q.method != "GET" && q.method != "HEAD" && !q.method.empty();
  });
}

void Env::SeedControlPlaneClaim(const std::string& cp_name,
                                const std::map<std::string, std::string>& labels) {
  std::string l;
  for (const auto& [k, v] : labels) {
    if (!l.empty()) l += ",";
    l += "\"" + k + "\":\"" + v + "\"";
  }
  std::string obj = R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster",)"
                    R"("metadata":{"name":")" +
                    cp_name + R"(","namespace":")" + kClaimNamespace + R"(","labels":{)" + l +
                    R"(}},"spec":{"parameters":{"version":"1.30","nodeCount":1}}})";
  auto r = cp->Apply(obj);
  ASSERT_TRUE(r.ok()) << r.error().message;
}

double Env::Metric(const std::string& sample) {
  auto r = Do("GET", "/metrics", "", {{"Accept", "text/plain"}});
  if (r.status != 200) return -1;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > sample.size() && line.compare(0, sample.size(), sample) == 0 &&
        line[sample.size()] == ' ') {
      return std::strtod(line.c_str() + sample.size() + 1, nullptr);
    }
  }
  return -1;
}

::testing::AssertionResult Env::NoLeaks(std::chrono::milliseconds timeout) {
  std::string last;
  bool ok =
      Eventually(
          [&] {
            auto r = Do("GET", "/metrics", "", {{"Accept", "text/plain"}});
            if (r.status != 200) {
              last = "metrics: " + std::to_string(r.status);
              return false;
            }
            auto get = [&](const std::string& s) -> double {
              size_t at = r.body.find("\n" + s + " ");
              if (at == std::string::npos) return -1;
              return std::strtod(r.body.c_str() + at + s.size() + 2, nullptr);
            };
            // The scrape itself: one connection, one stream, one request in flight.
            double conns = get("mcp_connector_open_connections");
            double streams = get("mcp_connector_active_streams");
            double watches = get("apiserver_longrunning_requests{verb=\"WATCH\"}");
            double inflight = get("apiserver_current_inflight_requests");
            int upstream = cp->open_watches();
            last = "open_connections=" + std::to_string(conns) +
                   " active_streams=" + std::to_string(streams) +
                   " watches=" + std::to_string(watches) + " inflight=" + std::to_string(inflight) +
                   " control-plane watches=" + std::to_string(upstream);
            return conns == 1 && streams == 1 && watches == 0 && inflight == 1 && upstream == 0;
          },
          timeout, "no leaked connections/streams")
          ? true
          : false;
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "leak: " << last;
}

}  // namespace reliability

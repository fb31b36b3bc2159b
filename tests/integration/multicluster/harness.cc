#include "tests/integration/multicluster/harness.h"

#include <glog/logging.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace multicluster {

namespace fs = std::filesystem;

namespace {

std::string FixturesDir() {
  const char* src = std::getenv("MCP_SOURCE_DIR");
  std::string s = src ? src : "/work/main";
  for (std::string d :
       {s + "/../shared/fixtures/crossplane", std::string("/work/shared/fixtures/crossplane")}) {
    if (fs::exists(d)) return d;
  }
  return "";
}

bool Available(fakekube::FakeKube& k, const std::string& apiservice) {
  auto obj = k.Get("apiregistration.k8s.io", "apiservices", "", apiservice);
  if (!obj.ok()) return false;
  const json::Value* conds = json::FindPath(**obj, "status.conditions");
  if (!conds || !conds->IsArray()) return false;
  for (const auto& c : conds->GetArray()) {
    if (json::GetString(c, "type") == "Available" && json::GetString(c, "status") == "True") {
      return true;
    }
  }
  return false;
}

std::string Label(const json::Value& obj, std::string_view key) {
  const json::Value* labels = json::FindPath(obj, "metadata.labels");
  return labels ? std::string(json::GetString(*labels, key)) : std::string();
}

// Items of a list, or the row objects of a Table.
std::vector<const json::Value*> Elements(const json::Value& doc) {
  std::vector<const json::Value*> out;
  if (const json::Value* items = json::Find(doc, "items"); items && items->IsArray()) {
    for (const auto& it : items->GetArray()) out.push_back(&it);
  }
  if (const json::Value* rows = json::Find(doc, "rows"); rows && rows->IsArray()) {
    for (const auto& r : rows->GetArray()) {
      const json::Value* obj = json::Find(r, "object");
      out.push_back(obj);
    }
  }
  return out;
}

asio::awaitable<bool> DeleteOnIoThread(kube::ResponseStream* p) {
  delete p;
  co_return true;
}

}  // namespace

const Api& ClaimApi() {
  static const Api api{"k8s.starter.org/v1alpha1", "k8s.starter.org",
                       "kubernetesclusters",       "KubernetesCluster",
                       naming::Kind::kClaim,       "v1alpha1.k8s.starter.org"};
  return api;
}

const Api& XRApi() {
  static const Api api{
      "platform.example.org/v1alpha1", "platform.example.org",         "apps", "App",
      naming::Kind::kNamespacedXR,     "v1alpha1.platform.example.org"};
  return api;
}

std::string Path(const Api& api, const std::string& ns, const std::string& name) {
  std::string p = "/apis/" + api.group_version;
  if (!ns.empty()) p += "/namespaces/" + ns;
  p += "/" + api.resource;
  if (!name.empty()) p += "/" + name;
  return p;
}

std::string PercentEncode(const std::string& s) { return kube::http::PercentEncode(s); }

std::string ObjectJson(const Api& api, const std::string& name, const std::string& marker,
                       const std::string& secret) {
  std::string head = R"({"apiVersion":")" + api.group_version + R"(","kind":")" + api.kind +
                     R"(","metadata":{"name":")" + name + R"(","labels":{"origin":")" + marker +
                     R"("}},)";
  if (api.naming_kind == naming::Kind::kNamespacedXR) {
    return head + R"("spec":{"image":"image-)" + marker + R"("}})";
  }
  std::string spec = R"("spec":{"parameters":{"version":"1.30","nodeCount":3})";
  if (!secret.empty()) spec += R"(,"writeConnectionSecretToRef":{"name":")" + secret + R"("})";
  return head + spec + "}}";
}

std::optional<json::Document> Response::Json() const {
  auto d = json::Parse(body);
  if (!d) return std::nullopt;
  return std::move(*d);
}

std::vector<std::string> Response::Names() const {
  std::vector<std::string> out;
  auto d = Json();
  if (!d) return {"<unparsable>"};
  for (const json::Value* e : Elements(*d)) {
    const json::Value* md = e ? json::Find(*e, "metadata") : nullptr;
    out.push_back(md ? std::string(json::GetString(*md, "name")) : "<no object>");
  }
  return out;
}

std::vector<std::string> Response::Origins() const {
  std::vector<std::string> out;
  auto d = Json();
  if (!d) return {"<unparsable>"};
  for (const json::Value* e : Elements(*d)) {
    std::string o = e ? Label(*e, "origin") : "";
    out.push_back(o.empty() ? "<none>" : o);
  }
  return out;
}

std::string CpObject::Describe() const {
  return name + "@" + resource_version + " [" + cluster + " " + app_namespace + "/" + app_name +
         " origin=" + origin + "]";
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

Env::Env() : work_(asio::make_work_guard(ioc_)) { std::signal(SIGPIPE, SIG_IGN); }

Env::~Env() {
  for (auto& s : sides_) {
    if (s->connector) s->connector->Shutdown();
    s->connector.reset();
    s->client.reset();
  }
  work_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
  for (auto& s : sides_) s->app.reset();
  cp.reset();
  if (!dir.empty() && std::getenv("MCP_KEEP_TMP") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}

void Env::Start() {
  FLAGS_logtostderr = true;
  std::string tmpl = (fs::temp_directory_path() / "mcp-multicluster-XXXXXX").string();
  dir = mkdtemp(tmpl.data());
  std::string fixtures = FixturesDir();
  ASSERT_FALSE(fixtures.empty()) << "Crossplane fixtures not found";
  thread_ = std::thread([this] { ioc_.run(); });

  fakekube::FakeKubeOptions cpo;
  cpo.fixtures_dir = fixtures;
  cp = std::make_unique<fakekube::FakeKube>(cpo);
  ASSERT_TRUE(cp->Start().ok());
  ASSERT_TRUE(
      cp->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + kClaimNamespace + "}\n")
          .ok());
  ASSERT_TRUE(cp->WriteKubeconfig(dir + "/cp.kubeconfig").ok());

  for (const auto& [marker, id] :
       {std::pair{"cluster-a", kClusterA}, std::pair{"cluster-b", kClusterB}}) {
    auto s = std::make_unique<Side>();
    s->marker = marker;
    s->cluster_id = id;
    sides_.push_back(std::move(s));
    StartSide(*sides_.back());
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (auto& s : sides_) {
    for (const Api* api : {&ClaimApi(), &XRApi()}) {
      ASSERT_TRUE(Eventually(
          [&] {
            s->app->CheckAPIServicesNow();
            return Available(*s->app, api->apiservice);
          },
          30s, s->marker + ": APIService " + api->apiservice + " Available"));
    }
  }
}

void Env::StartSide(Side& s) {
  fakekube::FakeKubeOptions appo;
  appo.aggregator = true;
  appo.availability_interval = 500ms;
  s.app = std::make_unique<fakekube::FakeKube>(appo);
  ASSERT_TRUE(s.app->Start().ok());
  s.kubeconfig = dir + "/" + s.marker + ".kubeconfig";
  ASSERT_TRUE(s.app->WriteKubeconfig(s.kubeconfig).ok());
  for (const char* ns : {"team-a", "team-b"}) {
    ASSERT_TRUE(
        s.app->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + std::string(ns) + "}\n")
            .ok());
  }

  apiserver::Options o;
  o.bind_address = "127.0.0.1";
  o.secure_port = 0;
  o.cert_dir = dir + "/" + s.marker + "-certs";
  o.kubeconfig = s.kubeconfig;
  o.control_plane_kubeconfig = dir + "/cp.kubeconfig";
  o.cluster_id = s.cluster_id;
  o.claim_namespace = kClaimNamespace;
  o.service_namespace = "kube-system";
  o.service_name = "mcp-connector";
  o.leader_election = false;
  o.request_timeout = 20s;
  o.shutdown_grace_period = 2s;
  s.connector = std::make_unique<apiserver::ConnectorServer>(o);
  auto port = s.connector->Start();
  ASSERT_TRUE(port.ok()) << port.error().message;

  // The Service the APIServices point at, with this connector as its endpoint.
  ASSERT_TRUE(s.app
                  ->Apply("apiVersion: v1\nkind: Service\nmetadata: {name: mcp-connector, "
                          "namespace: kube-system}\nspec:\n  ports: [{name: https, port: 443, "
                          "targetPort: 8443}]\n")
                  .ok());
  ASSERT_TRUE(s.app
                  ->Apply("apiVersion: v1\nkind: Endpoints\nmetadata: {name: mcp-connector, "
                          "namespace: kube-system}\nsubsets:\n- addresses: [{ip: 127.0.0.1}]\n"
                          "  ports: [{name: https, port: " +
                          std::to_string(*port) + "}]\n")
                  .ok());
  auto client = kube::RestClient::Create(ioc_.get_executor(), s.app->AdminConfig());
  ASSERT_TRUE(client.ok());
  s.client = *client;
}

Response Env::Do(Side& s, const std::string& method, const std::string& path,
                 const std::string& body, const std::string& content_type,
                 const std::string& accept) {
  kube::RestRequest r;
  r.method = method;
  r.path = path;
  r.body = body;
  if (!body.empty()) r.headers.Set("Content-Type", content_type);
  r.headers.Set("Accept", accept);
  auto resp = Run(s.client->Do(std::move(r)));
  Response out;
  if (!resp.ok()) {
    out.body = resp.error().message;
    return out;
  }
  out.status = resp->status;
  out.body = std::move(resp->body);
  out.headers = std::move(resp->headers);
  return out;
}

Response Env::Watch(Side& s, const std::string& path, const std::function<void()>& during) {
  kube::RestRequest r;
  r.path = path;
  r.headers.Set("Accept", "application/json");
  auto stream = Run(s.client->Stream(std::move(r)));
  Response out;
  if (!stream.ok()) {
    out.body = stream.error().message;
    return out;
  }
  out.status = (*stream)->status();
  out.headers = (*stream)->headers();
  if (during) during();
  auto all = Run((*stream)->ReadAll(16 << 20));
  out.body = all.ok() ? *all : "<read failed: " + all.error().message + ">";
  auto* raw = stream->release();
  // Destroyed on the io thread (it owns a connection bound to it).
  Run(DeleteOnIoThread(raw));
  return out;
}

Response Env::CpDo(const std::string& method, const std::string& path, const std::string& body,
                   const std::string& content_type) {
  auto r = cp->Do(method, path, body, content_type);
  Response out;
  out.status = r.status;
  out.body = std::move(r.body);
  out.headers = std::move(r.headers);
  return out;
}

std::map<std::string, CpObject> Env::CpObjects(const Api& api) {
  std::map<std::string, CpObject> out;
  auto r = cp->Do("GET", Path(api, kClaimNamespace));
  EXPECT_EQ(r.status, 200) << r.body;
  auto doc = json::Parse(r.body);
  if (!doc) return out;
  const json::Value* items = json::Find(*doc, "items");
  if (!items || !items->IsArray()) return out;
  for (const auto& it : items->GetArray()) {
    const json::Value* md = json::Find(it, "metadata");
    CpObject o;
    o.name = json::GetString(*md, "name");
    o.resource_version = json::GetString(*md, "resourceVersion");
    o.uid = json::GetString(*md, "uid");
    o.cluster = Label(it, naming::kLabelAppCluster);
    o.app_namespace = Label(it, naming::kLabelAppNamespace);
    o.app_name = Label(it, naming::kLabelAppResourceName);
    o.origin = Label(it, "origin");
    out[o.name] = o;
  }
  return out;
}

std::map<std::string, CpObject> Env::CpObjectsOf(const Api& api, const std::string& cluster_id) {
  std::map<std::string, CpObject> out;
  for (auto& [k, v] : CpObjects(api)) {
    if (v.cluster == cluster_id) out[k] = v;
  }
  return out;
}

std::string Env::CpName(const Api& api, const Side& s, const std::string& ns,
                        const std::string& name) {
  return naming::ControlPlaneName(api.naming_kind, name, ns, s.cluster_id);
}

fakekube::Object Env::AppSecret(Side& s, const std::string& ns, const std::string& name) {
  auto r = s.app->Get("", "secrets", ns, name);
  return r.ok() ? *r : nullptr;
}

std::vector<fakekube::RecordedRequest> Env::AppSecretWrites(Side& s) {
  return s.app->Requests([](const fakekube::RecordedRequest& q) {
    return q.method != "GET" && q.method != "HEAD" && !q.method.empty() && q.resource == "secrets";
  });
}

}  // namespace multicluster

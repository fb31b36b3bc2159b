// fakekube's namespace controller (kube's pkg/controller/namespace/deletion): a namespace's
// DELETE marks it Terminating; the controller deletes its content (local resources and
// aggregated ones through the aggregator's proxy), keeps kube's conditions, and deletes the
// namespace once nothing is left. An unavailable backend keeps the namespace Terminating with
// NamespaceDeletionDiscoveryFailure, like kube.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "kube/discovery_docs.h"
#include "kube/http_server.h"
#include "kube/json.h"
#include "kube/tls.h"
#include "tests/fakekube/server.h"
#include "tests/fakekube/testing/fakekube_testing.h"

namespace fakekube {
namespace {

namespace asio = boost::asio;
namespace json = kube::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string Base64(std::string_view in) {
  static constexpr char kT[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kT[(buf >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kT[(buf << (6 - bits)) & 63]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

// An aggregated API server in miniature: namespaced `gizmos` in demo.example.org/v1, kept in
// memory, with list, delete and (optionally) deletecollection.
class GizmoBackend {
 public:
  GizmoBackend(std::string front_proxy_ca, bool deletecollection)
      : front_proxy_ca_(std::move(front_proxy_ca)), deletecollection_(deletecollection) {
    ca_ = kube::tls::GenerateCA("gizmo-ca").value();
    kube::tls::CertificateSpec spec;
    spec.common_name = "gizmos";
    spec.dns_names = {"gizmos.default.svc"};
    auto pair = kube::tls::GenerateSigned(ca_, spec).value();
    auto cred = kube::tls::ServerCredential::FromPem(pair.cert_pem, pair.key_pem).value();
    kube::http::ServerOptions o;
    o.bind_address = "127.0.0.1";
    o.tls = cred;
    server_ = std::make_unique<kube::http::Server>(
        o,
        [this](kube::http::Request& req, kube::http::ResponseWriter& w) { return Serve(req, w); });
    port_ = server_->Start().value();
  }
  ~GizmoBackend() { server_->Shutdown(std::chrono::milliseconds(200)); }

  uint16_t port() const { return port_; }
  const std::string& ca_pem() const { return ca_.cert_pem; }
  std::atomic<bool> down{false};  // discovery and everything else answer 503

  void Add(const std::string& ns, const std::string& name) {
    std::lock_guard lock(mu_);
    items_[ns].insert(name);
  }
  size_t Count(const std::string& ns) {
    std::lock_guard lock(mu_);
    return items_[ns].size();
  }
  // "<method> <path> <X-Remote-User>" of every request after the front-proxy check.
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  // Serve computes the answer in a plain function: g++ 12 mishandles temporaries inside
  // co_await expressions.
  asio::awaitable<void> Serve(kube::http::Request& req, kube::http::ResponseWriter& w) {
    std::pair<int, std::string> answer = Answer(req);
    kube::http::Headers h;
    h.Add("Content-Type", "application/json");
    co_await w.Send(answer.first, std::move(h), answer.second);
  }

  std::pair<int, std::string> Answer(const kube::http::Request& req) {
    auto peer = kube::tls::VerifyClientCertificate(req.peer_certificates_der, front_proxy_ca_);
    if (!peer.ok() || peer->common_name != "front-proxy-client") {
      return {401, kube::NewUnauthorized("Unauthorized").ToJson()};
    }
    std::string user(req.headers.Get("X-Remote-User").value_or(""));
    std::lock_guard lock(mu_);
    seen_.push_back(req.method + " " + req.path + " " + user);
    if (down) return {503, kube::NewServiceUnavailable("backend down").ToJson()};
    const std::string prefix = "/apis/demo.example.org/v1";
    const kube::GroupResource gizmos{"demo.example.org", "gizmos"};
    if (req.path == prefix) {
      kube::APIResource r;
      r.group = "demo.example.org";
      r.version = "v1";
      r.resource = "gizmos";
      r.singular = "gizmo";
      r.kind = "Gizmo";
      r.list_kind = "GizmoList";
      r.verbs = {"get", "list", "watch", "create", "delete"};
      if (deletecollection_) r.verbs.push_back("deletecollection");
      std::vector<kube::APIResource> rs{r};
      return {200, kube::discovery::RenderAPIResourceList("demo.example.org", "v1", rs)};
    }
    // /apis/demo.example.org/v1/namespaces/<ns>/gizmos[/<name>]
    std::string_view p = req.path;
    if (!p.starts_with(prefix + "/namespaces/")) return {404, kube::NewNotFound({}, "").ToJson()};
    p.remove_prefix(prefix.size() + 12);
    std::string ns(p.substr(0, p.find('/')));
    p.remove_prefix(std::min(p.size(), ns.size() + 1));
    std::string name;
    if (p.starts_with("gizmos/")) name = std::string(p.substr(7));
    auto& set = items_[ns];
    if (req.method == "GET" && name.empty()) {
      std::string items;
      for (const auto& n : set) {
        if (!items.empty()) items += ",";
        items += R"({"apiVersion":"demo.example.org/v1","kind":"Gizmo","metadata":{"name":")" + n +
                 R"(","namespace":")" + ns + R"("}})";
      }
      return {200, R"({"apiVersion":"demo.example.org/v1","kind":"GizmoList",)"
                   R"("metadata":{"resourceVersion":"1"},"items":[)" +
                       items + "]}"};
    }
    if (req.method == "DELETE" && name.empty()) {
      if (!deletecollection_) {
        return {405, kube::NewMethodNotSupported(gizmos, "deletecollection").ToJson()};
      }
      set.clear();
      return {200, R"({"apiVersion":"demo.example.org/v1","kind":"GizmoList",)"
                   R"("metadata":{},"items":[]})"};
    }
    if (req.method == "DELETE") {
      if (set.erase(name) == 0) return {404, kube::NewNotFound(gizmos, name).ToJson()};
      return {200, R"({"kind":"Status","apiVersion":"v1","status":"Success"})"};
    }
    return {405, kube::NewMethodNotSupported(gizmos, req.method).ToJson()};
  }

  std::string front_proxy_ca_;
  bool deletecollection_;
  kube::tls::KeyPair ca_;
  std::unique_ptr<kube::http::Server> server_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::map<std::string, std::set<std::string>> items_;
  std::vector<std::string> seen_;
};

std::string Condition(const FakeKube& kube, const std::string& ns, const std::string& type,
                      const std::string& field) {
  auto obj = const_cast<FakeKube&>(kube).Get("", "namespaces", "", ns);
  if (!obj.ok()) return "<namespace gone>";
  const json::Value* conds = json::FindPath(**obj, "status.conditions");
  if (conds == nullptr || !conds->IsArray()) return "<no conditions>";
  for (const auto& c : conds->GetArray()) {
    if (json::GetString(c, "type") == type) return std::string(json::GetString(c, field));
  }
  return "<no " + type + ">";
}

class NamespaceControllerTest : public ::testing::Test {
 protected:
  void StartKube() {
    FakeKubeOptions o;
    o.aggregator = true;
    o.availability_interval = 200ms;
    o.namespace_controller_options.retry_initial = 50ms;
    o.namespace_controller_options.retry_max = 300ms;
    o.namespace_controller_options.content_remaining_requeue = 200ms;
    // A policy that allows nothing but the admin: the controller's built-in role must suffice.
    o.policy = Policy{};
    kube_ = std::make_unique<FakeKube>(o);
    auto r = kube_->Start();
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  void AddBackend(bool deletecollection) {
    backend_ = std::make_unique<GizmoBackend>(kube_->front_proxy_ca_pem(), deletecollection);
    std::string p = std::to_string(backend_->port());
    auto r = kube_->Apply(R"(apiVersion: v1
kind: Service
metadata: {name: gizmos, namespace: default}
spec:
  ports: [{name: https, port: 443, targetPort: )" +
                          p + R"(}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: gizmos, namespace: default}
subsets:
- addresses: [{ip: 127.0.0.1}]
  ports: [{name: https, port: )" +
                          p + R"(}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.demo.example.org}
spec:
  group: demo.example.org
  version: v1
  service: {namespace: default, name: gizmos, port: 443}
  caBundle: )" + Base64(backend_->ca_pem()) +
                          R"(
  groupPriorityMinimum: 1000
  versionPriority: 15
)");
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "",
                                          "v1.demo.example.org", "Available", "True"));
  }

  void CreateNamespace(const std::string& ns) {
    ASSERT_TRUE(
        kube_->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n").ok());
  }

  ::testing::AssertionResult NamespaceGone(const std::string& ns,
                                           std::chrono::milliseconds t = 10s) {
    return testing::WaitForObject(
        *kube_, "", "namespaces", "", ns, [](const json::Value* o) { return o == nullptr; },
        "namespace " + ns + " deleted", t);
  }

  std::unique_ptr<FakeKube> kube_;
  std::unique_ptr<GizmoBackend> backend_;
};

TEST_F(NamespaceControllerTest, DeletesLocalContentThenTheNamespace) {
  StartKube();
  CreateNamespace("tmp");
  CreateNamespace("keep");
  ASSERT_TRUE(kube_
                  ->Apply(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: tmp}
---
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: tmp}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: keep}
)")
                  .ok());
  kube_->ClearRequests();
  auto d = kube_->Do("DELETE", "/api/v1/namespaces/tmp");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_THAT(d.body, HasSubstr(R"("phase":"Terminating")"));
  EXPECT_TRUE(NamespaceGone("tmp"));
  EXPECT_FALSE(kube_->Get("", "configmaps", "tmp", "a").ok());
  EXPECT_FALSE(kube_->Get("", "secrets", "tmp", "s").ok());
  EXPECT_TRUE(kube_->Get("", "configmaps", "keep", "b").ok());
  EXPECT_TRUE(kube_->Get("", "namespaces", "", "keep").ok());
  // As kube's controller: deletecollection per resource, the finalize subresource, then the
  // namespace's DELETE, all as the namespace controller.
  std::set<std::string> seen;
  for (const auto& r : kube_->Requests()) {
    if (r.user != kNamespaceControllerUser) continue;
    seen.insert(r.verb + " " + r.path);
    EXPECT_NE(r.status, 403) << r.path;
  }
  EXPECT_TRUE(seen.count("deletecollection /api/v1/namespaces/tmp/configmaps"));
  EXPECT_TRUE(seen.count("deletecollection /api/v1/namespaces/tmp/secrets"));
  EXPECT_TRUE(seen.count("list /api/v1/namespaces/tmp/configmaps"));
  EXPECT_TRUE(seen.count("update /api/v1/namespaces/tmp/finalize"));
  EXPECT_FALSE(seen.count("deletecollection /api/v1/namespaces/keep/configmaps"));
}

TEST_F(NamespaceControllerTest, ContentWithFinalizersKeepsItTerminatingWithConditions) {
  StartKube();
  CreateNamespace("held");
  ASSERT_TRUE(kube_
                  ->Apply(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: pinned, namespace: held, finalizers: [example.com/hold]}
)")
                  .ok());
  ASSERT_EQ(kube_->Do("DELETE", "/api/v1/namespaces/held").status, 200);
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "", "namespaces", "", "held",
                                        "NamespaceContentRemaining", "True"));
  EXPECT_EQ(Condition(*kube_, "held", "NamespaceContentRemaining", "reason"),
            "SomeResourcesRemain");
  EXPECT_EQ(Condition(*kube_, "held", "NamespaceContentRemaining", "message"),
            "Some resources are remaining: configmaps. has 1 resource instances");
  EXPECT_EQ(Condition(*kube_, "held", "NamespaceFinalizersRemaining", "message"),
            "Some finalizers are remaining: example.com/hold in 1 resource instances");
  EXPECT_EQ(Condition(*kube_, "held", "NamespaceDeletionDiscoveryFailure", "status"), "False");
  EXPECT_EQ(Condition(*kube_, "held", "NamespaceDeletionDiscoveryFailure", "reason"),
            "ResourcesDiscovered");
  EXPECT_EQ(Condition(*kube_, "held", "NamespaceDeletionContentFailure", "status"), "False");
  auto ns = kube_->Get("", "namespaces", "", "held");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(json::GetString(*json::Find(**ns, "status"), "phase"), "Terminating");
  // The configmap is marked, not gone; `kubectl get` style reads still work.
  auto cm = kube_->Do("GET", "/api/v1/namespaces/held/configmaps/pinned");
  EXPECT_EQ(cm.status, 200);
  EXPECT_THAT(cm.body, HasSubstr("deletionTimestamp"));
  // Its owner lets go: the namespace finishes.
  auto patch = kube_->Do("PATCH", "/api/v1/namespaces/held/configmaps/pinned",
                         R"({"metadata":{"finalizers":null}})", "application/merge-patch+json");
  ASSERT_EQ(patch.status, 200) << patch.body;
  EXPECT_TRUE(NamespaceGone("held"));
}

TEST_F(NamespaceControllerTest, AggregatedContentIsDeletedThroughTheAggregator) {
  StartKube();
  AddBackend(/*deletecollection=*/true);
  CreateNamespace("apps");
  backend_->Add("apps", "g1");
  backend_->Add("apps", "g2");
  backend_->Add("other", "g3");
  ASSERT_EQ(kube_->Do("DELETE", "/api/v1/namespaces/apps").status, 200);
  EXPECT_TRUE(NamespaceGone("apps"));
  EXPECT_EQ(backend_->Count("apps"), 0u);
  EXPECT_EQ(backend_->Count("other"), 1u);
  std::string user(kNamespaceControllerUser);
  auto seen = backend_->seen();
  EXPECT_THAT(seen, ::testing::Contains("GET /apis/demo.example.org/v1 " + user));
  EXPECT_THAT(
      seen, ::testing::Contains("DELETE /apis/demo.example.org/v1/namespaces/apps/gizmos " + user));
}

TEST_F(NamespaceControllerTest, WithoutDeleteCollectionItListsAndDeletesEachItem) {
  StartKube();
  AddBackend(/*deletecollection=*/false);
  CreateNamespace("apps");
  backend_->Add("apps", "g1");
  backend_->Add("apps", "g2");
  ASSERT_EQ(kube_->Do("DELETE", "/api/v1/namespaces/apps").status, 200);
  EXPECT_TRUE(NamespaceGone("apps"));
  EXPECT_EQ(backend_->Count("apps"), 0u);
  std::string user(kNamespaceControllerUser);
  auto seen = backend_->seen();
  EXPECT_THAT(seen, ::testing::Contains(
                        "DELETE /apis/demo.example.org/v1/namespaces/apps/gizmos/g1 " + user));
  EXPECT_THAT(seen, ::testing::Contains(
                        "DELETE /apis/demo.example.org/v1/namespaces/apps/gizmos/g2 " + user));
  EXPECT_THAT(seen, ::testing::Not(::testing::Contains(
                        "DELETE /apis/demo.example.org/v1/namespaces/apps/gizmos " + user)));
}

TEST_F(NamespaceControllerTest, UnavailableBackendKeepsItTerminatingUntilItIsBack) {
  StartKube();
  AddBackend(/*deletecollection=*/true);
  CreateNamespace("apps");
  ASSERT_TRUE(
      kube_->Apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: local, namespace: apps}\n")
          .ok());
  backend_->Add("apps", "g1");
  backend_->down = true;
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "",
                                        "v1.demo.example.org", "Available", "False"));
  ASSERT_EQ(kube_->Do("DELETE", "/api/v1/namespaces/apps").status, 200);
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "", "namespaces", "", "apps",
                                        "NamespaceDeletionDiscoveryFailure", "True"));
  EXPECT_EQ(Condition(*kube_, "apps", "NamespaceDeletionDiscoveryFailure", "reason"),
            "DiscoveryFailed");
  EXPECT_EQ(Condition(*kube_, "apps", "NamespaceDeletionDiscoveryFailure", "message"),
            "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of "
            "server APIs: demo.example.org/v1: the server is currently unable to handle the "
            "request");
  // What could be deleted is deleted; the namespace waits (kube keeps retrying).
  EXPECT_TRUE(testing::WaitForObject(
      *kube_, "", "configmaps", "apps", "local", [](const json::Value* o) { return o == nullptr; },
      "local content deleted"));
  std::this_thread::sleep_for(1s);
  auto ns = kube_->Get("", "namespaces", "", "apps");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(json::GetString(*json::Find(**ns, "status"), "phase"), "Terminating");
  EXPECT_EQ(backend_->Count("apps"), 1u);
  // New content is refused meanwhile.
  auto late = kube_->Do("POST", "/api/v1/namespaces/apps/configmaps",
                        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late"}})");
  EXPECT_EQ(late.status, 403);
  EXPECT_THAT(late.body, HasSubstr("unable to create new content in namespace apps because it is "
                                   "being terminated"));

  backend_->down = false;
  EXPECT_TRUE(NamespaceGone("apps", 20s));
  EXPECT_EQ(backend_->Count("apps"), 0u);
}

TEST_F(NamespaceControllerTest, DisabledControllerLeavesNamespacesTerminating) {
  FakeKubeOptions o;
  o.namespace_controller = false;
  kube_ = std::make_unique<FakeKube>(o);
  ASSERT_TRUE(kube_->Start().ok());
  EXPECT_EQ(kube_->namespace_controller(), nullptr);
  CreateNamespace("stuck");
  ASSERT_EQ(kube_->Do("DELETE", "/api/v1/namespaces/stuck").status, 200);
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(kube_->Get("", "namespaces", "", "stuck").ok());
}

}  // namespace
}  // namespace fakekube

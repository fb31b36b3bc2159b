// The aggregator role against a tiny in-test backend behind an APIService: availability,
// routing with the front-proxy certificate and X-Remote-* headers, streaming, 503 when
// unavailable, and merged discovery/OpenAPI for kubectl (api-resources, get claim -A, explain).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "kube/discovery_docs.h"
#include "kube/http_server.h"
#include "kube/openapi_docs.h"
#include "kube/rest_client.h"
#include "tests/fakekube/server.h"
#include "tests/fakekube/testing/fakekube_testing.h"

namespace fakekube {
namespace {

namespace asio = boost::asio;
using ::testing::HasSubstr;

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

kube::APIResource Gizmo() {
  kube::APIResource r;
  r.group = "demo.example.org";
  r.version = "v1";
  r.resource = "gizmos";
  r.singular = "gizmo";
  r.kind = "Gizmo";
  r.list_kind = "GizmoList";
  r.verbs = {"get", "list", "watch", "create", "delete"};
  r.categories = {"claim"};
  auto schema = std::make_shared<kube::json::Document>();
  schema->Parse(R"({"type":"object","properties":{"spec":{"type":"object","properties":{)"
                R"("color":{"type":"string","description":"The gizmo's color."}}}}})");
  r.schema = schema;
  return r;
}

constexpr std::string_view kGizmo =
    R"({"apiVersion":"demo.example.org/v1","kind":"Gizmo","metadata":{"name":"g1",)"
    R"("namespace":"default","resourceVersion":"7","creationTimestamp":"2024-01-01T00:00:00Z"},)"
    R"("spec":{"color":"blue"}})";

// An extension API server in miniature.
class Backend {
 public:
  explicit Backend(std::string front_proxy_ca) : front_proxy_ca_(std::move(front_proxy_ca)) {
    ca_ = kube::tls::GenerateCA("backend-ca").value();
    kube::tls::CertificateSpec spec;
    spec.common_name = "backend";
    spec.dns_names = {"backend.default.svc"};
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
  ~Backend() { server_->Shutdown(std::chrono::milliseconds(200)); }

  uint16_t port() const { return port_; }
  const std::string& ca_pem() const { return ca_.cert_pem; }
  std::atomic<bool> fail_discovery{false};

  struct Seen {
    std::string path, user, authorization, audit_id, remote_extra;
    std::vector<std::string> groups;
    bool front_proxy_verified = false;
  };
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  asio::awaitable<void> Serve(kube::http::Request& req, kube::http::ResponseWriter& w) {
    Seen s;
    s.path = req.path;
    s.user = std::string(req.headers.Get("X-Remote-User").value_or(""));
    for (auto g : req.headers.GetAll("X-Remote-Group")) s.groups.emplace_back(g);
    s.authorization = std::string(req.headers.Get("Authorization").value_or(""));
    s.audit_id = std::string(req.headers.Get("Audit-ID").value_or(""));
    s.remote_extra = std::string(req.headers.Get("X-Remote-Extra-Scopes").value_or(""));
    auto peer = kube::tls::VerifyClientCertificate(req.peer_certificates_der, front_proxy_ca_);
    s.front_proxy_verified = peer.ok() && peer->common_name == "front-proxy-client";
    {
      std::lock_guard lock(mu_);
      seen_.push_back(s);
    }
    kube::http::Headers h;
    h.Add("Content-Type", "application/json");
    if (!s.front_proxy_verified) {
      co_await w.Send(401, h, kube::NewUnauthorized("Unauthorized").ToJson());
      co_return;
    }
    std::vector<kube::APIResource> rs;
    rs.push_back(Gizmo());
    if (req.path == "/apis/demo.example.org/v1") {
      if (fail_discovery) {
        co_await w.Send(503, h, kube::NewServiceUnavailable("backend down").ToJson());
      } else {
        co_await w.Send(200, h,
                        kube::discovery::RenderAPIResourceList("demo.example.org", "v1", rs));
      }
    } else if (req.path == "/openapi/v2") {
      co_await w.Send(200, h, kube::openapi::RenderV2(rs));
    } else if (req.path == "/openapi/v3") {
      std::string doc = kube::openapi::RenderV3("demo.example.org", "v1", rs);
      std::vector<std::pair<std::string, std::string>> entries;
      entries.emplace_back("apis/demo.example.org/v1", kube::discovery::Hash(doc));
      co_await w.Send(200, h, kube::openapi::RenderV3Index(entries));
    } else if (req.path == "/openapi/v3/apis/demo.example.org/v1") {
      co_await w.Send(200, h, kube::openapi::RenderV3("demo.example.org", "v1", rs));
    } else if (req.path.ends_with("/gizmos") && req.query.Get("watch")) {
      co_await w.WriteHeader(200, h, std::nullopt);
      co_await w.Write(R"({"type":"ADDED","object":)" + std::string(kGizmo) + "}\n");
      co_await w.WaitClosed();
    } else if (req.path.ends_with("/gizmos")) {
      co_await w.Send(200, h,
                      R"({"apiVersion":"demo.example.org/v1","kind":"GizmoList",)"
                      R"("metadata":{"resourceVersion":"7"},"items":[)" +
                          std::string(kGizmo) + "]}");
    } else {
      kube::GroupResource gr;
      gr.group = "demo.example.org";
      gr.resource = "gizmos";
      co_await w.Send(404, h, kube::NewNotFound(gr, "x").ToJson());
    }
  }

  std::string front_proxy_ca_;
  kube::tls::KeyPair ca_;
  std::unique_ptr<kube::http::Server> server_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

class AggregatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeKubeOptions o;
    o.aggregator = true;
    o.availability_interval = std::chrono::milliseconds(200);
    o.tokens = {{"alice-token", {"alice", "uid-a", {"devs"}, {}}}};
    kube_ = std::make_unique<FakeKube>(o);
    auto r = kube_->Start();
    ASSERT_TRUE(r.ok()) << r.error().message;
    backend_ = std::make_unique<Backend>(kube_->front_proxy_ca_pem());
    std::string p = std::to_string(backend_->port());
    ASSERT_TRUE(kube_
                    ->Apply(R"(apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  ports: [{name: https, port: 443, targetPort: )" +
                            p + R"(}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: backend, namespace: default}
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
  service: {namespace: default, name: backend, port: 443}
  caBundle: )" + Base64(backend_->ca_pem()) +
                            R"(
  groupPriorityMinimum: 1000
  versionPriority: 15
)")
                    .ok());
    kubeconfig_ = dir_.path() + "/kubeconfig";
    ASSERT_TRUE(kube_->WriteKubeconfig(kubeconfig_).ok());
  }

  testing::Kubectl kubectl() { return testing::Kubectl(kubeconfig_, dir_.path() + "/cache"); }

  testing::TempDir dir_;
  std::string kubeconfig_;
  std::unique_ptr<FakeKube> kube_;
  std::unique_ptr<Backend> backend_;
  testing::IoThread io_;
};

TEST_F(AggregatorTest, AvailableThenProxiesWithFrontProxyIdentity) {
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "",
                                        "v1.demo.example.org", "Available", "True"));
  auto obj = kube_->Get("apiregistration.k8s.io", "apiservices", "", "v1.demo.example.org");
  ASSERT_TRUE(obj.ok());
  EXPECT_THAT(kube::json::Serialize((**obj)["status"]),
              HasSubstr("\"reason\":\"Passed\",\"message\":\"all checks passed\""));
  // The availability check came as system:kube-aggregator / system:masters.
  bool checked = false;
  for (const auto& s : backend_->seen()) {
    if (s.path == "/apis/demo.example.org/v1" && s.user == "system:kube-aggregator" &&
        s.groups == std::vector<std::string>{"system:masters"} && s.front_proxy_verified) {
      checked = true;
    }
  }
  EXPECT_TRUE(checked);

  // A token user's request reaches the backend without Authorization, with X-Remote-*.
  auto client = kube::RestClient::Create(io_.executor(), kube_->TokenConfig("alice-token"));
  ASSERT_TRUE(client.ok());
  kube::RestRequest rr;
  rr.path = "/apis/demo.example.org/v1/namespaces/default/gizmos";
  rr.headers.Add("Audit-ID", "audit-123");
  auto cl = client.value();
  auto resp = io_.Run([&]() { return cl->Do(rr); });
  ASSERT_TRUE(resp.ok()) << resp.error().message;
  EXPECT_EQ(resp->status, 200) << resp->body;
  EXPECT_THAT(resp->body, HasSubstr("\"name\":\"g1\""));
  bool found = false;
  for (const auto& s : backend_->seen()) {
    if (s.path != rr.path) continue;
    found = true;
    EXPECT_EQ(s.user, "alice");
    EXPECT_EQ(s.groups, (std::vector<std::string>{"devs", "system:authenticated"}));
    EXPECT_EQ(s.authorization, "");
    EXPECT_EQ(s.audit_id, "audit-123");
    EXPECT_TRUE(s.front_proxy_verified);
  }
  EXPECT_TRUE(found);

  // Watches stream through.
  kube::RestRequest wr;
  wr.path = "/apis/demo.example.org/v1/namespaces/default/gizmos?watch=true";
  auto first = io_.Run([&]() -> asio::awaitable<kube::Result<std::string>> {
    auto s = co_await cl->Stream(wr);
    if (!s.ok()) co_return s.error();
    auto chunk = co_await s.value()->Read();
    if (!chunk.ok()) co_return chunk.error();
    co_return std::string(*chunk);
  });
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_THAT(*first, HasSubstr("\"type\":\"ADDED\""));
}

TEST_F(AggregatorTest, KubectlSeesAggregatedAPIs) {
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "",
                                        "v1.demo.example.org", "Available", "True"));
  kube_->CheckAPIServicesNow();  // discovery and OpenAPI of the backend are cached now
  auto r = kubectl().Run("api-resources --api-group=demo.example.org -o wide");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("gizmos"));
  EXPECT_THAT(r.output, HasSubstr("claim"));
  r = kubectl().Run("get claim -A");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("g1"));
  r = kubectl().Run("explain gizmos.spec");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("The gizmo's color."));
  r = kubectl().Run("get apiservice v1.demo.example.org");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("True"));
}

TEST_F(AggregatorTest, FailedDiscoveryCheckMakes503) {
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "",
                                        "v1.demo.example.org", "Available", "True"));
  backend_->fail_discovery = true;
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "",
                                        "v1.demo.example.org", "Available", "False"));
  auto obj = kube_->Get("apiregistration.k8s.io", "apiservices", "", "v1.demo.example.org");
  std::string status = kube::json::Serialize((**obj)["status"]);
  EXPECT_THAT(status, HasSubstr("\"reason\":\"FailedDiscoveryCheck\""));
  EXPECT_THAT(status, HasSubstr("bad status from https://127.0.0.1:"));
  EXPECT_THAT(status, HasSubstr("/apis/demo.example.org/v1: 503"));
  auto client = kube::RestClient::Create(io_.executor(), kube_->AdminConfig());
  ASSERT_TRUE(client.ok());
  kube::RestRequest rr;
  rr.path = "/apis/demo.example.org/v1/namespaces/default/gizmos";
  auto cl = client.value();
  auto resp = io_.Run([&]() { return cl->Do(rr); });
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 503);
  EXPECT_EQ(resp->body, "service unavailable\n");
  backend_->fail_discovery = false;
  EXPECT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "",
                                        "v1.demo.example.org", "Available", "True"));
}

TEST_F(AggregatorTest, MissingServiceIsReported) {
  ASSERT_TRUE(kube_
                  ->Apply(R"(apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.nowhere.example.org}
spec:
  group: nowhere.example.org
  version: v1
  service: {namespace: default, name: nowhere, port: 443}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 1000
  versionPriority: 15
)")
                  .ok());
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "",
                                        "v1.nowhere.example.org", "Available", "False"));
  auto obj = kube_->Get("apiregistration.k8s.io", "apiservices", "", "v1.nowhere.example.org");
  EXPECT_THAT(kube::json::Serialize((**obj)["status"]),
              HasSubstr("\"reason\":\"ServiceNotFound\",\"message\":\"service/nowhere in "
                        "\\\"default\\\" is not present\""));
}

TEST_F(AggregatorTest, AutoregistersLocalGroupVersions) {
  ASSERT_TRUE(testing::WaitForCondition(*kube_, "apiregistration.k8s.io", "apiservices", "", "v1.",
                                        "Available", "True"));
  auto core = kube_->Get("apiregistration.k8s.io", "apiservices", "", "v1.");
  ASSERT_TRUE(core.ok());
  EXPECT_EQ(kube::json::GetString((**core)["metadata"]["labels"],
                                  "kube-aggregator.kubernetes.io/automanaged"),
            "onstart");
  EXPECT_THAT(kube::json::Serialize((**core)["status"]),
              HasSubstr("\"reason\":\"Local\",\"message\":\"Local APIServices are always "
                        "available\""));
  ASSERT_TRUE(kube_
                  ->Apply(R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.x.example.org}
spec:
  group: x.example.org
  names: {kind: Thing, listKind: ThingList, plural: things, singular: thing}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true,
     schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
)")
                  .ok());
  ASSERT_TRUE(testing::WaitForObject(
      *kube_, "apiregistration.k8s.io", "apiservices", "", "v1.x.example.org",
      [](const kube::json::Value* o) {
        return o && kube::json::GetString((*o)["metadata"]["labels"],
                                          "kube-aggregator.kubernetes.io/automanaged") == "true";
      },
      "automanaged"));
  // The aggregated backend's group/version is not automanaged.
  auto backend = kube_->Get("apiregistration.k8s.io", "apiservices", "", "v1.demo.example.org");
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ(kube::json::FindPath(**backend, "metadata.labels"), nullptr);
  auto del = kube_->Do(
      "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.x.example.org");
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_TRUE(testing::WaitForObject(
      *kube_, "apiregistration.k8s.io", "apiservices", "", "v1.x.example.org",
      [](const kube::json::Value* o) { return o == nullptr; }, "deleted"));
}

}  // namespace
}  // namespace fakekube

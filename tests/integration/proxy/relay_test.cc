// End-to-end relay: a client -> kube::http::Server running proxy::Proxy -> fakekube as the
// control plane. Checks both sides: the control plane holds claim-<hash> in the claim namespace
// with the origin labels; the client sees original names, and never another cluster's objects.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "kube/http_server.h"
#include "kube/request_info.h"
#include "kube/rest_client.h"
#include "naming/naming.h"
#include "proxy/proxy.h"
#include "tests/fakekube/server.h"

namespace proxy {
namespace {

namespace asio = boost::asio;
namespace json = kube::json;
using ::testing::HasSubstr;
using ::testing::Not;

const char* kCluster = "00000000-0000-0000-0000-000000000000";
const char* kOther = "11111111-1111-1111-1111-111111111111";
const std::string kApi = "/apis/k8s.starter.org/v1alpha1";

std::string ReadFile(const std::string& rel) {
  const char* src = std::getenv("MCP_SOURCE_DIR");
  std::ifstream in(std::string(src ? src : "/work/main") + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

kube::APIResource Claims() {
  kube::APIResource r;
  r.group = "k8s.starter.org";
  r.version = "v1alpha1";
  r.resource = "kubernetesclusters";
  r.kind = "KubernetesCluster";
  r.list_kind = "KubernetesClusterList";
  r.printer_columns = {
      {"CONNECTION-SECRET", "string", "", "", ".spec.writeConnectionSecretToRef.name", 0}};
  return r;
}

std::string Cp(std::string_view name, std::string_view ns, const char* cluster = kCluster) {
  return naming::ControlPlaneName(naming::Kind::kClaim, name, ns, cluster);
}

// A claim as another connector (or the migration importer) stored it.
std::string StoredYaml(std::string_view name, std::string_view ns, const char* cluster,
                       std::string_view extra_annotations = "") {
  std::string y =
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n"
      "  name: " +
      Cp(name, ns, cluster) +
      "\n  namespace: claims\n  labels:\n"
      "    mcp-connector.upbound.io/app-cluster: \"" +
      cluster +
      "\"\n"
      "    mcp-connector.upbound.io/app-namespace: " +
      std::string(ns) +
      "\n"
      "    mcp-connector.upbound.io/app-resource-name: " +
      std::string(name) + "\n";
  if (!extra_annotations.empty()) y += "  annotations:\n" + std::string(extra_annotations);
  y += "spec:\n  id: " + std::string(name) +
       "\n  parameters:\n    nodeCount: 3\n"
       "  writeConnectionSecretToRef:\n    name: imported-secret\n";
  return y;
}

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cp_.Start().ok());
    ASSERT_TRUE(
        cp_.Apply(ReadFile("tests/unit/discovery/testdata/12-crd-kubernetesclusters.yaml")).ok());
    ASSERT_TRUE(cp_.Apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: claims\n").ok());
    thread_ = std::thread([this] { ctx_.run(); });

    auto cp_client = kube::RestClient::Create(ctx_.get_executor(), cp_.AdminConfig());
    ASSERT_TRUE(cp_client.ok());
    Config c;
    c.cluster_id = kCluster;
    c.claim_namespace = "claims";
    c.control_plane = *cp_client;
    c.request_timeout = std::chrono::seconds(5);
    proxy_ = std::make_unique<Proxy>(c);

    kube::http::ServerOptions opts;
    opts.bind_address = "127.0.0.1";
    server_ = std::make_unique<kube::http::Server>(
        opts,
        [this](kube::http::Request& req, kube::http::ResponseWriter& w) -> asio::awaitable<void> {
          auto info = kube::RequestInfoFactory().NewRequestInfo(req);
          if (!info.ok()) {
            co_await w.Send(500, {}, info.error().ToJson());
            co_return;
          }
          co_await proxy_->Serve(req, w, *info, resource_, Kind::kClaim);
        });
    auto port = server_->Start();
    ASSERT_TRUE(port.ok());
    kube::ClusterConfig app;
    app.server = "http://127.0.0.1:" + std::to_string(*port);
    auto client = kube::RestClient::Create(ctx_.get_executor(), app);
    ASSERT_TRUE(client.ok());
    client_ = *client;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
    server_.reset();
    client_.reset();
    proxy_.reset();
    work_.reset();
    ctx_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Runs `a` on the io thread and waits (results need not be default-constructible).
  template <class T>
  T Run(asio::awaitable<T> a) {
    auto fut = asio::co_spawn(
        ctx_,
        [a = std::move(a)]() mutable -> asio::awaitable<std::optional<T>> {
          co_return std::optional<T>(co_await std::move(a));
        },
        asio::use_future);
    return std::move(*fut.get());
  }

  kube::RestResponse Do(std::string method, std::string path, std::string body = {},
                        std::string content_type = "application/json",
                        std::string accept = "application/json") {
    kube::RestRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    if (!r.body.empty()) r.headers.Set("Content-Type", content_type);
    r.headers.Set("Accept", accept);
    auto resp = Run(client_->Do(std::move(r)));
    EXPECT_TRUE(resp.ok());
    return resp.ok() ? *resp : kube::RestResponse{};
  }

  const kube::json::Value* Stored(std::string_view cp_name) {
    auto obj = cp_.Get("k8s.starter.org", "kubernetesclusters", "claims", cp_name);
    if (!obj.ok()) return nullptr;
    held_ = *obj;
    return held_.get();
  }

  fakekube::FakeKube cp_{fakekube::FakeKubeOptions{}};
  asio::io_context ctx_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(ctx_)};
  std::thread thread_;
  kube::APIResource resource_ = Claims();
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<kube::http::Server> server_;
  std::shared_ptr<kube::RestClient> client_;
  fakekube::Object held_;
};

TEST_F(RelayTest, CreateGetListDeleteOnBothSides) {
  auto created = Do("POST", kApi + "/namespaces/test/kubernetesclusters",
                    R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster",
                        "metadata":{"name":"my-bucket","labels":{"team":"blue"}},
                        "spec":{"id":"x","parameters":{"nodeCount":3},"writeConnectionSecretToRef":{"name":"kc"}}})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto body = json::Parse(created.body);
  ASSERT_TRUE(body);
  EXPECT_EQ(json::GetString((*body)["metadata"], "name"), "my-bucket");
  EXPECT_EQ(json::GetString((*body)["metadata"], "namespace"), "test");
  EXPECT_THAT(created.body, Not(HasSubstr("mcp-connector")));

  // Control-plane side: claim-<hash> in the claim namespace with the origin labels.
  const json::Value* stored = Stored("claim-c603e518969b413e");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(json::GetString(*json::FindPath(*stored, "metadata.labels"),
                            "mcp-connector.upbound.io/app-cluster"),
            kCluster);
  EXPECT_EQ(json::GetString(*json::FindPath(*stored, "metadata.labels"), "team"), "blue");
  EXPECT_NE(json::GetString(*json::FindPath(*stored, "spec.writeConnectionSecretToRef"), "name"),
            "kc");

  auto got = Do("GET", kApi + "/namespaces/test/kubernetesclusters/my-bucket");
  ASSERT_EQ(got.status, 200) << got.body;
  auto g = json::Parse(got.body);
  EXPECT_EQ(json::GetString((*g)["spec"]["writeConnectionSecretToRef"], "name"), "kc");

  // Another cluster's object with the same app name and namespace shares the claim namespace.
  ASSERT_TRUE(cp_.Apply(StoredYaml("my-bucket", "test", kOther)).ok());
  auto list = Do("GET", kApi + "/kubernetesclusters?limit=500");
  ASSERT_EQ(list.status, 200) << list.body;
  auto l = json::Parse(list.body);
  ASSERT_TRUE(l) << list.body;
  ASSERT_EQ((*l)["items"].Size(), 1u);
  EXPECT_EQ(json::GetString((*l)["items"][0]["metadata"], "name"), "my-bucket");
  EXPECT_THAT(list.body, Not(HasSubstr(kOther)));

  auto table = Do("GET", kApi + "/namespaces/test/kubernetesclusters", {}, {},
                  "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
  ASSERT_EQ(table.status, 200) << table.body;
  auto t = json::Parse(table.body);
  ASSERT_TRUE(t) << table.body;
  ASSERT_EQ((*t)["rows"].Size(), 1u) << table.body;
  EXPECT_EQ(json::View((*t)["rows"][0]["cells"][0]), "my-bucket");
  EXPECT_THAT(table.body, Not(HasSubstr("claim-")));

  auto missing = Do("GET", kApi + "/namespaces/test/kubernetesclusters/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("\\\"nope\\\" not found"));

  auto del = Do("DELETE", kApi + "/namespaces/test/kubernetesclusters/my-bucket");
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(Stored("claim-c603e518969b413e"), nullptr);
  // The other cluster's object is untouched.
  EXPECT_NE(Stored(Cp("my-bucket", "test", kOther)), nullptr);
}

TEST_F(RelayTest, OtherClustersObjectsCannotBeTouched) {
  ASSERT_TRUE(cp_.Apply(StoredYaml("theirs", "test", kOther)).ok());
  // Same app coordinates from this cluster map to a different control-plane name: 404.
  EXPECT_EQ(Do("GET", kApi + "/namespaces/test/kubernetesclusters/theirs").status, 404);
  EXPECT_EQ(Do("PATCH", kApi + "/namespaces/test/kubernetesclusters/theirs",
               R"({"spec":{"id":"y"}})", "application/merge-patch+json")
                .status,
            404);
  EXPECT_EQ(Do("DELETE", kApi + "/namespaces/test/kubernetesclusters/theirs").status, 404);
  auto dc = Do("DELETE", kApi + "/namespaces/test/kubernetesclusters");
  EXPECT_EQ(dc.status, 200) << dc.body;
  auto hostile = Do("GET", kApi + "/kubernetesclusters?labelSelector=" +
                               kube::http::PercentEncode(
                                   std::string("mcp-connector.upbound.io/app-cluster=") + kOther));
  EXPECT_EQ(hostile.status, 400);
  EXPECT_NE(Stored(Cp("theirs", "test", kOther)), nullptr);
}

TEST_F(RelayTest, MigrationImportedClaimsRoundTrip) {
  ASSERT_TRUE(
      cp_.Apply(StoredYaml("example", "default", kCluster, "    crossplane.io/paused: \"true\"\n"))
          .ok());
  auto got = Do("GET", kApi + "/namespaces/default/kubernetesclusters/example");
  ASSERT_EQ(got.status, 200) << got.body;
  auto g = json::Parse(got.body);
  EXPECT_EQ(json::GetString((*g)["metadata"], "name"), "example");
  EXPECT_EQ(json::GetString((*g)["spec"]["writeConnectionSecretToRef"], "name"), "imported-secret");

  auto patched = Do("PATCH", kApi + "/namespaces/default/kubernetesclusters/example",
                    R"({"metadata":{"labels":{"team":"red"}}})", "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  const json::Value* stored = Stored(Cp("example", "default"));
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(json::GetString(*json::FindPath(*stored, "metadata.labels"), "team"), "red");
  EXPECT_EQ(
      json::GetString(*json::FindPath(*stored, "metadata.annotations"), "crossplane.io/paused"),
      "true");
  EXPECT_EQ(json::FindPath(*stored, "spec.parameters.nodeCount")->GetInt(), 3);
  EXPECT_EQ(json::GetString(*json::FindPath(*stored, "spec"), "id"), "example");
}

TEST_F(RelayTest, WatchDeliversTranslatedEvents) {
  ASSERT_TRUE(cp_.Apply(StoredYaml("w1", "test", kCluster)).ok());
  ASSERT_TRUE(cp_.Apply(StoredYaml("w2", "test", kOther)).ok());
  kube::RestRequest r;
  r.path = kApi + "/namespaces/test/kubernetesclusters?watch=1&timeoutSeconds=1";
  auto stream = Run(client_->Stream(std::move(r)));
  ASSERT_TRUE(stream.ok());
  ASSERT_EQ((*stream)->status(), 200);
  auto all = Run((*stream)->ReadAll(1 << 20));
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, HasSubstr("\"name\":\"w1\""));
  EXPECT_THAT(*all, Not(HasSubstr("w2")));
  EXPECT_THAT(*all, Not(HasSubstr("claim-")));
}

}  // namespace
}  // namespace proxy

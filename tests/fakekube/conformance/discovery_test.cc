// Discovery (legacy and aggregated v2 with ETag/304), OpenAPI v2/v3, and the in-process test
// API: recording, seeding, waits and fault injection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/discovery_docs.h"
#include "kube/rest_client.h"
#include "tests/fakekube/server.h"
#include "tests/fakekube/testing/fakekube_testing.h"

namespace fakekube {
namespace {

using ::testing::HasSubstr;

const std::string kFixtures = std::string(FAKEKUBE_TESTDATA) + "/crossplane";
constexpr std::string_view kV2Accept =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeKubeOptions o;
    o.fixtures_dir = kFixtures;
    kube_ = std::make_unique<FakeKube>(o);
    auto r = kube_->Start();
    ASSERT_TRUE(r.ok()) << r.error().message;
    auto c = kube::RestClient::Create(io_.executor(), kube_->AdminConfig());
    ASSERT_TRUE(c.ok());
    client_ = c.value();
  }

  kube::Result<kube::RestResponse> Get(std::string path, std::string accept = "application/json",
                                       std::string if_none_match = "") {
    kube::RestRequest rr;
    rr.path = std::move(path);
    rr.headers.Add("Accept", accept);
    if (!if_none_match.empty()) rr.headers.Add("If-None-Match", if_none_match);
    return io_.Run([&]() { return client_->Do(rr); });
  }

  testing::IoThread io_;
  std::unique_ptr<FakeKube> kube_;
  std::shared_ptr<kube::RestClient> client_;
};

TEST_F(ServerTest, AggregatedDiscoveryWithETagAnd304) {
  auto r = Get("/apis", std::string(kV2Accept));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.Get("Content-Type").value_or(""),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  std::string etag(r->headers.Get("ETag").value_or(""));
  ASSERT_EQ(etag.size(), 130u);
  EXPECT_EQ(etag, "\"" + kube::discovery::Hash(r->body) + "\"");
  EXPECT_THAT(r->body, HasSubstr("\"resource\":\"kubernetesclusters\""));
  EXPECT_THAT(r->body, HasSubstr("\"categories\":[\"claim\"]"));
  auto again = Get("/apis", std::string(kV2Accept), etag);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 304);
  EXPECT_EQ(again->body, "");
  // A new CRD changes the document and its ETag.
  ASSERT_TRUE(kube_
                  ->Apply(R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.x.example.org}
spec:
  group: x.example.org
  names: {kind: Thing, listKind: ThingList, plural: things, singular: thing}
  scope: Cluster
  versions:
  - {name: v1, served: true, storage: true,
     schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
)")
                  .ok());
  auto changed = Get("/apis", std::string(kV2Accept), etag);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->status, 200);
  EXPECT_THAT(changed->body, HasSubstr("\"scope\":\"Cluster\""));
  auto beta = Get("/apis",
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;"
                  "as=APIGroupDiscoveryList");
  ASSERT_TRUE(beta.ok());
  EXPECT_THAT(beta->body, HasSubstr("\"apiVersion\":\"apidiscovery.k8s.io/v2beta1\""));
  auto core = Get("/api", std::string(kV2Accept));
  ASSERT_TRUE(core.ok());
  EXPECT_THAT(core->body, HasSubstr("\"resource\":\"secrets\""));
}

TEST_F(ServerTest, LegacyDiscovery) {
  auto api = Get("/api");
  ASSERT_TRUE(api.ok());
  EXPECT_THAT(api->body, HasSubstr("\"kind\":\"APIVersions\""));
  auto apis = Get("/apis");
  ASSERT_TRUE(apis.ok());
  EXPECT_THAT(apis->body, HasSubstr("\"kind\":\"APIGroupList\""));
  EXPECT_THAT(apis->body, HasSubstr("\"name\":\"k8s.starter.org\""));
  auto gv = Get("/apis/k8s.starter.org/v1alpha1");
  ASSERT_TRUE(gv.ok());
  EXPECT_THAT(gv->body, HasSubstr("\"name\":\"kubernetesclusters/status\""));
  auto missing = Get("/apis/k8s.starter.org/v9");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr("the server could not find the requested resource"));
}

TEST_F(ServerTest, OpenAPIV3IndexAndHashRedirect) {
  auto index = Get("/openapi/v3");
  ASSERT_TRUE(index.ok());
  auto d = kube::json::Parse(index->body);
  ASSERT_TRUE(d.has_value());
  const auto* entry = kube::json::Find((*d)["paths"], "apis/k8s.starter.org/v1alpha1");
  ASSERT_NE(entry, nullptr) << index->body;
  std::string url(kube::json::GetString(*entry, "serverRelativeURL"));
  ASSERT_THAT(url, HasSubstr("/openapi/v3/apis/k8s.starter.org/v1alpha1?hash="));
  auto doc = Get(url);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->status, 200);
  EXPECT_EQ(doc->headers.Get("Cache-Control").value_or(""), "public, immutable");
  EXPECT_THAT(doc->body, HasSubstr("\"org.starter.k8s.v1alpha1.KubernetesCluster\""));
  EXPECT_EQ(url.substr(url.find("hash=") + 5), kube::discovery::Hash(doc->body));
  auto stale = Get("/openapi/v3/apis/k8s.starter.org/v1alpha1?hash=ABC");
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->status, 301);
  EXPECT_EQ(stale->headers.Get("Location").value_or(""), url);
  auto v2 = Get("/openapi/v2");
  ASSERT_TRUE(v2.ok());
  EXPECT_THAT(v2->body, HasSubstr("\"x-kubernetes-group-version-kind\""));
  auto pb = Get("/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
  ASSERT_TRUE(pb.ok());
  EXPECT_EQ(pb->status, 406);
}

TEST_F(ServerTest, RecordsRequestsAndWaitsForObjects) {
  kube_->ClearRequests();
  auto r = Get("/api/v1/namespaces/default/configmaps?limit=5");
  ASSERT_TRUE(r.ok());
  RecordedRequest seen;
  ASSERT_TRUE(testing::WaitForRequest(
      *kube_, [](const RecordedRequest& r) { return r.resource == "configmaps" && r.done; },
      "configmap list", std::chrono::seconds(5), &seen));
  EXPECT_EQ(seen.verb, "list");
  EXPECT_EQ(seen.ns, "default");
  EXPECT_EQ(seen.raw_query, "limit=5");
  EXPECT_EQ(seen.status, 200);
  EXPECT_EQ(seen.user, "kubernetes-admin");
  EXPECT_FALSE(testing::WaitForObject(
      *kube_, "", "configmaps", "default", "late",
      [](const kube::json::Value* o) { return o != nullptr; }, "present",
      std::chrono::milliseconds(50)));
  ASSERT_TRUE(kube_
                  ->Apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\n"
                          "data: {a: b}\n")
                  .ok());
  EXPECT_TRUE(testing::WaitForObject(
      *kube_, "", "configmaps", "default", "late",
      [](const kube::json::Value* o) { return o != nullptr; }, "present"));
  // Apply again replaces (no AlreadyExists).
  ASSERT_TRUE(kube_
                  ->Apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\n"
                          "data: {a: c}\n")
                  .ok());
  auto cm = kube_->Get("", "configmaps", "default", "late");
  ASSERT_TRUE(cm.ok());
  EXPECT_EQ(kube::json::GetString((**cm)["data"], "a"), "c");
}

TEST_F(ServerTest, FaultStatusAndDelay) {
  Fault unavailable;
  unavailable.path_prefix = "/api/v1/namespaces/default/configmaps";
  unavailable.status = 503;
  unavailable.times = 1;
  int id = kube_->AddFault(unavailable);
  auto r = Get("/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_THAT(r->body, HasSubstr("\"reason\":\"ServiceUnavailable\""));
  auto next = Get("/api/v1/namespaces/default/configmaps");  // times = 1: gone
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->status, 200);
  kube_->RemoveFault(id);
  Fault slow_get;
  slow_get.verb = "get";
  slow_get.delay = std::chrono::milliseconds(300);
  kube_->AddFault(slow_get);
  auto start = std::chrono::steady_clock::now();
  auto slow = Get("/api/v1/namespaces/default");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  ASSERT_TRUE(slow.ok());
  EXPECT_EQ(slow->status, 200);
  kube_->ClearFaults();
}

TEST_F(ServerTest, DropConnectionMidWatchAndExpiredResourceVersion) {
  Fault drop;
  drop.verb = "watch";
  drop.drop_after = std::chrono::milliseconds(300);
  drop.times = 1;
  kube_->AddFault(drop);
  kube::RestRequest rr;
  rr.path = "/api/v1/namespaces/default/configmaps?watch=true";
  auto result = io_.Run([&]() -> boost::asio::awaitable<kube::Result<std::string>> {
    auto s = co_await client_->Stream(rr);
    if (!s.ok()) co_return s.error();
    std::string all;
    while (true) {
      auto chunk = co_await s.value()->Read();
      if (!chunk.ok()) co_return chunk.error();  // broken stream: what we want
      if (chunk->empty()) co_return std::string("clean end: " + all);
      all.append(*chunk);
    }
  });
  EXPECT_FALSE(result.ok()) << "the watch ended cleanly instead of dropping";

  auto list = Get("/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(list.ok());
  auto d = kube::json::Parse(list->body);
  std::string rv(kube::json::GetString((*d)["metadata"], "resourceVersion"));
  ASSERT_TRUE(kube_->Apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bump}\n").ok());
  kube_->ExpireResourceVersions();
  auto expired = Get("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(expired.ok());
  // kube answers 200 and an ERROR event carrying a 410 Expired Status.
  EXPECT_THAT(expired->body, HasSubstr("\"type\":\"ERROR\""));
  EXPECT_THAT(expired->body, HasSubstr("\"code\":410"));
}

TEST_F(ServerTest, RefuseConnections) {
  ASSERT_TRUE(kube_->SetRefuseConnections(true).ok());
  client_->CloseIdle();
  auto refused = Get("/healthz");
  EXPECT_FALSE(refused.ok());
  ASSERT_TRUE(kube_->SetRefuseConnections(false).ok());
  auto back = Get("/healthz");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->status, 200);
}

}  // namespace
}  // namespace fakekube

namespace fakekube {
namespace {

TEST(SplitYamlDocuments, SeparatorsCommentsAndEmptyDocuments) {
  auto docs = SplitYamlDocuments(
      "# header\n---\na: 1\n---   \n# only a comment\n---\nb: 2\n"
      "...\n--- \nc: |\n  ---not a separator\n");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0], "a: 1\n");
  EXPECT_EQ(docs[1], "b: 2\n");
  EXPECT_EQ(docs[2], "c: |\n  ---not a separator\n");
}

TEST(FakeKube, InProcessRequestsNeedARunningServer) {
  FakeKube kube({});
  EXPECT_EQ(kube.Do("GET", "/healthz").status, 503);
  ASSERT_TRUE(kube.Start().ok());
  auto r = kube.Do("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  auto created = kube.Do("POST", "/api/v1/namespaces",
                         R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}})");
  EXPECT_EQ(created.status, 201) << created.body;
  kube.Stop();
  EXPECT_EQ(kube.Do("GET", "/healthz").status, 503);
}

}  // namespace
}  // namespace fakekube

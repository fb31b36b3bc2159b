#include "apiserver/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/discovery_docs.h"
#include "kube/json.h"
#include "tests/unit/apiserver/test_util.h"

namespace apiserver {
namespace {

using testing::FakeWriter;
using ::testing::HasSubstr;
using testing::MakeRequest;
using ::testing::Not;
using testing::RunCo;

discovery::ServedResource Claim(std::string version = "v1alpha1") {
  discovery::ServedResource r;
  kube::APIResource& a = r.api;
  a.group = "k8s.starter.org";
  a.version = std::move(version);
  a.resource = "kubernetesclusters";
  a.singular = "kubernetescluster";
  a.kind = "KubernetesCluster";
  a.list_kind = "KubernetesClusterList";
  a.namespaced = true;
  a.verbs = kube::DefaultResourceVerbs();
  a.categories = {"claim"};
  a.short_names = {"kc"};
  a.has_status = true;
  r.naming = discovery::NamingKind::kClaim;
  return r;
}

struct Fixture {
  std::shared_ptr<const discovery::DiscoverySnapshot> snap;
  std::unique_ptr<Router> router;
  std::shared_ptr<Metrics> metrics = std::make_shared<Metrics>();

  explicit Fixture(discovery::Readiness readiness = Ready()) {
    snap = discovery::DiscoverySnapshot::Make({Claim(), Claim("v1")}, readiness, 1);
    RouterOptions o;
    o.snapshot = [this] { return snap; };
    o.metrics = metrics;
    router = std::make_unique<Router>(o);
  }

  static discovery::Readiness Ready() {
    discovery::Readiness r;
    r.loaded = r.control_plane_reachable = r.claim_namespace_ok = true;
    return r;
  }

  FakeWriter Do(std::string method, std::string target, kube::http::Headers h = {}) {
    auto req = MakeRequest(std::move(method), std::move(target));
    req.headers = std::move(h);
    kube::RequestInfoFactory f;
    auto info = f.NewRequestInfo(req);
    EXPECT_TRUE(info.ok());
    FakeWriter w;
    RequestContext ctx{req, w, *info, UserInfo{"alice", "", {}, {}}, false, {}};
    RunCo([&]() -> asio::awaitable<void> { co_await router->Serve(ctx); });
    return w;
  }
};

TEST(Router, AggregatedDiscoveryWithETagAnd304) {
  Fixture f;
  kube::http::Headers h;
  h.Set("Accept",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json");
  auto w = f.Do("GET", "/apis", h);
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(w.Header("Content-Type"),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  std::string etag = w.Header("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(etag.front(), '"');
  EXPECT_THAT(w.body, HasSubstr("\"kind\":\"APIGroupDiscoveryList\""));
  EXPECT_THAT(w.body, HasSubstr("kubernetesclusters"));

  h.Set("If-None-Match", etag);
  auto again = f.Do("GET", "/apis", h);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());

  // A new API set changes the ETag.
  f.snap = discovery::DiscoverySnapshot::Make({Claim()}, Fixture::Ready(), 2);
  auto changed = f.Do("GET", "/apis", h);
  EXPECT_EQ(changed.status, 200);
  EXPECT_NE(changed.Header("ETag"), etag);
}

TEST(Router, LegacyDiscoveryDocuments) {
  Fixture f;
  auto groups = f.Do("GET", "/apis");
  ASSERT_EQ(groups.status, 200);
  EXPECT_THAT(groups.body, HasSubstr("\"kind\":\"APIGroupList\""));
  EXPECT_THAT(groups.body, HasSubstr("\"preferredVersion\""));

  auto group = f.Do("GET", "/apis/k8s.starter.org");
  ASSERT_EQ(group.status, 200);
  EXPECT_THAT(group.body, HasSubstr("\"kind\":\"APIGroup\""));

  auto list = f.Do("GET", "/apis/k8s.starter.org/v1alpha1");
  ASSERT_EQ(list.status, 200);
  auto doc = kube::json::Parse(list.body);
  ASSERT_TRUE(doc);
  EXPECT_EQ(kube::json::GetString(*doc, "kind"), "APIResourceList");
  EXPECT_EQ(kube::json::GetString(*doc, "groupVersion"), "k8s.starter.org/v1alpha1");
  EXPECT_THAT(list.body, HasSubstr("kubernetesclusters/status"));
  EXPECT_THAT(list.body, HasSubstr("\"categories\":[\"claim\"]"));

  auto missing = f.Do("GET", "/apis/k8s.starter.org/v9");
  EXPECT_EQ(missing.status, 404);
  auto st = kube::json::Parse(missing.body);
  EXPECT_EQ(kube::json::GetString(*st, "reason"), "NotFound");
  EXPECT_EQ(kube::json::GetString(*st, "message"),
            "the server could not find the requested resource");
  EXPECT_EQ(f.Do("GET", "/apis/other.org").status, 404);
}

TEST(Router, UnknownResourcesAre404) {
  Fixture f;
  auto w = f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/widgets");
  EXPECT_EQ(w.status, 404);
  EXPECT_EQ(f.Do("GET", "/apis/nope.org/v1/namespaces/a/kubernetesclusters").status, 404);
  EXPECT_EQ(f.Do("GET", "/api/v1/namespaces/a/pods").status, 404);
  // Scale is not a subresource of this claim.
  EXPECT_EQ(
      f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters/x/scale").status,
      404);
  // A namespaced resource cannot be got without a namespace.
  EXPECT_EQ(f.Do("GET", "/apis/k8s.starter.org/v1alpha1/kubernetesclusters/x").status, 404);
  // Without a proxy a served resource is 503, never a silent success.
  EXPECT_EQ(f.Do("GET", "/apis/k8s.starter.org/v1alpha1/kubernetesclusters").status, 503);
}

TEST(Router, ReadyzVerboseListsChecksAndForeignAPIServices) {
  discovery::Readiness r = Fixture::Ready();
  r.foreign_apiservices.push_back({"v1alpha1.k8s.starter.org", "managed by kube-apiserver"});
  Fixture f(r);
  auto w = f.Do("GET", "/readyz?verbose");
  EXPECT_EQ(w.status, 200);
  EXPECT_THAT(w.body, HasSubstr("[+]ping ok\n"));
  EXPECT_THAT(w.body, HasSubstr("[+]discovery-loaded ok\n"));
  EXPECT_THAT(w.body, HasSubstr("v1alpha1.k8s.starter.org: managed by kube-apiserver"));
  EXPECT_THAT(w.body, HasSubstr("readyz check passed\n"));
  EXPECT_EQ(f.Do("GET", "/readyz").body, "ok");
  EXPECT_EQ(f.Do("GET", "/readyz/ping").status, 200);
  EXPECT_EQ(f.Do("GET", "/readyz/nonexistent").status, 404);

  f.router->SetShuttingDown();
  auto down = f.Do("GET", "/readyz");
  EXPECT_EQ(down.status, 500);
  EXPECT_THAT(down.body, HasSubstr("[-]shutdown failed"));
  EXPECT_THAT(down.body, HasSubstr("readyz check failed"));
  EXPECT_EQ(f.Do("GET", "/readyz?exclude=shutdown").status, 200);
  // Liveness does not depend on readiness.
  EXPECT_EQ(f.Do("GET", "/livez").status, 200);
  EXPECT_EQ(f.Do("GET", "/healthz").body, "ok");
}

TEST(Router, NotReadyUntilDiscoveryLoaded) {
  discovery::Readiness r;
  Fixture f(r);
  auto w = f.Do("GET", "/readyz");
  EXPECT_EQ(w.status, 500);
  EXPECT_THAT(w.body, HasSubstr("[-]discovery-loaded failed"));
  // Discovery documents still answer (empty), never waiting.
  EXPECT_EQ(f.Do("GET", "/apis").status, 200);
}

TEST(Router, OpenAPIDocuments) {
  Fixture f;
  auto v2 = f.Do("GET", "/openapi/v2");
  ASSERT_EQ(v2.status, 200);
  EXPECT_THAT(v2.body, HasSubstr("x-kubernetes-group-version-kind"));
  EXPECT_FALSE(v2.Header("ETag").empty());

  auto index = f.Do("GET", "/openapi/v3");
  ASSERT_EQ(index.status, 200);
  auto doc = kube::json::Parse(index.body);
  ASSERT_TRUE(doc);
  const auto* url =
      kube::json::Find(*kube::json::Find(*doc, "paths"), "apis/k8s.starter.org/v1alpha1");
  ASSERT_NE(url, nullptr);
  std::string rel(kube::json::GetString(*url, "serverRelativeURL"));
  EXPECT_THAT(rel, HasSubstr("/openapi/v3/apis/k8s.starter.org/v1alpha1?hash="));

  auto gv = f.Do("GET", rel);
  ASSERT_EQ(gv.status, 200);
  EXPECT_EQ(gv.Header("Cache-Control"), "public, immutable");
  EXPECT_THAT(gv.body, HasSubstr("KubernetesCluster"));
  auto stale = f.Do("GET", "/openapi/v3/apis/k8s.starter.org/v1alpha1?hash=OLD");
  EXPECT_EQ(stale.status, 301);
  EXPECT_EQ(f.Do("GET", "/openapi/v3/apis/k8s.starter.org/v9").status, 404);
}

TEST(Router, VersionMetricsAndUnknownPaths) {
  Fixture f;
  auto v = f.Do("GET", "/version");
  ASSERT_EQ(v.status, 200);
  auto doc = kube::json::Parse(v.body);
  ASSERT_TRUE(doc);
  EXPECT_FALSE(kube::json::GetString(*doc, "gitVersion").empty());
  f.metrics->ObserveRequest("GET", "", "", 200, 0.001, false);
  auto m = f.Do("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_THAT(m.Header("Content-Type"), HasSubstr("text/plain"));
  EXPECT_THAT(m.body, HasSubstr("# TYPE apiserver_request_total counter"));
  EXPECT_THAT(m.body, HasSubstr("apiserver_longrunning_requests"));
  EXPECT_EQ(f.Do("GET", "/nope").status, 404);
  EXPECT_EQ(f.Do("POST", "/apis").status, 405);
  EXPECT_THAT(f.Do("GET", "/").body, Not(HasSubstr("error")));
}

// Each request adds to its own series: the same verb/group/resource/code again counts up, another
// code or resource is a series of its own, and long-running requests have no latency sample.
TEST(Metrics, RequestSeriesAccumulate) {
  Metrics m;
  const std::string group = "k8s.starter.org", resource = "kubernetesclusters";
  m.ObserveRequest("GET", group, resource, 200, 0.001, false);
  m.ObserveRequest("GET", group, resource, 200, 0.002, false);
  m.ObserveRequest("GET", group, resource, 404, 0.001, false);
  m.ObserveRequest("WATCH", group, resource, 200, 30, true);
  const std::string out = m.Render();
  const std::string labels = "group=\"" + group + "\",resource=\"" + resource + "\"";
  EXPECT_THAT(out,
              HasSubstr("apiserver_request_total{verb=\"GET\"," + labels + ",code=\"200\"} 2\n"));
  EXPECT_THAT(out,
              HasSubstr("apiserver_request_total{verb=\"GET\"," + labels + ",code=\"404\"} 1\n"));
  EXPECT_THAT(out,
              HasSubstr("apiserver_request_total{verb=\"WATCH\"," + labels + ",code=\"200\"} 1\n"));
  EXPECT_THAT(
      out, HasSubstr("apiserver_request_duration_seconds_count{verb=\"GET\"," + labels + "} 3\n"));
  EXPECT_THAT(out, Not(HasSubstr("apiserver_request_duration_seconds_count{verb=\"WATCH\"")));
}

}  // namespace
}  // namespace apiserver

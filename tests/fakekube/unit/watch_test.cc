// Watch streams through ResourceHandler: initial events, from a resourceVersion, selectors,
// bookmarks, 410 as an ERROR event, timeoutSeconds, Table watches.
#include "tests/fakekube/unit/harness.h"

namespace fakekube::testing {
namespace {

std::string Type(const kube::json::Document& d) {
  return std::string(kube::json::GetString(d, "type"));
}
std::string Name(const kube::json::Document& d) {
  const auto* m = kube::json::FindPath(d, "object.metadata");
  return m ? std::string(kube::json::GetString(*m, "name")) : "";
}

class WatchTest : public HandlerTest {
 protected:
  static ResourceHandler::Options Opts() {
    ResourceHandler::Options o;
    o.bookmark_interval = std::chrono::milliseconds(100);
    return o;
  }
  WatchTest() : HandlerTest(Opts()) {}
};

TEST_F(WatchTest, InitialEventsThenChanges) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a"));
  auto w = Watch(std::string(kClaims) + "?watch=true");
  auto lines = w->Lines(1);
  ASSERT_GE(lines.size(), 1u);
  EXPECT_EQ(Type(lines[0]), "ADDED");
  EXPECT_EQ(Name(lines[0]), "a");
  EXPECT_EQ(w->writer().status(), 200);
  EXPECT_FALSE(w->writer().content_length().has_value());
  Do("POST", kClaims, Claim("b"));
  Do("PATCH", std::string(kClaims) + "/b", R"({"metadata":{"labels":{"x":"y"}}})",
     {{"Content-Type", "application/merge-patch+json"}});
  Do("DELETE", std::string(kClaims) + "/b");
  lines = w->Lines(4);
  ASSERT_EQ(lines.size(), 4u) << w->writer().body();
  EXPECT_EQ(Type(lines[1]), "ADDED");
  EXPECT_EQ(Type(lines[2]), "MODIFIED");
  EXPECT_EQ(Type(lines[3]), "DELETED");
  EXPECT_EQ(Name(lines[3]), "b");
  // Every event is its own line, flushed as written.
  for (auto& wr : w->writer().writes()) EXPECT_EQ(wr.back(), '\n');
  w->Stop();
  EXPECT_TRUE(w->writer().finished());
  EXPECT_EQ(handler_.open_watches(), 0);
}

TEST_F(WatchTest, FromResourceVersionAndWatchPrefix) {
  CreateClaimCRD();
  auto a = Do("POST", kClaims, Claim("a"));
  std::string rv = a.Str("metadata.resourceVersion");
  Do("POST", kClaims, Claim("b"));
  auto w = Watch(
      "/apis/k8s.starter.org/v1alpha1/watch/namespaces/default/kubernetesclusters"
      "?resourceVersion=" +
      rv);
  auto lines = w->Lines(1);
  ASSERT_EQ(lines.size(), 1u) << w->writer().body();
  EXPECT_EQ(Type(lines[0]), "ADDED");
  EXPECT_EQ(Name(lines[0]), "b");  // only what came after rv
}

TEST_F(WatchTest, TooOldResourceVersionIsErrorEvent) {
  CreateClaimCRD();
  auto a = Do("POST", kClaims, Claim("a"));
  Do("POST", kClaims, Claim("b"));
  store_.Compact();
  auto w =
      Watch(std::string(kClaims) + "?watch=1&resourceVersion=" + a.Str("metadata.resourceVersion"));
  auto lines = w->Lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Type(lines[0]), "ERROR");
  EXPECT_EQ(std::string(kube::json::GetString(*kube::json::Find(lines[0], "object"), "reason")),
            "Expired");
  EXPECT_EQ(kube::json::GetInt(*kube::json::Find(lines[0], "object"), "code"), 410);
  EXPECT_NE(std::string(kube::json::GetString(*kube::json::Find(lines[0], "object"), "message"))
                .find("too old resource version"),
            std::string::npos);
  EXPECT_TRUE(w->WaitFinished());
  EXPECT_EQ(w->writer().status(), 200);
}

TEST_F(WatchTest, SelectorsTurnLeavingIntoDeleted) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a", R"(,"labels":{"team":"x"})"));
  auto w = Watch(std::string(kClaims) + "?watch=true&labelSelector=team%3Dx");
  ASSERT_EQ(w->Lines(1).size(), 1u);
  Do("POST", kClaims, Claim("other"));  // never matches: not sent
  Do("PATCH", std::string(kClaims) + "/a", R"({"metadata":{"labels":{"team":"y"}}})",
     {{"Content-Type", "application/merge-patch+json"}});
  Do("PATCH", std::string(kClaims) + "/a", R"({"metadata":{"labels":{"team":"x"}}})",
     {{"Content-Type", "application/merge-patch+json"}});
  auto lines = w->Lines(3);
  ASSERT_EQ(lines.size(), 3u) << w->writer().body();
  EXPECT_EQ(Type(lines[1]), "DELETED");
  EXPECT_EQ(Name(lines[1]), "a");
  EXPECT_EQ(Type(lines[2]), "ADDED");
  // kubectl get -w NAME: fieldSelector=metadata.name=<name>
  auto w2 = Watch(std::string(kClaims) + "?watch=true&fieldSelector=metadata.name%3Dother");
  auto l2 = w2->Lines(1);
  ASSERT_EQ(l2.size(), 1u);
  EXPECT_EQ(Name(l2[0]), "other");
}

TEST_F(WatchTest, BookmarksCarryResourceVersion) {
  CreateClaimCRD();
  auto w = Watch(std::string(kClaims) + "?watch=true&allowWatchBookmarks=true&resourceVersion=" +
                 std::to_string(store_.CurrentResourceVersion()));
  Do("POST", "/api/v1/namespaces/default/configmaps",
     R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}})");
  auto lines = w->Lines(1, std::chrono::seconds(3));
  ASSERT_GE(lines.size(), 1u);
  EXPECT_EQ(Type(lines[0]), "BOOKMARK");
  const auto* obj = kube::json::Find(lines[0], "object");
  EXPECT_EQ(kube::json::GetString(*obj, "kind"), "KubernetesCluster");
  EXPECT_EQ(kube::json::GetString(*obj, "apiVersion"), "k8s.starter.org/v1alpha1");
  EXPECT_EQ(
      std::string(kube::json::GetString(*kube::json::Find(*obj, "metadata"), "resourceVersion")),
      std::to_string(store_.CurrentResourceVersion()));
}

TEST_F(WatchTest, TimeoutSecondsEndsStream) {
  CreateClaimCRD();
  auto start = std::chrono::steady_clock::now();
  auto w = Watch(std::string(kClaims) + "?watch=true&timeoutSeconds=1");
  EXPECT_TRUE(w->WaitFinished(std::chrono::seconds(4)));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST_F(WatchTest, TableWatchSendsHeadersOnce) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a"));
  auto w = Watch(std::string(kClaims) + "?watch=true",
                 {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  Do("POST", kClaims, Claim("b"));
  auto lines = w->Lines(2);
  ASSERT_EQ(lines.size(), 2u);
  const auto* t0 = kube::json::Find(lines[0], "object");
  const auto* t1 = kube::json::Find(lines[1], "object");
  EXPECT_EQ(kube::json::GetString(*t0, "kind"), "Table");
  EXPECT_TRUE(kube::json::Find(*t0, "columnDefinitions")->IsArray());
  EXPECT_TRUE(kube::json::Find(*t1, "columnDefinitions")->IsNull());
  EXPECT_EQ(kube::json::Find(*t1, "rows")->Size(), 1u);
}

TEST_F(WatchTest, LaggingWatcherGetsExpiredAfterCompaction) {
  CreateClaimCRD();
  auto w = Watch(std::string(kClaims) +
                 "?watch=true&resourceVersion=" + std::to_string(store_.CurrentResourceVersion()));
  Do("POST", kClaims, Claim("a"));
  ASSERT_EQ(w->Lines(1).size(), 1u);
  w->Stop();
  EXPECT_EQ(handler_.open_watches(), 0);
}

}  // namespace
}  // namespace fakekube::testing

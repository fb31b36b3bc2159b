#include "discovery/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "discovery/informer.h"

namespace discovery {
namespace {

std::string TestData(const std::string& file) {
  std::ifstream in(std::string(DISCOVERY_TESTDATA) + "/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ServedResource Res(std::string group, std::string version, std::string resource, std::string kind,
                   NamingKind naming = NamingKind::kClaim) {
  ServedResource r;
  r.api.group = std::move(group);
  r.api.version = std::move(version);
  r.api.resource = std::move(resource);
  r.api.kind = std::move(kind);
  r.api.verbs = kube::DefaultResourceVerbs();
  r.naming = naming;
  return r;
}

TEST(VersionOrderTest, MatchesKubernetesOrder) {
  // The order apimachinery documents for CompareKubeAwareVersionStrings.
  std::vector<std::string> want = {"v10",     "v2",        "v1",        "v11beta2", "v10beta3",
                                   "v3beta1", "v12alpha1", "v11alpha2", "foo1",     "foo10"};
  std::vector<std::string> got = want;
  std::mt19937 rng(42);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(got.begin(), got.end(), rng);
    std::sort(got.begin(), got.end(), [](const std::string& a, const std::string& b) {
      return CompareKubeVersionPriority(a, b) < 0;
    });
    EXPECT_EQ(got, want);
  }
  EXPECT_LT(CompareKubeVersionPriority("v2", "v1"), 0);
  EXPECT_LT(CompareKubeVersionPriority("v1", "v1beta2"), 0);
  EXPECT_LT(CompareKubeVersionPriority("v1beta2", "v1beta1"), 0);
  EXPECT_LT(CompareKubeVersionPriority("v1beta1", "v1alpha1"), 0);
  EXPECT_EQ(CompareKubeVersionPriority("v1", "v1"), 0);
  EXPECT_GT(CompareKubeVersionPriority("v1alpha", "v1alpha1"), 0);  // not kube-like
}

TEST(SnapshotTest, GroupsVersionsAndLookup) {
  auto s = DiscoverySnapshot::Make(
      {Res("k8s.starter.org", "v1alpha1", "kubernetesclusters", "KubernetesCluster"),
       Res("k8s.starter.org", "v1", "kubernetesclusters", "KubernetesCluster"),
       Res("k8s.starter.org", "v1", "databases", "Database"),
       Res("platform.example.org", "v1alpha1", "apps", "App", NamingKind::kNamespacedXR),
       Res("k8s.starter.org", "v1", "databases", "Duplicate")},
      Readiness{}, 7);
  EXPECT_EQ(s->generation(), 7u);
  EXPECT_EQ(s->size(), 4u);
  ASSERT_EQ(s->groups().size(), 2u);
  const ServedGroup& g = s->groups()[0];
  EXPECT_EQ(g.name, "k8s.starter.org");
  ASSERT_EQ(g.versions.size(), 2u);
  EXPECT_EQ(g.preferred().version, "v1");
  EXPECT_EQ(g.versions[1].version, "v1alpha1");
  ASSERT_EQ(g.versions[0].resources.size(), 2u);
  EXPECT_EQ(g.versions[0].resources[0].api.resource, "databases");
  EXPECT_EQ(g.versions[0].resources[0].api.kind, "Database");  // first one wins

  const ServedResource* r = s->Lookup("platform.example.org", "v1alpha1", "apps");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->naming, NamingKind::kNamespacedXR);
  EXPECT_EQ(NamePrefix(r->naming), "nxr-");
  EXPECT_EQ(NamePrefix(NamingKind::kClaim), "claim-");
  EXPECT_EQ(s->Lookup("platform.example.org", "v1", "apps"), nullptr);
  EXPECT_EQ(s->Lookup("k8s.starter.org", "v1", "apps"), nullptr);
  EXPECT_EQ(s->Lookup("nope", "v1", "apps"), nullptr);
  ASSERT_NE(s->LookupKind("k8s.starter.org", "v1alpha1", "KubernetesCluster"), nullptr);
  EXPECT_EQ(s->LookupKind("k8s.starter.org", "v1alpha1", "Database"), nullptr);
  EXPECT_NE(s->FindGroupVersion("k8s.starter.org", "v1alpha1"), nullptr);
  EXPECT_EQ(s->FindGroup("platform.example.org")->versions.size(), 1u);
  auto all = s->AllResources();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0]->api.GroupVersion(), "k8s.starter.org/v1");
  EXPECT_EQ(all[3]->api.resource, "apps");
}

TEST(SnapshotTest, ETagDependsOnContentOnly) {
  auto a = DiscoverySnapshot::Make({Res("g.io", "v1", "xs", "X")}, Readiness{}, 1);
  Readiness ready;
  ready.loaded = true;
  auto b = DiscoverySnapshot::Make({Res("g.io", "v1", "xs", "X")}, ready, 2);
  EXPECT_EQ(a->etag(), b->etag());
  EXPECT_TRUE(a->SameAPIs(*b));
  EXPECT_EQ(a->etag().front(), '"');
  EXPECT_EQ(a->etag().back(), '"');
  auto c = DiscoverySnapshot::Make({Res("g.io", "v1", "xs", "Y")}, Readiness{}, 3);
  EXPECT_NE(a->etag(), c->etag());
  ServedResource with_col = Res("g.io", "v1", "xs", "X");
  with_col.api.printer_columns.push_back({"READY", "string", "", "", ".status.ready", 0});
  EXPECT_NE(a->etag(), DiscoverySnapshot::Make({with_col}, Readiness{}, 4)->etag());
  auto d = b->WithReadiness(Readiness{}, 9);
  EXPECT_EQ(d->etag(), b->etag());
  EXPECT_EQ(d->generation(), 9u);
  EXPECT_FALSE(d->readiness().loaded);
  EXPECT_NE(d->Lookup("g.io", "v1", "xs"), nullptr);
}

TEST(SnapshotTest, ReadinessChecks) {
  Readiness r;
  EXPECT_FALSE(r.Ready());
  r.loaded = true;
  r.claim_namespace_ok = false;
  r.claim_namespace_reason = "claim namespace x does not exist";
  r.control_plane_error = "503 connection refused";
  r.foreign_apiservices.push_back({"v1.k8s.starter.org", "managed by kube-apiserver"});
  auto checks = r.Checks();
  ASSERT_EQ(checks.size(), 4u);
  EXPECT_EQ(checks[0].name, "discovery-loaded");
  EXPECT_TRUE(checks[0].ok);
  EXPECT_FALSE(checks[1].ok);
  EXPECT_THAT(checks[1].message, ::testing::HasSubstr("connection refused"));
  EXPECT_FALSE(checks[2].ok);
  EXPECT_EQ(checks[2].message, "claim namespace x does not exist");
  EXPECT_TRUE(checks[3].ok);
  EXPECT_THAT(checks[3].message, ::testing::HasSubstr("v1.k8s.starter.org"));
  r.claim_namespace_ok = true;
  EXPECT_TRUE(r.Ready());
}

TEST(SnapshotPublisherTest, StartsEmptyAndSwaps) {
  SnapshotPublisher p;
  auto first = p.Load();
  ASSERT_NE(first, nullptr);
  EXPECT_FALSE(first->readiness().loaded);
  EXPECT_EQ(first->size(), 0u);
  p.Publish(DiscoverySnapshot::Make({Res("g.io", "v1", "xs", "X")}, Readiness{}, 5));
  EXPECT_EQ(p.Load()->generation(), 5u);
  EXPECT_EQ(first->size(), 0u);  // readers keep their snapshot
  p.Publish(nullptr);            // ignored
  EXPECT_EQ(p.Load()->generation(), 5u);
}

TEST(SnapshotPublisherTest, ConcurrentReadersSeeWholeSnapshots) {
  SnapshotPublisher p;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        auto s = p.Load();
        if (s->size() != s->generation() % 3) ++bad;
      }
    });
  }
  for (uint64_t g = 1; g < 3000; ++g) {
    std::vector<ServedResource> rs;
    for (uint64_t i = 0; i < g % 3; ++i)
      rs.push_back(Res("g.io", "v1", "r" + std::to_string(i), "K"));
    p.Publish(DiscoverySnapshot::Make(std::move(rs), Readiness{}, g));
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(SnapshotFileTest, EntriesInYaml) {
  auto s = SnapshotFromText(R"(
- group: k8s.starter.org
  version: v1alpha1
  resource: kubernetesclusters
  kind: KubernetesCluster
  naming: claim
  categories: [claim]
  shortNames: [kc]
  subresources: [status]
  printerColumns:
  - {name: READY, type: string, jsonPath: ".status.conditions[?(@.type=='Ready')].status"}
  schema:
    openAPIV3Schema: {type: object}
- group: platform.example.org
  version: v1alpha1
  resource: apps
  kind: App
  naming: nxr
)");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const auto& snap = **s;
  EXPECT_TRUE(snap.readiness().Ready());
  const ServedResource* kc = snap.Lookup("k8s.starter.org", "v1alpha1", "kubernetesclusters");
  ASSERT_NE(kc, nullptr);
  EXPECT_EQ(kc->api.singular, "kubernetescluster");
  EXPECT_EQ(kc->api.list_kind, "KubernetesClusterList");
  EXPECT_THAT(kc->api.short_names, ::testing::ElementsAre("kc"));
  EXPECT_TRUE(kc->api.has_status);
  EXPECT_TRUE(kc->api.namespaced);
  ASSERT_EQ(kc->api.printer_columns.size(), 1u);
  ASSERT_TRUE(kc->api.schema);
  EXPECT_EQ(kube::json::Serialize(*kc->api.schema), R"({"type":"object"})");
  const ServedResource* app = snap.Lookup("platform.example.org", "v1alpha1", "apps");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->naming, NamingKind::kNamespacedXR);
}

TEST(SnapshotFileTest, JsonObjectWithResources) {
  auto s =
      SnapshotFromText(R"({"resources":[{"group":"g.io","version":"v1","resource":"xs","kind":"X",)"
                       R"("namespaced":true,"verbs":["get","list"]}]})");
  ASSERT_TRUE(s.ok());
  const ServedResource* x = (*s)->Lookup("g.io", "v1", "xs");
  ASSERT_NE(x, nullptr);
  EXPECT_THAT(x->api.verbs, ::testing::ElementsAre("get", "list"));
}

TEST(SnapshotFileTest, CrossplaneFixtures) {
  std::string text;
  for (const char* f : {"10-xrd-xkubernetesclusters.yaml", "11-crd-xkubernetesclusters.yaml",
                        "12-crd-kubernetesclusters.yaml", "20-xrd-apps.yaml", "21-crd-apps.yaml"}) {
    text += "---\n" + TestData(f) + "\n";
  }
  auto s = SnapshotFromText(text);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)->size(), 2u);
  EXPECT_NE((*s)->Lookup("k8s.starter.org", "v1alpha1", "kubernetesclusters"), nullptr);
  EXPECT_NE((*s)->Lookup("platform.example.org", "v1alpha1", "apps"), nullptr);
}

TEST(SnapshotFileTest, Errors) {
  EXPECT_FALSE(SnapshotFromText("- {version: v1, resource: xs, kind: X}").ok());
  EXPECT_FALSE(
      SnapshotFromText("- {group: g, version: v1, resource: xs, kind: X, naming: foo}").ok());
  EXPECT_FALSE(
      SnapshotFromText("- {group: g, version: v1, resource: xs, kind: X, namespaced: 3}").ok());
  EXPECT_FALSE(SnapshotFromText("[").ok());
  EXPECT_FALSE(SnapshotFromFile("/nonexistent/file.yaml").ok());
  auto err = SnapshotFromText("- {group: g, version: v1, kind: X}");
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().code, 400);
  EXPECT_THAT(err.error().message, ::testing::HasSubstr("resource is required"));
}

TEST(BackoffTest, GrowsCapsAndJitters) {
  Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 1);
  std::vector<int64_t> d;
  for (int i = 0; i < 8; ++i) d.push_back(b.Next().count());
  EXPECT_GE(d[0], 100);
  EXPECT_LT(d[0], 150);
  EXPECT_GE(d[1], 200);
  EXPECT_LT(d[1], 300);
  EXPECT_GE(d[2], 400);
  for (int i = 4; i < 8; ++i) {
    EXPECT_GE(d[i], 1000);
    EXPECT_LT(d[i], 1500);
  }
  b.Reset();
  EXPECT_LT(b.Next().count(), 150);
}

}  // namespace
}  // namespace discovery

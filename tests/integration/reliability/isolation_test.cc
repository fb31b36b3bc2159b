// Isolation: the control plane's claim namespace holds, beside our objects, objects labelled for
// another app cluster (same app namespaces and names), objects of other app namespaces, and
// unlabelled ones. Whatever selectors, names, resourceVersions or continue tokens a caller sends,
// it only ever sees or touches objects labelled with this cluster ID (and, for namespaced
// requests, that app namespace).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <set>
#include <string>
#include <thread>

#include "kube/json.h"
#include "naming/naming.h"
#include "tests/integration/reliability/harness.h"

namespace reliability {
namespace {

namespace json = kube::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

std::map<std::string, std::string> Labels(const std::string& cluster, const std::string& ns,
                                          const std::string& name) {
  return {{std::string(naming::kLabelAppCluster), cluster},
          {std::string(naming::kLabelAppNamespace), ns},
          {std::string(naming::kLabelAppResourceName), name}};
}

// "namespace/name" of every item of a list answer.
std::set<std::string> Items(const HttpResponse& r) {
  std::set<std::string> out;
  auto doc = json::Parse(r.body);
  if (!doc) return {"<unparsable>"};
  const json::Value* items = json::Find(*doc, "items");
  if (!items || !items->IsArray()) return {"<no items>"};
  for (const auto& it : items->GetArray()) {
    const json::Value* meta = json::Find(it, "metadata");
    out.insert(std::string(json::GetString(*meta, "namespace")) + "/" +
               std::string(json::GetString(*meta, "name")));
  }
  return out;
}

std::string Encode(const std::string& s) {
  std::string enc;
  for (char ch : s) {
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_') {
      enc += ch;
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(ch));
      enc += b;
    }
  }
  return enc;
}

class IsolationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env();
    env_->Start();
    if (::testing::Test::HasFatalFailure()) return;
    // Ours, through the connector.
    for (auto [name, ns] : {std::pair{"mine", "team-a"}, std::pair{"mine-too", "team-a"},
                            std::pair{"other-ns", "team-b"}}) {
      auto r = env_->Do("POST", ClaimsPath(ns), ClaimJson(name, ns));
      ASSERT_EQ(r.status, 201) << r.body;
    }
    // Another cluster's objects with the same app namespaces and names.
    env_->SeedControlPlaneClaim(ControlPlaneName("mine", "team-a", kOtherClusterID),
                                Labels(kOtherClusterID, "team-a", "mine"));
    env_->SeedControlPlaneClaim(ControlPlaneName("theirs", "team-a", kOtherClusterID),
                                Labels(kOtherClusterID, "team-a", "theirs"));
    // Unlabelled, and half-labelled (our namespace label but no cluster label).
    env_->SeedControlPlaneClaim("unlabelled", {});
    env_->SeedControlPlaneClaim("half-labelled",
                                {{std::string(naming::kLabelAppNamespace), "team-a"},
                                 {std::string(naming::kLabelAppResourceName), "half"}});
    // A name that looks like ours but carries another cluster's label.
    env_->SeedControlPlaneClaim(ControlPlaneName("spoof", "team-a"),
                                Labels(kOtherClusterID, "team-a", "spoof"));
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(env_, nullptr);
    ASSERT_NE(env_->connector, nullptr);
  }
  static HttpResponse Get(const std::string& target) { return env_->Do("GET", target); }
  static std::string AllPath() { return "/apis/" + kGroupVersion + "/" + kResource; }

  static inline Env* env_ = nullptr;
};

TEST_F(IsolationTest, ListsOnlyEverShowThisCluster) {
  EXPECT_THAT(Items(Get(ClaimsPath("team-a"))),
              UnorderedElementsAre("team-a/mine", "team-a/mine-too"));
  EXPECT_THAT(Items(Get(AllPath())),
              UnorderedElementsAre("team-a/mine", "team-a/mine-too", "team-b/other-ns"));
  EXPECT_THAT(Items(Get(ClaimsPath("team-b"))), ElementsAre("team-b/other-ns"));
  // The claim namespace itself as an app namespace: nothing.
  EXPECT_THAT(Items(Get(ClaimsPath(kClaimNamespace))), ::testing::IsEmpty());
  // As a Table too.
  auto table =
      env_->Do("GET", AllPath(), "", {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  EXPECT_EQ(table.status, 200) << table.body;
  EXPECT_THAT(table.body, HasSubstr("mine-too"));
  EXPECT_THAT(table.body, Not(HasSubstr("theirs")));
  EXPECT_THAT(table.body, Not(HasSubstr("unlabelled")));
  EXPECT_THAT(table.body, Not(HasSubstr("claim-")));
}

TEST_F(IsolationTest, HostileFieldSelectors) {
  // Another namespace through the field selector of a namespaced request: the intersection.
  EXPECT_THAT(
      Items(Get(ClaimsPath("team-a") + "?fieldSelector=" + Encode("metadata.namespace=team-b"))),
      ::testing::IsEmpty());
  EXPECT_THAT(Items(Get(ClaimsPath("team-a") +
                        "?fieldSelector=" + Encode("metadata.namespace=" + kClaimNamespace))),
              ::testing::IsEmpty());
  // Negations across namespaces stay within this cluster.
  EXPECT_THAT(Items(Get(AllPath() + "?fieldSelector=" + Encode("metadata.namespace!=team-a"))),
              ElementsAre("team-b/other-ns"));
  // Control-plane names and the other cluster's object names.
  for (const std::string& name :
       {ControlPlaneName("mine", "team-a", kOtherClusterID), std::string("unlabelled"),
        ControlPlaneName("mine", "team-a"), std::string("theirs"), std::string("half")}) {
    EXPECT_THAT(Items(Get(AllPath() + "?fieldSelector=" + Encode("metadata.name=" + name))),
                ::testing::IsEmpty())
        << name;
    EXPECT_THAT(
        Items(Get(ClaimsPath("team-a") + "?fieldSelector=" + Encode("metadata.name=" + name))),
        ::testing::IsEmpty())
        << name;
  }
  EXPECT_THAT(Items(Get(AllPath() + "?fieldSelector=" + Encode("metadata.name=mine"))),
              ElementsAre("team-a/mine"));
  EXPECT_THAT(Items(Get(AllPath() + "?fieldSelector=" + Encode("metadata.name!=mine"))),
              UnorderedElementsAre("team-a/mine-too", "team-b/other-ns"));
}

TEST_F(IsolationTest, HostileLabelSelectors) {
  // Selectors on ordinary labels, set-based, and an empty one, never widen the scope.
  for (const std::string& sel : {std::string(""), std::string("team"), std::string("!team"),
                                 std::string("team notin (x)"), std::string("a=b,!c")}) {
    auto r = Get(AllPath() + "?labelSelector=" + Encode(sel));
    ASSERT_EQ(r.status, 200) << sel << ": " << r.body;
    for (const auto& item : Items(r)) {
      EXPECT_THAT(item, ::testing::AnyOf("team-a/mine", "team-a/mine-too", "team-b/other-ns"))
          << sel;
    }
  }
}

TEST_F(IsolationTest, HostileNamesNeverReachOthersObjects) {
  std::string cp_mine = ControlPlaneName("mine", "team-a");
  std::string cp_theirs = ControlPlaneName("theirs", "team-a", kOtherClusterID);
  for (const std::string& name :
       {std::string("theirs"), std::string("spoof"), std::string("unlabelled"), std::string("half"),
        cp_mine, cp_theirs, std::string("half-labelled")}) {
    auto r = Get(ClaimsPath("team-a", name));
    EXPECT_EQ(r.status, 404) << name << ": " << r.body;
    EXPECT_EQ(r.Reason(), "NotFound");
    EXPECT_THAT(r.Message(), HasSubstr("\"" + name + "\" not found"));
    EXPECT_THAT(r.Message(), Not(HasSubstr(ControlPlaneName(name, "team-a"))));
    auto before = env_->ClaimNamespaceState();
    auto del = env_->Do("DELETE", ClaimsPath("team-a", name));
    EXPECT_EQ(del.status, 404) << name << ": " << del.body;
    auto patch = env_->Do("PATCH", ClaimsPath("team-a", name), R"({"spec":{"x":1}})",
                          {{"Content-Type", "application/merge-patch+json"}});
    EXPECT_EQ(patch.status, 404) << name << ": " << patch.body;
    auto put = env_->Do("PUT", ClaimsPath("team-a", name), ClaimJson(name, "team-a"));
    EXPECT_EQ(put.status, 404) << name << ": " << put.body;
    EXPECT_EQ(env_->ClaimNamespaceState(), before) << name;
  }
  // Path tricks: encoded slashes and dot segments are names kube rejects or does not find.
  for (const std::string& name :
       {std::string("..%2F..%2Fclaims"), std::string("%2E%2E"), std::string("mine%2Fstatus%2F.."),
        std::string("..%2F..%2F..%2Fnamespaces%2Fteam-b%2Fkubernetesclusters%2Fother-ns"),
        std::string("%2E%2E%2F%2E%2E%2Fclaims%2Fkubernetesclusters")}) {
    // (kube-apiserver answers 404 for all of these; the connector may resolve the subresource
    // path differently, but never outside this cluster's objects.)
    auto r = Get(ClaimsPath("team-a") + "/" + name);
    EXPECT_NE(r.status, 0) << name;
    EXPECT_THAT(r.body, Not(HasSubstr("theirs")));
    EXPECT_THAT(r.body, Not(HasSubstr(kOtherClusterID)));
    EXPECT_THAT(r.body, Not(HasSubstr("unlabelled")));
  }
  // The spoof object sits under our hash but carries another cluster's label: creating "spoof"
  // must not take it over (kube answers AlreadyExists for the name; nothing is modified).
  auto before = env_->ClaimNamespaceState();
  auto create = env_->Do("POST", ClaimsPath("team-a"), ClaimJson("spoof", "team-a"));
  EXPECT_NE(create.status, 201) << create.body;
  EXPECT_NE(create.status, 200) << create.body;
  EXPECT_EQ(env_->ClaimNamespaceState(), before);
}

TEST_F(IsolationTest, DeleteCollectionOnlyTouchesThisClusterAndNamespace) {
  auto r = env_->Do("POST", ClaimsPath("team-c"), ClaimJson("doomed", "team-c"));
  ASSERT_EQ(r.status, 201) << r.body;
  env_->SeedControlPlaneClaim(ControlPlaneName("doomed", "team-c", kOtherClusterID),
                              Labels(kOtherClusterID, "team-c", "doomed"));
  auto del = env_->Do("DELETE", ClaimsPath("team-c"));
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_FALSE(
      env_->cp->Get(kGroup, kResource, kClaimNamespace, ControlPlaneName("doomed", "team-c")).ok());
  EXPECT_TRUE(env_->cp
                  ->Get(kGroup, kResource, kClaimNamespace,
                        ControlPlaneName("doomed", "team-c", kOtherClusterID))
                  .ok());
  EXPECT_TRUE(env_->cp->Get(kGroup, kResource, kClaimNamespace, "unlabelled").ok());
  EXPECT_TRUE(
      env_->cp->Get(kGroup, kResource, kClaimNamespace, ControlPlaneName("mine", "team-a")).ok());
}

TEST_F(IsolationTest, ResourceVersionsAndContinueTokensFromElsewhere) {
  // A continue token the control plane issued for an unfiltered list of the claim namespace.
  auto raw = env_->cp->Do("GET", ControlPlaneClaimsPath() + "?limit=1");
  ASSERT_EQ(raw.status, 200) << raw.body;
  auto doc = json::Parse(raw.body);
  ASSERT_TRUE(doc);
  std::string token(json::GetString(*json::FindPath(*doc, "metadata"), "continue"));
  ASSERT_FALSE(token.empty());
  for (const std::string& path : {ClaimsPath("team-a"), AllPath()}) {
    auto r = Get(path + "?limit=100&continue=" + Encode(token));
    if (r.status == 200) {
      for (const auto& item : Items(r)) {
        EXPECT_THAT(item, ::testing::AnyOf("team-a/mine", "team-a/mine-too", "team-b/other-ns"));
      }
    } else {
      EXPECT_TRUE(r.status == 400 || r.status == 410) << r.status << " " << r.body;
    }
  }
  // A made-up token: kube's 400 (or 410), never a crash or others' objects.
  auto bogus = Get(AllPath() + "?limit=1&continue=bm90LWEtdG9rZW4");
  EXPECT_TRUE(bogus.status == 400 || bogus.status == 410) << bogus.status << " " << bogus.body;
  EXPECT_THAT(bogus.body, Not(HasSubstr("theirs")));

  // A watch from resourceVersion 1 replays history: only this cluster's objects come back.
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  ASSERT_TRUE(c->SendRaw(c->BuildRequest(
      "GET", AllPath() + "?watch=true&resourceVersion=1&timeoutSeconds=2", "", {})));
  auto head = c->ReadHead(10s);
  ASSERT_EQ(head.status, 200);
  std::vector<std::string> events;
  while (auto ev = c->NextEvent(10s)) events.push_back(*ev);
  EXPECT_FALSE(c->timed_out());
  for (const auto& ev : events) {
    EXPECT_THAT(ev, Not(HasSubstr("theirs")));
    EXPECT_THAT(ev, Not(HasSubstr("unlabelled")));
    EXPECT_THAT(ev, Not(HasSubstr("half")));
    EXPECT_THAT(ev, Not(HasSubstr("spoof")));
    EXPECT_THAT(ev, Not(HasSubstr(kOtherClusterID)));
  }
}

TEST_F(IsolationTest, WatchNeverDeliversOthersEvents) {
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  auto list = Get(AllPath());
  auto doc = json::Parse(list.body);
  ASSERT_TRUE(doc);
  std::string rv(json::GetString(*json::FindPath(*doc, "metadata"), "resourceVersion"));
  ASSERT_TRUE(c->SendRaw(c->BuildRequest(
      "GET", AllPath() + "?watch=true&resourceVersion=" + rv + "&timeoutSeconds=4", "", {})));
  auto head = c->ReadHead(10s);
  ASSERT_EQ(head.status, 200);
  std::this_thread::sleep_for(300ms);
  // Another cluster's claim, an unlabelled one, then ours.
  env_->SeedControlPlaneClaim(ControlPlaneName("late", "team-a", kOtherClusterID),
                              Labels(kOtherClusterID, "team-a", "late"));
  env_->SeedControlPlaneClaim("late-unlabelled", {});
  auto mine = env_->Do("POST", ClaimsPath("team-a"), ClaimJson("late-mine", "team-a"));
  ASSERT_EQ(mine.status, 201) << mine.body;
  std::vector<std::string> events;
  while (auto ev = c->NextEvent(10s)) events.push_back(*ev);
  EXPECT_TRUE(c->stream_ended_cleanly());
  ASSERT_EQ(events.size(), 1u) << ::testing::PrintToString(events);
  EXPECT_THAT(events[0], HasSubstr("\"ADDED\""));
  EXPECT_THAT(events[0], HasSubstr("\"name\":\"late-mine\""));
  EXPECT_THAT(events[0], HasSubstr("\"namespace\":\"team-a\""));
}

TEST_F(IsolationTest, NoLeaks) { EXPECT_TRUE(env_->NoLeaks()); }

}  // namespace
}  // namespace reliability

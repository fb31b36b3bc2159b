// Store semantics without the HTTP layer.
#include "tests/fakekube/store.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

namespace fakekube {
namespace {

namespace json = kube::json;
const kube::GroupResource kGR{"example.com", "widgets"};

json::Document Obj(std::string name, std::string extra = "") {
  auto d = json::Parse(R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":")" +
                       name + "\"" + extra + R"(},"spec":{"a":1}})");
  return std::move(*d);
}
std::string RV(const Object& o) {
  return std::string(json::GetString(*json::Find(*o, "metadata"), "resourceVersion"));
}

TEST(StoreTest, GlobalResourceVersionCounter) {
  Store s;
  auto a = s.Create(kGR, "ns", Obj("a"));
  auto b = s.Create({"", "secrets"}, "ns", Obj("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(std::stoull(RV(*b)), std::stoull(RV(*a)) + 1);
  EXPECT_EQ(s.CurrentResourceVersion(), std::stoull(RV(*b)));
}

TEST(StoreTest, UpdateFnConflictAndNotFound) {
  Store s;
  auto a = s.Create(kGR, "ns", Obj("a"));
  auto up = s.Update(kGR, "ns", "a", [](const Object& cur) -> kube::Result<json::Document> {
    json::Document d = CopyObject(*cur);
    json::SetMember(*json::Find(d, "spec"), "a", json::Value(2), d.GetAllocator());
    return d;
  });
  ASSERT_TRUE(up.ok());
  EXPECT_NE(RV(up->object), RV(*a));
  auto stale = s.Update(kGR, "ns", "a", [&](const Object&) -> kube::Result<json::Document> {
    return CopyObject(**a);  // carries the old resourceVersion
  });
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, 409);
  auto missing = s.Update(kGR, "ns", "zz",
                          [](const Object&) -> kube::Result<json::Document> { return Obj("zz"); });
  EXPECT_EQ(missing.error().code, 404);
  auto created = s.Update(
      kGR, "ns", "zz", [](const Object&) -> kube::Result<json::Document> { return Obj("zz"); },
      true);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->created);
}

TEST(StoreTest, FinalizersAndDeletionTimestamp) {
  Store s;
  (void)s.Create(kGR, "ns", Obj("a", R"(,"finalizers":["x"])"));
  auto d = s.Delete(kGR, "ns", "a");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->deleted);
  EXPECT_NE(json::FindPath(*d->object, "metadata.deletionTimestamp"), nullptr);
  auto again = s.Delete(kGR, "ns", "a");  // idempotent while waiting
  EXPECT_FALSE(again->deleted);
  auto rm = s.Update(kGR, "ns", "a", [](const Object& cur) -> kube::Result<json::Document> {
    json::Document d = CopyObject(*cur);
    json::RemoveMember(*json::Find(d, "metadata"), "finalizers");
    return d;
  });
  ASSERT_TRUE(rm.ok());
  EXPECT_TRUE(rm->deleted);
  EXPECT_EQ(s.Get(kGR, "ns", "a").error().code, 404);
}

TEST(StoreTest, WatchFromResourceVersionAndCompaction) {
  Store s;
  auto a = s.Create(kGR, "ns", Obj("a"));
  uint64_t from = std::stoull(RV(*a));
  (void)s.Create(kGR, "ns", Obj("b"));
  (void)s.Create(kGR, "other", Obj("c"));
  (void)s.Create({"", "secrets"}, "ns", Obj("d"));
  auto w = s.Watch(kGR, "ns", from);
  ASSERT_TRUE(w.ok());
  std::vector<Event> ev;
  auto n = (*w)->Next(ev);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].name, "b");
  EXPECT_EQ((*w)->cursor(), s.CurrentResourceVersion());
  int wakeups = 0;
  (*w)->SetWakeup([&] { ++wakeups; });
  (void)s.Create(kGR, "ns", Obj("e"));
  (void)s.Create(kGR, "other", Obj("f"));  // other namespace: no wakeup
  EXPECT_EQ(wakeups, 1);
  s.Compact();
  ev.clear();
  auto expired = (*w)->Next(ev);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, 410);
  EXPECT_EQ(s.Watch(kGR, "ns", from).error().reason, "Expired");
}

TEST(StoreTest, IdleWatcherSurvivesUnrelatedCompaction) {
  Store::Options o;
  o.max_events = 3;
  Store s(o);
  auto w = s.Watch(kGR, "", 0);
  for (int i = 0; i < 10; ++i) (void)s.Create({"", "secrets"}, "ns", Obj("s" + std::to_string(i)));
  std::vector<Event> ev;
  EXPECT_TRUE((*w)->Next(ev).ok());
  EXPECT_TRUE(ev.empty());
}

TEST(StoreTest, ListAtExactResourceVersion) {
  Store s;
  auto a = s.Create(kGR, "ns", Obj("a"));
  (void)s.Create(kGR, "ns", Obj("b"));
  (void)s.Delete(kGR, "ns", "a");
  ListOptions lo;
  lo.resource_version = RV(*a);
  lo.resource_version_match = "Exact";
  auto l = s.List(kGR, lo);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->items.size(), 1u);
  EXPECT_EQ(json::GetString(*json::Find(*l->items[0], "metadata"), "name"), "a");
  auto now = s.List(kGR, {});
  ASSERT_EQ(now->items.size(), 1u);
  EXPECT_EQ(json::GetString(*json::Find(*now->items[0], "metadata"), "name"), "b");
}

TEST(StoreTest, GenerateNameAndDryRun) {
  Store s;
  auto d = json::Parse(R"({"metadata":{"generateName":"web-"}})");
  WriteOptions dry;
  dry.dry_run = true;
  auto r = s.Create(kGR, "ns", std::move(*d), dry);
  ASSERT_TRUE(r.ok());
  std::string name(json::GetString(*json::Find(**r, "metadata"), "name"));
  EXPECT_EQ(name.size(), 9u);
  EXPECT_EQ(name.substr(0, 4), "web-");
  EXPECT_EQ(json::FindPath(**r, "metadata.resourceVersion"), nullptr);
  EXPECT_TRUE(s.Snapshot(kGR).empty());
  EXPECT_EQ(s.CurrentResourceVersion(), 0u);
}

TEST(StoreTest, ChangeHooksSeeCommitsInOrder) {
  Store s;
  std::vector<std::string> seen;
  int id = s.AddChangeHook([&](const Event& e) {
    seen.push_back(std::string(EventTypeName(e.type)) + ":" + e.name);
    // A hook may write (nested write notifies after this one).
    if (e.name == "a" && e.type == EventType::kAdded) (void)s.Create(kGR, "ns", Obj("a2"));
  });
  (void)s.Create(kGR, "ns", Obj("a"));
  (void)s.Delete(kGR, "ns", "a");
  s.RemoveChangeHook(id);
  (void)s.Create(kGR, "ns", Obj("z"));
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED:a", "ADDED:a2", "DELETED:a"}));
}

TEST(StoreTest, PersistsToDataFile) {
  std::string path = ::testing::TempDir() + "/fakekube_store_test.json";
  std::remove(path.c_str());
  uint64_t rv;
  {
    Store::Options o;
    o.data_file = path;
    o.persist_debounce = std::chrono::milliseconds(10);
    Store s(o);
    ASSERT_TRUE(s.Load().ok());
    (void)s.Create(kGR, "ns", Obj("first"));
    (void)s.Create(kGR, "ns", Obj("kept"));
    rv = s.CurrentResourceVersion();
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  Store::Options o;
  o.data_file = path;
  Store s2(o);
  ASSERT_TRUE(s2.Load().ok());
  EXPECT_TRUE(s2.Get(kGR, "ns", "kept").ok());
  EXPECT_EQ(s2.CurrentResourceVersion(), rv);
  auto next = s2.Create(kGR, "ns", Obj("new"));
  EXPECT_EQ(std::stoull(RV(*next)), rv + 1);
  // Old resourceVersions are not watchable after a restart.
  EXPECT_FALSE(s2.Watch(kGR, "", rv - 1).ok());
  std::remove(path.c_str());
}

TEST(StoreTest, TimeFormat) {
  auto t = std::chrono::system_clock::from_time_t(1700000000);
  EXPECT_EQ(FormatTime(t), "2023-11-14T22:13:20Z");
  EXPECT_EQ(ParseTime("2023-11-14T22:13:20Z"), t);
}

}  // namespace
}  // namespace fakekube

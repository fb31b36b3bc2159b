// Many app clusters, one control plane (issue 7): two connectors with different cluster IDs share
// ONE claim namespace; their app clusters hold identical app namespaces and object names. Neither
// connector can get, list (JSON, Table, PartialObjectMetadata), watch, update, patch (merge, json,
// apply), delete or deletecollection the other's objects, whatever selectors or names it sends;
// the control plane (checked directly) keeps exactly the right objects. Claims (claim-) and
// namespaced XRs (nxr-) alike, in both directions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "tests/integration/multicluster/harness.h"

namespace multicluster {
namespace {

using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

const std::string kTableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const std::string kMetadataAccept =
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json";
const std::string kObjectMetadataAccept =
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json";
const std::string kMerge = "application/merge-patch+json";
const std::string kJsonPatch = "application/json-patch+json";
const std::string kApply = "application/apply-patch+yaml";

// name -> resourceVersion: equal before/after means nothing of it changed.
std::map<std::string, std::string> Versions(const std::map<std::string, CpObject>& objs) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : objs) out[k] = v.resource_version;
  return out;
}

std::string Describe(const std::map<std::string, CpObject>& objs) {
  std::string out;
  for (const auto& [k, v] : objs) out += "  " + v.Describe() + "\n";
  return out;
}

class MultiClusterTest : public ::testing::TestWithParam<const Api*> {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env();
    env_->Start();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(env_, nullptr);
    ASSERT_NE(env_->b().connector, nullptr) << "the environment did not start";
  }
  const Api& api() const { return *GetParam(); }

  // A namespace unique to this test and API, identical in both app clusters.
  std::string Ns(const std::string& base) const {
    std::string ns = base + (api().naming_kind == naming::Kind::kClaim ? "-c" : "-x");
    for (Side* s : {&env_->a(), &env_->b()}) {
      auto ok = s->app->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n");
      EXPECT_TRUE(ok.ok()) << ok.error().message;
    }
    return ns;
  }
  // Creates ns/name through both connectors (A first), each with its own `origin` label.
  void CreateBoth(const std::string& ns, const std::string& name) {
    for (Side* s : {&env_->a(), &env_->b()}) {
      auto r = env_->Do(*s, "POST", Path(api(), ns), ObjectJson(api(), name, s->marker));
      ASSERT_EQ(r.status, 201) << s->marker << " " << ns << "/" << name << ": " << r.body;
    }
  }
  // A response of `x` that must not reveal anything of `y`.
  static void ExpectNothingOf(const Response& r, const Side& y, const std::string& what) {
    EXPECT_THAT(r.body, Not(HasSubstr(y.marker))) << what;
    EXPECT_THAT(r.body, Not(HasSubstr(y.cluster_id))) << what;
    EXPECT_THAT(r.body, Not(HasSubstr("shared-claims"))) << what;
  }
  // A refusal: a Status, never objects (it may echo the caller's own selector text).
  // `also`: one more acceptable code (a deletecollection across all namespaces is not routed).
  static void ExpectRefusal(const Response& r, const std::string& what, int also = 0) {
    EXPECT_TRUE(r.status == 400 || r.status == 422 || (also != 0 && r.status == also))
        << what << ": " << r.status << " " << r.body;
    auto doc = r.Json();
    ASSERT_TRUE(doc) << what << ": " << r.body;
    EXPECT_EQ(json::GetString(*doc, "kind"), "Status") << what << ": " << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr("\"items\""))) << what;
  }
  // The directions (x acts, y is the victim).
  static std::vector<std::pair<Side*, Side*>> Directions() {
    return {{&env_->a(), &env_->b()}, {&env_->b(), &env_->a()}};
  }

  static inline Env* env_ = nullptr;
};

TEST_P(MultiClusterTest, IdenticalNamesAreDistinctObjectsServedOnlyToTheirCluster) {
  const std::string ns = Ns("same"), ns2 = Ns("same2");
  CreateBoth(ns, "db");
  CreateBoth(ns, "web");
  CreateBoth(ns2, "db");

  // The control plane: three objects per cluster, each with its own origin labels and name.
  for (Side* s : {&env_->a(), &env_->b()}) {
    std::map<std::string, CpObject> mine;
    for (const auto& [k, v] : env_->CpObjectsOf(api(), s->cluster_id)) {
      if (v.app_namespace == ns || v.app_namespace == ns2) mine[k] = v;
    }
    ASSERT_EQ(mine.size(), 3u) << Describe(mine);
    for (const auto& [n, app_ns] :
         {std::pair{"db", ns}, std::pair{"web", ns}, std::pair{"db", ns2}}) {
      std::string cp = Env::CpName(api(), *s, app_ns, n);
      ASSERT_TRUE(mine.count(cp)) << cp << "\n" << Describe(mine);
      EXPECT_EQ(mine[cp].app_name, n);
      EXPECT_EQ(mine[cp].app_namespace, app_ns);
      EXPECT_EQ(mine[cp].origin, s->marker);
    }
  }
  EXPECT_NE(Env::CpName(api(), env_->a(), ns, "db"), Env::CpName(api(), env_->b(), ns, "db"));

  for (auto [x, y] : Directions()) {
    SCOPED_TRACE(x->marker + " reads");
    // get: its own object, under the app name.
    auto got = env_->Do(*x, "GET", Path(api(), ns, "db"));
    ASSERT_EQ(got.status, 200) << got.body;
    auto doc = got.Json();
    ASSERT_TRUE(doc);
    EXPECT_EQ(json::GetString(*json::FindPath(*doc, "metadata.labels"), "origin"), x->marker);
    EXPECT_EQ(json::GetString(*json::FindPath(*doc, "metadata"), "name"), "db");
    EXPECT_EQ(json::GetString(*json::FindPath(*doc, "metadata"), "namespace"), ns);
    ExpectNothingOf(got, *y, "get");
    EXPECT_THAT(got.body, Not(HasSubstr(x->cluster_id)));

    // list: namespaced, all namespaces, as Table, as PartialObjectMetadataList.
    auto list = env_->Do(*x, "GET", Path(api(), ns));
    ASSERT_EQ(list.status, 200) << list.body;
    EXPECT_THAT(list.Names(), UnorderedElementsAre("db", "web"));
    EXPECT_THAT(list.Origins(), Each(x->marker));
    ExpectNothingOf(list, *y, "list");
    auto all = env_->Do(*x, "GET", Path(api(), ""));
    ASSERT_EQ(all.status, 200) << all.body;
    EXPECT_THAT(all.Origins(), Each(x->marker));
    EXPECT_GE(all.Names().size(), 3u);
    ExpectNothingOf(all, *y, "list -A");
    for (const std::string& accept : std::vector<std::string>{kTableAccept, kMetadataAccept}) {
      for (const std::string& path : std::vector<std::string>{Path(api(), ns), Path(api(), "")}) {
        auto r = env_->Do(*x, "GET", path, "", "", accept);
        ASSERT_EQ(r.status, 200) << accept << " " << path << ": " << r.body;
        EXPECT_THAT(r.Origins(), Each(x->marker)) << accept << " " << path;
        ExpectNothingOf(r, *y, accept + " " + path);
        EXPECT_THAT(r.body, Not(HasSubstr("claim-")));
        EXPECT_THAT(r.body, Not(HasSubstr("nxr-")));
      }
    }
    // A single object as Table and as PartialObjectMetadata (kube answers 406 for a get that asks
    // for PartialObjectMetadataList, so those are separate cases).
    for (const std::string& accept :
         std::vector<std::string>{kTableAccept, kObjectMetadataAccept}) {
      auto one = env_->Do(*x, "GET", Path(api(), ns, "db"), "", "", accept);
      ASSERT_EQ(one.status, 200) << accept << ": " << one.body;
      ExpectNothingOf(one, *y, accept + " get");
      auto d = one.Json();
      ASSERT_TRUE(d);
      const json::Value* obj = json::Find(*d, "rows") ? json::FindPath((*d)["rows"][0], "object")
                                                      : static_cast<const json::Value*>(&*d);
      ASSERT_NE(obj, nullptr) << one.body;
      EXPECT_EQ(json::GetString(*json::FindPath(*obj, "metadata.labels"), "origin"), x->marker);
    }
    auto table = env_->Do(*x, "GET", Path(api(), ns), "", "", kTableAccept);
    EXPECT_THAT(table.Names(), UnorderedElementsAre("db", "web"));

    // The other's control-plane names, used as app names: not found (and named as asked).
    for (const std::string& name : std::vector<std::string>{Env::CpName(api(), *y, ns, "db"),
                                                            Env::CpName(api(), *x, ns, "db")}) {
      auto r = env_->Do(*x, "GET", Path(api(), ns, name));
      EXPECT_EQ(r.status, 404) << name << ": " << r.body;
      EXPECT_THAT(r.body, HasSubstr("\\\"" + name + "\\\" not found"));
      ExpectNothingOf(r, *y, "get " + name);
    }
    // The claim namespace as an app namespace: nothing.
    auto cns = env_->Do(*x, "GET", Path(api(), kClaimNamespace));
    EXPECT_EQ(cns.status, 200) << cns.body;
    EXPECT_THAT(cns.Names(), IsEmpty());
  }
}

TEST_P(MultiClusterTest, HostileSelectorsNeverWidenTheScope) {
  const std::string ns = Ns("hostile");
  CreateBoth(ns, "db");
  CreateBoth(ns, "web");
  const auto before = Versions(env_->CpObjects(api()));
  int answered = 0, refused = 0;
  for (auto [x, y] : Directions()) {
    SCOPED_TRACE(x->marker + " lists");
    const std::string cluster_key(naming::kLabelAppCluster);
    const std::string ns_key(naming::kLabelAppNamespace);
    const std::string name_key(naming::kLabelAppResourceName);
    std::vector<std::pair<std::string, std::string>> selectors;  // {labelSelector, fieldSelector}
    for (const std::string& l : std::vector<std::string>{
             cluster_key + "=" + y->cluster_id,
             cluster_key + "==" + y->cluster_id,
             cluster_key + "!=" + x->cluster_id,
             "!" + cluster_key,
             cluster_key,
             cluster_key + " in (" + x->cluster_id + "," + y->cluster_id + ")",
             cluster_key + " notin (" + x->cluster_id + ")",
             ns_key + "=" + ns,
             ns_key + " in (" + ns + ",team-a)",
             name_key + "=db",
             "!" + name_key,
             "origin=" + y->marker,
             "origin in (" + x->marker + "," + y->marker + ")",
             "origin notin (" + x->marker + ")",
             "!origin",
             "origin!=" + x->marker,
             "",
             "MCP-Connector.upbound.io/app-cluster=" + y->cluster_id,
         }) {
      selectors.push_back({l, ""});
    }
    for (const std::string& f : std::vector<std::string>{
             "metadata.namespace=" + kClaimNamespace,
             "metadata.namespace==" + kClaimNamespace,
             "metadata.namespace!=" + ns,
             "metadata.name=" + Env::CpName(api(), *y, ns, "db"),
             "metadata.name=" + Env::CpName(api(), *x, ns, "db"),
             "metadata.name!=db",
             "metadata.namespace=" + kClaimNamespace +
                 ",metadata.name=" + Env::CpName(api(), *y, ns, "db"),
             "metadata.namespace=" + ns + ",metadata.name=" + Env::CpName(api(), *y, ns, "web"),
             "metadata.labels." + cluster_key + "=" + y->cluster_id,
         }) {
      selectors.push_back({"", f});
    }
    selectors.push_back(
        {cluster_key + "=" + y->cluster_id, "metadata.name=" + Env::CpName(api(), *y, ns, "db")});
    selectors.push_back({"origin=" + y->marker, "metadata.namespace=" + kClaimNamespace});

    for (const auto& [l, f] : selectors) {
      std::string q;
      if (!l.empty()) q += "labelSelector=" + PercentEncode(l);
      if (!f.empty()) q += std::string(q.empty() ? "" : "&") + "fieldSelector=" + PercentEncode(f);
      for (const std::string& path : std::vector<std::string>{Path(api(), ns), Path(api(), "")}) {
        for (const std::string& accept : std::vector<std::string>{std::string("application/json"),
                                                                  kTableAccept, kMetadataAccept}) {
          const std::string what = path + "?" + q + " (" + accept + ")";
          auto r = env_->Do(*x, "GET", path + "?" + q, "", "", accept);
          if (r.status == 200) {
            ++answered;
            EXPECT_THAT(r.Origins(), Each(x->marker)) << what;
            ExpectNothingOf(r, *y, what);
          } else {
            ++refused;
            ExpectRefusal(r, what);
          }
        }
      }
    }
  }
  // Reads changed nothing in the control plane.
  EXPECT_EQ(Versions(env_->CpObjects(api())), before);
  EXPECT_GT(answered, 0);
  RecordProperty("answered", answered);
  RecordProperty("refused", refused);
}

TEST_P(MultiClusterTest, WatchNeverDeliversTheOthersEvents) {
  const std::string ns = Ns("watch");
  CreateBoth(ns, "db");
  CreateBoth(ns, "web");
  for (auto [x, y] : Directions()) {
    SCOPED_TRACE(x->marker + " watches");
    const std::string late = "late-" + x->marker;
    for (const std::string& query : std::vector<std::string>{
             std::string(""), "&labelSelector=" + PercentEncode("origin=" + y->marker),
             "&labelSelector=" + PercentEncode("origin in (" + x->marker + "," + y->marker + ")"),
             "&fieldSelector=" + PercentEncode("metadata.name=" + Env::CpName(api(), *y, ns, "db")),
             "&fieldSelector=" + PercentEncode("metadata.namespace=" + kClaimNamespace)}) {
      for (const std::string& path : std::vector<std::string>{Path(api(), ns), Path(api(), "")}) {
        const std::string what = path + query;
        // Long enough for the four writes below when unfiltered; hostile queries just look.
        const std::string timeout = query.empty() ? "2" : "1";
        auto w = env_->Watch(*x, path + "?watch=1&timeoutSeconds=" + timeout + query, [&] {
          // The other cluster creates, changes and deletes objects with the same names.
          auto c = env_->Do(*y, "POST", Path(api(), ns), ObjectJson(api(), late, y->marker));
          EXPECT_EQ(c.status, 201) << c.body;
          auto p =
              env_->Do(*y, "PATCH", Path(api(), ns, "db"),
                       R"({"metadata":{"labels":{"touched":")" + y->marker + R"("}}})", kMerge);
          EXPECT_EQ(p.status, 200) << p.body;
          auto d = env_->Do(*y, "DELETE", Path(api(), ns, late));
          EXPECT_EQ(d.status, 200) << d.body;
          // And this cluster one of its own.
          auto mine = env_->Do(*x, "POST", Path(api(), ns), ObjectJson(api(), late, x->marker));
          EXPECT_EQ(mine.status, 201) << mine.body;
        });
        if (w.status == 200) {
          ExpectNothingOf(w, *y, what);
        } else {
          ExpectRefusal(w, what);
        }
        if (query.empty()) {
          EXPECT_THAT(w.body, HasSubstr("\"name\":\"" + late + "\"")) << what;
        }
        // Reset for the next round.
        auto del = env_->Do(*x, "DELETE", Path(api(), ns, late));
        EXPECT_EQ(del.status, 200) << del.body;
      }
    }
  }
}

TEST_P(MultiClusterTest, WritesNeverReachTheOthersObjects) {
  const std::string ns = Ns("writes");
  CreateBoth(ns, "db");
  for (auto [x, y] : Directions()) {
    SCOPED_TRACE(x->marker + " writes");
    const auto y_before = env_->CpObjectsOf(api(), y->cluster_id);
    const CpObject y_db = y_before.at(Env::CpName(api(), *y, ns, "db"));
    const std::string cluster_key(naming::kLabelAppCluster);

    // The other's control-plane names (and this side's own) as app names: never found.
    for (const std::string& name :
         std::vector<std::string>{y_db.name, Env::CpName(api(), *x, ns, "db")}) {
      std::string body = ObjectJson(api(), name, x->marker);
      EXPECT_EQ(env_->Do(*x, "GET", Path(api(), ns, name)).status, 404) << name;
      EXPECT_EQ(env_->Do(*x, "PUT", Path(api(), ns, name), body).status, 404) << name;
      EXPECT_EQ(env_->Do(*x, "PATCH", Path(api(), ns, name), R"({"spec":{}})", kMerge).status, 404)
          << name;
      EXPECT_EQ(env_->Do(*x, "PATCH", Path(api(), ns, name),
                         R"([{"op":"add","path":"/metadata/labels/x","value":"y"}])", kJsonPatch)
                    .status,
                404)
          << name;
      EXPECT_EQ(env_->Do(*x, "DELETE", Path(api(), ns, name)).status, 404) << name;
      // Server-side apply of a missing name creates this side's own object, never the other's.
      auto applied =
          env_->Do(*x, "PATCH", Path(api(), ns, name) + "?fieldManager=attacker", body, kApply);
      EXPECT_EQ(applied.status, 201) << name << ": " << applied.body;
      auto mine = env_->CpObjects(api());
      std::string created = Env::CpName(api(), *x, ns, name);
      ASSERT_TRUE(mine.count(created)) << created;
      EXPECT_EQ(mine[created].cluster, x->cluster_id);
      EXPECT_EQ(mine[created].app_name, name);
      EXPECT_EQ(env_->Do(*x, "DELETE", Path(api(), ns, name)).status, 200) << name;
    }

    // Bodies that try to move an object to the other cluster or name the other's object.
    std::string own = ObjectJson(api(), "db", x->marker);
    std::string relabel =
        R"({"metadata":{"labels":{")" + cluster_key + R"(":")" + y->cluster_id + R"("}}})";
    auto r = env_->Do(*x, "PATCH", Path(api(), ns, "db"), relabel, kMerge);
    EXPECT_EQ(r.status, 422) << r.body;
    r = env_->Do(
        *x, "PATCH", Path(api(), ns, "db"),
        R"([{"op":"replace","path":"/metadata/labels/mcp-connector.upbound.io~1app-cluster",)"
        R"("value":")" +
            y->cluster_id + R"("}])",
        kJsonPatch);
    EXPECT_TRUE(r.status == 422 || r.status == 400) << r.status << " " << r.body;
    r = env_->Do(*x, "PATCH", Path(api(), ns, "db"),
                 R"([{"op":"replace","path":"/metadata/name","value":")" + y_db.name + R"("}])",
                 kJsonPatch);
    EXPECT_GE(r.status, 400) << r.body;
    r = env_->Do(
        *x, "PATCH", Path(api(), ns, "db"),
        R"([{"op":"replace","path":"/metadata/namespace","value":")" + kClaimNamespace + R"("}])",
        kJsonPatch);
    EXPECT_GE(r.status, 400) << r.body;
    auto labelled = json::Parse(own);
    json::SetString(
        json::EnsureObject(*json::Find(*labelled, "metadata"), "labels", labelled->GetAllocator()),
        cluster_key, y->cluster_id, labelled->GetAllocator());
    r = env_->Do(*x, "PUT", Path(api(), ns, "db"), json::Serialize(*labelled));
    EXPECT_EQ(r.status, 422) << r.body;
    r = env_->Do(*x, "PATCH", Path(api(), ns, "db") + "?fieldManager=attacker&force=true",
                 json::Serialize(*labelled), kApply);
    EXPECT_EQ(r.status, 422) << r.body;
    // The other's control-plane name in the body of a write to this side's "db".
    auto renamed = json::Parse(own);
    json::SetString((*renamed)["metadata"], "name", y_db.name, renamed->GetAllocator());
    r = env_->Do(*x, "PUT", Path(api(), ns, "db"), json::Serialize(*renamed));
    EXPECT_EQ(r.status, 400) << r.body;
    // The other's uid as a precondition / in the body: refused, nothing written.
    r = env_->Do(*x, "DELETE", Path(api(), ns, "db"),
                 R"({"preconditions":{"uid":")" + y_db.uid + R"("}})");
    EXPECT_EQ(r.status, 409) << r.body;
    auto with_uid = json::Parse(own);
    json::SetString((*with_uid)["metadata"], "uid", y_db.uid, with_uid->GetAllocator());
    r = env_->Do(*x, "PUT", Path(api(), ns, "db"), json::Serialize(*with_uid));
    EXPECT_GE(r.status, 400) << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr(y->marker)));

    // Legitimate writes to this side's own "db": merge, json, apply, update.
    auto m = env_->Do(*x, "PATCH", Path(api(), ns, "db"),
                      R"({"metadata":{"labels":{"merge":")" + x->marker + R"("}}})", kMerge);
    EXPECT_EQ(m.status, 200) << m.body;
    auto j =
        env_->Do(*x, "PATCH", Path(api(), ns, "db"),
                 R"([{"op":"add","path":"/metadata/labels/json","value":")" + x->marker + R"("}])",
                 kJsonPatch);
    EXPECT_EQ(j.status, 200) << j.body;
    auto a =
        env_->Do(*x, "PATCH", Path(api(), ns, "db") + "?fieldManager=tester&force=true",
                 R"({"apiVersion":")" + api().group_version + R"(","kind":")" + api().kind +
                     R"(","metadata":{"name":"db","labels":{"apply":")" + x->marker + R"("}}})",
                 kApply);
    EXPECT_EQ(a.status, 200) << a.body;
    auto cur = env_->Do(*x, "GET", Path(api(), ns, "db"));
    ASSERT_EQ(cur.status, 200) << cur.body;
    auto u = env_->Do(*x, "PUT", Path(api(), ns, "db"), cur.body);
    EXPECT_EQ(u.status, 200) << u.body;
    for (const Response* resp : {&m, &j, &a, &u}) ExpectNothingOf(*resp, *y, "own write");

    // The control plane: the other's objects exactly as before; this side's own db changed.
    auto y_after = env_->CpObjectsOf(api(), y->cluster_id);
    EXPECT_EQ(Versions(y_after), Versions(y_before)) << Describe(y_after);
    auto x_db = env_->CpObjects(api()).at(Env::CpName(api(), *x, ns, "db"));
    EXPECT_EQ(x_db.cluster, x->cluster_id);
    EXPECT_EQ(x_db.origin, x->marker);
    auto stored = env_->cp->Get(api().group, api().resource, kClaimNamespace, x_db.name);
    ASSERT_TRUE(stored.ok());
    const json::Value* labels = json::FindPath(**stored, "metadata.labels");
    EXPECT_EQ(json::GetString(*labels, "merge"), x->marker);
    EXPECT_EQ(json::GetString(*labels, "json"), x->marker);
    EXPECT_EQ(json::GetString(*labels, "apply"), x->marker);
    // And through the other connector, its object is untouched.
    auto theirs = env_->Do(*y, "GET", Path(api(), ns, "db"));
    ASSERT_EQ(theirs.status, 200) << theirs.body;
    EXPECT_THAT(theirs.body, Not(HasSubstr(x->marker)));
  }
}

TEST_P(MultiClusterTest, DeleteCollectionStaysInItsClusterAndNamespace) {
  const std::string ns = Ns("dc"), ns2 = Ns("dc2");
  CreateBoth(ns, "db");
  CreateBoth(ns, "web");
  CreateBoth(ns2, "db");
  Side& a = env_->a();
  Side& b = env_->b();
  const auto b_before = env_->CpObjectsOf(api(), b.cluster_id);

  // A empties its namespace: A's objects there go; A's other namespace and all of B stay.
  auto dc = env_->Do(a, "DELETE", Path(api(), ns));
  ASSERT_EQ(dc.status, 200) << dc.body;
  ExpectNothingOf(dc, b, "deletecollection");
  auto cp = env_->CpObjects(api());
  EXPECT_FALSE(cp.count(Env::CpName(api(), a, ns, "db")));
  EXPECT_FALSE(cp.count(Env::CpName(api(), a, ns, "web")));
  EXPECT_TRUE(cp.count(Env::CpName(api(), a, ns2, "db")));
  EXPECT_EQ(Versions(env_->CpObjectsOf(api(), b.cluster_id)), Versions(b_before));
  auto b_list = env_->Do(b, "GET", Path(api(), ns));
  EXPECT_THAT(b_list.Names(), UnorderedElementsAre("db", "web"));
  EXPECT_THAT(b_list.Origins(), Each(b.marker));
  EXPECT_THAT(env_->Do(a, "GET", Path(api(), ns)).Names(), IsEmpty());

  // B's identically named namespaces are whole, seen from the control plane and from B.
  for (const auto& [name, app_ns] :
       {std::pair{"db", ns}, std::pair{"web", ns}, std::pair{"db", ns2}}) {
    EXPECT_TRUE(env_->CpObjects(api()).count(Env::CpName(api(), b, app_ns, name)))
        << app_ns << "/" << name;
    EXPECT_EQ(env_->Do(b, "GET", Path(api(), app_ns, name)).status, 200) << app_ns << "/" << name;
  }
  // B empties ns2: A's identically named namespace keeps its object.
  auto a_left = env_->CpObjectsOf(api(), a.cluster_id);
  ASSERT_EQ(env_->Do(b, "DELETE", Path(api(), ns2)).status, 200);
  EXPECT_FALSE(env_->CpObjects(api()).count(Env::CpName(api(), b, ns2, "db")));
  EXPECT_EQ(Versions(env_->CpObjectsOf(api(), a.cluster_id)), Versions(a_left));
  // Hostile deletecollections, each direction: whatever the selector, the other's objects stay.
  for (auto [x, y] : Directions()) {
    SCOPED_TRACE(x->marker + " deletes collections");
    const auto y_objs = env_->CpObjectsOf(api(), y->cluster_id);
    const std::string cluster_key(naming::kLabelAppCluster);
    std::vector<std::string> queries;
    for (const std::string& l : std::vector<std::string>{
             cluster_key + "=" + y->cluster_id, "!" + cluster_key,
             cluster_key + " in (" + x->cluster_id + "," + y->cluster_id + ")",
             cluster_key + " notin (" + x->cluster_id + ")", "origin=" + y->marker, "!origin",
             "origin in (" + y->marker + ")"}) {
      queries.push_back("labelSelector=" + PercentEncode(l));
    }
    for (const std::string& f : std::vector<std::string>{
             "metadata.namespace=" + kClaimNamespace, "metadata.namespace!=" + ns,
             "metadata.name=" + Env::CpName(api(), *y, ns, "db"),
             "metadata.name=" + Env::CpName(api(), *y, ns2, "db")}) {
      queries.push_back("fieldSelector=" + PercentEncode(f));
    }
    for (const std::string& q : queries) {
      for (const std::string& path :
           std::vector<std::string>{Path(api(), ns), Path(api(), ns2), Path(api(), "")}) {
        auto r = env_->Do(*x, "DELETE", path + "?" + q);
        if (r.status == 200) {
          ExpectNothingOf(r, *y, path + "?" + q);
        } else if (r.status == 405) {
          ExpectRefusal(r, path + "?" + q, 405);
        } else {
          ExpectRefusal(r, path + "?" + q, path == Path(api(), "") ? 404 : 0);
        }
      }
    }
    EXPECT_EQ(Versions(env_->CpObjectsOf(api(), y->cluster_id)), Versions(y_objs))
        << Describe(env_->CpObjectsOf(api(), y->cluster_id));
  }
}

INSTANTIATE_TEST_SUITE_P(ClaimsAndNamespacedXRs, MultiClusterTest,
                         ::testing::Values(&ClaimApi(), &XRApi()),
                         [](const ::testing::TestParamInfo<const Api*>& info) {
                           return info.param->naming_kind == naming::Kind::kClaim ? "Claims"
                                                                                  : "NamespacedXRs";
                         });

}  // namespace
}  // namespace multicluster

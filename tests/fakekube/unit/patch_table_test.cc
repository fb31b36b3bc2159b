// JSON patch, merge patch, YAML bodies, managedFields; JSONPath, durations and Tables.
#include <gtest/gtest.h>

#include "tests/fakekube/patch.h"
#include "tests/fakekube/table.h"

namespace fakekube {
namespace {

namespace json = kube::json;

json::Document P(std::string_view s) { return std::move(*json::Parse(s)); }

TEST(PatchTest, JsonPatchOperations) {
  auto doc = P(R"({"a":{"b":1},"l":[1,2,3],"x~y":{"s/t":0}})");
  auto r = ApplyJsonPatch(doc, R"([
    {"op":"add","path":"/a/c","value":2},
    {"op":"remove","path":"/l/0"},
    {"op":"add","path":"/l/-","value":9},
    {"op":"add","path":"/l/0","value":7},
    {"op":"replace","path":"/x~0y/s~1t","value":5},
    {"op":"copy","from":"/a/b","path":"/copied"},
    {"op":"move","from":"/a/c","path":"/moved"},
    {"op":"test","path":"/moved","value":2}])");
  ASSERT_TRUE(r.ok()) << r.error().details_token;
  EXPECT_EQ(json::Serialize(*r),
            R"({"a":{"b":1},"l":[7,2,3,9],"x~y":{"s/t":5},"copied":1,"moved":2})");
  auto bad = ApplyJsonPatch(doc, R"([{"op":"replace","path":"/nope","value":1}])");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 422);
  EXPECT_EQ(bad.error().message, "the server rejected our request due to an error in our request");
  EXPECT_EQ(ApplyJsonPatch(doc, "{}").error().code, 400);
}

TEST(PatchTest, MergePatch) {
  auto doc = P(R"({"a":{"b":1,"c":2},"l":[1,2],"k":"v"})");
  auto r = ApplyMergePatch(doc, R"({"a":{"b":null,"d":{"e":1}},"l":[3],"k":null})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::Serialize(*r), R"({"a":{"c":2,"d":{"e":1}},"l":[3]})");
  EXPECT_EQ(ApplyMergePatch(doc, "{").error().code, 400);
}

TEST(PatchTest, YamlToJsonTypes) {
  auto r = YamlToJson("a: 1\nb: \"1\"\nc: true\nd: null\ne: 1.5\nf: hello\ng: [x, 'y']\nh: yes\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::Serialize(*r),
            R"({"a":1,"b":"1","c":true,"d":null,"e":1.5,"f":"hello","g":["x","y"],"h":true})");
  EXPECT_FALSE(YamlToJson("a: [").ok());
}

TEST(PatchTest, RecordUpdateTracksChangedFields) {
  ManagerInfo m{"kubectl-create", "v1", "2024-01-01T00:00:00Z", ""};
  auto obj = P(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"a":"b"}},"data":{"k":"v"}})");
  RecordUpdate(nullptr, obj, m);
  EXPECT_EQ(
      json::Serialize(*json::FindPath(obj, "metadata.managedFields")),
      R"([{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2024-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:a":{}}},"f:data":{"f:k":{}}}}])");
  auto next = P(json::Serialize(obj));
  json::SetString(*json::Find(next, "data"), "k", "w", next.GetAllocator());
  ManagerInfo m2{"editor", "v1", "2024-01-02T00:00:00Z", ""};
  RecordUpdate(&obj, next, m2);
  std::string mf = json::Serialize(*json::FindPath(next, "metadata.managedFields"));
  EXPECT_NE(mf.find(R"("manager":"editor","operation":"Update")"), std::string::npos);
  EXPECT_NE(mf.find(R"("fieldsV1":{"f:data":{"f:k":{}}})"), std::string::npos) << mf;
  EXPECT_NE(mf.find(R"("fieldsV1":{"f:metadata":{"f:labels":{"f:a":{}}}})"), std::string::npos)
      << mf;
}

TEST(PatchTest, ServerSideApplySharedOwnershipAndForce) {
  auto cfg =
      P(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}})");
  ApplyOptions a{{"a", "v1", "t", ""}, false};
  auto created = ServerSideApply(nullptr, cfg, a);
  ASSERT_TRUE(created.ok());
  ApplyOptions b{{"b", "v1", "t", ""}, false};
  auto shared = ServerSideApply(&*created, cfg, b);  // same value: no conflict
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(json::FindPath(*shared, "metadata.managedFields")->Size(), 2u);
  auto cfg2 =
      P(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"other"}})");
  auto conflict = ServerSideApply(&*shared, cfg2, b);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, 409);
  EXPECT_EQ(conflict.error().causes.size(), 1u);
  EXPECT_EQ(conflict.error().causes[0].field, ".data.k");
  b.force = true;
  auto forced = ServerSideApply(&*shared, cfg2, b);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(json::Serialize(*json::Find(*forced, "data")), R"({"k":"other"})");
  std::string mf = json::Serialize(*json::FindPath(*forced, "metadata.managedFields"));
  EXPECT_EQ(mf.find(R"("manager":"a")"), std::string::npos) << mf;  // a owns nothing now
}

TEST(TableTest, JsonPath) {
  auto o = P(
      R"({"metadata":{"name":"n","labels":{"a.b/c":"x"}},"status":{"conditions":[{"type":"Synced","status":"False"},{"type":"Ready","status":"True"}],"n":3},"l":[1,2,3]})");
  auto one = [&](std::string_view p) {
    auto v = EvalJsonPath(o, p);
    return v.empty() ? std::string("<none>") : json::Serialize(*v[0]);
  };
  EXPECT_EQ(one(".status.conditions[?(@.type=='Ready')].status"), R"("True")");
  EXPECT_EQ(one(".status.conditions[?(@.type==\"Synced\")].status"), R"("False")");
  EXPECT_EQ(one(".status.conditions[?(@.type!='Synced')].type"), R"("Ready")");
  EXPECT_EQ(one("{.status.n}"), "3");
  EXPECT_EQ(one(".l[1]"), "2");
  EXPECT_EQ(one(".l[-1]"), "3");
  EXPECT_EQ(one(".metadata.labels['a.b/c']"), R"("x")");
  EXPECT_EQ(EvalJsonPath(o, ".l[*]").size(), 3u);
  EXPECT_EQ(one(".missing.x"), "<none>");
  EXPECT_EQ(one(".status.conditions[?(@.type=='Nope')].status"), "<none>");
}

TEST(TableTest, HumanDuration) {
  using std::chrono::seconds;
  EXPECT_EQ(HumanDuration(seconds(5)), "5s");
  EXPECT_EQ(HumanDuration(seconds(119)), "119s");
  EXPECT_EQ(HumanDuration(seconds(200)), "3m20s");
  EXPECT_EQ(HumanDuration(seconds(600)), "10m");
  EXPECT_EQ(HumanDuration(seconds(3 * 3600 + 120)), "3h2m");
  EXPECT_EQ(HumanDuration(seconds(20 * 3600)), "20h");
  EXPECT_EQ(HumanDuration(seconds(3 * 86400 + 3600)), "3d1h");
  EXPECT_EQ(HumanDuration(seconds(100 * 86400)), "100d");
  EXPECT_EQ(HumanDuration(seconds(-5)), "<invalid>");
}

TEST(TableTest, RendersColumnsAndTypes) {
  kube::APIResource r;
  r.kind = "Widget";
  r.printer_columns = {{"Replicas", "integer", "", "", ".spec.replicas", 0},
                       {"Ready", "string", "", "", ".status.ready", 0},
                       {"Age", "date", "", "", ".metadata.creationTimestamp", 0},
                       {"Wide", "string", "", "", ".spec.obj", 1}};
  auto o = P(
      R"({"metadata":{"name":"w","creationTimestamp":"2023-11-14T22:13:20Z"},"spec":{"replicas":3,"obj":{"a":1}},"status":{"ready":true}})");
  TableOptions to;
  to.now = std::chrono::system_clock::from_time_t(1700000000 + 200);
  std::vector<const json::Value*> objs = {&o};
  auto t = RenderTable(r, objs, to, "42");
  EXPECT_EQ(json::Serialize(*json::Find((*json::Find(t, "rows"))[0], "cells")),
            R"(["w",3,"true","3m20s","{\"a\":1}"])");
  EXPECT_EQ(json::Serialize(*json::Find(t, "metadata")), R"({"resourceVersion":"42"})");
  EXPECT_EQ(json::Find(t, "columnDefinitions")->Size(), 5u);
  EXPECT_EQ(json::GetString((*json::Find(t, "columnDefinitions"))[0], "format"), "name");
}

}  // namespace
}  // namespace fakekube

// Response-side translation: objects, lists, Tables, watch events, Status errors, migration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proxy/translator.h"
#include "test_util.h"

namespace proxy {
namespace {

using namespace proxy::testing;  // NOLINT
using ::testing::HasSubstr;
using ::testing::Not;
namespace json = kube::json;

std::string Meta(const json::Value& obj, const char* key) {
  const json::Value* m = json::Find(obj, "metadata");
  return m ? std::string(json::GetString(*m, key)) : std::string();
}

TEST(TranslateObject, RestoresWhatTheAppSideWrote) {
  Translator t = MakeTranslator();
  std::string owners = R"([{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"u1"}])";
  json::Document tmp;
  std::string extra =
      R"("selfLink":"/apis/k8s.starter.org/v1alpha1/namespaces/claims/kubernetesclusters/x",)"
      R"("ownerReferences":[{"apiVersion":"v1","kind":"Thing","name":"cp-owner","uid":"cp"}],)"
      R"("annotations":{"mcp-connector.upbound.io/owner-references":)" +
      json::Serialize(json::Str(owners, tmp.GetAllocator())) +
      R"(,"mcp-connector.upbound.io/connection-secret-name":"kubeconfig","keep":"me"})";
  json::Document obj =
      Parse(StoredClaim("my-bucket", "test", kCluster, extra,
                        R"({"writeConnectionSecretToRef":{"name":")" +
                            ConnectionSecretName("kubeconfig", "test", kCluster) + R"("}})"));
  ASSERT_TRUE(obj.IsObject());
  ASSERT_TRUE(t.TranslateObject(obj, obj.GetAllocator()));
  EXPECT_EQ(Meta(obj, "name"), "my-bucket");
  EXPECT_EQ(Meta(obj, "namespace"), "test");
  EXPECT_EQ(Meta(obj, "selfLink"),
            "/apis/k8s.starter.org/v1alpha1/namespaces/test/kubernetesclusters/my-bucket");
  EXPECT_EQ(json::FindPath(obj, "metadata.labels"), nullptr);  // only ours: all gone
  const json::Value* ann = json::FindPath(obj, "metadata.annotations");
  ASSERT_NE(ann, nullptr);
  EXPECT_EQ(ann->MemberCount(), 1u);
  EXPECT_EQ(json::GetString(*ann, "keep"), "me");
  const json::Value* refs = json::FindPath(obj, "metadata.ownerReferences");
  ASSERT_TRUE(refs && refs->IsArray() && refs->Size() == 1);
  EXPECT_EQ(json::GetString((*refs)[0], "uid"), "u1");
  EXPECT_EQ(json::GetString(*json::FindPath(obj, "spec.writeConnectionSecretToRef"), "name"),
            "kubeconfig");
  EXPECT_EQ(json::FindPath(obj, "status.conditions")->Size(), 1u);
  EXPECT_EQ(Meta(obj, "uid"), "uid-1");
}

TEST(TranslateObject, ControlPlaneOwnerReferencesNeverReachTheAppCluster) {
  json::Document obj = Parse(StoredClaim(
      "a", "test", kCluster, R"("ownerReferences":[{"kind":"X","name":"n","uid":"cp-uid"}])"));
  ASSERT_TRUE(MakeTranslator().TranslateObject(obj, obj.GetAllocator()));
  EXPECT_EQ(json::FindPath(obj, "metadata.ownerReferences"), nullptr);
}

TEST(TranslateObject, ManagedFieldsForgetOurKeys) {
  json::Document obj = Parse(StoredClaim(
      "a", "test", kCluster,
      R"("managedFields":[{"manager":"kubectl","operation":"Apply","fieldsV1":{"f:metadata":{"f:labels":{"f:team":{},"f:mcp-connector.upbound.io/app-cluster":{}},"f:annotations":{"f:mcp-connector.upbound.io/owner-references":{}}},"f:spec":{"f:x":{}}}}])"));
  ASSERT_TRUE(MakeTranslator().TranslateObject(obj, obj.GetAllocator()));
  std::string out = json::Serialize(obj);
  EXPECT_THAT(out, Not(HasSubstr("mcp-connector")));
  EXPECT_THAT(out, HasSubstr(R"("f:labels":{"f:team":{}})"));
  EXPECT_THAT(out, Not(HasSubstr("f:annotations")));
  EXPECT_THAT(out, HasSubstr(R"("f:spec":{"f:x":{}})"));
}

TEST(TranslateObject, UserLabelsStay) {
  json::Document obj = Parse(StoredClaim("a", "test"));
  json::SetString(*json::Find(*json::Find(obj, "metadata"), "labels"), "team", "blue",
                  obj.GetAllocator());
  ASSERT_TRUE(MakeTranslator().TranslateObject(obj, obj.GetAllocator()));
  const json::Value* labels = json::FindPath(obj, "metadata.labels");
  ASSERT_TRUE(labels);
  EXPECT_EQ(labels->MemberCount(), 1u);
  EXPECT_EQ(json::GetString(*labels, "team"), "blue");
}

// Isolation: objects of other clusters, other namespaces, or with forged labels are not ours.
TEST(TranslateObject, ForeignObjectsAreRejected) {
  Translator t = MakeTranslator();
  json::Document other = Parse(StoredClaim("a", "test", kOtherCluster));
  EXPECT_FALSE(t.TranslateObject(other, other.GetAllocator()));
  EXPECT_EQ(Meta(other, "name"), Cp("a", "test", kOtherCluster));  // untouched

  json::Document unlabelled =
      Parse(R"({"metadata":{"name":")" + Cp("a", "test") + R"(","namespace":"claims"}})");
  EXPECT_FALSE(t.TranslateObject(unlabelled, unlabelled.GetAllocator()));

  json::Document wrong_ns = Parse(StoredClaim("a", "test"));
  json::SetString(*json::Find(wrong_ns, "metadata"), "namespace", "elsewhere",
                  wrong_ns.GetAllocator());
  EXPECT_FALSE(t.TranslateObject(wrong_ns, wrong_ns.GetAllocator()));

  // Labels copied onto an object whose name is not the hash of what they claim.
  json::Document forged = Parse(StoredClaim("a", "test"));
  json::SetString(*json::Find(forged, "metadata"), "name", "victim", forged.GetAllocator());
  EXPECT_FALSE(t.TranslateObject(forged, forged.GetAllocator()));

  EXPECT_FALSE(MakeTranslator(kOtherCluster).Owner(Parse(StoredClaim("a", "test"))));
}

TEST(TranslateObject, LongNamesRoundTrip) {
  Translator t = MakeTranslator();
  std::string long_name = std::string(80, 'b') + ".example";
  auto body =
      Translator::DecodeBody(R"({"metadata":{"name":")" + long_name + R"("}})", BodyType::kJson);
  ASSERT_TRUE(body.ok());
  ASSERT_TRUE(t.PrepareObject(*body, {"create", "test", "", ""}).ok());
  ASSERT_TRUE(t.TranslateObject(*body, body->GetAllocator()));
  EXPECT_EQ(Meta(*body, "name"), long_name);
  EXPECT_EQ(json::FindPath(*body, "metadata.labels"), nullptr);
  EXPECT_EQ(json::FindPath(*body, "metadata.annotations"), nullptr);
}

// Migration restore: objects as `up controlplane migration import` writes them.
TEST(Migration, ImportedClaimsReadBackUnderTheirOriginalNames) {
  Translator t = MakeTranslator("my-appcluster");
  // Exactly the three labels, no annotations but the importer's paused one, the connection
  // secret name untranslated.
  json::Document obj = Parse(StoredClaim(
      "example", "default", "my-appcluster", R"("annotations":{"crossplane.io/paused":"true"})",
      R"({"compositionRef":{"name":"c"},"writeConnectionSecretToRef":{"name":"platform-ref-aws-kubeconfig"}})"));
  ASSERT_EQ(Meta(obj, "name"), Cp("example", "default", "my-appcluster"));
  ASSERT_TRUE(t.TranslateObject(obj, obj.GetAllocator()));
  EXPECT_EQ(Meta(obj, "name"), "example");
  EXPECT_EQ(Meta(obj, "namespace"), "default");
  EXPECT_EQ(json::GetString(*json::FindPath(obj, "metadata.annotations"), "crossplane.io/paused"),
            "true");
  EXPECT_EQ(json::GetString(*json::FindPath(obj, "spec.writeConnectionSecretToRef"), "name"),
            "platform-ref-aws-kubeconfig");
  EXPECT_EQ(json::GetString(*json::FindPath(obj, "spec.compositionRef"), "name"), "c");

  // The first write (an update of what was read) keeps the name and every field, and adds what
  // the connector needs.
  std::string app_view = json::Serialize(obj);
  auto body = Translator::DecodeBody(app_view, BodyType::kJson);
  ASSERT_TRUE(body.ok());
  ASSERT_TRUE(t.PrepareObject(*body, {"update", "default", "example", ""}).ok());
  EXPECT_EQ(Meta(*body, "name"), Cp("example", "default", "my-appcluster"));
  EXPECT_EQ(Meta(*body, "namespace"), "claims");
  EXPECT_EQ(Meta(*body, "uid"), "uid-1");
  EXPECT_EQ(Meta(*body, "resourceVersion"), "7");
  const json::Value* labels = json::FindPath(*body, "metadata.labels");
  EXPECT_EQ(labels->MemberCount(), 3u);
  EXPECT_EQ(json::GetString(*json::FindPath(*body, "metadata.annotations"), "crossplane.io/paused"),
            "true");
  EXPECT_EQ(json::GetString(*json::FindPath(*body, "spec.compositionRef"), "name"), "c");
  EXPECT_TRUE(json::FindPath(*body, "status.conditions"));
  // Read back after that write: still the same app view.
  ASSERT_TRUE(t.TranslateObject(*body, body->GetAllocator()));
  EXPECT_EQ(Meta(*body, "name"), "example");
  EXPECT_EQ(json::GetString(*json::FindPath(*body, "spec.writeConnectionSecretToRef"), "name"),
            "platform-ref-aws-kubeconfig");
}

TEST(TranslateDocument, ListsDropForeignItems) {
  Translator t = MakeTranslator();
  json::Document list = Parse(
      R"({"kind":"KubernetesClusterList","apiVersion":"k8s.starter.org/v1alpha1","metadata":{"resourceVersion":"9"},"items":[)" +
      StoredClaim("a", "test") + "," + StoredClaim("b", "test", kOtherCluster) + "," +
      StoredClaim("c", "prod") + "]}");
  ASSERT_TRUE(t.TranslateDocument(list));
  const json::Value& items = list["items"];
  ASSERT_EQ(items.Size(), 2u);
  EXPECT_EQ(Meta(items[0], "name"), "a");
  EXPECT_EQ(Meta(items[1], "name"), "c");
  EXPECT_EQ(Meta(items[1], "namespace"), "prod");
  EXPECT_EQ(json::GetString(*json::FindPath(list, "metadata"), "resourceVersion"), "9");
}

TEST(TranslateDocument, PartialObjectMetadataList) {
  Translator t = MakeTranslator();
  auto pom = [](std::string name, const char* cluster) {
    json::Document full = Parse(StoredClaim(name, "test", cluster));
    json::Document d;
    d.SetObject();
    d.AddMember("kind", "PartialObjectMetadata", d.GetAllocator());
    d.AddMember("apiVersion", "meta.k8s.io/v1", d.GetAllocator());
    d.AddMember("metadata", json::Value(full["metadata"], d.GetAllocator()), d.GetAllocator());
    return json::Serialize(d);
  };
  json::Document list = Parse(
      R"({"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[)" +
      pom("a", kCluster) + "," + pom("b", kOtherCluster) + "]}");
  ASSERT_TRUE(t.TranslateDocument(list));
  ASSERT_EQ(list["items"].Size(), 1u);
  EXPECT_EQ(Meta(list["items"][0], "name"), "a");
  EXPECT_EQ(json::FindPath(list["items"][0], "metadata.labels"), nullptr);
}

std::string TableOf(const std::vector<std::string>& stored) {
  std::string rows;
  for (const auto& s : stored) {
    json::Document obj = Parse(s);
    std::string name = Meta(obj, "name");
    std::string secret;
    if (const auto* r = json::FindPath(obj, "spec.writeConnectionSecretToRef"))
      secret = json::GetString(*r, "name");
    if (!rows.empty()) rows += ",";
    rows +=
        R"({"cells":[")" + name + R"(","True","True",")" + secret +
        R"(","5m"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)" +
        json::Serialize(obj["metadata"]) + "}}";
  }
  return R"({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"3"},)"
         R"("columnDefinitions":[{"name":"Name","type":"string","format":"name"},)"
         R"({"name":"SYNCED","type":"string"},{"name":"READY","type":"string"},)"
         R"({"name":"CONNECTION-SECRET","type":"string"},{"name":"AGE","type":"date"}],)"
         R"("rows":[)" +
         rows + "]}";
}

TEST(TranslateDocument, TableRowsNameCellsAndSecretCells) {
  Translator t = MakeTranslator();
  std::string secret_cp = ConnectionSecretName("kubeconfig", "test", kCluster);
  json::Document table = Parse(TableOf(
      {StoredClaim(
           "a", "test", kCluster,
           R"("annotations":{"mcp-connector.upbound.io/connection-secret-name":"kubeconfig"})",
           R"({"writeConnectionSecretToRef":{"name":")" + secret_cp + R"("}})"),
       StoredClaim("b", "test", kOtherCluster)}));
  ASSERT_TRUE(t.TranslateDocument(table));
  const json::Value& rows = table["rows"];
  ASSERT_EQ(rows.Size(), 1u);
  EXPECT_EQ(json::View(rows[0]["cells"][0]), "a");
  EXPECT_EQ(json::View(rows[0]["cells"][3]), "kubeconfig");
  EXPECT_EQ(Meta(rows[0]["object"], "name"), "a");
  EXPECT_EQ(Meta(rows[0]["object"], "namespace"), "test");
  EXPECT_THAT(json::Serialize(table), Not(HasSubstr("claim-")));
  EXPECT_THAT(json::Serialize(table), Not(HasSubstr("mcp-connector")));

  json::Document no_objects = Parse(TableOf({StoredClaim("a", "test")}));
  ASSERT_TRUE(t.TranslateDocument(no_objects, /*keep_table_objects=*/false));
  EXPECT_EQ(json::Find(no_objects["rows"][0], "object"), nullptr);
  EXPECT_EQ(json::View(no_objects["rows"][0]["cells"][0]), "a");
}

TEST(TranslateDocument, RowsWithoutObjectsAreNeverShown) {
  json::Document table = Parse(
      R"({"kind":"Table","columnDefinitions":[{"name":"Name","format":"name"}],"rows":[{"cells":["claim-x"]}]})");
  ASSERT_TRUE(MakeTranslator().TranslateDocument(table));
  EXPECT_EQ(table["rows"].Size(), 0u);
}

TEST(TranslateDocument, SingleForeignObjectIsNotOurs) {
  json::Document obj = Parse(StoredClaim("a", "test", kOtherCluster));
  EXPECT_FALSE(MakeTranslator().TranslateDocument(obj));
}

TEST(TranslateWatchEvent, EventsAreTranslatedOrDropped) {
  Translator t = MakeTranslator();
  auto added =
      t.TranslateWatchEvent(R"({"type":"ADDED","object":)" + StoredClaim("a", "test") + "}", true);
  ASSERT_TRUE(added.ok() && added->has_value());
  json::Document ev = Parse(**added);
  EXPECT_EQ(json::GetString(ev, "type"), "ADDED");
  EXPECT_EQ(Meta(ev["object"], "name"), "a");

  auto foreign = t.TranslateWatchEvent(
      R"({"type":"MODIFIED","object":)" + StoredClaim("a", "test", kOtherCluster) + "}", true);
  ASSERT_TRUE(foreign.ok());
  EXPECT_FALSE(foreign->has_value());

  std::string bookmark =
      R"({"type":"BOOKMARK","object":{"kind":"KubernetesCluster","apiVersion":"k8s.starter.org/v1alpha1","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}})";
  auto bm = t.TranslateWatchEvent(bookmark, true);
  ASSERT_TRUE(bm.ok() && bm->has_value());
  EXPECT_EQ(**bm, bookmark);

  auto err = t.TranslateWatchEvent(
      R"js({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}})js",
      true);
  ASSERT_TRUE(err.ok() && err->has_value());
  json::Document e = Parse(**err);
  EXPECT_EQ(json::GetString(e, "type"), "ERROR");
  EXPECT_EQ(json::GetInt(e["object"], "code").value_or(0), 410);
  EXPECT_EQ(json::GetString(e["object"], "reason"), "Expired");

  auto bad = t.TranslateWatchEvent("{\"type\":\"ADDED\"}", true);
  EXPECT_FALSE(bad.ok());
}

TEST(TranslateWatchEvent, TableEvents) {
  Translator t = MakeTranslator();
  auto ours = t.TranslateWatchEvent(
      R"({"type":"ADDED","object":)" + TableOf({StoredClaim("a", "test")}) + "}", true);
  ASSERT_TRUE(ours.ok() && ours->has_value());
  json::Document ev = Parse(**ours);
  EXPECT_EQ(json::View(ev["object"]["rows"][0]["cells"][0]), "a");
  auto theirs = t.TranslateWatchEvent(
      R"({"type":"ADDED","object":)" + TableOf({StoredClaim("a", "test", kOtherCluster)}) + "}",
      true);
  ASSERT_TRUE(theirs.ok());
  EXPECT_FALSE(theirs->has_value());
}

TEST(TranslateStatus, ErrorsNameTheUsersObject) {
  Translator t = MakeTranslator();
  AppRef target{"test", "my-bucket"};
  std::string cp = Cp("my-bucket", "test");
  kube::Status nf = kube::NewNotFound(t.Gr(), cp);
  kube::Status out = t.TranslateStatus(nf, &target);
  EXPECT_EQ(out.code, 404);
  EXPECT_EQ(out.message, "kubernetesclusters.k8s.starter.org \"my-bucket\" not found");
  EXPECT_EQ(out.name, "my-bucket");

  kube::Status ae = t.TranslateStatus(kube::NewAlreadyExists(t.Gr(), cp), &target);
  EXPECT_EQ(ae.code, 409);
  EXPECT_EQ(ae.message, "kubernetesclusters.k8s.starter.org \"my-bucket\" already exists");

  kube::Status conflict = t.TranslateStatus(
      kube::NewConflict(t.Gr(), cp,
                        "the object has been modified; please apply your changes to "
                        "the latest version and try again"),
      &target);
  EXPECT_THAT(conflict.message, HasSubstr("\"my-bucket\""));
  EXPECT_THAT(conflict.message, Not(HasSubstr(cp)));

  kube::Status inv = t.TranslateStatus(
      kube::NewInvalid(
          "KubernetesCluster.k8s.starter.org", cp,
          {{"FieldValueInvalid", "Invalid value: 0: must be > 0", "spec.parameters.nodeCount"}}),
      &target);
  EXPECT_EQ(inv.code, 422);
  EXPECT_THAT(inv.message, HasSubstr("\"my-bucket\" is invalid"));
  EXPECT_EQ(inv.causes.size(), 1u);

  std::string body = t.TranslateStatusBody(404, nf.ToJson(), &target);
  EXPECT_THAT(body, HasSubstr("\\\"my-bucket\\\" not found"));
  EXPECT_THAT(body, Not(HasSubstr(cp)));
  std::string generic = t.TranslateStatusBody(502, "<html>bad gateway</html>", nullptr);
  EXPECT_THAT(generic, HasSubstr("\"code\":502"));
}

}  // namespace
}  // namespace proxy

namespace proxy {
namespace {

// Our label/annotation keys, matched ASCII case-insensitively: only letters fold, so no other
// byte (a control character OR-ed with 0x20 is punctuation) passes for one.
TEST(ReservedKeys, PrefixMatchedCaseInsensitivelyAndByteExact) {
  EXPECT_TRUE(IsReservedKey("mcp-connector.upbound.io/app-cluster"));
  EXPECT_TRUE(IsReservedKey("MCP-Connector.Upbound.IO/app-cluster"));
  EXPECT_TRUE(IsReservedKey("mcp-connector.upbound.io/"));
  EXPECT_FALSE(IsReservedKey("mcp-connector.upbound.io"));
  EXPECT_FALSE(IsReservedKey(""));
  EXPECT_FALSE(IsReservedKey("xmcp-connector.upbound.io/a"));
  EXPECT_FALSE(IsReservedKey("mcp-connector-upbound.io/a"));
  EXPECT_FALSE(IsReservedKey("mcp-connector.upbound.iO_a"));
  // Control characters that OR-ed with 0x20 are '-', '.' and '/'.
  EXPECT_FALSE(IsReservedKey("mcp\rconnector.upbound.io/a"));
  EXPECT_FALSE(IsReservedKey("mcp-connector\x0eupbound.io/a"));
  EXPECT_FALSE(IsReservedKey("mcp-connector.upbound.io\x0f"));
  EXPECT_FALSE(IsReservedKey("mcp-connector.upbound.io\xc3\xa9"));
  // Every byte position is compared: a change anywhere in the prefix is not ours.
  const std::string prefix(kReservedPrefix);
  for (size_t i = 0; i < prefix.size(); ++i) {
    std::string k = prefix + "x";
    k[i] = '#';
    EXPECT_FALSE(IsReservedKey(k)) << k;
  }
}

}  // namespace
}  // namespace proxy

// Request-side translation rules: names, paths, queries, bodies, patches.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proxy/translator.h"
#include "test_util.h"

namespace proxy {
namespace {

using namespace proxy::testing;  // NOLINT
using ::testing::HasSubstr;
namespace json = kube::json;

const char* kLabelCluster = "mcp-connector.upbound.io/app-cluster";
const char* kLabelNs = "mcp-connector.upbound.io/app-namespace";
const char* kLabelName = "mcp-connector.upbound.io/app-resource-name";

std::string Label(const json::Value& obj, const char* key) {
  const json::Value* labels = json::FindPath(obj, "metadata.labels");
  return labels ? std::string(json::GetString(*labels, key)) : std::string();
}
std::string Annotation(const json::Value& obj, std::string_view key) {
  const json::Value* a = json::FindPath(obj, "metadata.annotations");
  return a ? std::string(json::GetString(*a, key)) : std::string();
}

TEST(TranslatorNames, DocumentedVectorAndPrefixes) {
  EXPECT_EQ(MakeTranslator().ControlPlaneName("test", "my-bucket"), "claim-c603e518969b413e");
  std::string nxr =
      MakeTranslator(kCluster, Kind::kNamespacedXR).ControlPlaneName("test", "my-bucket");
  EXPECT_EQ(nxr, "nxr-c603e518969b413e");
}

// The per-thread remembered answer never leaks between kinds, clusters, namespaces or names.
TEST(TranslatorNames, RepeatedAndAlternatingInputsGiveTheirOwnNames) {
  Translator claims = MakeTranslator();
  Translator nxrs = MakeTranslator(kCluster, Kind::kNamespacedXR);
  Translator other = MakeTranslator(kOtherCluster);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(claims.ControlPlaneName("test", "my-bucket"), "claim-c603e518969b413e");
    EXPECT_EQ(claims.ControlPlaneName("test", "my-bucket"), "claim-c603e518969b413e");
    EXPECT_EQ(nxrs.ControlPlaneName("test", "my-bucket"), "nxr-c603e518969b413e");
    EXPECT_EQ(other.ControlPlaneName("test", "my-bucket"),
              naming::ControlPlaneName(Kind::kClaim, "my-bucket", "test", kOtherCluster));
    EXPECT_EQ(claims.ControlPlaneName("tes", "tmy-bucket"),
              naming::ControlPlaneName(Kind::kClaim, "tmy-bucket", "tes", kCluster));
    EXPECT_EQ(claims.ControlPlaneName("test", "my-bucket2"),
              naming::ControlPlaneName(Kind::kClaim, "my-bucket2", "test", kCluster));
  }
}

TEST(TranslatorNames, Paths) {
  Translator t = MakeTranslator();
  EXPECT_EQ(t.CollectionPath(),
            "/apis/k8s.starter.org/v1alpha1/namespaces/claims/kubernetesclusters");
  EXPECT_EQ(t.ObjectPath("claim-1", "status"),
            "/apis/k8s.starter.org/v1alpha1/namespaces/claims/kubernetesclusters/claim-1/status");
}

TEST(TranslatorNames, ConnectionSecretNameIsPerNamespaceHash) {
  std::string a = ConnectionSecretName("kubeconfig", "team-a", kCluster);
  std::string b = ConnectionSecretName("kubeconfig", "team-b", kCluster);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("conn-", 0), 0u);
  EXPECT_EQ(a.size(), 5u + 16u);
  EXPECT_EQ(a, ConnectionSecretName("kubeconfig", "team-a", kCluster));
}

// ---------------------------------------------------------------------------------------------
// Queries

kube::http::Query Q(std::string_view raw) { return kube::http::Query(raw); }

TEST(TranslateQuery, PassesKnownParametersAndDropsOthers) {
  auto q = MakeTranslator().TranslateQuery(
      Q("resourceVersion=5&limit=500&continue=abc&timeoutSeconds=30&allowWatchBookmarks=true&"
        "dryRun=All&fieldManager=kubectl&force=true&fieldValidation=Strict&"
        "propagationPolicy=Foreground&resourceVersionMatch=NotOlderThan&bogus=1"),
      "list", "test");
  ASSERT_TRUE(q.ok());
  for (auto [k, v] :
       std::vector<std::pair<const char*, const char*>>{{"resourceVersion", "5"},
                                                        {"limit", "500"},
                                                        {"continue", "abc"},
                                                        {"timeoutSeconds", "30"},
                                                        {"allowWatchBookmarks", "true"},
                                                        {"dryRun", "All"},
                                                        {"fieldManager", "kubectl"},
                                                        {"force", "true"},
                                                        {"fieldValidation", "Strict"},
                                                        {"propagationPolicy", "Foreground"},
                                                        {"resourceVersionMatch", "NotOlderThan"}}) {
    EXPECT_EQ(q->Get(k).value_or("<none>"), v) << k;
  }
  EXPECT_FALSE(q->Get("bogus"));
}

TEST(TranslateQuery, NamespacedListIsScopedToClusterAndNamespace) {
  auto q = MakeTranslator().TranslateQuery(Q(""), "list", "test");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Get("labelSelector").value_or(""),
            std::string(kLabelCluster) + "=" + kCluster + "," + kLabelNs + "=test");
  EXPECT_FALSE(q->Get("watch"));
}

TEST(TranslateQuery, AllNamespacesListIsScopedToCluster) {
  auto q = MakeTranslator().TranslateQuery(Q("labelSelector=team%3Dblue"), "list", "");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Get("labelSelector").value_or(""),
            std::string(kLabelCluster) + "=" + kCluster + ",team=blue");
}

TEST(TranslateQuery, WatchAddsWatchTrue) {
  auto q = MakeTranslator().TranslateQuery(Q("resourceVersion=10&allowWatchBookmarks=true"),
                                           "watch", "test");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Get("watch").value_or(""), "true");
  EXPECT_EQ(q->Get("resourceVersion").value_or(""), "10");
}

TEST(TranslateQuery, UserSelectorIsReSerializedAndAnded) {
  auto q = MakeTranslator().TranslateQuery(
      Q("labelSelector=" + kube::http::PercentEncode("env in (a, b),!gone, tier!=db,x==y")),
      "deletecollection", "test");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Get("labelSelector").value_or(""),
            std::string("env in (a,b),!gone,") + kLabelCluster + "=" + kCluster + "," + kLabelNs +
                "=test,tier!=db,x==y");  // kube's canonical order: sorted by key
}

// Hostile selectors: nothing a user sends can widen the scope beyond this cluster.
TEST(TranslateQuery, SelectorOnReservedKeysIsRejected) {
  Translator t = MakeTranslator();
  for (std::string sel :
       {std::string(kLabelCluster) + "=" + kOtherCluster, std::string("!") + kLabelCluster,
        std::string(kLabelCluster) + " notin (" + kCluster + ")",
        std::string(kLabelNs) + " in (other,test)", std::string("a=b,") + kLabelName,
        std::string("MCP-Connector.upbound.io/app-cluster=x")}) {
    auto q = t.TranslateQuery(Q("labelSelector=" + kube::http::PercentEncode(sel)), "list", "");
    ASSERT_FALSE(q.ok()) << sel;
    EXPECT_EQ(q.error().code, 400) << sel;
    EXPECT_EQ(q.error().reason, "BadRequest");
    // Lower-case reserved keys are refused by name; an upper-case spelling is not even a valid
    // label key for kube's parser. Either way: 400 and nothing forwarded.
    if (sel.find("MCP") == std::string::npos) {
      EXPECT_THAT(q.error().message, HasSubstr("reserved"));
    }
  }
}

TEST(TranslateQuery, MalformedSelectorsCannotInjectRequirements) {
  Translator t = MakeTranslator();
  for (std::string sel :
       {"a=b,", "a in (b", "a=(b)", ",a=b", "a=b c=d", "a notin", "a=b=c", "a!b"}) {
    auto q = t.TranslateQuery(Q("labelSelector=" + kube::http::PercentEncode(sel)), "list", "t");
    EXPECT_FALSE(q.ok()) << sel;
    if (!q.ok()) {
      EXPECT_EQ(q.error().code, 400) << sel;
    }
  }
}

TEST(TranslateQuery, FieldSelectorNameIsTranslatedInANamespace) {
  auto q = MakeTranslator().TranslateQuery(Q("fieldSelector=metadata.name%3Dmy-bucket"), "watch",
                                           "test");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Get("fieldSelector").value_or(""), "metadata.name=claim-c603e518969b413e");
  auto ne = MakeTranslator().TranslateQuery(Q("fieldSelector=metadata.name!%3Dmy-bucket"), "list",
                                            "test");
  ASSERT_TRUE(ne.ok());
  EXPECT_EQ(ne->Get("fieldSelector").value_or(""), "metadata.name!=claim-c603e518969b413e");
}

TEST(TranslateQuery, FieldSelectorAcrossNamespaces) {
  Translator t = MakeTranslator();
  // Name alone: selected by the name label.
  auto q = t.TranslateQuery(Q("fieldSelector=metadata.name%3Dmy-bucket"), "list", "");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->Get("fieldSelector"));
  EXPECT_EQ(q->Get("labelSelector").value_or(""),
            std::string(kLabelCluster) + "=" + kCluster + "," + kLabelName + "=my-bucket");
  // Name and namespace: the control-plane name.
  auto q2 = t.TranslateQuery(
      Q("fieldSelector=" +
        kube::http::PercentEncode("metadata.namespace=test,metadata.name=my-bucket")),
      "list", "");
  ASSERT_TRUE(q2.ok());
  EXPECT_EQ(q2->Get("fieldSelector").value_or(""), "metadata.name=claim-c603e518969b413e");
  EXPECT_EQ(q2->Get("labelSelector").value_or(""),
            std::string(kLabelCluster) + "=" + kCluster + "," + kLabelNs + "=test");
}

TEST(TranslateQuery, FieldSelectorNamespaceOfAnotherNamespaceSelectsNothing) {
  auto q = MakeTranslator().TranslateQuery(Q("fieldSelector=metadata.namespace%3Dother"), "list",
                                           "test");
  ASSERT_TRUE(q.ok());
  // Both namespace requirements are ANDed: no object can match both.
  EXPECT_EQ(q->Get("labelSelector").value_or(""), std::string(kLabelCluster) + "=" + kCluster +
                                                      "," + kLabelNs + "=other," + kLabelNs +
                                                      "=test");
  EXPECT_FALSE(q->Get("fieldSelector"));
}

TEST(TranslateQuery, OtherFieldSelectorsPassThroughEscaped) {
  auto q = MakeTranslator().TranslateQuery(
      Q("fieldSelector=" + kube::http::PercentEncode("spec.x=a\\,b")), "list", "test");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Get("fieldSelector").value_or(""), "spec.x=a\\,b");
}

TEST(TranslateQuery, GetHasNoSelectors) {
  auto q = MakeTranslator().TranslateQuery(Q("labelSelector=a%3Db&resourceVersion=1"), "get", "t");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->Get("labelSelector"));
  EXPECT_EQ(q->Get("resourceVersion").value_or(""), "1");
}

// ---------------------------------------------------------------------------------------------
// Whole objects (create / update / apply)

json::Document Body(std::string_view text) {
  auto d = Translator::DecodeBody(text, BodyType::kJson);
  EXPECT_TRUE(d.ok()) << text;
  return d.ok() ? std::move(*d) : json::Document();
}

constexpr std::string_view kCreate =
    R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster",
        "metadata":{"name":"my-bucket","namespace":"test","labels":{"team":"blue"},
                    "annotations":{"argocd.argoproj.io/tracking-id":"app:k8s/x"}},
        "spec":{"parameters":{"nodeCount":3},"writeConnectionSecretToRef":{"name":"kubeconfig"}}})";

TEST(PrepareObject, CreateRewritesForTheControlPlane) {
  Translator t = MakeTranslator();
  json::Document obj = Body(kCreate);
  ASSERT_TRUE(t.PrepareObject(obj, {"create", "test", "", ""}).ok());
  EXPECT_EQ(json::GetString(*json::Find(obj, "metadata"), "name"), "claim-c603e518969b413e");
  EXPECT_EQ(json::GetString(*json::Find(obj, "metadata"), "namespace"), "claims");
  EXPECT_EQ(Label(obj, kLabelCluster), kCluster);
  EXPECT_EQ(Label(obj, kLabelNs), "test");
  EXPECT_EQ(Label(obj, kLabelName), "my-bucket");
  EXPECT_EQ(Label(obj, "team"), "blue");
  EXPECT_EQ(Annotation(obj, "argocd.argoproj.io/tracking-id"), "app:k8s/x");
  EXPECT_EQ(json::GetString(*json::FindPath(obj, "spec.writeConnectionSecretToRef"), "name"),
            ConnectionSecretName("kubeconfig", "test", kCluster));
  EXPECT_EQ(Annotation(obj, kConnectionSecretAnnotation), "kubeconfig");
  EXPECT_EQ(json::FindPath(obj, "spec.parameters.nodeCount")->GetInt(), 3);
}

TEST(PrepareObject, MissingNamespaceAndTypeMetaAreFilledIn) {
  Translator t = MakeTranslator();
  json::Document obj = Body(R"({"metadata":{"name":"a"}})");
  ASSERT_TRUE(t.PrepareObject(obj, {"create", "test", "", ""}).ok());
  EXPECT_EQ(json::GetString(obj, "apiVersion"), "k8s.starter.org/v1alpha1");
  EXPECT_EQ(json::GetString(obj, "kind"), "KubernetesCluster");
  EXPECT_EQ(json::GetString(*json::Find(obj, "metadata"), "namespace"), "claims");
}

TEST(PrepareObject, WrongApiVersionIs400LikeKube) {
  json::Document obj = Body(R"({"apiVersion":"k8s.starter.org/v2","kind":"KubernetesCluster",
                                "metadata":{"name":"a"}})");
  auto r = MakeTranslator().PrepareObject(obj, {"create", "test", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 400);
  EXPECT_EQ(r.error().message,
            "the API version in the data (k8s.starter.org/v2) does not match the expected API "
            "version (k8s.starter.org/v1alpha1)");
}

TEST(PrepareObject, WrongKindIs422LikeKube) {
  json::Document obj = Body(R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"Other",
                                "metadata":{"name":"a"}})");
  auto r = MakeTranslator().PrepareObject(obj, {"create", "test", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  EXPECT_EQ(r.error().message,
            "Other.k8s.starter.org \"a\" is invalid: kind: Invalid value: \"Other\": must be "
            "KubernetesCluster");
}

TEST(PrepareObject, NameMismatchWithUrlIs400) {
  json::Document obj = Body(R"({"metadata":{"name":"b"}})");
  auto r = MakeTranslator().PrepareObject(obj, {"update", "test", "a", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 400);
  EXPECT_EQ(r.error().reason, "BadRequest");
  EXPECT_EQ(r.error().message, "the name of the object (b) does not match the name on the URL (a)");
}

TEST(PrepareObject, NamespaceMismatchIs400) {
  json::Document obj = Body(R"({"metadata":{"name":"a","namespace":"other"}})");
  auto r = MakeTranslator().PrepareObject(obj, {"update", "test", "a", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 400);
  EXPECT_EQ(r.error().message,
            "the namespace of the provided object does not match the namespace sent on the "
            "request");
}

TEST(PrepareObject, InvalidNameIs422) {
  json::Document obj = Body(R"({"metadata":{"name":"Not_Valid"}})");
  auto r = MakeTranslator().PrepareObject(obj, {"create", "test", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  EXPECT_EQ(r.error().reason, "Invalid");
  EXPECT_THAT(
      r.error().message,
      HasSubstr("KubernetesCluster.k8s.starter.org \"Not_Valid\" is invalid: metadata.name"));
  EXPECT_THAT(r.error().message, HasSubstr("RFC 1123 subdomain"));
}

TEST(PrepareObject, MissingNameIs422) {
  json::Document obj = Body(R"({"metadata":{}})");
  auto r = MakeTranslator().PrepareObject(obj, {"create", "test", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  EXPECT_THAT(r.error().message, HasSubstr("name or generateName is required"));
}

TEST(PrepareObject, ReservedLabelsAndAnnotationsAre422) {
  Translator t = MakeTranslator();
  for (std::string meta :
       {std::string(R"("labels":{")") + kLabelCluster + R"(":")" + kOtherCluster + R"("})",
        std::string(R"("labels":{"mcp-connector.upbound.io/anything":"x"})"),
        std::string(R"("annotations":{"mcp-connector.upbound.io/owner-references":"[]"})")}) {
    json::Document obj = Body(R"({"metadata":{"name":"a",)" + meta + "}}");
    auto r = t.PrepareObject(obj, {"create", "test", "", ""});
    ASSERT_FALSE(r.ok()) << meta;
    EXPECT_EQ(r.error().code, 422) << meta;
    EXPECT_EQ(r.error().reason, "Invalid");
    EXPECT_THAT(r.error().message, HasSubstr("reserved")) << meta;
  }
}

TEST(PrepareObject, OwnerReferencesAreStashed) {
  json::Document obj = Body(
      R"({"metadata":{"name":"a","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"u1"}]}})");
  ASSERT_TRUE(MakeTranslator().PrepareObject(obj, {"create", "test", "", ""}).ok());
  EXPECT_EQ(json::FindPath(obj, "metadata.ownerReferences"), nullptr);
  auto stashed = Parse(Annotation(obj, kOwnerReferencesAnnotation));
  ASSERT_TRUE(stashed.IsArray());
  EXPECT_EQ(json::GetString(stashed[0], "uid"), "u1");
}

TEST(PrepareObject, GenerateNameIsResolvedHere) {
  json::Document obj = Body(R"({"metadata":{"generateName":"web-"}})");
  ASSERT_TRUE(Translator::ResolveGenerateName(obj));
  std::string name = Translator::BodyName(obj);
  ASSERT_EQ(name.size(), 9u);
  EXPECT_EQ(name.substr(0, 4), "web-");
  ASSERT_TRUE(MakeTranslator().PrepareObject(obj, {"create", "test", "", ""}).ok());
  EXPECT_EQ(Label(obj, kLabelName), name);
  EXPECT_EQ(json::GetString(*json::Find(obj, "metadata"), "name"), Cp(name, "test"));
  // A body that names its object keeps it.
  json::Document named = Body(R"({"metadata":{"name":"x","generateName":"web-"}})");
  EXPECT_FALSE(Translator::ResolveGenerateName(named));
}

TEST(PrepareObject, LongNamesKeepTheFullNameInAnAnnotation) {
  std::string long_name(100, 'a');
  json::Document obj = Body(R"({"metadata":{"name":")" + long_name + R"("}})");
  ASSERT_TRUE(MakeTranslator().PrepareObject(obj, {"create", "test", "", ""}).ok());
  EXPECT_LE(Label(obj, kLabelName).size(), 63u);
  EXPECT_EQ(Annotation(obj, kLabelName), long_name);
}

TEST(PrepareObject, ApplyPatchMayOmitTheNameAndGetsOurLabels) {
  auto doc = Translator::DecodeBody(
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n  name: a\n"
      "spec:\n  parameters:\n    nodeCount: 3\n    enabled: true\n    ratio: 0.5\n"
      "    version: \"1.30\"\n    empty: null\n",
      BodyType::kApplyPatch);
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(json::FindPath(*doc, "spec.parameters.nodeCount")->IsInt64());
  EXPECT_TRUE(json::FindPath(*doc, "spec.parameters.enabled")->IsBool());
  EXPECT_TRUE(json::FindPath(*doc, "spec.parameters.ratio")->IsDouble());
  EXPECT_EQ(json::View(*json::FindPath(*doc, "spec.parameters.version")), "1.30");
  EXPECT_TRUE(json::FindPath(*doc, "spec.parameters.empty")->IsNull());
  ASSERT_TRUE(MakeTranslator().PrepareObject(*doc, {"patch", "test", "a", ""}).ok());
  EXPECT_EQ(Label(*doc, kLabelCluster), kCluster);
  EXPECT_EQ(json::GetString(*json::Find(*doc, "metadata"), "name"), Cp("a", "test"));

  auto other = Translator::DecodeBody("metadata:\n  name: b\n", BodyType::kApplyPatch);
  ASSERT_TRUE(other.ok());
  auto r = MakeTranslator().PrepareObject(*other, {"patch", "test", "a", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 400);
}

TEST(DecodeBody, MalformedBodiesAre400) {
  auto j = Translator::DecodeBody("{not json", BodyType::kJson);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, 400);
  auto y = Translator::DecodeBody("a: [b", BodyType::kApplyPatch);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.error().code, 400);
  json::Document arr = Body("[1,2]");
  auto r = MakeTranslator().PrepareObject(arr, {"create", "test", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 400);
}

// A body with two "metadata" members: the API server's decoder keeps the last; so must we, or
// the checks would look at one and the control plane use the other.
TEST(DecodeBody, DuplicateMembersKeepTheLast) {
  json::Document obj = Body(
      R"({"metadata":{"name":"a"},"metadata":{"name":"b","labels":{"mcp-connector.upbound.io/app-cluster":"x"}}})");
  auto r = MakeTranslator().PrepareObject(obj, {"create", "test", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  json::Document ok = Body(R"({"metadata":{"name":"a"},"metadata":{"name":"b"}})");
  ASSERT_TRUE(MakeTranslator().PrepareObject(ok, {"create", "test", "", ""}).ok());
  EXPECT_EQ(Label(ok, kLabelName), "b");
  EXPECT_EQ(json::Serialize(ok).find("\"metadata\""), json::Serialize(ok).rfind("\"metadata\""));
}

// Duplicates are found in small objects (compared in place) and large ones (sorted), at any
// depth; objects without duplicates keep their member order.
TEST(DecodeBody, DuplicatesInSmallAndLargeObjectsKeepTheLast) {
  for (int members : {2, 32, 33, 40}) {
    SCOPED_TRACE(members);
    std::string spec;
    for (int i = 0; i < members; ++i) {
      spec += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":" + std::to_string(i));
    }
    json::Document unique = Body("{\"spec\":{" + spec + "}}");
    EXPECT_EQ(json::Serialize(unique), "{\"spec\":{" + spec + "}}");
    json::Document dup = Body("{\"spec\":{" + spec + ",\"k1\":\"last\"}}");
    const json::Value* v = json::Find(dup, "spec");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->MemberCount(), static_cast<unsigned>(members));
    EXPECT_EQ(json::GetString(*v, "k1"), "last");
    json::Document nested = Body("{\"a\":[{\"b\":{" + spec + ",\"k0\":true}}]}");
    EXPECT_NE(json::Serialize(nested).find("\"k0\":true"), std::string::npos);
    EXPECT_EQ(json::Serialize(nested).find("\"k0\":0"), std::string::npos);
  }
}

// ---------------------------------------------------------------------------------------------
// Merge patches

TEST(PrepareMergePatch, MetadataRules) {
  Translator t = MakeTranslator();
  json::Document current =
      Parse(StoredClaim("a", "test", kCluster, R"("annotations":{"keep":"1"})"));
  {
    json::Document p = Body(R"({"metadata":{"name":"b"}})");
    auto r = t.PrepareMergePatch(p, {"patch", "test", "a", ""}, &current);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "the name of the object (b) does not match the name on the URL (a)");
  }
  {
    json::Document p =
        Body(R"({"metadata":{"labels":{"mcp-connector.upbound.io/app-namespace":null}}})");
    auto r = t.PrepareMergePatch(p, {"patch", "test", "a", ""}, &current);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, 422);
  }
  {
    json::Document p = Body(R"({"metadata":null})");
    auto r = t.PrepareMergePatch(p, {"patch", "test", "a", ""}, &current);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, 422);
  }
  {
    json::Document p = Body(R"({"metadata":{"name":"a","namespace":"test","labels":{"x":"y"}},
                                "spec":{"writeConnectionSecretToRef":{"name":"s"}}})");
    ASSERT_TRUE(t.PrepareMergePatch(p, {"patch", "test", "a", ""}, &current).ok());
    EXPECT_EQ(json::GetString(*json::Find(p, "metadata"), "name"), Cp("a", "test"));
    EXPECT_EQ(json::GetString(*json::Find(p, "metadata"), "namespace"), "claims");
    EXPECT_EQ(Label(p, "x"), "y");
    EXPECT_EQ(Label(p, kLabelCluster), kCluster);
    EXPECT_EQ(json::GetString(*json::FindPath(p, "spec.writeConnectionSecretToRef"), "name"),
              ConnectionSecretName("s", "test", kCluster));
    EXPECT_EQ(Annotation(p, kConnectionSecretAnnotation), "s");
  }
}

TEST(PrepareMergePatch, NullMapsRemoveOnlyTheUsersKeys) {
  Translator t = MakeTranslator();
  json::Document current = Parse(StoredClaim(
      "a", "test", kCluster,
      R"("annotations":{"keep":"1","mcp-connector.upbound.io/owner-references":"[]"})"));
  // StoredClaim's labels are only ours; add a user label to the stored object.
  json::SetString(*json::Find(*json::Find(current, "metadata"), "labels"), "team", "blue",
                  current.GetAllocator());
  json::Document p = Body(R"({"metadata":{"labels":null,"annotations":null}})");
  ASSERT_TRUE(t.PrepareMergePatch(p, {"patch", "test", "a", ""}, &current).ok());
  const json::Value* labels = json::FindPath(p, "metadata.labels");
  ASSERT_TRUE(labels && labels->IsObject());
  EXPECT_TRUE(json::Find(*labels, "team")->IsNull());
  EXPECT_EQ(json::GetString(*labels, kLabelCluster), kCluster);
  const json::Value* ann = json::FindPath(p, "metadata.annotations");
  ASSERT_TRUE(ann && ann->IsObject());
  EXPECT_TRUE(json::Find(*ann, "keep")->IsNull());
  EXPECT_EQ(json::Find(*ann, kOwnerReferencesAnnotation), nullptr);
}

TEST(PrepareMergePatch, OwnerReferencesGoToTheAnnotation) {
  Translator t = MakeTranslator();
  json::Document p = Body(R"({"metadata":{"ownerReferences":[{"uid":"u"}]}})");
  ASSERT_TRUE(t.PrepareMergePatch(p, {"patch", "test", "a", ""}, nullptr).ok());
  EXPECT_EQ(json::FindPath(p, "metadata.ownerReferences"), nullptr);
  EXPECT_EQ(Annotation(p, kOwnerReferencesAnnotation), R"([{"uid":"u"}])");
  json::Document clear = Body(R"({"metadata":{"ownerReferences":null}})");
  ASSERT_TRUE(t.PrepareMergePatch(clear, {"patch", "test", "a", ""}, nullptr).ok());
  EXPECT_TRUE(json::Find(*json::FindPath(clear, "metadata.annotations"), kOwnerReferencesAnnotation)
                  ->IsNull());
}

// ---------------------------------------------------------------------------------------------
// JSON patches

TEST(PrepareJsonPatch, OperationsOnProtectedPathsAre422) {
  Translator t = MakeTranslator();
  json::Document current = Parse(StoredClaim("a", "test"));
  for (
      std::string op :
      {R"({"op":"replace","path":"/metadata/name","value":"x"})",
       R"({"op":"replace","path":"/metadata/namespace","value":"x"})",
       R"({"op":"remove","path":"/metadata/labels/mcp-connector.upbound.io~1app-cluster"})",
       R"({"op":"add","path":"/metadata/annotations/mcp-connector.upbound.io~1x","value":"1"})",
       R"({"op":"remove","path":"/metadata/labels"})",
       R"({"op":"replace","path":"/metadata","value":{}})",
       R"({"op":"replace","path":"","value":{}})",
       R"({"op":"add","path":"/metadata/ownerReferences","value":[]})",
       R"({"op":"copy","from":"/metadata/name","path":"/spec/x"})",
       R"({"op":"replace","path":"/metadata/labels","value":{"mcp-connector.upbound.io/app-cluster":"x"}})"}) {
    json::Document p = Body("[" + op + "]");
    auto r = t.PrepareJsonPatch(p, {"patch", "test", "a", ""}, &current);
    ASSERT_FALSE(r.ok()) << op;
    EXPECT_EQ(r.error().code, 422) << op;
  }
}

TEST(PrepareJsonPatch, AllowedOperationsAreKeptAndTranslated) {
  Translator t = MakeTranslator();
  json::Document current = Parse(StoredClaim("a", "test"));
  json::Document p = Body(R"([{"op":"replace","path":"/spec/parameters/nodeCount","value":5},
                              {"op":"add","path":"/metadata/labels/team","value":"blue"},
                              {"op":"replace","path":"/metadata/labels","value":{"x":"y"}},
                              {"op":"replace","path":"/spec/writeConnectionSecretToRef/name","value":"s"}])");
  ASSERT_TRUE(t.PrepareJsonPatch(p, {"patch", "test", "a", ""}, &current).ok());
  ASSERT_TRUE(p.IsArray());
  EXPECT_EQ(p[0]["value"].GetInt(), 5);
  EXPECT_EQ(json::GetString(p[2]["value"], kLabelCluster), kCluster);
  EXPECT_EQ(json::GetString(p[2]["value"], "x"), "y");
  EXPECT_EQ(json::View(p[3]["value"]), ConnectionSecretName("s", "test", kCluster));
  // The original name is recorded in our annotation (the map is created first).
  ASSERT_EQ(p.Size(), 6u);
  EXPECT_EQ(json::GetString(p[4], "path"), "/metadata/annotations");
  EXPECT_EQ(json::GetString(p[5], "path"),
            "/metadata/annotations/mcp-connector.upbound.io~1connection-secret-name");
  EXPECT_EQ(json::GetString(p[5], "value"), "s");
}

}  // namespace
}  // namespace proxy

// ResourceHandler driven directly: CRDs, CRUD semantics, errors, lists, tables, dryRun.
#include "tests/fakekube/unit/harness.h"

namespace fakekube::testing {
namespace {

using json = kube::json::Document;

TEST_F(HandlerTest, CRDBecomesEstablishedAndServed) {
  CreateClaimCRD();
  auto crd = Do("GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                "kubernetesclusters.k8s.starter.org");
  ASSERT_EQ(crd.code, 200);
  EXPECT_NE(crd.body.find(R"("type":"Established","status":"True")"), std::string::npos)
      << crd.body;
  EXPECT_NE(crd.body.find(R"("type":"NamesAccepted","status":"True")"), std::string::npos);
  EXPECT_NE(crd.body.find("customresourcecleanup.apiextensions.k8s.io"), std::string::npos);
  auto r = registry_.Lookup("k8s.starter.org", "v1alpha1", "kubernetesclusters");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->api.namespaced);
  EXPECT_TRUE(r->api.has_status);
  EXPECT_EQ(r->api.categories, std::vector<std::string>{"claim"});
  EXPECT_EQ(r->api.printer_columns.size(), 4u);
  ASSERT_NE(r->api.schema, nullptr);
  EXPECT_NE(registry_.LookupKind("k8s.starter.org", "v1alpha1", "KubernetesCluster"), nullptr);
}

TEST_F(HandlerTest, CrossplaneXRDCRDLoads) {
  auto r = Do("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
              Fixture("apiextensions.crossplane.io_compositeresourcedefinitions.yaml"),
              {{"Content-Type", "application/yaml"}});
  ASSERT_EQ(r.code, 201) << r.body.substr(0, 400);
  EXPECT_NE(registry_.Lookup("apiextensions.crossplane.io", "v1", "compositeresourcedefinitions"),
            nullptr);
}

TEST_F(HandlerTest, CreateGetStampsMetadata) {
  CreateClaimCRD();
  auto c = Do("POST", kClaims, Claim("a"));
  ASSERT_EQ(c.code, 201) << c.body;
  EXPECT_EQ(c.Str("metadata.namespace"), "default");
  EXPECT_EQ(c.Str("metadata.generation"), "1");
  EXPECT_EQ(c.Str("metadata.uid").size(), 36u);
  EXPECT_EQ(c.Str("metadata.creationTimestamp").size(), 20u);  // 2024-01-02T03:04:05Z
  EXPECT_EQ(c.Str("metadata.managedFields"), c.Str("metadata.managedFields"));
  auto g = Do("GET", std::string(kClaims) + "/a");
  ASSERT_EQ(g.code, 200);
  EXPECT_EQ(g.Str("metadata.resourceVersion"), c.Str("metadata.resourceVersion"));
  EXPECT_EQ(g.Str("apiVersion"), "k8s.starter.org/v1alpha1");
  EXPECT_EQ(g.Str("kind"), "KubernetesCluster");
}

TEST_F(HandlerTest, NotFoundAndAlreadyExistsMessages) {
  CreateClaimCRD();
  auto g = Do("GET", std::string(kClaims) + "/missing");
  EXPECT_EQ(g.code, 404);
  EXPECT_EQ(g.Str("message"), "kubernetesclusters.k8s.starter.org \"missing\" not found");
  EXPECT_EQ(g.Str("reason"), "NotFound");
  ASSERT_EQ(Do("POST", kClaims, Claim("a")).code, 201);
  auto dup = Do("POST", kClaims, Claim("a"));
  EXPECT_EQ(dup.code, 409);
  EXPECT_EQ(dup.Str("reason"), "AlreadyExists");
  EXPECT_EQ(dup.Str("message"), "kubernetesclusters.k8s.starter.org \"a\" already exists");
  auto unknown = Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/default/nothings");
  EXPECT_EQ(unknown.code, 404);
  EXPECT_EQ(unknown.Str("message"), "the server could not find the requested resource");
  auto s = Do("GET", "/api/v1/namespaces/default/secrets/nope");
  EXPECT_EQ(s.Str("message"), "secrets \"nope\" not found");
}

TEST_F(HandlerTest, CreateInMissingNamespaceIs404) {
  CreateClaimCRD();
  auto r =
      Do("POST", "/apis/k8s.starter.org/v1alpha1/namespaces/ghost/kubernetesclusters", Claim("a"));
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(r.Str("message"), "namespaces \"ghost\" not found");
}

TEST_F(HandlerTest, StaleUpdateConflicts) {
  CreateClaimCRD();
  auto c = Do("POST", kClaims, Claim("a"));
  std::string rv = c.Str("metadata.resourceVersion");
  auto u1 = Do("PUT", std::string(kClaims) + "/a",
               Claim("a", R"(,"resourceVersion":")" + rv + "\"", "1.31"));
  ASSERT_EQ(u1.code, 200) << u1.body;
  EXPECT_EQ(u1.Str("metadata.generation"), "2");
  auto u2 = Do("PUT", std::string(kClaims) + "/a",
               Claim("a", R"(,"resourceVersion":")" + rv + "\"", "1.32"));
  EXPECT_EQ(u2.code, 409);
  EXPECT_EQ(u2.Str("reason"), "Conflict");
  EXPECT_EQ(u2.Str("message"),
            "Operation cannot be fulfilled on kubernetesclusters.k8s.starter.org \"a\": the "
            "object has been modified; please apply your changes to the latest version and try "
            "again");
  // Unconditional update (no resourceVersion) is allowed.
  auto u3 = Do("PUT", std::string(kClaims) + "/a", Claim("a", "", "1.33"));
  EXPECT_EQ(u3.code, 200) << u3.body;
  EXPECT_EQ(u3.Str("spec.parameters.version"), "1.33");
}

TEST_F(HandlerTest, NoopUpdateKeepsResourceVersion) {
  CreateClaimCRD();
  auto c = Do("POST", kClaims, Claim("a"));
  auto u = Do("PUT", std::string(kClaims) + "/a", Claim("a"));
  EXPECT_EQ(u.Str("metadata.resourceVersion"), c.Str("metadata.resourceVersion"));
}

TEST_F(HandlerTest, BodyPathMismatchesAreBadRequest) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a"));
  auto n = Do("PUT", std::string(kClaims) + "/a", Claim("b"));
  EXPECT_EQ(n.code, 400);
  EXPECT_EQ(n.Str("message"), "the name of the object (b) does not match the name on the URL (a)");
  auto ns = Do("POST", kClaims, Claim("c", R"(,"namespace":"other")"));
  EXPECT_EQ(ns.code, 400);
  EXPECT_EQ(ns.Str("message"),
            "the namespace of the provided object does not match the namespace sent on the "
            "request");
}

TEST_F(HandlerTest, InvalidNameIs422WithCauses) {
  CreateClaimCRD();
  auto r = Do("POST", kClaims, Claim("Bad_Name"));
  EXPECT_EQ(r.code, 422);
  EXPECT_EQ(r.Str("reason"), "Invalid");
  EXPECT_EQ(r.Str("details.causes"), r.Str("details.causes"));
  EXPECT_NE(r.Str("message").find("KubernetesCluster.k8s.starter.org \"Bad_Name\" is invalid: "
                                  "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC "
                                  "1123 subdomain"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"("field":"metadata.name")"), std::string::npos);
  auto none =
      Do("POST", kClaims,
         R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{}})");
  EXPECT_EQ(none.code, 422);
  EXPECT_NE(none.Str("message").find("name or generateName is required"), std::string::npos);
}

TEST_F(HandlerTest, GenerateName) {
  CreateClaimCRD();
  std::string base(70, 'x');
  auto r = Do(
      "POST", kClaims,
      R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{"generateName":")" +
          base + R"("},"spec":{}})");
  ASSERT_EQ(r.code, 201) << r.body;
  std::string name = r.Str("metadata.name");
  ASSERT_EQ(name.size(), 63u);
  EXPECT_EQ(name.substr(0, 58), base.substr(0, 58));
  for (char c : name.substr(58)) {
    EXPECT_NE(std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c), std::string::npos);
  }
}

TEST_F(HandlerTest, DryRunPersistsNothing) {
  CreateClaimCRD();
  uint64_t rv = store_.CurrentResourceVersion();
  auto r = Do("POST", std::string(kClaims) + "?dryRun=All", Claim("a"));
  EXPECT_EQ(r.code, 201);
  EXPECT_EQ(r.Str("metadata.name"), "a");
  EXPECT_EQ(Do("GET", std::string(kClaims) + "/a").code, 404);
  EXPECT_EQ(store_.CurrentResourceVersion(), rv);
  Do("POST", kClaims, Claim("b"));
  auto d = Do("DELETE", std::string(kClaims) + "/b?dryRun=All");
  EXPECT_EQ(d.code, 200);
  EXPECT_EQ(Do("GET", std::string(kClaims) + "/b").code, 200);
  auto p = Do("PATCH", std::string(kClaims) + "/b?dryRun=All",
              R"({"spec":{"parameters":{"version":"9"}}})",
              {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(p.Str("spec.parameters.version"), "9");
  EXPECT_EQ(Do("GET", std::string(kClaims) + "/b").Str("spec.parameters.version"), "1.30");
  auto bad = Do("POST", std::string(kClaims) + "?dryRun=Some", Claim("c"));
  EXPECT_EQ(bad.code, 422);
}

TEST_F(HandlerTest, StatusSubresourceAndGeneration) {
  CreateClaimCRD();
  auto c = Do(
      "POST", kClaims,
      R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{"name":"a"},"spec":{"parameters":{"version":"1"}},"status":{"x":1}})");
  EXPECT_EQ(c.Str("status"), "<missing>");  // status dropped on create
  auto s = Do(
      "PUT", std::string(kClaims) + "/a/status",
      R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{"name":"a"},"spec":{"parameters":{"version":"IGNORED"}},"status":{"conditions":[{"type":"Ready","status":"True"}]}})");
  ASSERT_EQ(s.code, 200) << s.body;
  EXPECT_EQ(s.Str("spec.parameters.version"), "1");
  EXPECT_EQ(s.Str("metadata.generation"), "1");
  EXPECT_EQ(s.Str("status.conditions"), R"([{"type":"Ready","status":"True"}])");
  // A main update ignores status and bumps generation for the spec change.
  auto u = Do(
      "PUT", std::string(kClaims) + "/a",
      R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{"name":"a"},"spec":{"parameters":{"version":"2"}},"status":{}})");
  EXPECT_EQ(u.Str("status.conditions"), R"([{"type":"Ready","status":"True"}])");
  EXPECT_EQ(u.Str("metadata.generation"), "2");
  // Label change: no generation bump.
  auto l = Do("PATCH", std::string(kClaims) + "/a", R"({"metadata":{"labels":{"x":"y"}}})",
              {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(l.Str("metadata.generation"), "2");
  auto gs = Do("GET", std::string(kClaims) + "/a/status");
  EXPECT_EQ(gs.code, 200);
  EXPECT_EQ(Do("GET", std::string(kClaims) + "/a/scale").code, 404);
}

TEST_F(HandlerTest, FinalizersDelayDeletion) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a", R"(,"finalizers":["example.com/f"])"));
  auto d = Do("DELETE", std::string(kClaims) + "/a");
  ASSERT_EQ(d.code, 200) << d.body;
  EXPECT_NE(d.Str("metadata.deletionTimestamp"), "<missing>");
  auto g = Do("GET", std::string(kClaims) + "/a");
  ASSERT_EQ(g.code, 200);
  EXPECT_NE(g.Str("metadata.deletionTimestamp"), "<missing>");
  // New finalizers cannot be added while deleting.
  auto add = Do("PATCH", std::string(kClaims) + "/a",
                R"({"metadata":{"finalizers":["example.com/f","example.com/g"]}})",
                {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(add.code, 422) << add.body;
  auto rm = Do("PATCH", std::string(kClaims) + "/a", R"({"metadata":{"finalizers":null}})",
               {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(rm.code, 200) << rm.body;
  EXPECT_EQ(Do("GET", std::string(kClaims) + "/a").code, 404);
}

TEST_F(HandlerTest, DeletePreconditionsAndResponses) {
  CreateClaimCRD();
  auto c = Do("POST", kClaims, Claim("a"));
  auto bad = Do("DELETE", std::string(kClaims) + "/a",
                R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"nope"}})");
  EXPECT_EQ(bad.code, 409);
  EXPECT_EQ(bad.Str("message"),
            "Operation cannot be fulfilled on kubernetesclusters.k8s.starter.org \"a\": "
            "Precondition failed: UID in precondition: nope, UID in object meta: " +
                c.Str("metadata.uid"));
  auto pp = Do("DELETE", std::string(kClaims) + "/a?propagationPolicy=Sideways");
  EXPECT_EQ(pp.code, 422);
  auto ok = Do("DELETE", std::string(kClaims) + "/a",
               R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})");
  EXPECT_EQ(ok.code, 200);
  EXPECT_EQ(ok.Str("kind"), "KubernetesCluster");  // CRs return the deleted object
  // Built-ins without ReturnDeletedObject answer a Success Status.
  ASSERT_EQ(
      Do("POST", "/api/v1/namespaces/default/configmaps",
         R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"b"}})")
          .code,
      201);
  auto cm = Do("DELETE", "/api/v1/namespaces/default/configmaps/cm");
  EXPECT_EQ(cm.code, 200);
  EXPECT_EQ(cm.Str("kind"), "Status");
  EXPECT_EQ(cm.Str("status"), "Success");
  EXPECT_EQ(cm.Str("details.kind"), "configmaps");
  EXPECT_EQ(cm.Str("details.name"), "cm");
}

TEST_F(HandlerTest, DeleteCollectionWithSelector) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a", R"(,"labels":{"team":"x"})"));
  Do("POST", kClaims, Claim("b", R"(,"labels":{"team":"y"})"));
  auto d = Do("DELETE", std::string(kClaims) + "?labelSelector=team%3Dx");
  ASSERT_EQ(d.code, 200) << d.body;
  EXPECT_EQ(d.Str("kind"), "KubernetesClusterList");
  EXPECT_EQ(Do("GET", std::string(kClaims) + "/a").code, 404);
  EXPECT_EQ(Do("GET", std::string(kClaims) + "/b").code, 200);
}

TEST_F(HandlerTest, ListSelectors) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a", R"(,"labels":{"env":"prod","tier":"db"})"));
  Do("POST", kClaims, Claim("b", R"(,"labels":{"env":"dev"})"));
  Do("POST", kClaims, Claim("c"));
  auto names = [&](std::string q) {
    auto r = Do("GET", std::string(kClaims) + "?" + q);
    EXPECT_EQ(r.code, 200) << r.body;
    std::string out;
    if (const auto* items = kube::json::Find(r.doc, "items")) {
      for (auto& i : items->GetArray())
        out += std::string(kube::json::GetString(*kube::json::Find(i, "metadata"), "name"));
    }
    return out;
  };
  EXPECT_EQ(names(""), "abc");
  EXPECT_EQ(names("labelSelector=env%3Dprod"), "a");
  EXPECT_EQ(names("labelSelector=env%3D%3Dprod"), "a");
  EXPECT_EQ(names("labelSelector=env!%3Dprod"), "bc");
  EXPECT_EQ(names("labelSelector=env+in+(prod,dev)"), "ab");
  EXPECT_EQ(names("labelSelector=env+notin+(prod)"), "bc");
  EXPECT_EQ(names("labelSelector=tier"), "a");
  EXPECT_EQ(names("labelSelector=!env"), "c");
  EXPECT_EQ(names("fieldSelector=metadata.name%3Db"), "b");
  EXPECT_EQ(names("fieldSelector=metadata.name!%3Db"), "ac");
  EXPECT_EQ(names("fieldSelector=metadata.namespace%3Ddefault"), "abc");
  auto bad = Do("GET", std::string(kClaims) + "?fieldSelector=spec.x%3D1");
  EXPECT_EQ(bad.code, 400);
  EXPECT_EQ(bad.Str("message"),
            "\"spec.x\" is not a known field selector: only \"metadata.name\", "
            "\"metadata.namespace\"");
  auto bad_label = Do("GET", std::string(kClaims) + "?labelSelector=a%3D%3D%3D");
  EXPECT_EQ(bad_label.code, 400);
  // All namespaces.
  auto all = Do("GET", "/apis/k8s.starter.org/v1alpha1/kubernetesclusters");
  EXPECT_EQ(all.code, 200);
  EXPECT_EQ(kube::json::Find(all.doc, "items")->Size(), 3u);
  EXPECT_EQ(all.Str("kind"), "KubernetesClusterList");
  EXPECT_EQ(all.Str("metadata.resourceVersion"), std::to_string(store_.CurrentResourceVersion()));
}

TEST_F(HandlerTest, PaginationAndExpiredContinue) {
  CreateClaimCRD();
  for (char c = 'a'; c <= 'e'; ++c) Do("POST", kClaims, Claim(std::string(1, c)));
  auto p1 = Do("GET", std::string(kClaims) + "?limit=2");
  ASSERT_EQ(p1.code, 200);
  EXPECT_EQ(kube::json::Find(p1.doc, "items")->Size(), 2u);
  EXPECT_EQ(p1.Str("metadata.remainingItemCount"), "3");
  std::string cont = p1.Str("metadata.continue");
  ASSERT_NE(cont, "<missing>");
  std::string rv1 = p1.Str("metadata.resourceVersion");
  // A change between pages is not seen: the list is consistent at the first page's RV.
  Do("DELETE", std::string(kClaims) + "/d");
  auto p2 =
      Do("GET", std::string(kClaims) + "?limit=2&continue=" + kube::http::PercentEncode(cont));
  ASSERT_EQ(p2.code, 200) << p2.body;
  EXPECT_EQ(p2.Str("metadata.resourceVersion"), rv1);
  EXPECT_EQ(p2.Str("items"), p2.Str("items"));
  auto first = kube::json::Find(p2.doc, "items");
  ASSERT_EQ(first->Size(), 2u);
  EXPECT_EQ(kube::json::GetString(*kube::json::Find((*first)[0], "metadata"), "name"), "c");
  EXPECT_EQ(kube::json::GetString(*kube::json::Find((*first)[1], "metadata"), "name"), "d");
  std::string cont2 = p2.Str("metadata.continue");
  auto p3 =
      Do("GET", std::string(kClaims) + "?limit=2&continue=" + kube::http::PercentEncode(cont2));
  EXPECT_EQ(kube::json::Find(p3.doc, "items")->Size(), 1u);
  EXPECT_EQ(p3.Str("metadata.continue"), "<missing>");
  // After compaction the token is too old.
  store_.Compact();
  auto gone =
      Do("GET", std::string(kClaims) + "?limit=2&continue=" + kube::http::PercentEncode(cont));
  EXPECT_EQ(gone.code, 410);
  EXPECT_EQ(gone.Str("reason"), "Expired");
  EXPECT_NE(gone.Str("message").find("The provided continue parameter is too old"),
            std::string::npos);
  auto garbage = Do("GET", std::string(kClaims) + "?limit=2&continue=xyz");
  EXPECT_EQ(garbage.code, 400);
}

TEST_F(HandlerTest, ListResourceVersionSemantics) {
  CreateClaimCRD();
  auto a = Do("POST", kClaims, Claim("a"));
  std::string rv_a = a.Str("metadata.resourceVersion");
  Do("POST", kClaims, Claim("b"));
  auto exact =
      Do("GET", std::string(kClaims) + "?resourceVersion=" + rv_a + "&resourceVersionMatch=Exact");
  ASSERT_EQ(exact.code, 200) << exact.body;
  EXPECT_EQ(exact.Str("metadata.resourceVersion"), rv_a);
  EXPECT_EQ(kube::json::Find(exact.doc, "items")->Size(), 1u);
  auto any = Do("GET", std::string(kClaims) + "?resourceVersion=0&limit=1");
  EXPECT_EQ(kube::json::Find(any.doc, "items")->Size(), 2u);  // watch cache ignores limit
  auto future = Do("GET", std::string(kClaims) + "?resourceVersion=999999");
  EXPECT_EQ(future.code, 504);
  auto bad = Do("GET", std::string(kClaims) + "?resourceVersionMatch=Exact");
  EXPECT_EQ(bad.code, 422);
  store_.Compact();
  auto old =
      Do("GET", std::string(kClaims) + "?resourceVersion=" + rv_a + "&resourceVersionMatch=Exact");
  EXPECT_EQ(old.code, 410);
  EXPECT_EQ(old.Str("message"), "The resourceVersion for the provided list is too old.");
}

TEST_F(HandlerTest, TableOutput) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a", "", "1.30"));
  Do("PUT", std::string(kClaims) + "/a/status",
     R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{"name":"a"},"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Synced","status":"False"}]}})");
  auto t = Do("GET", std::string(kClaims) + "?limit=500", "",
              {{"Accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/"
                "json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"}});
  ASSERT_EQ(t.code, 200) << t.body;
  EXPECT_EQ(t.content_type, "application/json;as=Table;g=meta.k8s.io;v=v1");
  EXPECT_EQ(t.Str("kind"), "Table");
  EXPECT_EQ(t.Str("apiVersion"), "meta.k8s.io/v1");
  auto* cols = kube::json::Find(t.doc, "columnDefinitions");
  ASSERT_EQ(cols->Size(), 5u);
  EXPECT_EQ(kube::json::GetString((*cols)[0], "name"), "Name");
  EXPECT_EQ(kube::json::GetString((*cols)[1], "name"), "SYNCED");
  auto* rows = kube::json::Find(t.doc, "rows");
  ASSERT_EQ(rows->Size(), 1u);
  auto* cells = kube::json::Find((*rows)[0], "cells");
  EXPECT_EQ(kube::json::Serialize(*cells).substr(0, 25), R"(["a","False","True",null,)");
  auto* obj = kube::json::Find((*rows)[0], "object");
  EXPECT_EQ(kube::json::GetString(*obj, "kind"), "PartialObjectMetadata");
  // includeObject=Object and None; v1beta1.
  auto full = Do("GET", std::string(kClaims) + "/a?includeObject=Object", "",
                 {{"Accept", "application/json;as=Table;v=v1beta1;g=meta.k8s.io"}});
  EXPECT_EQ(full.Str("apiVersion"), "meta.k8s.io/v1beta1");
  EXPECT_NE(full.body.find(R"("object":{"apiVersion":"k8s.starter.org/v1alpha1")"),
            std::string::npos);
  auto none = Do("GET", std::string(kClaims) + "?includeObject=None", "",
                 {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  EXPECT_EQ(none.body.find("\"object\""), std::string::npos);
  // Built-in default columns.
  auto ns = Do("GET", "/api/v1/namespaces", "",
               {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  EXPECT_NE(ns.body.find(R"("cells":["default","Active",)"), std::string::npos) << ns.body;
}

TEST_F(HandlerTest, MetadataOnlyAndNegotiation) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a", R"(,"labels":{"k":"v"})"));
  auto pl = Do("GET", std::string(kClaims), "",
               {{"Accept",
                 "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;"
                 "v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
                 "application/json"}});
  ASSERT_EQ(pl.code, 200) << pl.body;
  EXPECT_EQ(pl.Str("kind"), "PartialObjectMetadataList");
  EXPECT_EQ(pl.Str("apiVersion"), "meta.k8s.io/v1");
  EXPECT_NE(
      pl.body.find(
          R"("kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"a")"),
      std::string::npos);
  EXPECT_EQ(pl.body.find("\"spec\":"), std::string::npos);
  auto po = Do("GET", std::string(kClaims) + "/a", "",
               {{"Accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"}});
  EXPECT_EQ(po.Str("kind"), "PartialObjectMetadata");
  auto proto_first = Do("GET", std::string(kClaims) + "/a", "",
                        {{"Accept", "application/vnd.kubernetes.protobuf, application/json"}});
  EXPECT_EQ(proto_first.code, 200);
  EXPECT_EQ(proto_first.Str("kind"), "KubernetesCluster");
  auto proto_only = Do("GET", std::string(kClaims) + "/a", "",
                       {{"Accept", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(proto_only.code, 406);
  EXPECT_EQ(proto_only.Str("reason"), "NotAcceptable");
}

TEST_F(HandlerTest, BodiesYamlUnsupportedAndTooLarge) {
  CreateClaimCRD();
  auto y = Do("POST", kClaims,
              "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n  name: "
              "yml\nspec:\n  parameters:\n    version: \"1.30\"\n    nodeCount: 3\n",
              {{"Content-Type", "application/yaml"}});
  ASSERT_EQ(y.code, 201) << y.body;
  EXPECT_EQ(y.Str("spec.parameters.nodeCount"), "3");
  EXPECT_EQ(y.Str("spec.parameters.version"), "1.30");
  auto pb = Do("POST", kClaims, "xx", {{"Content-Type", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(pb.code, 415);
  EXPECT_EQ(pb.Str("reason"), "UnsupportedMediaType");
  std::string big =
      Claim("big", R"(,"annotations":{"x":")" + std::string(3 * 1024 * 1024, 'a') + "\"}");
  auto tl = Do("POST", kClaims, big);
  EXPECT_EQ(tl.code, 413);
  EXPECT_EQ(tl.Str("reason"), "RequestEntityTooLarge");
  auto wrong =
      Do("POST", kClaims, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})");
  EXPECT_EQ(wrong.code, 400);
  auto pt = Do("PATCH", std::string(kClaims) + "/y", "{}", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(pt.code, 415);
}

TEST_F(HandlerTest, JsonAndMergePatch) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a"));
  auto jp = Do(
      "PATCH", std::string(kClaims) + "/a",
      R"([{"op":"add","path":"/metadata/labels","value":{"a":"b"}},{"op":"replace","path":"/spec/parameters/version","value":"2"}])",
      {{"Content-Type", "application/json-patch+json"}});
  ASSERT_EQ(jp.code, 200) << jp.body;
  EXPECT_EQ(jp.Str("metadata.labels.a"), "b");
  EXPECT_EQ(jp.Str("spec.parameters.version"), "2");
  auto fail = Do("PATCH", std::string(kClaims) + "/a",
                 R"([{"op":"test","path":"/spec/parameters/version","value":"3"}])",
                 {{"Content-Type", "application/json-patch+json"}});
  EXPECT_EQ(fail.code, 422);
  auto missing = Do("PATCH", std::string(kClaims) + "/zzz", R"({"spec":{}})",
                    {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(missing.code, 404);
  auto stale = Do("PATCH", std::string(kClaims) + "/a",
                  R"({"metadata":{"resourceVersion":"1"},"spec":{"x":1}})",
                  {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(stale.code, 409);
}

TEST_F(HandlerTest, ServerSideApply) {
  CreateClaimCRD();
  std::string cfg =
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n  name: s\n"
      "  labels:\n    app: demo\nspec:\n  parameters:\n    version: \"1.30\"\n";
  auto c = Do("PATCH", std::string(kClaims) + "/s?fieldManager=kubectl&force=true", cfg,
              {{"Content-Type", "application/apply-patch+yaml"}});
  ASSERT_EQ(c.code, 201) << c.body;
  EXPECT_EQ(
      c.Str("metadata.managedFields"),
      R"([{"manager":"kubectl","operation":"Apply","apiVersion":"k8s.starter.org/v1alpha1","time":")" +
          std::string(kube::json::GetString(
              (*kube::json::FindPath(c.doc, "metadata.managedFields"))[0], "time")) +
          R"(","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:parameters":{"f:version":{}}}}}])");
  // Another manager changes the version with an update: the applier then conflicts.
  auto u = Do("PATCH", std::string(kClaims) + "/s?fieldManager=editor",
              R"({"spec":{"parameters":{"version":"1.31"}}})",
              {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(u.code, 200);
  auto conflict = Do("PATCH", std::string(kClaims) + "/s?fieldManager=other", cfg,
                     {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(conflict.code, 409);
  EXPECT_EQ(conflict.Str("message"),
            "Apply failed with 1 conflict: conflict with \"editor\" using "
            "k8s.starter.org/v1alpha1: .spec.parameters.version");
  auto forced = Do("PATCH", std::string(kClaims) + "/s?fieldManager=other&force=true", cfg,
                   {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(forced.code, 200) << forced.body;
  EXPECT_EQ(forced.Str("spec.parameters.version"), "1.30");
  // kubectl applies an annotation, then re-applies without it: the annotation it owned alone
  // is removed; the label it shares with "other" stays.
  std::string with_note =
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n  name: s\n"
      "  labels:\n    app: demo\n  annotations:\n    note: x\n"
      "spec:\n  parameters:\n    version: \"1.30\"\n";
  auto noted = Do("PATCH", std::string(kClaims) + "/s?fieldManager=kubectl", with_note,
                  {{"Content-Type", "application/apply-patch+yaml"}});
  ASSERT_EQ(noted.code, 200) << noted.body;
  EXPECT_EQ(noted.Str("metadata.annotations.note"), "x");
  std::string cfg2 =
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n  name: s\n"
      "spec:\n  parameters:\n    version: \"1.30\"\n";
  auto again = Do("PATCH", std::string(kClaims) + "/s?fieldManager=kubectl", cfg2,
                  {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(again.code, 200) << again.body;
  EXPECT_EQ(again.Str("metadata.annotations"), "<missing>");
  EXPECT_EQ(again.Str("metadata.labels.app"), "demo");
  auto no_mgr = Do("PATCH", std::string(kClaims) + "/s", cfg,
                   {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(no_mgr.code, 400);
  auto dry = Do("PATCH", std::string(kClaims) + "/new?fieldManager=m&dryRun=All",
                "{\"apiVersion\":\"k8s.starter.org/v1alpha1\",\"kind\":\"KubernetesCluster\","
                "\"metadata\":{\"name\":\"new\"}}",
                {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(dry.code, 201) << dry.body;
  EXPECT_EQ(Do("GET", std::string(kClaims) + "/new").code, 404);
}

// kube's namespace registry: DELETE marks (the namespace controller, not the handler, removes
// the content, then the `kubernetes` finalizer through /finalize, which deletes it).
TEST_F(HandlerTest, NamespaceDeletionMarksTerminatingAndFinalizeDeletes) {
  ASSERT_EQ(Do("POST", "/api/v1/namespaces",
               R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"tmp"}})")
                .code,
            201);
  auto ns = Do("GET", "/api/v1/namespaces/tmp");
  EXPECT_EQ(ns.Str("status.phase"), "Active");
  EXPECT_EQ(ns.Str("spec.finalizers"), R"(["kubernetes"])");
  EXPECT_EQ(ns.Str("metadata.labels"), R"({"kubernetes.io/metadata.name":"tmp"})");
  Do("POST", "/api/v1/namespaces/tmp/secrets",
     R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"type":"Opaque"})");
  auto dry = Do("DELETE", "/api/v1/namespaces/tmp?dryRun=All");
  EXPECT_EQ(dry.code, 200) << dry.body;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/tmp").Str("status.phase"), "Active");

  auto wrong_uid = Do("DELETE", "/api/v1/namespaces/tmp",
                      R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"x"}})");
  EXPECT_EQ(wrong_uid.code, 409) << wrong_uid.body;
  EXPECT_EQ(wrong_uid.Str("message"),
            "Operation cannot be fulfilled on namespaces \"tmp\": Precondition failed: UID in "
            "precondition: x, UID in object meta: " +
                ns.Str("metadata.uid"));

  auto d = Do("DELETE", "/api/v1/namespaces/tmp");
  EXPECT_EQ(d.code, 200) << d.body;
  EXPECT_EQ(d.Str("kind"), "Namespace");
  EXPECT_EQ(d.Str("status.phase"), "Terminating");
  EXPECT_NE(d.Str("metadata.deletionTimestamp"), "<missing>");
  EXPECT_EQ(d.Str("spec.finalizers"), R"(["kubernetes"])");
  // The content stays until the controller removes it; nothing new may be created.
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/tmp/secrets/s").code, 200);
  auto refused = Do("POST", "/api/v1/namespaces/tmp/configmaps",
                    R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late"}})");
  EXPECT_EQ(refused.code, 403);
  EXPECT_EQ(refused.Str("reason"), "Forbidden");
  EXPECT_EQ(refused.Str("message"),
            "configmaps \"late\" is forbidden: unable to create new content in namespace tmp "
            "because it is being terminated");
  auto applied = Do("PATCH", "/api/v1/namespaces/tmp/configmaps/late?fieldManager=m",
                    R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late"}})",
                    {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(applied.code, 403) << applied.body;

  // A second DELETE answers the namespace as it is (kube >= 1.x: no Conflict).
  auto again = Do("DELETE", "/api/v1/namespaces/tmp");
  EXPECT_EQ(again.code, 200) << again.body;
  EXPECT_EQ(again.Str("metadata.deletionTimestamp"), d.Str("metadata.deletionTimestamp"));
  // Ordinary updates cannot touch spec.finalizers, and do not delete the namespace.
  auto cur = Do("GET", "/api/v1/namespaces/tmp");
  std::string body = cur.body;
  auto pos = body.find(R"("finalizers":["kubernetes"])");
  ASSERT_NE(pos, std::string::npos) << body;
  body.replace(pos, std::string(R"("finalizers":["kubernetes"])").size(), R"("finalizers":[])");
  auto put = Do("PUT", "/api/v1/namespaces/tmp", body);
  EXPECT_EQ(put.code, 200) << put.body;
  EXPECT_EQ(put.Str("spec.finalizers"), R"(["kubernetes"])");
  // GET on /finalize is not served (update only).
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/tmp/finalize").code, 404);
  // /finalize removes the finalizer; with none left the terminating namespace is deleted.
  body = Do("GET", "/api/v1/namespaces/tmp").body;
  pos = body.find(R"("finalizers":["kubernetes"])");
  ASSERT_NE(pos, std::string::npos) << body;
  body.replace(pos, std::string(R"("finalizers":["kubernetes"])").size(), R"("finalizers":[])");
  auto fin = Do("PUT", "/api/v1/namespaces/tmp/finalize", body);
  EXPECT_EQ(fin.code, 200) << fin.body;
  EXPECT_EQ(fin.Str("spec.finalizers"), "[]");
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/tmp").code, 404);
}

TEST_F(HandlerTest, CRDDeletionStopsServing) {
  CreateClaimCRD();
  Do("POST", kClaims, Claim("a"));
  auto d = Do("DELETE",
              "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
              "kubernetesclusters.k8s.starter.org");
  EXPECT_EQ(d.code, 200) << d.body;
  EXPECT_EQ(registry_.Lookup("k8s.starter.org", "v1alpha1", "kubernetesclusters"), nullptr);
  EXPECT_EQ(Do("GET",
               "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
               "kubernetesclusters.k8s.starter.org")
                .code,
            404);
  EXPECT_TRUE(store_.Snapshot({"k8s.starter.org", "kubernetesclusters"}).empty());
}

TEST_F(HandlerTest, ScopeAndVirtualResources) {
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/namespaces/x").code, 404);
  EXPECT_EQ(Do("GET", "/apis/authentication.k8s.io/v1/tokenreviews").code, 405);
  auto apisvc = Do(
      "POST", "/apis/apiregistration.k8s.io/v1/apiservices",
      R"({"apiVersion":"apiregistration.k8s.io/v1","kind":"APIService","metadata":{"name":"v1alpha1.k8s.starter.org"},"spec":{"group":"k8s.starter.org","version":"v1alpha1","service":{"namespace":"ns","name":"svc","port":443},"groupPriorityMinimum":1000,"versionPriority":100}})");
  EXPECT_EQ(apisvc.code, 201) << apisvc.body;
  auto t = Do("GET", "/apis/apiregistration.k8s.io/v1/apiservices", "",
              {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  EXPECT_NE(t.body.find(R"("cells":["v1alpha1.k8s.starter.org","ns/svc","Unknown",)"),
            std::string::npos)
      << t.body;
}

}  // namespace
}  // namespace fakekube::testing

namespace fakekube::testing {
namespace {

// Protobuf helpers building what kubectl sends for `kubectl create namespace` / `secret`.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += char((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += char(v);
  return out;
}
std::string Bytes(uint32_t field, std::string_view b) {
  return Varint((field << 3) | 2) + Varint(b.size()) + std::string(b);
}
std::string Envelope(std::string_view api, std::string_view kind, std::string_view raw) {
  return std::string("k8s\0", 4) + Bytes(1, Bytes(1, api) + Bytes(2, kind)) + Bytes(2, raw) +
         Bytes(3, "") + Bytes(4, "");
}

TEST_F(HandlerTest, ProtobufBodiesForBuiltins) {
  std::string ns =
      Envelope("v1", "Namespace", Bytes(1, Bytes(1, "pb")) + Bytes(2, "") + Bytes(3, ""));
  auto r = Do("POST", "/api/v1/namespaces", ns,
              {{"Content-Type", "application/vnd.kubernetes.protobuf"},
               {"Accept", "application/vnd.kubernetes.protobuf,application/json"}});
  ASSERT_EQ(r.code, 201) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.Str("metadata.name"), "pb");
  EXPECT_EQ(r.Str("status.phase"), "Active");
  std::string meta = Bytes(1, "s1") + Bytes(11, Bytes(1, "app") + Bytes(2, "x"));
  std::string secret =
      Envelope("v1", "Secret",
               Bytes(1, meta) + Bytes(2, Bytes(1, "k") + Bytes(2, "hello")) + Bytes(3, "Opaque"));
  auto s = Do("POST", "/api/v1/namespaces/pb/secrets", secret,
              {{"Content-Type", "application/vnd.kubernetes.protobuf"}});
  ASSERT_EQ(s.code, 201) << s.body;
  EXPECT_EQ(s.Str("data.k"), "aGVsbG8=");
  EXPECT_EQ(s.Str("type"), "Opaque");
  EXPECT_EQ(s.Str("metadata.labels.app"), "x");
  // Custom resources have no protobuf: 415.
  CreateClaimCRD();
  auto cr = Do("POST", kClaims, secret, {{"Content-Type", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(cr.code, 415);
}

}  // namespace
}  // namespace fakekube::testing

namespace fakekube::testing {
namespace {

TEST_F(HandlerTest, LargeListIsStreamedInChunks) {
  CreateClaimCRD();
  for (int i = 0; i < 10000; ++i) {
    auto d = kube::json::Parse(Claim("c" + std::to_string(i)));
    ASSERT_TRUE(
        store_.Create({"k8s.starter.org", "kubernetesclusters"}, "default", std::move(*d)).ok());
  }
  kube::http::Request req = MakeRequest("GET", kClaims, "", {});
  auto info = factory_.NewRequestInfo(req);
  boost::asio::io_context io;
  RecordingWriter w(io.get_executor());
  auto start = std::chrono::steady_clock::now();
  boost::asio::co_spawn(io, handler_.ServeResource(req, w, *info), boost::asio::detached);
  io.run();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GT(w.writes().size(), 10u);  // streamed, not one buffer
  EXPECT_FALSE(w.content_length().has_value());
  auto doc = kube::json::Parse(w.body());
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(kube::json::Find(*doc, "items")->Size(), 10000u);
  std::cout << "list of 10000 claims (" << w.body().size() / 1024 << " KiB) took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
}

}  // namespace
}  // namespace fakekube::testing

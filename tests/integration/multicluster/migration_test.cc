// Migration restore (issue 7): the control plane holds what `up controlplane migration import
// --mcp-connector-cluster-id=<A> --mcp-connector-claim-namespace=<ns>` writes: claims named
// claim-<hash> in the claim namespace with exactly the three origin labels and no annotations
// (except, possibly, crossplane.io/paused), the connection secret name as the user wrote it, and
// cluster-scoped composites whose spec.claimRef {name, namespace} was rewritten the same way.
// Connector A (same cluster ID and claim namespace) serves those claims under their original names
// with status: read, watch, update (merge/json/apply/put), delete; the first write adds what the
// connector needs without renaming or losing fields; the composites' claimRefs match the names the
// connector computes; the composite is never served nor modified. Connector B (another cluster
// sharing the namespace) sees none of it.
//
// The importer's naming is computed here independently (OpenSSL SHA-256), not with naming/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstdio>

#include "tests/integration/multicluster/harness.h"

namespace multicluster {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

const std::string kCompositePath = "/apis/k8s.starter.org/v1alpha1/xkubernetesclusters";

// upbound/up pkg/migration/importer: "claim-" + hex(sha256("<name>-x-<ns>-x-<clusterID>"))[:16].
std::string ImporterName(const std::string& name, const std::string& ns,
                         const std::string& cluster) {
  std::string in = name + "-x-" + ns + "-x-" + cluster;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  std::string hex;
  for (int i = 0; i < 8; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", digest[i]);
    hex += b;
  }
  return "claim-" + hex;
}

// A claim exactly as the importer writes it.
std::string ImportedClaim(const std::string& name, const std::string& ns, bool paused,
                          const std::string& composite, const std::string& secret) {
  std::string y =
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata:\n"
      "  name: " +
      ImporterName(name, ns, kClusterA) + "\n  namespace: " + kClaimNamespace +
      "\n  labels:\n    mcp-connector.upbound.io/app-cluster: " + kClusterA +
      "\n    mcp-connector.upbound.io/app-namespace: " + ns +
      "\n    mcp-connector.upbound.io/app-resource-name: " + name + "\n";
  if (paused) y += "  annotations:\n    crossplane.io/paused: \"true\"\n";
  y += "spec:\n  parameters: {version: \"1.29\", nodeCount: 2, region: eu-west-1}\n"
       "  compositionRef: {name: kubernetescluster-default}\n"
       "  compositeDeletePolicy: Foreground\n"
       "  resourceRef: {apiVersion: k8s.starter.org/v1alpha1, kind: XKubernetesCluster, name: " +
       composite + "}\n  writeConnectionSecretToRef: {name: " + secret + "}\n";
  return y;
}

// The claim's composite as the importer writes it (claimRef rewritten).
std::string ImportedComposite(const std::string& composite, const std::string& claim,
                              const std::string& ns) {
  return "apiVersion: k8s.starter.org/v1alpha1\nkind: XKubernetesCluster\nmetadata:\n  name: " +
         composite + "\n  labels:\n    crossplane.io/claim-name: " + claim +
         "\n    crossplane.io/claim-namespace: " + ns +
         "\n    crossplane.io/composite: " + composite +
         "\nspec:\n  parameters: {version: \"1.29\", nodeCount: 2}\n"
         "  compositionRef: {name: kubernetescluster-default}\n"
         "  claimRef:\n    apiVersion: k8s.starter.org/v1alpha1\n    kind: KubernetesCluster\n"
         "    name: " +
         ImporterName(claim, ns, kClusterA) + "\n    namespace: " + kClaimNamespace +
         "\n  writeConnectionSecretToRef: {name: " + composite +
         "-uid, namespace: crossplane-system}\n";
}

const std::string kStatus =
    R"({"conditions":[{"type":"Ready","status":"True","reason":"Available",)"
    R"("lastTransitionTime":"2024-05-01T10:00:00Z"},{"type":"Synced","status":"True",)"
    R"("reason":"ReconcileSuccess","lastTransitionTime":"2024-05-01T10:00:00Z"}]})";

class MigrationTest : public ::testing::Test {
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
    // Fresh imported objects per test (the importer's output, then Crossplane's status).
    for (const auto& [name, ns, paused, composite, secret] : Imports()) {
      env_->CpDo("DELETE", CpClaimPath(name, ns));
      auto ok = env_->cp->Apply(ImportedClaim(name, ns, paused, composite, secret));
      ASSERT_TRUE(ok.ok()) << ok.error().message;
      ok = env_->cp->Apply(ImportedComposite(composite, name, ns));
      ASSERT_TRUE(ok.ok()) << ok.error().message;
      SetStatus(name, ns, kStatus);
    }
    env_->cp->ClearRequests();
  }

  struct Import {
    std::string name, ns;
    bool paused;
    std::string composite, secret;
  };
  static std::vector<Import> Imports() {
    return {{"example", "team-a", true, "example-7xk2p", "platform-ref-aws-kubeconfig"},
            {"plain", "team-b", false, "plain-q9z4w", "plain-kubeconfig"}};
  }

  static std::string CpClaimPath(const std::string& name, const std::string& ns) {
    return Path(ClaimApi(), kClaimNamespace, ImporterName(name, ns, kClusterA));
  }
  static fakekube::Object CpClaim(const std::string& name, const std::string& ns) {
    auto r = env_->cp->Get(ClaimApi().group, ClaimApi().resource, kClaimNamespace,
                           ImporterName(name, ns, kClusterA));
    return r.ok() ? *r : nullptr;
  }
  static fakekube::Object Composite(const std::string& name) {
    auto r = env_->cp->Get(ClaimApi().group, "xkubernetesclusters", "", name);
    return r.ok() ? *r : nullptr;
  }
  // Crossplane writing the claim's status.
  static void SetStatus(const std::string& name, const std::string& ns, const std::string& status) {
    auto cur = env_->CpDo("GET", CpClaimPath(name, ns));
    ASSERT_EQ(cur.status, 200) << cur.body;
    auto doc = cur.Json();
    ASSERT_TRUE(doc);
    auto st = json::Parse(status);
    json::Value v;
    v.CopyFrom(*st, doc->GetAllocator());
    json::SetMember(*doc, "status", std::move(v), doc->GetAllocator());
    auto r = env_->CpDo("PUT", CpClaimPath(name, ns) + "/status", json::Serialize(*doc));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  static std::string Str(const json::Value& obj, const std::string& path, const char* key) {
    const json::Value* v = json::FindPath(obj, path);
    return v ? std::string(json::GetString(*v, key)) : "<missing " + path + ">";
  }
  static std::map<std::string, std::string> Map(const json::Value& obj, const std::string& path) {
    std::map<std::string, std::string> out;
    const json::Value* m = json::FindPath(obj, path);
    if (!m || !m->IsObject()) return out;
    for (const auto& kv : m->GetObject()) {
      out[std::string(json::View(kv.name))] = std::string(json::View(kv.value));
    }
    return out;
  }
  // A field of status.conditions[0].
  static std::string FirstCondition(const json::Value& obj, const char* key) {
    const json::Value* c = json::FindPath(obj, "status.conditions");
    if (!c || !c->IsArray() || c->Empty()) return "<no conditions>";
    return std::string(json::GetString((*c)[0], key));
  }
  // The imported claim's spec survived a write.
  static void ExpectSpecKept(const json::Value& cp, const Import& im, int nodes) {
    const json::Value* n = json::FindPath(cp, "spec.parameters.nodeCount");
    ASSERT_TRUE(n && n->IsInt());
    EXPECT_EQ(n->GetInt(), nodes);
    EXPECT_EQ(Str(cp, "spec.parameters", "version"), "1.29");
    EXPECT_EQ(Str(cp, "spec.parameters", "region"), "eu-west-1");
    EXPECT_EQ(Str(cp, "spec.compositionRef", "name"), "kubernetescluster-default");
    EXPECT_EQ(Str(cp, "spec", "compositeDeletePolicy"), "Foreground");
    EXPECT_EQ(Str(cp, "spec.resourceRef", "name"), im.composite);
    EXPECT_EQ(Str(cp, "spec.resourceRef", "kind"), "XKubernetesCluster");
    EXPECT_EQ(FirstCondition(cp, "type"), "Ready");
  }
  static void ExpectOriginLabels(const json::Value& cp, const Import& im) {
    auto labels = Map(cp, "metadata.labels");
    EXPECT_EQ(labels["mcp-connector.upbound.io/app-cluster"], kClusterA);
    EXPECT_EQ(labels["mcp-connector.upbound.io/app-namespace"], im.ns);
    EXPECT_EQ(labels["mcp-connector.upbound.io/app-resource-name"], im.name);
  }

  static inline Env* env_ = nullptr;
};

TEST_F(MigrationTest, ImporterNamingIsTheConnectorsNaming) {
  // The reference vector (docs and upbound/up), then the connector's own choice for a new claim.
  EXPECT_EQ(ImporterName("my-bucket", "test", "00000000-0000-0000-0000-000000000000"),
            "claim-c603e518969b413e");
  auto r = env_->Do(env_->a(), "POST", Path(ClaimApi(), "team-a"),
                    ObjectJson(ClaimApi(), "fresh", "cluster-a"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(env_->cp
                  ->Get(ClaimApi().group, ClaimApi().resource, kClaimNamespace,
                        ImporterName("fresh", "team-a", kClusterA))
                  .ok());
  EXPECT_EQ(env_->Do(env_->a(), "DELETE", Path(ClaimApi(), "team-a", "fresh")).status, 200);
}

TEST_F(MigrationTest, ImportedClaimsAppearUnderTheirOriginalNamesWithStatus) {
  Side& a = env_->a();
  for (const Import& im : Imports()) {
    SCOPED_TRACE(im.ns + "/" + im.name);
    auto got = env_->Do(a, "GET", Path(ClaimApi(), im.ns, im.name));
    ASSERT_EQ(got.status, 200) << got.body;
    auto doc = got.Json();
    ASSERT_TRUE(doc);
    EXPECT_EQ(Str(*doc, "metadata", "name"), im.name);
    EXPECT_EQ(Str(*doc, "metadata", "namespace"), im.ns);
    EXPECT_EQ(FirstCondition(*doc, "status"), "True");
    EXPECT_EQ(Str(*doc, "spec.writeConnectionSecretToRef", "name"), im.secret);
    EXPECT_EQ(Str(*doc, "spec.resourceRef", "name"), im.composite);
    EXPECT_THAT(got.body, Not(HasSubstr("mcp-connector.upbound.io")));
    EXPECT_THAT(got.body, Not(HasSubstr("claim-")));
    EXPECT_THAT(got.body, Not(HasSubstr(kClaimNamespace)));
    auto ann = Map(*doc, "metadata.annotations");
    if (im.paused) {
      EXPECT_EQ(ann["crossplane.io/paused"], "true");  // passed through
    } else {
      EXPECT_THAT(ann, IsEmpty());
    }
  }
  auto all = env_->Do(a, "GET", Path(ClaimApi(), ""));
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_THAT(all.Names(), UnorderedElementsAre("example", "plain"));
  // `kubectl get claim -A`: a Table with the original names and the connection secret column.
  auto table = env_->Do(a, "GET", Path(ClaimApi(), ""), "", "",
                        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
  ASSERT_EQ(table.status, 200) << table.body;
  EXPECT_THAT(table.Names(), UnorderedElementsAre("example", "plain"));
  EXPECT_THAT(table.body, HasSubstr("\"platform-ref-aws-kubeconfig\""));
  EXPECT_THAT(table.body, Not(HasSubstr("claim-")));

  // Another cluster sharing the claim namespace sees none of them, even asking by name.
  Side& b = env_->b();
  EXPECT_THAT(env_->Do(b, "GET", Path(ClaimApi(), "")).Names(), IsEmpty());
  for (const Import& im : Imports()) {
    EXPECT_EQ(env_->Do(b, "GET", Path(ClaimApi(), im.ns, im.name)).status, 404);
    EXPECT_EQ(env_->Do(b, "DELETE", Path(ClaimApi(), im.ns, im.name)).status, 404);
  }
  EXPECT_EQ(env_->Do(b, "DELETE", Path(ClaimApi(), "team-a")).status, 200);
  EXPECT_NE(CpClaim("example", "team-a"), nullptr);
}

TEST_F(MigrationTest, CompositeClaimRefsMatchTheConnectorsNames) {
  Side& a = env_->a();
  for (const Import& im : Imports()) {
    SCOPED_TRACE(im.ns + "/" + im.name);
    auto xr = Composite(im.composite);
    ASSERT_NE(xr, nullptr);
    const std::string ref_name = Str(*xr, "spec.claimRef", "name");
    const std::string ref_ns = Str(*xr, "spec.claimRef", "namespace");
    // Exactly the connector's name for the app-side claim, in its claim namespace.
    EXPECT_EQ(ref_name, naming::ControlPlaneName(naming::Kind::kClaim, im.name, im.ns, kClusterA));
    EXPECT_EQ(ref_name, Env::CpName(ClaimApi(), a, im.ns, im.name));
    EXPECT_EQ(ref_ns, kClaimNamespace);
    EXPECT_EQ(Str(*xr, "spec.claimRef", "kind"), ClaimApi().kind);
    EXPECT_EQ(Str(*xr, "spec.claimRef", "apiVersion"), ClaimApi().group_version);
    // Operationally: a write through the connector lands on exactly the object claimRef names,
    // and the composite still points at it afterwards (Crossplane keeps the binding).
    auto p =
        env_->Do(a, "PATCH", Path(ClaimApi(), im.ns, im.name),
                 R"({"metadata":{"labels":{"migrated":"yes"}}})", "application/merge-patch+json");
    ASSERT_EQ(p.status, 200) << p.body;
    auto bound = env_->cp->Get(ClaimApi().group, ClaimApi().resource, ref_ns, ref_name);
    ASSERT_TRUE(bound.ok());
    EXPECT_EQ(Map(**bound, "metadata.labels")["migrated"], "yes");
    EXPECT_EQ(Str(**bound, "spec.resourceRef", "name"), im.composite);
    EXPECT_EQ(Str(*Composite(im.composite), "spec.claimRef", "name"), ref_name);
  }
  // The connector created nothing else in the claim namespace.
  EXPECT_EQ(env_->CpObjectsOf(ClaimApi(), kClusterA).size(), Imports().size());
}

TEST_F(MigrationTest, TheCompositeIsNeverServedNorModified) {
  Side& a = env_->a();
  std::map<std::string, std::string> rv;
  for (const Import& im : Imports())
    rv[im.composite] = Str(*Composite(im.composite), "metadata", "resourceVersion");
  // Not in discovery, not served cluster-scoped nor namespaced, whatever the verb.
  auto disco = env_->Do(a, "GET", "/apis/k8s.starter.org/v1alpha1");
  ASSERT_EQ(disco.status, 200) << disco.body;
  EXPECT_THAT(disco.body, HasSubstr("\"kubernetesclusters\""));
  EXPECT_THAT(disco.body, Not(HasSubstr("xkubernetesclusters")));
  const std::string xr = Imports()[0].composite;
  for (const std::string& path : std::vector<std::string>{
           kCompositePath, kCompositePath + "/" + xr,
           "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/xkubernetesclusters",
           "/apis/k8s.starter.org/v1alpha1/namespaces/team-a/xkubernetesclusters/" + xr,
           "/apis/k8s.starter.org/v1alpha1/namespaces/" + kClaimNamespace +
               "/xkubernetesclusters/" + xr}) {
    for (const auto& [method, body, type] :
         {std::tuple{"GET", "", ""},
          std::tuple{"PATCH", R"({"spec":{"claimRef":null}})", "application/merge-patch+json"},
          std::tuple{"PUT",
                     R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"XKubernetesCluster",)"
                     R"("metadata":{"name":"x"}})",
                     "application/json"},
          std::tuple{"DELETE", "", ""},
          std::tuple{"POST", R"({"metadata":{"name":"x"}})", "application/json"}}) {
      auto r = env_->Do(a, method, path, body, type);
      EXPECT_GE(r.status, 400) << method << " " << path << ": " << r.body;
      EXPECT_THAT(r.body, Not(HasSubstr("claimRef"))) << method << " " << path;
    }
  }
  // The claim's whole life through the connector ...
  for (const Import& im : Imports()) {
    auto got = env_->Do(a, "GET", Path(ClaimApi(), im.ns, im.name));
    ASSERT_EQ(got.status, 200);
    EXPECT_EQ(env_->Do(a, "PUT", Path(ClaimApi(), im.ns, im.name), got.body).status, 200);
    EXPECT_EQ(env_->Do(a, "DELETE", Path(ClaimApi(), im.ns, im.name)).status, 200);
  }
  // ... never reached a composite in the control plane.
  auto touched = env_->cp->Requests(
      [](const fakekube::RecordedRequest& q) { return q.resource == "xkubernetesclusters"; });
  EXPECT_THAT(touched, IsEmpty());
  for (const Import& im : Imports()) {
    auto obj = Composite(im.composite);
    ASSERT_NE(obj, nullptr) << im.composite;
    EXPECT_EQ(Str(*obj, "metadata", "resourceVersion"), rv[im.composite]);
    EXPECT_EQ(Str(*obj, "spec.claimRef", "name"), ImporterName(im.name, im.ns, kClusterA));
  }
}

TEST_F(MigrationTest, ImportedClaimsCanBeWatchedUpdatedAndDeleted) {
  Side& a = env_->a();
  const Import ex = Imports()[0], plain = Imports()[1];

  // watch: Crossplane's status change arrives under the original name.
  auto w = env_->Watch(a, Path(ClaimApi(), ex.ns) + "?watch=1&timeoutSeconds=2", [&] {
    SetStatus(ex.name, ex.ns,
              R"({"conditions":[{"type":"Ready","status":"False","reason":"Creating",)"
              R"("lastTransitionTime":"2024-05-02T10:00:00Z"}]})");
  });
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_THAT(w.body, HasSubstr("\"MODIFIED\""));
  EXPECT_THAT(w.body, HasSubstr("\"Creating\""));
  EXPECT_THAT(w.body, HasSubstr("\"name\":\"example\""));
  EXPECT_THAT(w.body, Not(HasSubstr("claim-")));
  EXPECT_THAT(w.body, Not(HasSubstr("mcp-connector.upbound.io")));
  SetStatus(ex.name, ex.ns, kStatus);

  // update (PUT of what was read, one field changed): same object, fields and status kept, the
  // paused annotation and the three labels kept; the app side still sees its secret name.
  const std::string uid = Str(*CpClaim(ex.name, ex.ns), "metadata", "uid");
  auto got = env_->Do(a, "GET", Path(ClaimApi(), ex.ns, ex.name));
  ASSERT_EQ(got.status, 200);
  auto doc = got.Json();
  (*doc)["spec"]["parameters"]["nodeCount"].SetInt(4);
  auto put = env_->Do(a, "PUT", Path(ClaimApi(), ex.ns, ex.name), json::Serialize(*doc));
  ASSERT_EQ(put.status, 200) << put.body;
  auto cp = CpClaim(ex.name, ex.ns);
  ASSERT_NE(cp, nullptr) << "renamed by the first write";
  EXPECT_EQ(Str(*cp, "metadata", "uid"), uid);
  ExpectSpecKept(*cp, ex, 4);
  ExpectOriginLabels(*cp, ex);
  EXPECT_EQ(Map(*cp, "metadata.annotations")["crossplane.io/paused"], "true");
  auto after = env_->Do(a, "GET", Path(ClaimApi(), ex.ns, ex.name));
  auto after_doc = after.Json();
  EXPECT_EQ(Str(*after_doc, "spec.writeConnectionSecretToRef", "name"), ex.secret);
  EXPECT_EQ(Str(*after_doc, "metadata.annotations", "crossplane.io/paused"), "true");
  EXPECT_THAT(after.body, Not(HasSubstr("mcp-connector.upbound.io")));

  // The claim without annotations: merge, json and apply patches, each keeping everything.
  auto m = env_->Do(a, "PATCH", Path(ClaimApi(), plain.ns, plain.name),
                    R"({"metadata":{"labels":{"team":"blue"}}})", "application/merge-patch+json");
  ASSERT_EQ(m.status, 200) << m.body;
  auto j = env_->Do(a, "PATCH", Path(ClaimApi(), plain.ns, plain.name),
                    R"([{"op":"replace","path":"/spec/parameters/nodeCount","value":5}])",
                    "application/json-patch+json");
  ASSERT_EQ(j.status, 200) << j.body;
  auto ap = env_->Do(a, "PATCH",
                     Path(ClaimApi(), plain.ns, plain.name) + "?fieldManager=kubectl&force=true",
                     R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster",)"
                     R"("metadata":{"name":"plain","annotations":{"note":"restored"}}})",
                     "application/apply-patch+yaml");
  ASSERT_EQ(ap.status, 200) << ap.body;
  cp = CpClaim(plain.name, plain.ns);
  ASSERT_NE(cp, nullptr) << "renamed by a patch";
  ExpectSpecKept(*cp, plain, 5);
  ExpectOriginLabels(*cp, plain);
  EXPECT_EQ(Map(*cp, "metadata.labels")["team"], "blue");
  EXPECT_EQ(Map(*cp, "metadata.annotations")["note"], "restored");
  EXPECT_EQ(Str(*cp, "spec.writeConnectionSecretToRef", "name"), plain.secret);
  auto seen = env_->Do(a, "GET", Path(ClaimApi(), plain.ns, plain.name));
  EXPECT_EQ(Str(*seen.Json(), "spec.writeConnectionSecretToRef", "name"), plain.secret);

  // delete: gone from the control plane; the composite is Crossplane's business.
  for (const Import& im : Imports()) {
    auto d = env_->Do(a, "DELETE", Path(ClaimApi(), im.ns, im.name));
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(CpClaim(im.name, im.ns), nullptr);
    EXPECT_NE(Composite(im.composite), nullptr);
    EXPECT_EQ(env_->Do(a, "GET", Path(ClaimApi(), im.ns, im.name)).status, 404);
  }
}

TEST_F(MigrationTest, ImportedClaimsConnectionSecretsAreCopied) {
  Side& a = env_->a();
  Side& b = env_->b();
  b.app->ClearRequests();
  for (const Import& im : Imports()) {
    auto claim = CpClaim(im.name, im.ns);
    ASSERT_NE(claim, nullptr);
    const json::Value* md = json::Find(*claim, "metadata");
    // Crossplane's connection secret: the untranslated name the importer kept.
    auto ok =
        env_->cp->Apply("apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + im.secret +
                        "\n  namespace: " + kClaimNamespace +
                        "\n  ownerReferences:\n  - {apiVersion: k8s.starter.org/v1alpha1, kind: "
                        "KubernetesCluster, name: " +
                        std::string(json::GetString(*md, "name")) +
                        ", uid: " + std::string(json::GetString(*md, "uid")) +
                        ", controller: true}\ntype: connection.crossplane.io/v1alpha1\n"
                        "data: {kubeconfig: aW1wb3J0ZWQ=}\n");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
  }
  for (const Import& im : Imports()) {
    ASSERT_TRUE(Eventually([&] { return env_->AppSecret(a, im.ns, im.secret) != nullptr; }, 10s,
                           "copy of " + im.secret + " in " + im.ns));
    auto copy = env_->AppSecret(a, im.ns, im.secret);
    EXPECT_EQ(Str(*copy, "data", "kubeconfig"), "aW1wb3J0ZWQ=");
    EXPECT_EQ(Str(*copy, "metadata.annotations", "mcp-connector.upbound.io/claim"),
              "KubernetesCluster.k8s.starter.org/" + im.name);
  }
  std::this_thread::sleep_for(500ms);
  EXPECT_THAT(env_->AppSecretWrites(b), IsEmpty());
  // The source goes: the copy goes.
  const Import ex = Imports()[0];
  auto del =
      env_->CpDo("DELETE", "/api/v1/namespaces/" + kClaimNamespace + "/secrets/" + ex.secret);
  ASSERT_EQ(del.status, 200);
  EXPECT_TRUE(Eventually([&] { return env_->AppSecret(a, ex.ns, ex.secret) == nullptr; }, 10s,
                         "copy deleted"));
  auto d2 = env_->CpDo("DELETE",
                       "/api/v1/namespaces/" + kClaimNamespace + "/secrets/" + Imports()[1].secret);
  EXPECT_EQ(d2.status, 200);
}

TEST_F(MigrationTest, ImportedClaimsConnectionSecretSurvivesTheFirstWrite) {
  Side& a = env_->a();
  const Import ex = Imports()[0];
  auto claim = CpClaim(ex.name, ex.ns);
  ASSERT_NE(claim, nullptr);
  auto write_source = [&](const std::string& name, const std::string& data) {
    const json::Value* md = json::Find(*claim, "metadata");
    auto ok =
        env_->cp->Apply("apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name +
                        "\n  namespace: " + kClaimNamespace +
                        "\n  ownerReferences:\n  - {apiVersion: k8s.starter.org/v1alpha1, kind: "
                        "KubernetesCluster, name: " +
                        std::string(json::GetString(*md, "name")) +
                        ", uid: " + std::string(json::GetString(*md, "uid")) +
                        ", controller: true}\ntype: connection.crossplane.io/v1alpha1\n"
                        "data: {kubeconfig: " +
                        data + "}\n");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
  };
  write_source(ex.secret, "b2xk");  // "old"
  ASSERT_TRUE(Eventually([&] { return env_->AppSecret(a, ex.ns, ex.secret) != nullptr; }, 10s,
                         "copy of the imported claim's secret"));

  // The first write through the connector (kubectl edit/replace).
  auto got = env_->Do(a, "GET", Path(ClaimApi(), ex.ns, ex.name));
  ASSERT_EQ(got.status, 200);
  auto put = env_->Do(a, "PUT", Path(ClaimApi(), ex.ns, ex.name), got.body);
  ASSERT_EQ(put.status, 200) << put.body;
  claim = CpClaim(ex.name, ex.ns);
  ASSERT_NE(claim, nullptr);
  // Crossplane (re)publishes the connection secret under whatever name the claim now asks for.
  const std::string source = Str(*claim, "spec.writeConnectionSecretToRef", "name");
  write_source(source, "bmV3");  // "new"
  // The app's Secret keeps its name and follows, without ever disappearing meanwhile.
  bool vanished = false;
  EXPECT_TRUE(Eventually(
      [&] {
        auto copy = env_->AppSecret(a, ex.ns, ex.secret);
        if (!copy) vanished = true;
        return copy && Str(*copy, "data", "kubeconfig") == "bmV3";
      },
      10s, "the copy follows the claim's connection secret (source " + source + ")"));
  EXPECT_FALSE(vanished);
  for (const std::string& name : std::vector<std::string>{ex.secret, source}) {
    env_->CpDo("DELETE", "/api/v1/namespaces/" + kClaimNamespace + "/secrets/" + name);
  }
}

}  // namespace
}  // namespace multicluster

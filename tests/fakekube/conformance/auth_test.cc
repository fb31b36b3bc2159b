// Authentication and authorization: token file, client certificates, front-proxy headers, the
// policy file, kube's exact 401/403 bodies, TokenReview and SubjectAccessReview.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/rest_client.h"
#include "tests/fakekube/auth.h"
#include "tests/fakekube/server.h"
#include "tests/fakekube/testing/fakekube_testing.h"

namespace fakekube {
namespace {

using ::testing::HasSubstr;

TEST(ParseTokenFile, KubeCsvFormat) {
  auto t = ParseTokenFile(
      "tok1,alice,uid-1,\"devs,ops\"\n\ntok2,bob,uid-2\r\n"
      "tok3,carol,uid-3,admins,ignored\n");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[0].token, "tok1");
  EXPECT_EQ((*t)[0].user.name, "alice");
  EXPECT_EQ((*t)[0].user.uid, "uid-1");
  EXPECT_EQ((*t)[0].user.groups, (std::vector<std::string>{"devs", "ops"}));
  EXPECT_TRUE((*t)[1].user.groups.empty());
  EXPECT_EQ((*t)[2].user.groups, std::vector<std::string>{"admins"});
  EXPECT_FALSE(ParseTokenFile("only-a-token\n").ok());
  EXPECT_FALSE(ParseTokenFile("tok,\"unterminated,uid\n").ok());
}

TEST(ParsePolicy, YamlAndJson) {
  auto p = ParsePolicy(R"(
- users: [alice]
  verbs: [get, list, watch]
  apiGroups: [k8s.starter.org]
  resources: [kubernetesclusters]
  namespaces: [team-a]
- group: ops
  verbs: ["*"]
  apiGroups: ["*"]
  resources: ["*"]
)");
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->rules.size(), 2u);
  EXPECT_EQ(p->rules[1].groups, std::vector<std::string>{"ops"});
  auto j =
      ParsePolicy(R"({"rules":[{"users":["x"],"verbs":["get"],"nonResourceURLs":["/metrics"]}]})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->rules[0].non_resource_urls, std::vector<std::string>{"/metrics"});
  EXPECT_FALSE(ParsePolicy("- users: [x]\n").ok());  // no verbs
  EXPECT_FALSE(ParsePolicy("{").ok());
}

Attributes Attr(std::string user, std::vector<std::string> groups, std::string verb,
                std::string group, std::string resource, std::string ns, std::string name = "") {
  Attributes a;
  a.user.name = std::move(user);
  a.user.groups = std::move(groups);
  a.verb = std::move(verb);
  a.resource_request = true;
  a.group = std::move(group);
  a.version = "v1";
  a.resource = std::move(resource);
  a.ns = std::move(ns);
  a.name = std::move(name);
  return a;
}

TEST(Authorizer, RulesLikeRBAC) {
  auto p = ParsePolicy(R"(
- users: [alice]
  verbs: [get, list, watch]
  apiGroups: [k8s.starter.org]
  resources: [kubernetesclusters, kubernetesclusters/status]
  namespaces: [team-a]
- groups: [ops]
  verbs: ["*"]
  apiGroups: ["*"]
  resources: ["*"]
- users: [bob]
  verbs: [get]
  apiGroups: [""]
  resources: [secrets]
  resourceNames: [s1]
)");
  ASSERT_TRUE(p.ok());
  Authorizer authz(*p);
  EXPECT_TRUE(
      authz.Authorize(Attr("alice", {}, "get", "k8s.starter.org", "kubernetesclusters", "team-a"))
          .allowed);
  EXPECT_FALSE(
      authz
          .Authorize(Attr("alice", {}, "delete", "k8s.starter.org", "kubernetesclusters", "team-a"))
          .allowed);
  EXPECT_FALSE(
      authz.Authorize(Attr("alice", {}, "get", "k8s.starter.org", "kubernetesclusters", "team-b"))
          .allowed);
  EXPECT_FALSE(
      authz.Authorize(Attr("alice", {}, "list", "k8s.starter.org", "kubernetesclusters",
                           ""))
          .allowed);  // cluster-wide list
  EXPECT_TRUE(authz.Authorize(Attr("zed", {"ops"}, "delete", "", "secrets", "x")).allowed);
  EXPECT_TRUE(authz.Authorize(Attr("bob", {}, "get", "", "secrets", "x", "s1")).allowed);
  EXPECT_FALSE(authz.Authorize(Attr("bob", {}, "get", "", "secrets", "x", "s2")).allowed);
  EXPECT_TRUE(authz.Authorize(Attr("root", {"system:masters"}, "delete", "", "x", "")).allowed);
  Attributes health;
  health.user.name = "system:anonymous";
  health.verb = "get";
  health.path = "/readyz";
  EXPECT_TRUE(authz.Authorize(health).allowed);
  health.path = "/metrics";
  EXPECT_FALSE(authz.Authorize(health).allowed);
  Authorizer allow_all(std::nullopt);
  EXPECT_TRUE(allow_all.Authorize(Attr("anyone", {}, "delete", "", "secrets", "x")).allowed);
}

TEST(ForbiddenStatus, KubeMessages) {
  auto a = Attr("alice", {}, "get", "", "secrets", "team-a", "s1");
  EXPECT_EQ(ForbiddenMessage(a),
            "User \"alice\" cannot get resource \"secrets\" in API group \"\" in the namespace "
            "\"team-a\"");
  kube::Status st = ForbiddenStatus(a, "");
  EXPECT_EQ(st.code, 403);
  EXPECT_EQ(st.reason, "Forbidden");
  EXPECT_EQ(st.message,
            "secrets \"s1\" is forbidden: User \"alice\" cannot get resource \"secrets\" in API "
            "group \"\" in the namespace \"team-a\"");
  auto b = Attr("alice", {}, "list", "k8s.starter.org", "kubernetesclusters", "");
  EXPECT_EQ(ForbiddenStatus(b, "").message,
            "kubernetesclusters.k8s.starter.org is forbidden: User \"alice\" cannot list "
            "resource \"kubernetesclusters\" in API group \"k8s.starter.org\" at the cluster "
            "scope");
  auto c = Attr("alice", {}, "patch", "k8s.starter.org", "kubernetesclusters", "ns", "c");
  c.subresource = "status";
  EXPECT_THAT(ForbiddenMessage(c), HasSubstr("resource \"kubernetesclusters/status\""));
  Attributes d;
  d.user.name = "alice";
  d.verb = "get";
  d.path = "/metrics";
  EXPECT_EQ(ForbiddenStatus(d, "").message,
            "forbidden: User \"alice\" cannot get path \"/metrics\"");
}

class AuthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeKubeOptions o;
    o.tokens = {{"alice-token", {"alice", "uid-a", {"devs"}, {}}},
                {"connector-token", {"connector", "uid-c", {}, {}}}};
    auto p = ParsePolicy(R"(
- users: [alice]
  verbs: [get, list]
  apiGroups: [""]
  resources: [configmaps]
  namespaces: [default]
- users: [connector]
  verbs: [create]
  apiGroups: [authentication.k8s.io, authorization.k8s.io]
  resources: [tokenreviews, subjectaccessreviews]
)");
    ASSERT_TRUE(p.ok());
    o.policy = *p;
    kube_ = std::make_unique<FakeKube>(o);
    auto r = kube_->Start();
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  kube::Result<kube::RestResponse> Do(const kube::ClusterConfig& c, std::string method,
                                      std::string path, std::string body = {}) {
    auto client = kube::RestClient::Create(io_.executor(), c);
    if (!client.ok()) return client.error();
    kube::RestRequest rr;
    rr.method = std::move(method);
    rr.path = std::move(path);
    rr.body = std::move(body);
    if (!rr.body.empty()) rr.headers.Add("Content-Type", "application/json");
    auto cl = client.value();
    return io_.Run([&]() { return cl->Do(rr); });
  }

  testing::IoThread io_;
  std::unique_ptr<FakeKube> kube_;
};

TEST_F(AuthServerTest, UnknownTokenIs401WithKubeBody) {
  auto r = Do(kube_->TokenConfig("nope"), "GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
            "\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}");
}

TEST_F(AuthServerTest, TokenUserAllowedAndForbidden) {
  auto ok = Do(kube_->TokenConfig("alice-token"), "GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto denied =
      Do(kube_->TokenConfig("alice-token"), "GET", "/api/v1/namespaces/kube-system/secrets/s1");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->status, 403);
  auto st = kube::Status::FromJson(denied->body);
  ASSERT_TRUE(st.has_value()) << denied->body;
  EXPECT_EQ(st->reason, "Forbidden");
  EXPECT_EQ(st->message,
            "secrets \"s1\" is forbidden: User \"alice\" cannot get resource \"secrets\" in API "
            "group \"\" in the namespace \"kube-system\"");
  EXPECT_EQ(st->name, "s1");
  EXPECT_EQ(st->kind, "secrets");
  // Anonymous requests may read health but not resources.
  kube::ClusterConfig anon = kube_->TokenConfig("");
  anon.bearer_token = kube::SecretString();
  auto health = Do(anon, "GET", "/readyz");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  auto anon_list = Do(anon, "GET", "/api/v1/namespaces");
  ASSERT_TRUE(anon_list.ok());
  EXPECT_EQ(anon_list->status, 403);
  EXPECT_THAT(anon_list->body, HasSubstr("User \\\"system:anonymous\\\" cannot list resource "
                                         "\\\"namespaces\\\""));
}

TEST_F(AuthServerTest, ClientCertificateUsers) {
  auto cfg = kube_->CertConfig("alice", {"devs"});
  ASSERT_TRUE(cfg.ok());
  auto r = Do(*cfg, "GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  auto admin = Do(kube_->AdminConfig(), "GET", "/api/v1/namespaces/kube-system/secrets");
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->status, 200);  // system:masters
  EXPECT_TRUE(testing::WaitForRequest(
      *kube_,
      [](const RecordedRequest& r) {
        return r.user == "kubernetes-admin" && r.resource == "secrets" &&
               std::find(r.groups.begin(), r.groups.end(), "system:authenticated") !=
                   r.groups.end();
      },
      "admin request with system:authenticated"));
}

TEST_F(AuthServerTest, TokenReview) {
  auto r = Do(kube_->TokenConfig("connector-token"), "POST",
              "/apis/authentication.k8s.io/v1/tokenreviews",
              R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview",)"
              R"("spec":{"token":"alice-token"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 201) << r->body;
  auto d = kube::json::Parse(r->body);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(kube::json::Serialize((*d)["status"]),
            R"({"authenticated":true,"user":{"username":"alice","uid":"uid-a",)"
            R"("groups":["devs","system:authenticated"]}})");
  auto bad = Do(kube_->TokenConfig("connector-token"), "POST",
                "/apis/authentication.k8s.io/v1/tokenreviews",
                R"({"kind":"TokenReview","spec":{"token":"wrong"}})");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 201);
  auto bd = kube::json::Parse(bad->body);
  EXPECT_EQ(kube::json::Serialize((*bd)["status"]), R"({"user":{}})");
  // Only create: kube answers 405 for other verbs on tokenreviews.
  auto get = Do(kube_->AdminConfig(), "GET", "/apis/authentication.k8s.io/v1/tokenreviews");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 405);
}

TEST_F(AuthServerTest, SubjectAccessReviewAnswersFromThePolicy) {
  auto sar = [&](std::string user, std::string verb, std::string ns) {
    std::string body = R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",)"
                       R"("spec":{"user":")" +
                       user + R"(","resourceAttributes":{"verb":")" + verb +
                       R"(","resource":"configmaps","namespace":")" + ns + R"("}}})";
    return Do(kube_->TokenConfig("connector-token"), "POST",
              "/apis/authorization.k8s.io/v1/subjectaccessreviews", body);
  };
  auto allowed = sar("alice", "get", "default");
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(allowed->status, 201) << allowed->body;
  EXPECT_THAT(allowed->body, HasSubstr("\"status\":{\"allowed\":true"));
  EXPECT_THAT(allowed->body, HasSubstr("\"kind\":\"SubjectAccessReview\""));
  auto denied = sar("alice", "delete", "default");
  ASSERT_TRUE(denied.ok());
  EXPECT_THAT(denied->body, HasSubstr("\"status\":{\"allowed\":false}"));
  // alice may not create SubjectAccessReviews herself.
  auto forbidden = Do(kube_->TokenConfig("alice-token"), "POST",
                      "/apis/authorization.k8s.io/v1/subjectaccessreviews", "{}");
  ASSERT_TRUE(forbidden.ok());
  EXPECT_EQ(forbidden->status, 403);
  auto invalid = Do(kube_->TokenConfig("connector-token"), "POST",
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                    R"({"kind":"SubjectAccessReview","spec":{"user":"alice"}})");
  ASSERT_TRUE(invalid.ok());
  EXPECT_EQ(invalid->status, 422) << invalid->body;
}

TEST_F(AuthServerTest, ExtensionApiserverAuthenticationConfigMap) {
  auto cm = kube_->Get("", "configmaps", "kube-system", "extension-apiserver-authentication");
  ASSERT_TRUE(cm.ok());
  const auto& data = (**cm)["data"];
  EXPECT_EQ(kube::json::GetString(data, "requestheader-client-ca-file"),
            kube_->front_proxy_ca_pem());
  EXPECT_EQ(kube::json::GetString(data, "client-ca-file"), kube_->client_ca_pem());
  EXPECT_EQ(kube::json::GetString(data, "requestheader-allowed-names"), "[\"front-proxy-client\"]");
  EXPECT_EQ(kube::json::GetString(data, "requestheader-username-headers"), "[\"X-Remote-User\"]");
  EXPECT_EQ(kube::json::GetString(data, "requestheader-group-headers"), "[\"X-Remote-Group\"]");
  EXPECT_EQ(kube::json::GetString(data, "requestheader-extra-headers-prefix"),
            "[\"X-Remote-Extra-\"]");
}

}  // namespace
}  // namespace fakekube

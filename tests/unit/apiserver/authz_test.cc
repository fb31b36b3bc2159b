#include "apiserver/authz.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "kube/json.h"
#include "tests/unit/apiserver/test_util.h"

namespace apiserver {
namespace {

using testing::RunCo;

class FakeAccessReviewer : public AccessReviewer {
 public:
  asio::awaitable<kube::Result<AuthorizationResult>> Review(Attributes attrs) override {
    ++calls;
    last = attrs;
    if (fail) co_return kube::NewServiceUnavailable("connection refused");
    co_return answer;
  }
  AuthorizationResult answer{Decision::kAllow, ""};
  bool fail = false;
  int calls = 0;
  Attributes last;
};

Attributes GetClaim(std::string user = "alice") {
  Attributes a;
  a.user = UserInfo{user, "", {"dev", "system:authenticated"}, {}};
  a.verb = "get";
  a.is_resource_request = true;
  a.api_group = "k8s.starter.org";
  a.api_version = "v1alpha1";
  a.resource = "kubernetesclusters";
  a.namespace_ = "default";
  a.name = "my-cluster";
  return a;
}

kube::Result<AuthorizationResult> Authorize(Authorizer& z, const Attributes& a) {
  std::optional<kube::Result<AuthorizationResult>> out;
  RunCo([&]() -> asio::awaitable<void> { out.emplace(co_await z.Authorize(a)); });
  return std::move(*out);
}

TEST(Authorizer, AllowIsCachedPerAttributes) {
  auto reviewer = std::make_shared<FakeAccessReviewer>();
  Authorizer z(reviewer, {});
  for (int i = 0; i < 3; ++i) {
    auto r = Authorize(z, GetClaim());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->decision, Decision::kAllow);
  }
  EXPECT_EQ(reviewer->calls, 1);
  EXPECT_EQ(z.cache_hits(), 2u);
  EXPECT_EQ(z.cache_misses(), 1u);
  // Another name is another question.
  Attributes other = GetClaim();
  other.name = "other";
  ASSERT_TRUE(Authorize(z, other).ok());
  EXPECT_EQ(reviewer->calls, 2);
  EXPECT_EQ(reviewer->last.name, "other");
}

TEST(Authorizer, EveryAttributeTakesPartInTheCacheKey) {
  auto reviewer = std::make_shared<FakeAccessReviewer>();
  Authorizer z(reviewer, {});
  std::vector<std::function<void(Attributes&)>> changes = {
      [](Attributes& a) { a.namespace_ = "other"; },
      [](Attributes& a) { a.verb = "delete"; },
      [](Attributes& a) { a.api_group = "other.org"; },
      [](Attributes& a) { a.api_version = "v1"; },
      [](Attributes& a) { a.resource = "others"; },
      [](Attributes& a) { a.subresource = "status"; },
      [](Attributes& a) { a.name = "x"; },
      [](Attributes& a) { a.user.name = "bob"; },
      [](Attributes& a) { a.user.uid = "u-1"; },
      [](Attributes& a) { a.user.groups.push_back("system:masters-ish"); },
      [](Attributes& a) { a.user.groups = {"devsystem:authenticated"}; },  // concatenation
      [](Attributes& a) {
        a.user.groups = {"de", "vsystem:authenticated"};
      },
      [](Attributes& a) { a.user.extra["scopes"] = {"a"}; },
      [](Attributes& a) {
        a.user.extra["scopes"] = {"a", "b"};
      },
      [](Attributes& a) { a.user.extra["scopes"] = {"ab"}; },
      [](Attributes& a) {
        a.namespace_ = "defaultget";
        a.verb = "";
      },  // field boundaries
      [](Attributes& a) {
        a.is_resource_request = false;
        a.path = "/apis";
      },
  };
  ASSERT_TRUE(Authorize(z, GetClaim()).ok());
  int expected = 1;
  for (const auto& change : changes) {
    Attributes a = GetClaim();
    change(a);
    ASSERT_TRUE(Authorize(z, a).ok());
    ++expected;
    EXPECT_EQ(reviewer->calls, expected) << "attribute change " << expected - 1 << " hit the cache";
    ASSERT_TRUE(Authorize(z, a).ok());  // and the same question again is a hit
    EXPECT_EQ(reviewer->calls, expected);
  }
}

TEST(Authorizer, DenyIsCachedToo) {
  auto reviewer = std::make_shared<FakeAccessReviewer>();
  reviewer->answer = {Decision::kDeny, "no RBAC policy matched"};
  Authorizer z(reviewer, {});
  auto r1 = Authorize(z, GetClaim());
  auto r2 = Authorize(z, GetClaim());
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->decision, Decision::kDeny);
  EXPECT_EQ(r2->reason, "no RBAC policy matched");
  EXPECT_EQ(reviewer->calls, 1);
}

TEST(Authorizer, NoOpinionIsADenial) {
  auto reviewer = std::make_shared<FakeAccessReviewer>();
  reviewer->answer = {Decision::kNoOpinion, ""};
  Authorizer z(reviewer, {});
  auto r = Authorize(z, GetClaim());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->decision, Decision::kDeny);
}

TEST(Authorizer, UnreachableNeverAllowsAndIsNotCached) {
  auto reviewer = std::make_shared<FakeAccessReviewer>();
  reviewer->fail = true;
  Authorizer z(reviewer, {});
  auto r = Authorize(z, GetClaim());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 503);
  reviewer->fail = false;
  reviewer->answer = {Decision::kDeny, ""};
  auto r2 = Authorize(z, GetClaim());
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->decision, Decision::kDeny);
  EXPECT_EQ(reviewer->calls, 2);
}

TEST(Authorizer, HealthPathsAndMastersSkipTheReview) {
  auto reviewer = std::make_shared<FakeAccessReviewer>();
  reviewer->answer = {Decision::kDeny, ""};
  Authorizer z(reviewer, {});
  for (std::string p : {"/healthz", "/livez", "/readyz", "/readyz/ping"}) {
    Attributes a;
    a.user = UserInfo{"system:anonymous", "", {}, {}};
    a.verb = "get";
    a.path = p;
    auto r = Authorize(z, a);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->decision, Decision::kAllow) << p;
  }
  Attributes masters = GetClaim("system:kube-aggregator");
  masters.user.groups = {"system:masters"};
  auto r = Authorize(z, masters);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->decision, Decision::kAllow);
  EXPECT_EQ(reviewer->calls, 0);

  Attributes metrics;
  metrics.user = UserInfo{"prom", "", {}, {}};
  metrics.verb = "get";
  metrics.path = "/metrics";
  ASSERT_TRUE(Authorize(z, metrics).ok());
  EXPECT_EQ(reviewer->calls, 1);  // /metrics is not a health path
}

TEST(Forbidden, KubeMessages) {
  auto s = ForbiddenStatus(GetClaim(), "");
  EXPECT_EQ(s.code, 403);
  EXPECT_EQ(s.reason, "Forbidden");
  EXPECT_EQ(s.message,
            "kubernetesclusters.k8s.starter.org \"my-cluster\" is forbidden: User \"alice\" "
            "cannot get resource \"kubernetesclusters\" in API group \"k8s.starter.org\" in the "
            "namespace \"default\"");
  EXPECT_EQ(s.name, "my-cluster");
  EXPECT_EQ(s.group, "k8s.starter.org");
  EXPECT_EQ(s.kind, "kubernetesclusters");

  Attributes list = GetClaim();
  list.verb = "list";
  list.name = "";
  list.namespace_ = "";
  EXPECT_EQ(ForbiddenStatus(list, "denied by policy").message,
            "kubernetesclusters.k8s.starter.org is forbidden: User \"alice\" cannot list "
            "resource \"kubernetesclusters\" in API group \"k8s.starter.org\" at the cluster "
            "scope: denied by policy");

  Attributes status = GetClaim();
  status.verb = "update";
  status.subresource = "status";
  EXPECT_EQ(ForbiddenStatus(status, "").message,
            "kubernetesclusters.k8s.starter.org \"my-cluster\" is forbidden: User \"alice\" "
            "cannot update resource \"kubernetesclusters/status\" in API group "
            "\"k8s.starter.org\" in the namespace \"default\"");

  Attributes path;
  path.user.name = "bob";
  path.verb = "get";
  path.path = "/metrics";
  EXPECT_EQ(ForbiddenStatus(path, "").message,
            "forbidden: User \"bob\" cannot get path \"/metrics\"");

  // The body is a metav1.Status with details.
  auto body = kube::json::Parse(ForbiddenStatus(GetClaim(), "").ToJson());
  ASSERT_TRUE(body);
  EXPECT_EQ(kube::json::GetString(*body, "kind"), "Status");
  EXPECT_EQ(kube::json::GetString(*body, "reason"), "Forbidden");
  EXPECT_EQ(kube::json::GetInt(*body, "code"), 403);
}

TEST(SubjectAccessReview, CarriesEveryAttribute) {
  Attributes a = GetClaim();
  a.subresource = "status";
  a.user.uid = "uid-1";
  a.user.extra["scopes"] = {"x", "y"};
  auto doc = kube::json::Parse(BuildSubjectAccessReview(a));
  ASSERT_TRUE(doc);
  using kube::json::FindPath;
  using kube::json::View;
  EXPECT_EQ(kube::json::GetString(*doc, "apiVersion"), "authorization.k8s.io/v1");
  EXPECT_EQ(kube::json::GetString(*doc, "kind"), "SubjectAccessReview");
  EXPECT_EQ(View(*FindPath(*doc, "spec.user")), "alice");
  EXPECT_EQ(View(*FindPath(*doc, "spec.uid")), "uid-1");
  EXPECT_EQ((*FindPath(*doc, "spec.groups"))[0], "dev");
  EXPECT_EQ((*FindPath(*doc, "spec.extra.scopes"))[1], "y");
  EXPECT_EQ(View(*FindPath(*doc, "spec.resourceAttributes.verb")), "get");
  EXPECT_EQ(View(*FindPath(*doc, "spec.resourceAttributes.group")), "k8s.starter.org");
  EXPECT_EQ(View(*FindPath(*doc, "spec.resourceAttributes.version")), "v1alpha1");
  EXPECT_EQ(View(*FindPath(*doc, "spec.resourceAttributes.resource")), "kubernetesclusters");
  EXPECT_EQ(View(*FindPath(*doc, "spec.resourceAttributes.subresource")), "status");
  EXPECT_EQ(View(*FindPath(*doc, "spec.resourceAttributes.namespace")), "default");
  EXPECT_EQ(View(*FindPath(*doc, "spec.resourceAttributes.name")), "my-cluster");

  Attributes np;
  np.user.name = "bob";
  np.verb = "get";
  np.path = "/metrics";
  auto doc2 = kube::json::Parse(BuildSubjectAccessReview(np));
  ASSERT_TRUE(doc2);
  EXPECT_EQ(View(*FindPath(*doc2, "spec.nonResourceAttributes.path")), "/metrics");
  EXPECT_EQ(FindPath(*doc2, "spec.resourceAttributes"), nullptr);

  auto allowed = ParseSubjectAccessReviewResponse(R"({"status":{"allowed":true}})");
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(allowed->decision, Decision::kAllow);
  auto denied = ParseSubjectAccessReviewResponse(
      R"({"status":{"allowed":false,"denied":true,"reason":"r"}})");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->decision, Decision::kDeny);
  EXPECT_EQ(denied->reason, "r");
  EXPECT_FALSE(ParseSubjectAccessReviewResponse("not json").ok());
}

}  // namespace
}  // namespace apiserver

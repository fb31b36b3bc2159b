#include "kube/status.h"

#include <gtest/gtest.h>

namespace kube {
namespace {

const GroupResource kClusters{"k8s.starter.org", "kubernetesclusters"};

TEST(StatusTest, NotFoundMatchesApimachinery) {
  Status s = NewNotFound(kClusters, "x");
  EXPECT_EQ(s.code, 404);
  EXPECT_EQ(s.reason, "NotFound");
  EXPECT_EQ(s.message, R"(kubernetesclusters.k8s.starter.org "x" not found)");
  EXPECT_EQ(s.ToJson(),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"kubernetesclusters.k8s.starter.org \"x\" not found","reason":"NotFound",)"
            R"("details":{"name":"x","group":"k8s.starter.org","kind":"kubernetesclusters"},)"
            R"("code":404})");
}

TEST(StatusTest, CoreGroupResourceHasNoDot) {
  EXPECT_EQ(NewNotFound({"", "secrets"}, "s").message, R"(secrets "s" not found)");
  // details.group is omitted for the core group.
  EXPECT_EQ(NewNotFound({"", "secrets"}, "s").ToJson().find("\"group\""), std::string::npos);
}

TEST(StatusTest, NameIsQuotedLikeGo) {
  EXPECT_EQ(NewNotFound({"", "secrets"}, "a\"b\\c\n").message, R"(secrets "a\"b\\c\n" not found)");
}

TEST(StatusTest, AlreadyExistsAndConflict) {
  Status a = NewAlreadyExists(kClusters, "x");
  EXPECT_EQ(a.code, 409);
  EXPECT_EQ(a.reason, "AlreadyExists");
  EXPECT_EQ(a.message, R"(kubernetesclusters.k8s.starter.org "x" already exists)");
  Status c = NewConflict(kClusters, "x",
                         "the object has been modified; please apply your changes to the latest "
                         "version and try again");
  EXPECT_EQ(c.code, 409);
  EXPECT_EQ(c.reason, "Conflict");
  EXPECT_EQ(c.message,
            R"(Operation cannot be fulfilled on kubernetesclusters.k8s.starter.org "x": the )"
            "object has been modified; please apply your changes to the latest version and try "
            "again");
}

TEST(StatusTest, InvalidAggregatesCauses) {
  Status one = NewInvalid("KubernetesCluster.k8s.starter.org", "Bad",
                          {{"FieldValueInvalid", R"(Invalid value: "Bad": msg)", "metadata.name"}});
  EXPECT_EQ(one.code, 422);
  EXPECT_EQ(one.reason, "Invalid");
  EXPECT_EQ(one.kind, "KubernetesCluster");
  EXPECT_EQ(one.group, "k8s.starter.org");
  EXPECT_EQ(one.message,
            R"(KubernetesCluster.k8s.starter.org "Bad" is invalid: metadata.name: Invalid value: )"
            R"("Bad": msg)");
  EXPECT_NE(one.ToJson().find(
                R"("causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"Bad\": )"
                R"(msg","field":"metadata.name"}])"),
            std::string::npos);

  Status two = NewInvalid("Secret", "s",
                          {{"FieldValueRequired", "Required value", "data"},
                           {"FieldValueInvalid", "Invalid value: 1", "spec.x"},
                           {"FieldValueRequired", "Required value", "data"}});
  EXPECT_EQ(two.group, "");
  EXPECT_EQ(two.kind, "Secret");
  EXPECT_EQ(two.message,
            R"(Secret "s" is invalid: [data: Required value, spec.x: Invalid value: 1])");
  EXPECT_EQ(NewInvalid("Secret", "s", {}).message, R"(Secret "s" is invalid)");
}

TEST(StatusTest, ForbiddenForms) {
  EXPECT_EQ(
      NewForbidden(kClusters, "x", "User \"bob\" cannot get resource").message,
      R"(kubernetesclusters.k8s.starter.org "x" is forbidden: User "bob" cannot get resource)");
  EXPECT_EQ(NewForbidden(kClusters, "", "no").message,
            "kubernetesclusters.k8s.starter.org is forbidden: no");
  EXPECT_EQ(NewForbidden({}, "", "no").message, "forbidden: no");
  EXPECT_EQ(NewForbidden(kClusters, "x", "no").code, 403);
}

TEST(StatusTest, SimpleConstructors) {
  EXPECT_EQ(NewBadRequest("bad").ToJson(),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"bad","reason":"BadRequest","code":400})");
  EXPECT_EQ(NewUnauthorized("").message, "not authorized");
  EXPECT_EQ(NewUnauthorized("").code, 401);
  Status m = NewMethodNotSupported(kClusters, "proxy");
  EXPECT_EQ(m.code, 405);
  EXPECT_EQ(m.reason, "MethodNotAllowed");
  EXPECT_EQ(m.message,
            R"(proxy is not supported on resources of kind "kubernetesclusters.k8s.starter.org")");
  EXPECT_EQ(NewGone("gone").reason, "Gone");
  EXPECT_EQ(NewResourceExpired("too old resource version: 1 (5)").code, 410);
  EXPECT_EQ(NewResourceExpired("x").reason, "Expired");
  EXPECT_EQ(NewRequestEntityTooLarge("limit is 3145728").message,
            "Request entity too large: limit is 3145728");
  EXPECT_EQ(NewRequestEntityTooLarge("x").code, 413);
  Status u = NewUnsupportedMediaType("application/json-patch+json, application/merge-patch+json");
  EXPECT_EQ(u.code, 415);
  EXPECT_EQ(u.message,
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json");
  EXPECT_EQ(NewNotAcceptable("x").code, 406);
  EXPECT_EQ(NewServiceUnavailable("x").reason, "ServiceUnavailable");
  Status i = NewInternalError("boom");
  EXPECT_EQ(i.message, "Internal error occurred: boom");
  EXPECT_NE(i.ToJson().find(R"("details":{"causes":[{"message":"boom"}]})"), std::string::npos);
  EXPECT_EQ(NewRequestHeaderFieldsTooLarge().code, 431);
}

TEST(StatusTest, RetryAfterInDetails) {
  Status t = NewTimeout("request did not complete within 60s", 2);
  EXPECT_EQ(t.code, 504);
  EXPECT_EQ(t.message, "Timeout: request did not complete within 60s");
  EXPECT_NE(t.ToJson().find(R"("details":{"retryAfterSeconds":2},"code":504)"), std::string::npos);
  Status r = NewTooManyRequests("too many requests, please try again later.", 1);
  EXPECT_EQ(r.code, 429);
  EXPECT_EQ(r.reason, "TooManyRequests");
  EXPECT_NE(r.ToJson().find(R"("retryAfterSeconds":1)"), std::string::npos);
}

TEST(StatusTest, FromJsonRoundTrip) {
  Status in = NewInvalid("KubernetesCluster.k8s.starter.org", "x",
                         {{"FieldValueInvalid", "Invalid value: \"x\": m", "metadata.name"}});
  in.retry_after_seconds = 3;
  auto out = Status::FromJson(in.ToJson());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->code, 422);
  EXPECT_EQ(out->reason, in.reason);
  EXPECT_EQ(out->message, in.message);
  EXPECT_EQ(out->name, "x");
  EXPECT_EQ(out->group, "k8s.starter.org");
  EXPECT_EQ(out->kind, "KubernetesCluster");
  ASSERT_EQ(out->causes.size(), 1u);
  EXPECT_EQ(out->causes[0].type, "FieldValueInvalid");
  EXPECT_EQ(out->causes[0].field, "metadata.name");
  EXPECT_EQ(out->retry_after_seconds, 3);
  EXPECT_EQ(out->ToJson(), in.ToJson());
  EXPECT_FALSE(Status::FromJson(R"({"kind":"Secret"})").has_value());
  EXPECT_FALSE(Status::FromJson("not json").has_value());
}

}  // namespace
}  // namespace kube

// The bad-input matrix: malformed or hostile requests, sent the way the aggregator forwards them
// (front-proxy certificate + X-Remote-* headers, admin identity). Each answer is checked for its
// exact code, reason and message, and the control plane's claim namespace must be unchanged
// (same objects, same resourceVersions, no write request received).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <string>

#include "kube/json.h"
#include "naming/naming.h"
#include "tests/integration/reliability/harness.h"

namespace reliability {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env(Env::Tweaked([](apiserver::Options& o) { o.read_header_timeout = 1s; }));
    env_->Start();
    if (::testing::Test::HasFatalFailure()) return;
    // One object of ours, so that updates/patches have something to aim at.
    auto r = env_->Do("POST", ClaimsPath("team-a"), ClaimJson("existing", "team-a"));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(env_, nullptr);
    ASSERT_NE(env_->connector, nullptr);
    before_ = env_->ClaimNamespaceState();
    env_->cp->ClearRequests();
  }
  // Nothing happened in the control plane.
  void TearDown() override {
    if (env_ == nullptr || env_->cp == nullptr) return;
    EXPECT_EQ(env_->ClaimNamespaceState(), before_);
    auto writes = env_->ControlPlaneWrites();
    std::string seen;
    for (const auto& w : writes) seen += w.method + " " + w.path + "\n";
    EXPECT_TRUE(writes.empty()) << "the control plane received writes:\n" << seen;
  }

  static HttpResponse Do(const std::string& method, const std::string& target,
                         const std::string& body = "",
                         std::map<std::string, std::string> headers = {}) {
    return env_->Do(method, target, body, std::move(headers));
  }

  static inline Env* env_ = nullptr;
  std::string before_;
};

TEST_F(BadInputTest, BodyNotJSON) {
  auto r = Do("POST", ClaimsPath("team-a"), "{\"apiVersion\": not json");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Reason(), "BadRequest");
  EXPECT_THAT(r.Message(), HasSubstr("json parse error"));
  // An empty object list body with garbage after it, and a JSON array: not an object either.
  auto arr = Do("POST", ClaimsPath("team-a"), "[1,2,3]");
  EXPECT_EQ(arr.status, 400) << arr.body;
  EXPECT_EQ(arr.Reason(), "BadRequest");
  auto put = Do("PUT", ClaimsPath("team-a", "existing"), "\x01\x02garbage");
  EXPECT_EQ(put.status, 400) << put.body;
  EXPECT_EQ(put.Reason(), "BadRequest");
  auto yaml =
      Do("POST", ClaimsPath("team-a"), "a: [unterminated", {{"Content-Type", "application/yaml"}});
  EXPECT_EQ(yaml.status, 400) << yaml.body;
  EXPECT_EQ(yaml.Reason(), "BadRequest");
}

TEST_F(BadInputTest, WrongAPIVersion) {
  std::string body = ClaimJson("wrong-version", "team-a");
  body.replace(body.find("k8s.starter.org/v1alpha1"), 24, "v1");
  auto r = Do("POST", ClaimsPath("team-a"), body);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Reason(), "BadRequest");
  EXPECT_EQ(r.Message(),
            "the API version in the data (v1) does not match the expected API version "
            "(k8s.starter.org/v1alpha1)");
}

// kube-apiserver's custom resource validator (apiextensions-apiserver ValidateTypeMeta) answers a
// wrong kind with 422 Invalid on field "kind", not 400.
TEST_F(BadInputTest, WrongKind) {
  std::string body = ClaimJson("wrong-kind", "team-a");
  body.replace(body.find("KubernetesCluster"), 17, "Pod");
  auto r = Do("POST", ClaimsPath("team-a"), body);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.Reason(), "Invalid");
  EXPECT_THAT(r.Message(), HasSubstr("kind: Invalid value: \"Pod\": must be KubernetesCluster"));
}

TEST_F(BadInputTest, PathAndBodyNameMismatch) {
  auto r = Do("PUT", ClaimsPath("team-a", "existing"), ClaimJson("other", "team-a"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Reason(), "BadRequest");
  EXPECT_EQ(r.Message(),
            "the name of the object (other) does not match the name on the URL (existing)");
  auto patch = Do("PATCH", ClaimsPath("team-a", "existing"), R"({"metadata":{"name":"other"}})",
                  {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(patch.status, 400) << patch.body;
  EXPECT_EQ(patch.Reason(), "BadRequest");
  EXPECT_EQ(patch.Message(),
            "the name of the object (other) does not match the name on the URL (existing)");
}

TEST_F(BadInputTest, PathAndBodyNamespaceMismatch) {
  for (const char* method : {"POST", "PUT"}) {
    std::string target =
        std::string(method) == "POST" ? ClaimsPath("team-a") : ClaimsPath("team-a", "existing");
    auto r = Do(method, target, ClaimJson("existing", "team-b"));
    EXPECT_EQ(r.status, 400) << method << " " << r.body;
    EXPECT_EQ(r.Reason(), "BadRequest");
    EXPECT_EQ(r.Message(),
              "the namespace of the provided object does not match the namespace sent on the "
              "request");
  }
  // The claim namespace itself named in the body is just another mismatch.
  auto r = Do("POST", ClaimsPath("team-a"), ClaimJson("sneaky", kClaimNamespace));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Reason(), "BadRequest");
}

TEST_F(BadInputTest, InvalidNames) {
  auto r = Do("POST", ClaimsPath("team-a"), ClaimJson("Bad_Name", "team-a"));
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.Reason(), "Invalid");
  EXPECT_THAT(r.Message(),
              HasSubstr("KubernetesCluster.k8s.starter.org \"Bad_Name\" is invalid: "
                        "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 "
                        "subdomain must consist of"));
  std::string long_name(254, 'a');
  auto l = Do("POST", ClaimsPath("team-a"), ClaimJson(long_name, "team-a"));
  EXPECT_EQ(l.status, 422) << l.body;
  EXPECT_EQ(l.Reason(), "Invalid");
  EXPECT_THAT(l.Message(), HasSubstr("must be no more than 253 characters"));
  // No name and no generateName.
  auto none = Do("POST", ClaimsPath("team-a"),
                 R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster",)"
                 R"("metadata":{},"spec":{}})");
  EXPECT_EQ(none.status, 422) << none.body;
  EXPECT_EQ(none.Reason(), "Invalid");
  EXPECT_THAT(none.Message(), HasSubstr("name or generateName is required"));
}

TEST_F(BadInputTest, BodyOver3MiBIs413) {
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  // The head announces 3 MiB + 1: refused before any of the body is read.
  std::string head = c->BuildRequest("POST", ClaimsPath("team-a"), "", {});
  head.replace(head.find("Content-Length: 0"), 17, "Content-Length: 3145729");
  ASSERT_TRUE(c->SendRaw(head));
  auto r = c->ReadResponse(10s);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(r.Reason(), "RequestEntityTooLarge");
  EXPECT_THAT(r.Message(), HasSubstr("Request entity too large"));
  EXPECT_TRUE(c->WaitClosedByPeer(5s));

  // A chunked body that grows past the limit.
  auto c2 = env_->NewClient();
  ASSERT_TRUE(c2->Connect()) << c2->error();
  std::string req = c2->BuildRequest("POST", ClaimsPath("team-a"), "", {});
  req.replace(req.find("Content-Length: 0"), 17, "Transfer-Encoding: chunked");
  std::string chunk(64 * 1024, ' ');
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  std::string body;
  for (size_t sent = 0; sent <= 3u * 1024 * 1024; sent += chunk.size()) {
    body += size + chunk + "\r\n";
  }
  ASSERT_TRUE(c2->SendRaw(req + body));
  auto r2 = c2->ReadResponse(10s);
  EXPECT_EQ(r2.status, 413) << r2.body;
  EXPECT_EQ(r2.Reason(), "RequestEntityTooLarge");
}

TEST_F(BadInputTest, HeadersOverTheLimitAre431) {
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  std::string req = c->BuildRequest("GET", ClaimsPath("team-a"), "", {});
  req.insert(req.size() - 2, "X-Padding: " + std::string(1024 * 1024 + 16, 'p') + "\r\n");
  ASSERT_TRUE(c->SendRaw(req, 10s));
  auto r = c->ReadResponse(10s);
  EXPECT_EQ(r.status, 431) << r.body.substr(0, 200);
  // A metav1.Status with no reason (StatusReasonUnknown), as kube has none for 431.
  EXPECT_THAT(r.body, HasSubstr("\"kind\":\"Status\""));
  EXPECT_THAT(r.body, HasSubstr("\"code\":431"));
  EXPECT_EQ(r.Reason(), "");
  EXPECT_THAT(r.Message(), HasSubstr("Request Header Fields Too Large"));
  EXPECT_TRUE(c->WaitClosedByPeer(5s));
}

TEST_F(BadInputTest, SlowClientNeverFinishingItsHeadersIsClosed) {
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->SendRaw("GET /apis/k8s.starter.org/v1alpha1 HTTP/1.1\r\nHost: x\r\nX-Slo"));
  // --read-header-timeout=1s in this suite.
  EXPECT_TRUE(c->WaitClosedByPeer(8s));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 5s);
}

TEST_F(BadInputTest, UnsupportedContentTypeIs415) {
  auto r = Do("POST", ClaimsPath("team-a"), ClaimJson("typed", "team-a"),
              {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 415) << r.body;
  EXPECT_EQ(r.Reason(), "UnsupportedMediaType");
  EXPECT_EQ(r.Message(),
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml");
  auto proto = Do("PUT", ClaimsPath("team-a", "existing"), "k8s\x01garbage",
                  {{"Content-Type", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(proto.status, 415) << proto.body;
  EXPECT_EQ(proto.Reason(), "UnsupportedMediaType");
  // Custom resources take no strategic merge patch.
  auto smp = Do("PATCH", ClaimsPath("team-a", "existing"), R"({"spec":{}})",
                {{"Content-Type", "application/strategic-merge-patch+json"}});
  EXPECT_EQ(smp.status, 415) << smp.body;
  EXPECT_EQ(smp.Reason(), "UnsupportedMediaType");
  EXPECT_EQ(smp.Message(),
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml");
}

TEST_F(BadInputTest, ReservedLabelsAndAnnotationsAre422) {
  for (const std::string& key :
       {std::string(naming::kLabelAppCluster), std::string(naming::kLabelAppNamespace),
        std::string(naming::kLabelAppResourceName)}) {
    std::string body = ClaimJson("labelled", "team-a");
    body.replace(
        body.find("\"namespace\":\"team-a\""), 20,
        "\"namespace\":\"team-a\",\"labels\":{\"" + key + "\":\"" + kOtherClusterID + "\"}");
    auto r = Do("POST", ClaimsPath("team-a"), body);
    EXPECT_EQ(r.status, 422) << key << ": " << r.body;
    EXPECT_EQ(r.Reason(), "Invalid");
    EXPECT_THAT(r.Message(), HasSubstr("is reserved for the control plane connector"));
  }
  auto ann = Do("PATCH", ClaimsPath("team-a", "existing"),
                R"({"metadata":{"annotations":{"mcp-connector.upbound.io/anything":"x"}}})",
                {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(ann.status, 422) << ann.body;
  EXPECT_EQ(ann.Reason(), "Invalid");
  auto jp = Do("PATCH", ClaimsPath("team-a", "existing"),
               R"([{"op":"add","path":"/metadata/labels/mcp-connector.upbound.io~1app-cluster",)"
               R"("value":"x"}])",
               {{"Content-Type", "application/json-patch+json"}});
  EXPECT_EQ(jp.status, 422) << jp.body;
  EXPECT_EQ(jp.Reason(), "Invalid");
  auto remove = Do("PATCH", ClaimsPath("team-a", "existing"),
                   R"({"metadata":{"labels":{"mcp-connector.upbound.io/app-namespace":null}}})",
                   {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(remove.status, 422) << remove.body;
}

TEST_F(BadInputTest, ReservedLabelSelectorsAre400) {
  for (const std::string& sel : {std::string(naming::kLabelAppCluster) + "=" + kOtherClusterID,
                                 std::string(naming::kLabelAppCluster) + "!=" + kClusterID,
                                 "!" + std::string(naming::kLabelAppCluster),
                                 std::string(naming::kLabelAppNamespace) + " in (team-a,team-b)",
                                 std::string(naming::kLabelAppResourceName)}) {
    std::string q = sel;
    std::string enc;
    for (char ch : q) {
      if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_') {
        enc += ch;
      } else {
        char b[4];
        std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(ch));
        enc += b;
      }
    }
    for (const std::string& path :
         {ClaimsPath("team-a"), "/apis/" + kGroupVersion + "/" + kResource}) {
      auto r = Do("GET", path + "?labelSelector=" + enc);
      EXPECT_EQ(r.status, 400) << sel << ": " << r.body;
      EXPECT_EQ(r.Reason(), "BadRequest");
      EXPECT_THAT(r.Message(), HasSubstr("is reserved for the control plane connector"));
    }
  }
}

TEST_F(BadInputTest, MalformedSelectorsAre400) {
  auto r = Do("GET", ClaimsPath("team-a") + "?labelSelector=a%20in%20(b");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Reason(), "BadRequest");
  auto f = Do("GET", ClaimsPath("team-a") + "?fieldSelector=metadata.name%3D%3D%3Dx%2C%2C");
  EXPECT_EQ(f.status, 400) << f.body;
  EXPECT_EQ(f.Reason(), "BadRequest");
}

TEST_F(BadInputTest, GarbageRequestLineIs400) {
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  ASSERT_TRUE(c->SendRaw("NOT AN HTTP REQUEST\r\n\r\n"));
  auto r = c->ReadResponse(5s);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Reason(), "BadRequest");
  EXPECT_THAT(r.Message(), HasSubstr("malformed HTTP request"));
  EXPECT_TRUE(c->WaitClosedByPeer(5s));
}

TEST_F(BadInputTest, EverythingStillServedAfterwards) {
  auto r = Do("GET", ClaimsPath("team-a", "existing"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("\"name\":\"existing\""));
  EXPECT_THAT(r.body, Not(HasSubstr("claim-")));
  EXPECT_TRUE(env_->NoLeaks());
}

}  // namespace
}  // namespace reliability

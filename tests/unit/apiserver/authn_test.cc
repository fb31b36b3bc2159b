#include "apiserver/authn.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/json.h"
#include "kube/tls.h"
#include "tests/unit/apiserver/test_util.h"

namespace apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::MakeRequest;
using testing::RunCo;

struct Pki {
  kube::tls::KeyPair front_proxy_ca, client_ca, other_ca;
  std::vector<std::string> front_proxy_cert;  // DER chain, CN front-proxy-client
  std::vector<std::string> other_cn_cert;     // front-proxy CA, CN intruder
  std::vector<std::string> foreign_cert;      // another CA, CN front-proxy-client
  std::vector<std::string> user_cert;         // client CA, CN alice, O dev + ops

  static std::vector<std::string> Issue(const kube::tls::KeyPair& ca, std::string cn,
                                        std::vector<std::string> orgs = {}) {
    kube::tls::CertificateSpec spec;
    spec.common_name = std::move(cn);
    spec.organizations = std::move(orgs);
    spec.server_auth = false;
    spec.client_auth = true;
    auto kp = kube::tls::GenerateSigned(ca, spec);
    EXPECT_TRUE(kp.ok());
    auto der = kube::tls::PemToDer(kp->cert_pem);
    EXPECT_TRUE(der.ok());
    return *der;
  }

  Pki() {
    front_proxy_ca = *kube::tls::GenerateCA("front-proxy-ca");
    client_ca = *kube::tls::GenerateCA("client-ca");
    other_ca = *kube::tls::GenerateCA("other-ca");
    front_proxy_cert = Issue(front_proxy_ca, "front-proxy-client");
    other_cn_cert = Issue(front_proxy_ca, "intruder");
    foreign_cert = Issue(other_ca, "front-proxy-client");
    user_cert = Issue(client_ca, "alice", {"dev", "ops"});
  }
};

const Pki& Certs() {
  static const Pki* pki = new Pki();
  return *pki;
}

AuthenticationConfig Config(std::vector<std::string> allowed = {"front-proxy-client"}) {
  AuthenticationConfig c;
  c.request_header.client_ca_pem = Certs().front_proxy_ca.cert_pem;
  c.request_header.allowed_names = std::move(allowed);
  c.request_header.uid_headers = {"X-Remote-Uid"};
  c.client_ca_pem = Certs().client_ca.cert_pem;
  return c;
}

class FakeTokenReviewer : public TokenReviewer {
 public:
  asio::awaitable<kube::Result<std::optional<UserInfo>>> Review(std::string token) override {
    ++calls;
    if (fail) co_return kube::NewServiceUnavailable("app cluster unreachable");
    if (token == "good-token") {
      co_return std::optional<UserInfo>(UserInfo{"bob", "u-1", {"team"}, {}});
    }
    co_return std::optional<UserInfo>();
  }
  int calls = 0;
  bool fail = false;
};

AuthenticationResult Authenticate(Authenticator& a, kube::http::Request& req) {
  AuthenticationResult out;
  RunCo([&]() -> asio::awaitable<void> { out = co_await a.Authenticate(req); });
  return out;
}

TEST(Authenticator, FrontProxyHeadersWithTrustedCertificate) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config());
  auto req = MakeRequest("GET", "/apis/k8s.starter.org/v1alpha1");
  req.peer_certificates_der = Certs().front_proxy_cert;
  req.headers.Add("X-Remote-User", "alice");
  req.headers.Add("X-Remote-Uid", "uid-7");
  req.headers.Add("X-Remote-Group", "dev");
  req.headers.Add("x-remote-group", "system:authenticated");
  req.headers.Add("X-Remote-Extra-Acme.com%2Fproject", "blue");
  req.headers.Add("x-remote-extra-SCOPES", "a");
  req.headers.Add("X-Remote-Extra-Scopes", "b");
  auto r = Authenticate(a, req);
  ASSERT_TRUE(r.user.has_value()) << r.error;
  EXPECT_EQ(r.method, "requestheader");
  EXPECT_EQ(r.user->name, "alice");
  EXPECT_EQ(r.user->uid, "uid-7");
  EXPECT_THAT(r.user->groups, ElementsAre("dev", "system:authenticated"));
  ASSERT_EQ(r.user->extra.count("acme.com/project"), 1u);
  EXPECT_THAT(r.user->extra.at("acme.com/project"), ElementsAre("blue"));
  EXPECT_THAT(r.user->extra.at("scopes"), ElementsAre("a", "b"));
  // The identity headers are gone: nothing downstream can see or forward them.
  EXPECT_FALSE(req.headers.Has("X-Remote-User"));
  EXPECT_FALSE(req.headers.Has("X-Remote-Group"));
  EXPECT_FALSE(req.headers.Has("X-Remote-Extra-Scopes"));
  EXPECT_FALSE(req.headers.Has("X-Remote-Uid"));
}

TEST(Authenticator, SpoofedHeadersWithoutCertificateAreIgnoredAndStripped) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config());
  auto req = MakeRequest("GET", "/apis/k8s.starter.org/v1alpha1");
  req.headers.Add("X-Remote-User", "system:admin");
  req.headers.Add("X-Remote-Group", "system:masters");
  auto r = Authenticate(a, req);
  EXPECT_FALSE(r.user.has_value());
  EXPECT_FALSE(req.headers.Has("X-Remote-User"));
  EXPECT_FALSE(req.headers.Has("X-Remote-Group"));
}

TEST(Authenticator, HeadersWithCertificateOfAnotherCAAreIgnored) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config());
  auto req = MakeRequest("GET", "/apis");
  req.peer_certificates_der = Certs().foreign_cert;
  req.headers.Add("X-Remote-User", "system:admin");
  auto r = Authenticate(a, req);
  EXPECT_FALSE(r.user.has_value());
  EXPECT_NE(r.error.find("not trusted"), std::string::npos) << r.error;
}

TEST(Authenticator, AllowedNamesChecksTheCommonName) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config({"front-proxy-client"}));
  auto req = MakeRequest("GET", "/apis");
  req.peer_certificates_der = Certs().other_cn_cert;  // right CA, CN "intruder"
  req.headers.Add("X-Remote-User", "system:admin");
  auto r = Authenticate(a, req);
  EXPECT_FALSE(r.user.has_value());
  EXPECT_NE(r.error.find("intruder"), std::string::npos) << r.error;
  EXPECT_FALSE(req.headers.Has("X-Remote-User"));

  // With no allowed names, any CN signed by the front-proxy CA is trusted.
  a.SetConfig(Config({}));
  auto req2 = MakeRequest("GET", "/apis");
  req2.peer_certificates_der = Certs().other_cn_cert;
  req2.headers.Add("X-Remote-User", "carol");
  auto r2 = Authenticate(a, req2);
  ASSERT_TRUE(r2.user.has_value());
  EXPECT_EQ(r2.user->name, "carol");
}

TEST(Authenticator, ConfiguredHeaderNamesAreUsed) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  AuthenticationConfig c = Config();
  c.request_header.username_headers = {"X-Proxy-User"};
  c.request_header.group_headers = {"X-Proxy-Group"};
  c.request_header.extra_headers_prefix = {"X-Proxy-Extra-"};
  a.SetConfig(c);
  auto req = MakeRequest("GET", "/apis");
  req.peer_certificates_der = Certs().front_proxy_cert;
  req.headers.Add("X-Proxy-User", "dave");
  req.headers.Add("X-Proxy-Group", "g1");
  req.headers.Add("X-Proxy-Extra-Team", "t");
  req.headers.Add("X-Remote-User", "ignored");
  auto r = Authenticate(a, req);
  ASSERT_TRUE(r.user.has_value());
  EXPECT_EQ(r.user->name, "dave");
  EXPECT_THAT(r.user->groups, ElementsAre("g1", "system:authenticated"));
  EXPECT_THAT(r.user->extra.at("team"), ElementsAre("t"));
  EXPECT_FALSE(req.headers.Has("X-Proxy-User"));
  EXPECT_FALSE(req.headers.Has("X-Remote-User"));
}

TEST(Authenticator, ClientCertificateGivesUserAndGroups) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config());
  auto req = MakeRequest("GET", "/apis");
  req.peer_certificates_der = Certs().user_cert;
  req.headers.Add("X-Remote-User", "system:admin");  // not from the front proxy: ignored
  auto r = Authenticate(a, req);
  ASSERT_TRUE(r.user.has_value()) << r.error;
  EXPECT_EQ(r.method, "x509");
  EXPECT_EQ(r.user->name, "alice");
  EXPECT_THAT(r.user->groups, ElementsAre("dev", "ops", "system:authenticated"));
}

TEST(Authenticator, BearerTokenViaTokenReviewIsCached) {
  auto reviewer = std::make_shared<FakeTokenReviewer>();
  Authenticator a(reviewer, std::chrono::seconds(10));
  a.SetConfig(Config());
  for (int i = 0; i < 3; ++i) {
    auto req = MakeRequest("GET", "/apis");
    req.headers.Add("Authorization", "Bearer good-token");
    auto r = Authenticate(a, req);
    ASSERT_TRUE(r.user.has_value());
    EXPECT_EQ(r.user->name, "bob");
    EXPECT_EQ(r.user->uid, "u-1");
    EXPECT_THAT(r.user->groups, ElementsAre("team", "system:authenticated"));
    EXPECT_FALSE(req.headers.Has("Authorization"));
  }
  EXPECT_EQ(reviewer->calls, 1);
  EXPECT_EQ(a.token_cache_hits(), 2u);

  auto bad = MakeRequest("GET", "/apis");
  bad.headers.Add("Authorization", "Bearer bad-token");
  EXPECT_FALSE(Authenticate(a, bad).user.has_value());
}

TEST(Authenticator, TokenReviewFailureAuthenticatesNobody) {
  auto reviewer = std::make_shared<FakeTokenReviewer>();
  reviewer->fail = true;
  Authenticator a(reviewer, std::chrono::seconds(10));
  a.SetConfig(Config());
  auto req = MakeRequest("GET", "/apis");
  req.headers.Add("Authorization", "Bearer good-token");
  auto r = Authenticate(a, req);
  EXPECT_FALSE(r.user.has_value());
  EXPECT_NE(r.error.find("TokenReview failed"), std::string::npos);
}

TEST(Authenticator, NoConfigurationTrustsNoHeaders) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  auto req = MakeRequest("GET", "/apis");
  req.peer_certificates_der = Certs().front_proxy_cert;
  req.headers.Add("X-Remote-User", "alice");
  EXPECT_FALSE(Authenticate(a, req).user.has_value());
  EXPECT_FALSE(req.headers.Has("X-Remote-User"));
}

TEST(AuthenticationConfigMap, ParsesKubeKeys) {
  std::string pem = Certs().front_proxy_ca.cert_pem;
  kube::json::Document cm(rapidjson::kObjectType);
  auto& al = cm.GetAllocator();
  kube::json::Value data(rapidjson::kObjectType);
  kube::json::SetString(data, "client-ca-file", "CLIENT-CA", al);
  kube::json::SetString(data, "requestheader-client-ca-file", pem, al);
  kube::json::SetString(data, "requestheader-allowed-names", "[\"front-proxy-client\"]", al);
  kube::json::SetString(data, "requestheader-username-headers", "[\"X-Remote-User\"]", al);
  kube::json::SetString(data, "requestheader-group-headers", "[\"X-Remote-Group\"]", al);
  kube::json::SetString(data, "requestheader-extra-headers-prefix", "[\"X-Remote-Extra-\"]", al);
  kube::json::SetMember(cm, "data", std::move(data), al);
  AuthenticationConfig c = ParseAuthenticationConfigMap(cm);
  EXPECT_EQ(c.client_ca_pem, "CLIENT-CA");
  EXPECT_EQ(c.request_header.client_ca_pem, pem);
  EXPECT_THAT(c.request_header.allowed_names, ElementsAre("front-proxy-client"));
  EXPECT_THAT(c.request_header.username_headers, ElementsAre("X-Remote-User"));
  EXPECT_THAT(c.request_header.group_headers, ElementsAre("X-Remote-Group"));
  EXPECT_THAT(c.request_header.extra_headers_prefix, ElementsAre("X-Remote-Extra-"));
  EXPECT_THAT(c.request_header.uid_headers, IsEmpty());
}

TEST(TokenReview, BuildsAndParses) {
  auto body = BuildTokenReview("tok");
  auto doc = kube::json::Parse(body);
  ASSERT_TRUE(doc);
  EXPECT_EQ(kube::json::GetString(*doc, "kind"), "TokenReview");
  EXPECT_EQ(kube::json::View(*kube::json::FindPath(*doc, "spec.token")), "tok");
  auto ok = ParseTokenReviewResponse(
      R"({"status":{"authenticated":true,"user":{"username":"u","uid":"1","groups":["g"],)"
      R"("extra":{"k":["v"]}}}})");
  ASSERT_TRUE(ok.ok());
  ASSERT_TRUE(ok->has_value());
  EXPECT_EQ((*ok)->name, "u");
  EXPECT_THAT((*ok)->extra.at("k"), ElementsAre("v"));
  auto no = ParseTokenReviewResponse(R"({"status":{"authenticated":false}})");
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no->has_value());
}

}  // namespace
}  // namespace apiserver

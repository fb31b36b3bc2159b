#include "apiserver/authn.h"
#include "apiserver/reviewers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

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

// ----- Certificate verification cache (issue 9: verify a chain once, not per request) -----

kube::http::Request FrontProxyRequest(const std::vector<std::string>& chain,
                                      std::string user = "alice") {
  auto req = MakeRequest("GET", "/apis/k8s.starter.org/v1alpha1");
  req.peer_certificates_der = chain;
  req.headers.Add("X-Remote-User", std::move(user));
  req.headers.Add("X-Remote-Group", "dev");
  return req;
}

TEST(AuthenticatorCertificateCache, CachedChainIsNotVerifiedAgain) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config());
  for (int i = 0; i < 5; ++i) {
    auto req = FrontProxyRequest(Certs().front_proxy_cert, "user-" + std::to_string(i));
    auto r = Authenticate(a, req);
    ASSERT_TRUE(r.user.has_value()) << r.error;
    // The identity comes from this request's headers, never from the cache.
    EXPECT_EQ(r.user->name, "user-" + std::to_string(i));
    EXPECT_FALSE(req.headers.Has("X-Remote-User"));
  }
  EXPECT_EQ(a.certificate_verifications(), 1u);

  // The same for ordinary client certificates (one miss against each CA, then none).
  auto user = MakeRequest("GET", "/apis");
  user.peer_certificates_der = Certs().user_cert;
  ASSERT_TRUE(Authenticate(a, user).user.has_value());
  EXPECT_EQ(a.certificate_verifications(), 3u);
  for (int i = 0; i < 3; ++i) {
    auto again = MakeRequest("GET", "/apis");
    again.peer_certificates_der = Certs().user_cert;
    // As the server passes it: the chain's digest, computed once per connection.
    if (i > 0)
      again.peer_certificates_digest = kube::tls::CertificateChainDigest(Certs().user_cert);
    auto r = Authenticate(a, again);
    ASSERT_TRUE(r.user.has_value());
    EXPECT_EQ(r.user->name, "alice");
    EXPECT_EQ(r.method, "x509");
  }
  EXPECT_EQ(a.certificate_verifications(), 3u);
  // A configuration change that keeps the CAs keeps the cache.
  a.SetConfig(Config({"front-proxy-client", "other"}));
  auto kept = FrontProxyRequest(Certs().front_proxy_cert);
  ASSERT_TRUE(Authenticate(a, kept).user.has_value());
  EXPECT_EQ(a.certificate_verifications(), 3u);
}

TEST(AuthenticatorCertificateCache, DifferentChainIsVerifiedAnew) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config({}));
  auto first = FrontProxyRequest(Certs().front_proxy_cert);
  ASSERT_TRUE(Authenticate(a, first).user.has_value());
  EXPECT_EQ(a.certificate_verifications(), 1u);
  auto second = FrontProxyRequest(Certs().other_cn_cert);  // same CA, another certificate
  ASSERT_TRUE(Authenticate(a, second).user.has_value());
  EXPECT_EQ(a.certificate_verifications(), 2u);
  // A trusted leaf with an extra (untrusted) certificate appended is another chain too.
  auto extended_chain = Certs().front_proxy_cert;
  extended_chain.push_back(Certs().foreign_cert[0]);
  auto third = FrontProxyRequest(extended_chain);
  ASSERT_TRUE(Authenticate(a, third).user.has_value());
  EXPECT_EQ(a.certificate_verifications(), 3u);
  // A foreign certificate with the trusted CN: verified, refused, and refused again from the
  // cache (against both CAs once).
  for (int i = 0; i < 3; ++i) {
    auto foreign = FrontProxyRequest(Certs().foreign_cert, "system:admin");
    auto r = Authenticate(a, foreign);
    EXPECT_FALSE(r.user.has_value());
    EXPECT_NE(r.error.find("not trusted"), std::string::npos) << r.error;
    EXPECT_FALSE(foreign.headers.Has("X-Remote-User"));
  }
  EXPECT_EQ(a.certificate_verifications(), 5u);
}

TEST(AuthenticatorCertificateCache, CARotationInvalidatesCachedIdentities) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config());
  auto before = FrontProxyRequest(Certs().front_proxy_cert);
  ASSERT_TRUE(Authenticate(a, before).user.has_value());

  // The extension-apiserver-authentication ConfigMap now names another front-proxy CA: the
  // cached answer for the old proxy's certificate must not outlive it.
  kube::json::Document cm(rapidjson::kObjectType);
  auto& al = cm.GetAllocator();
  kube::json::Value data(rapidjson::kObjectType);
  kube::json::SetString(data, "requestheader-client-ca-file", Certs().other_ca.cert_pem, al);
  kube::json::SetString(data, "requestheader-allowed-names", "[\"front-proxy-client\"]", al);
  kube::json::SetMember(cm, "data", std::move(data), al);
  AuthenticationConfig rotated = ParseAuthenticationConfigMap(cm);
  rotated.client_ca_pem.clear();
  a.SetConfig(rotated);
  uint64_t verified = a.certificate_verifications();
  auto old_proxy = FrontProxyRequest(Certs().front_proxy_cert, "system:admin");
  auto r = Authenticate(a, old_proxy);
  EXPECT_FALSE(r.user.has_value());
  EXPECT_EQ(a.certificate_verifications(), verified + 1);
  // The proxy with a certificate from the new CA is believed.
  auto new_proxy = FrontProxyRequest(Certs().foreign_cert, "bob");
  auto ok = Authenticate(a, new_proxy);
  ASSERT_TRUE(ok.user.has_value()) << ok.error;
  EXPECT_EQ(ok.user->name, "bob");

  // Rotating back (flags or ConfigMap) re-verifies rather than reusing any earlier answer.
  a.SetConfig(Config());
  verified = a.certificate_verifications();
  auto back = FrontProxyRequest(Certs().front_proxy_cert);
  EXPECT_TRUE(Authenticate(a, back).user.has_value());
  EXPECT_EQ(a.certificate_verifications(), verified + 1);
  auto gone = FrontProxyRequest(Certs().foreign_cert);
  EXPECT_FALSE(Authenticate(a, gone).user.has_value());
}

TEST(AuthenticatorCertificateCache, ExpiredCertificateIsRefused) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config({}));
  // Already expired: refused, and still refused when asked again (from the cache).
  kube::tls::CertificateSpec old;
  old.common_name = "front-proxy-client";
  old.server_auth = false;
  old.client_auth = true;
  old.not_before_skew = std::chrono::hours(48);
  old.validity = -std::chrono::hours(24);
  auto expired = kube::tls::GenerateSigned(Certs().front_proxy_ca, old);
  ASSERT_TRUE(expired.ok());
  for (int i = 0; i < 2; ++i) {
    auto req = FrontProxyRequest(*kube::tls::PemToDer(expired->cert_pem), "system:admin");
    auto r = Authenticate(a, req);
    EXPECT_FALSE(r.user.has_value());
    EXPECT_NE(r.error.find("expired"), std::string::npos) << r.error;
  }
  // Valid for two more seconds: believed now, refused once notAfter has passed even though the
  // answer was cached (entries never outlive the certificate).
  kube::tls::CertificateSpec brief = old;
  brief.not_before_skew = std::chrono::hours(1);
  brief.validity = std::chrono::seconds(2);
  auto short_lived = kube::tls::GenerateSigned(Certs().front_proxy_ca, brief);
  ASSERT_TRUE(short_lived.ok());
  auto chain = *kube::tls::PemToDer(short_lived->cert_pem);
  auto now = FrontProxyRequest(chain);
  auto r = Authenticate(a, now);
  ASSERT_TRUE(r.user.has_value()) << r.error;
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  auto later = FrontProxyRequest(chain, "system:admin");
  auto r2 = Authenticate(a, later);
  EXPECT_FALSE(r2.user.has_value());
  EXPECT_NE(r2.error.find("expired"), std::string::npos) << r2.error;
}

TEST(AuthenticatorCertificateCache, EntriesExpireAfterTheTTL) {
  Authenticator a(nullptr, std::chrono::seconds(10), std::chrono::seconds(1));
  a.SetConfig(Config());
  auto first = FrontProxyRequest(Certs().front_proxy_cert);
  ASSERT_TRUE(Authenticate(a, first).user.has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto second = FrontProxyRequest(Certs().front_proxy_cert);
  ASSERT_TRUE(Authenticate(a, second).user.has_value());
  EXPECT_EQ(a.certificate_verifications(), 2u);
}

TEST(AuthenticatorCertificateCache, SpoofedHeadersWithoutCertificateAfterACachedIdentity) {
  Authenticator a(nullptr, std::chrono::seconds(10));
  a.SetConfig(Config());
  auto proxied = FrontProxyRequest(Certs().front_proxy_cert);
  ASSERT_TRUE(Authenticate(a, proxied).user.has_value());
  // Another caller (same headers, no certificate) gets nothing from the cached identity.
  auto spoofed = FrontProxyRequest({}, "system:admin");
  spoofed.headers.Add("X-Remote-Group", "system:masters");
  auto r = Authenticate(a, spoofed);
  EXPECT_FALSE(r.user.has_value());
  EXPECT_EQ(r.error, "no credentials");
  EXPECT_FALSE(spoofed.headers.Has("X-Remote-User"));
  EXPECT_FALSE(spoofed.headers.Has("X-Remote-Group"));
  // Nor does a caller presenting only the trusted leaf's issuer (not the leaf).
  auto ca_only = FrontProxyRequest(*kube::tls::PemToDer(Certs().front_proxy_ca.cert_pem));
  EXPECT_FALSE(Authenticate(a, ca_only).user.has_value());
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
  auto body = BuildTokenReviewBody("tok");
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

// The bearer token is overwritten in the request's own buffer before the field is removed.
TEST(WipeCredentialHeaders, ZeroesEveryAuthorizationValueInPlace) {
  kube::http::Headers h;
  h.Add("Accept", "application/json");
  h.Add("Authorization", "Bearer a-long-enough-token-to-live-on-the-heap");
  h.Add("authorization", "Basic dXNlcjpwYXNz");
  std::vector<std::pair<const char*, size_t>> values;
  for (const auto& [name, value] : h) {
    if (kube::http::EqualsIgnoreCase(name, "Authorization")) {
      values.emplace_back(value.data(), value.size());
    }
  }
  ASSERT_EQ(values.size(), 2u);
  WipeCredentialHeaders(h);
  for (const auto& [data, size] : values) {
    EXPECT_EQ(std::string(data, size), std::string(size, '\0'));
  }
  EXPECT_EQ(*h.Get("Accept"), "application/json");
}

}  // namespace
}  // namespace apiserver

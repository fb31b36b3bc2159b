// Delegated authentication like k8s.io/apiserver's DelegatingAuthenticator: the front proxy's
// client certificate + X-Remote-* headers, ordinary client certificates, bearer tokens checked
// with a TokenReview in the app cluster (cached). Identity headers from callers without the
// trusted front-proxy certificate are never believed and are always stripped.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/http.h"
#include "kube/json.h"
#include "kube/result.h"
#include "kube/tls.h"

namespace apiserver {

namespace asio = boost::asio;

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;

  bool operator==(const UserInfo&) const = default;
};

// Trust for the authenticating (front) proxy, as published in
// kube-system/extension-apiserver-authentication or given by flags.
struct RequestHeaderConfig {
  std::string client_ca_pem;               // empty: front-proxy authentication is off
  std::vector<std::string> allowed_names;  // empty: any CN signed by the CA
  std::vector<std::string> username_headers{"X-Remote-User"};
  std::vector<std::string> uid_headers;
  std::vector<std::string> group_headers{"X-Remote-Group"};
  std::vector<std::string> extra_headers_prefix{"X-Remote-Extra-"};
};

struct AuthenticationConfig {
  RequestHeaderConfig request_header;
  std::string client_ca_pem;  // empty: ordinary client certificates are not accepted
};

// Reads the ConfigMap's data (keys client-ca-file, requestheader-*; list values are JSON string
// arrays). Missing keys leave `base` unchanged.
AuthenticationConfig ParseAuthenticationConfigMap(const kube::json::Value& configmap,
                                                  AuthenticationConfig base = {});

// Asks the app cluster whether a bearer token is valid (POST tokenreviews).
class TokenReviewer {
 public:
  virtual ~TokenReviewer() = default;
  // nullopt value: the token is not authenticated. An error: no answer could be had.
  virtual asio::awaitable<kube::Result<std::optional<UserInfo>>> Review(std::string token) = 0;
};

// A TokenReview answer (authentication.k8s.io/v1). The request body is built by
// BuildTokenReviewBody (reviewers.h).
kube::Result<std::optional<UserInfo>> ParseTokenReviewResponse(std::string_view body);

// Overwrites (sodium_memzero) the value of every Authorization field in place; Authenticate does
// it before the fields are removed, so the freed strings hold no credential.
void WipeCredentialHeaders(kube::http::Headers& headers);

struct AuthenticationResult {
  std::optional<UserInfo> user;
  std::string method;  // "requestheader", "x509", "token"
  std::string error;   // why nothing authenticated (for logs and metrics; never a secret)
};

class Authenticator {
 public:
  // `reviewer` may be null (bearer tokens are then refused). Client certificate chains (front
  // proxy and ordinary client certificates) are verified once and the answer cached for at most
  // `cert_cache_ttl` and never past the leaf's notAfter (a keep-alive connection presents the
  // same chain on every request); a new CA from SetConfig starts with an empty cache.
  Authenticator(std::shared_ptr<TokenReviewer> reviewer, std::chrono::milliseconds token_ttl,
                std::chrono::seconds cert_cache_ttl = std::chrono::seconds(10));

  // Swaps the trust configuration (from the watched ConfigMap, merged with flags).
  void SetConfig(const AuthenticationConfig& config);
  bool has_config() const { return state_.load() != nullptr; }

  // Authenticates and strips the credentials from `req` (Authorization and every identity
  // header), whatever the outcome.
  asio::awaitable<AuthenticationResult> Authenticate(kube::http::Request& req);

  uint64_t token_cache_hits() const { return token_hits_.load(); }
  // Full certificate chain verifications (cache misses), for tests and metrics.
  uint64_t certificate_verifications() const { return cert_verifications_.load(); }

 private:
  struct State;
  // The request's peer chain (with its per-connection digest) verified through the cache.
  kube::Result<kube::tls::PeerIdentity> VerifyCached(
      const kube::tls::ClientCertificateVerifier& verifier, const kube::http::Request& req);
  std::atomic<std::shared_ptr<const State>> state_;
  std::shared_ptr<TokenReviewer> reviewer_;
  std::chrono::milliseconds token_ttl_;
  std::chrono::seconds cert_cache_ttl_;
  std::atomic<uint64_t> cert_verifications_{0};

  struct CachedToken {
    UserInfo user;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex mu_;
  std::unordered_map<std::string, CachedToken> token_cache_;  // key: SHA-256 of the token
  std::atomic<uint64_t> token_hits_{0};
};

// Adds "system:authenticated" like kube's AuthenticatedGroupAdder.
void AddAuthenticatedGroup(UserInfo& user);

}  // namespace apiserver

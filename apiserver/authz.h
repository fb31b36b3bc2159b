// Delegated authorization like k8s.io/apiserver's DelegatingAuthorizer: a SubjectAccessReview in
// the app cluster, allow and deny answers cached briefly, health paths and system:masters always
// allowed. Any failure to get an answer denies; nothing ever fails open.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "apiserver/authn.h"
#include "kube/result.h"
#include "kube/status.h"

namespace apiserver {

// authorizer.Attributes.
struct Attributes {
  UserInfo user;
  std::string verb;  // "get", "list", "watch", ... (resource) or the HTTP verb lower-cased
  bool is_resource_request = false;
  std::string path;  // non-resource requests
  std::string api_group;
  std::string api_version;
  std::string resource;
  std::string subresource;
  std::string namespace_;
  std::string name;
};

enum class Decision { kAllow, kDeny, kNoOpinion };

struct AuthorizationResult {
  Decision decision = Decision::kDeny;
  std::string reason;  // from the reviewer, for the 403 message
};

// Asks the app cluster (POST subjectaccessreviews). An error: no answer could be had.
class AccessReviewer {
 public:
  virtual ~AccessReviewer() = default;
  virtual asio::awaitable<kube::Result<AuthorizationResult>> Review(Attributes attrs) = 0;
};

// SubjectAccessReview request body and answer (authorization.k8s.io/v1).
std::string BuildSubjectAccessReview(const Attributes& attrs);
kube::Result<AuthorizationResult> ParseSubjectAccessReviewResponse(std::string_view body);

// The 403 kube-apiserver sends (responsewriters.Forbidden): details {name, group, kind}.
kube::Status ForbiddenStatus(const Attributes& attrs, std::string_view reason);

struct AuthorizerOptions {
  std::chrono::milliseconds allow_ttl{std::chrono::seconds(10)};
  std::chrono::milliseconds deny_ttl{std::chrono::seconds(10)};
  std::vector<std::string> always_allow_paths{"/healthz", "/livez", "/readyz"};
  std::vector<std::string> always_allow_groups{"system:masters"};
};

class Authorizer {
 public:
  Authorizer(std::shared_ptr<AccessReviewer> reviewer, AuthorizerOptions options);

  // kAllow or kDeny, or an error Status (503) when no answer could be had: deny either way.
  asio::awaitable<kube::Result<AuthorizationResult>> Authorize(const Attributes& attrs);

  uint64_t cache_hits() const { return hits_.load(); }
  uint64_t cache_misses() const { return misses_.load(); }

 private:
  std::shared_ptr<AccessReviewer> reviewer_;
  AuthorizerOptions options_;
  struct Entry {
    AuthorizationResult result;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace apiserver

// TokenReview and SubjectAccessReview sent to the app cluster with kube::RestClient, and the
// extension-apiserver-authentication ConfigMap watch that feeds the Authenticator.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "apiserver/authn.h"
#include "apiserver/authz.h"

namespace kube {
class RestClient;
}

namespace apiserver {

// Bearer tokens on their way to the app cluster: the TokenReview body is built by hand into one
// buffer sized up front (no JSON DOM or growth leaves a copy behind); the token echoed in the
// answer (kube-apiserver returns spec.token) is overwritten with '*' before the answer is parsed,
// and the answer is wiped after. The caller's copy (`Review(std::string token)`) is wiped too.
// The request is marked `sensitive`: RestClient wipes its body once it is written. Residue,
// documented in docs/security.md: the bytes in the client's connection (TLS) buffers.
std::string BuildTokenReviewBody(std::string_view token);
// Overwrites every occurrence of `token` in `body` with '*'; returns how many.
size_t RedactToken(std::string& body, std::string_view token);

std::shared_ptr<TokenReviewer> NewTokenReviewer(std::shared_ptr<kube::RestClient> app,
                                                std::chrono::milliseconds timeout);
std::shared_ptr<AccessReviewer> NewAccessReviewer(std::shared_ptr<kube::RestClient> app,
                                                  std::chrono::milliseconds timeout);

// Keeps `authenticator` configured from kube-system/extension-apiserver-authentication (list +
// watch, re-listing after errors with backoff), each value overridden by `overrides` where a
// flag set it (`has_*`). Runs until `stop` is set.
struct AuthenticationOverrides {
  AuthenticationConfig config;  // values from flags
  bool has_requestheader_ca = false, has_allowed_names = false, has_username_headers = false,
       has_uid_headers = false, has_group_headers = false, has_extra_prefix = false,
       has_client_ca = false;
  AuthenticationConfig Apply(AuthenticationConfig from_configmap) const;
};

asio::awaitable<void> WatchAuthenticationConfig(std::shared_ptr<kube::RestClient> app,
                                                std::shared_ptr<Authenticator> authenticator,
                                                AuthenticationOverrides overrides,
                                                std::shared_ptr<std::atomic<bool>> stop);

}  // namespace apiserver

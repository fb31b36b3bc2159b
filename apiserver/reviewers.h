// TokenReview and SubjectAccessReview sent to the app cluster with kube::RestClient, and the
// extension-apiserver-authentication ConfigMap watch that feeds the Authenticator.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "apiserver/authn.h"
#include "apiserver/authz.h"

namespace kube {
class RestClient;
}

namespace apiserver {

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

// The request handler chain, in kube-apiserver's order (k8s.io/apiserver DefaultBuildHandlerChain):
// panic recovery -> RequestInfo -> in-flight limit -> timeout (non-long-running) ->
// authentication -> authorization -> route. It only sees kube::http::Request/ResponseWriter, so it
// is independent of the HTTP version. One access-log line per request at VLOG(2).
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "apiserver/authn.h"
#include "apiserver/authz.h"
#include "apiserver/metrics.h"
#include "kube/http.h"
#include "kube/request_info.h"
#include "kube/status.h"

namespace apiserver {

// What the filters learnt about a request, handed to the route.
struct RequestContext {
  kube::http::Request& req;
  kube::http::ResponseWriter& w;
  kube::RequestInfo info;
  UserInfo user;
  bool long_running = false;
  std::string details;  // stable token of a locally generated reply, for the access log
};

// Writes `status` as a JSON metav1.Status (Retry-After when set) and records its details token.
asio::awaitable<bool> WriteStatus(RequestContext& ctx, kube::Status status);
asio::awaitable<bool> WriteStatus(kube::http::ResponseWriter& w, kube::Status status);

struct ChainOptions {
  int max_requests_inflight = 400;
  int max_watches = 4096;
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};
  // Paths served without authentication or authorization (kubelet probes carry no identity).
  std::vector<std::string> health_paths{"/healthz", "/livez", "/readyz"};
};

// Whether `path` is one of `paths` or below it ("/readyz/ping").
bool PathMatches(std::string_view path, const std::vector<std::string>& paths);

// kube's metric verb: GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION.
std::string MetricVerb(const kube::http::Request& req, const kube::RequestInfo& info);

class HandlerChain {
 public:
  using Route = std::function<asio::awaitable<void>(RequestContext&)>;

  HandlerChain(ChainOptions options, std::shared_ptr<Authenticator> authenticator,
               std::shared_ptr<Authorizer> authorizer, std::shared_ptr<Metrics> metrics,
               Route route);

  asio::awaitable<void> Serve(kube::http::Request& req, kube::http::ResponseWriter& w);
  // A kube::http::Handler calling Serve (the chain must outlive the server).
  kube::http::Handler AsHandler();

  const ChainOptions& options() const { return options_; }

 private:
  asio::awaitable<void> WithRequestInfo(RequestContext& ctx);
  asio::awaitable<void> WithInFlightLimit(RequestContext& ctx);
  asio::awaitable<void> WithTimeout(RequestContext& ctx);
  asio::awaitable<void> RespondTimedOut(RequestContext& ctx);  // 504, or cut a started body
  asio::awaitable<void> WithAuthentication(RequestContext& ctx);
  asio::awaitable<void> WithAuthorization(RequestContext& ctx);

  ChainOptions options_;
  kube::RequestInfoFactory request_info_factory_;
  std::shared_ptr<Authenticator> authenticator_;
  std::shared_ptr<Authorizer> authorizer_;
  std::shared_ptr<Metrics> metrics_;
  Route route_;
  std::atomic<int> inflight_{0};
  std::atomic<int> watches_{0};
};

}  // namespace apiserver

// The innermost handler: health, version, metrics, discovery and OpenAPI documents — all from the
// published DiscoverySnapshot, never waiting on the control plane — and resource requests handed
// to the proxy (404 Status, like kube, for what is not served).
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apiserver/handler_chain.h"
#include "apiserver/metrics.h"
#include "discovery/snapshot.h"

namespace proxy {
class Proxy;
}

namespace apiserver {

struct RouterOptions {
  // The current snapshot (SnapshotPublisher::Load); never blocks.
  std::function<std::shared_ptr<const discovery::DiscoverySnapshot>()> snapshot;
  // Serves resource requests; null: 503 for every resource request.
  std::shared_ptr<proxy::Proxy> proxy;
  std::shared_ptr<Metrics> metrics;
  // More readiness checks (authentication config loaded, ...), evaluated per /readyz request.
  std::function<std::vector<discovery::ReadinessCheck>()> extra_ready_checks;
};

// The checks behind /livez, /healthz and /readyz, in order.
std::vector<discovery::ReadinessCheck> LivenessChecks();

class Router {
 public:
  explicit Router(RouterOptions options);

  asio::awaitable<void> Serve(RequestContext& ctx);

  // After SIGTERM: /readyz fails (check "shutdown") while everything else keeps serving.
  void SetShuttingDown() { shutting_down_.store(true); }
  bool shutting_down() const { return shutting_down_.load(); }

  std::vector<discovery::ReadinessCheck> ReadinessChecks() const;

 private:
  struct Docs;
  std::shared_ptr<const Docs> DocsFor(const discovery::DiscoverySnapshot& snap);

  asio::awaitable<void> ServeHealth(RequestContext& ctx, std::string_view endpoint,
                                    std::vector<discovery::ReadinessCheck> checks);
  asio::awaitable<void> ServeDiscovery(RequestContext& ctx);
  asio::awaitable<void> ServeOpenAPI(RequestContext& ctx);
  asio::awaitable<void> ServeResource(RequestContext& ctx);

  RouterOptions options_;
  std::atomic<bool> shutting_down_{false};
  std::mutex docs_mu_;
  std::shared_ptr<const Docs> docs_;
};

// kube's answer for a path nobody serves: 404 "the server could not find the requested resource".
kube::Status NotFoundStatus();

}  // namespace apiserver

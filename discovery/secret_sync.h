// Connection secrets (issue 7): copies each claim's connection secret from the control plane's
// claim namespace (written by Crossplane under the translated name, see proxy/translator.h
// ConnectionSecretName) into the claim's app namespace under the name the user wrote, and keeps
// it in sync. Copies are labelled as managed by this connector and this claim; a Secret the
// connector does not manage is never overwritten or deleted. Only the leader writes.
// Single-threaded: run on the controller's strand.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace kube {
class RestClient;
}

namespace discovery {

namespace asio = boost::asio;

class SnapshotPublisher;

// Labels and annotations on the copies.
inline constexpr std::string_view kSourceSecretAnnotation =
    "mcp-connector.upbound.io/source-secret";
inline constexpr std::string_view kClaimAnnotation = "mcp-connector.upbound.io/claim";
// Written by the proxy on the control-plane claim (proxy/translator.h): the name the user wrote.
// Claims imported by `up controlplane migration import` have no annotations and keep the user's
// name in spec.writeConnectionSecretToRef: that name is then the copy's name too.
inline constexpr std::string_view kConnectionSecretNameAnnotation =
    "mcp-connector.upbound.io/connection-secret-name";

struct SecretSyncOptions {
  std::string cluster_id;
  std::string claim_namespace;
  // Maps a claim's owner reference (group/version/kind) to its resource.
  std::shared_ptr<SnapshotPublisher> publisher;
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::seconds watch_timeout_min{300};
};

struct SecretSyncCounters {
  uint64_t creates = 0;
  uint64_t updates = 0;
  uint64_t deletes = 0;
  uint64_t conflicts = 0;
};

class SecretSyncer {
 public:
  // `may_write` is asked before every write (leader and not stopping).
  SecretSyncer(std::shared_ptr<kube::RestClient> control_plane,
               std::shared_ptr<kube::RestClient> app_cluster, SecretSyncOptions options,
               std::function<bool()> may_write);
  ~SecretSyncer();

  asio::awaitable<void> Run();
  void Stop();
  void SetLeader(bool leader);
  // Re-examines every connection secret (the served API set changed).
  void Resync();
  SecretSyncCounters counters() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace discovery

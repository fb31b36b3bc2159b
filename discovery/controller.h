// The discovery controller: informers on the control plane's XRDs and CRDs, the published
// DiscoverySnapshot, the claim-namespace check, and the level-triggered APIService reconciler in
// the app cluster (leader only, Lease election). Every replica serves; only the leader writes.
//
//   auto publisher = std::make_shared<discovery::SnapshotPublisher>();
//   discovery::Controller c(executor, control_plane_client, app_client, options, publisher);
//   c.Start();                 // returns at once; work runs on a strand of `executor`
//   ... publisher->Load() on every request ...
//   co_await c.Stop();         // cancels watches, releases the lease, waits for the tasks
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "discovery/snapshot.h"
#include "kube/result.h"

namespace kube {
class RestClient;
}

namespace discovery {

namespace asio = boost::asio;

struct ControllerOptions {
  std::string cluster_id;       // required (see ResolveClusterID)
  std::string claim_namespace;  // the control-plane namespace claims go to
  bool create_claim_namespace = true;

  // APIService.spec.service and caBundle.
  std::string service_namespace;
  std::string service_name;
  int service_port = 443;
  std::string ca_bundle_pem;  // the serving CA; SetCABundle() replaces it

  // HA. With leader_election off this replica always writes (single replica, tests).
  bool leader_election = true;
  std::string lease_namespace;  // default: service_namespace
  std::string lease_name = "mcp-connector";
  std::string identity;  // default: <hostname>_<random>
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};

  // Informer tuning (tests shorten these).
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::seconds watch_timeout_min{300};
  // Every owned/desired APIService is re-checked this often even without events.
  std::chrono::milliseconds resync_period{std::chrono::minutes(10)};
  // How often a good claim namespace is re-checked.
  std::chrono::milliseconds namespace_recheck{std::chrono::seconds(60)};

  // Connection secrets (issue 7): copy claims' connection secrets into the app cluster.
  bool sync_connection_secrets = false;
};

// Writes this replica made (tests assert no spurious updates), and other counters for /metrics.
struct ControllerCounters {
  uint64_t apiservice_creates = 0;
  uint64_t apiservice_updates = 0;
  uint64_t apiservice_deletes = 0;
  uint64_t apiservice_write_errors = 0;
  // Times an APIService we wanted to write was found owned by someone else (counted once per
  // name each time it becomes a conflict).
  uint64_t apiservice_foreign_refusals = 0;
  uint64_t claim_namespace_creates = 0;
  uint64_t snapshots_published = 0;
  uint64_t informer_relists = 0;   // 410-triggered relists, all informers
  uint64_t informer_failures = 0;  // failed list/watch attempts, all informers
  uint64_t secret_creates = 0;     // connection-secret copies (issue 7)
  uint64_t secret_updates = 0;
  uint64_t secret_deletes = 0;
  uint64_t secret_conflicts = 0;  // foreign Secrets we refused to overwrite
  uint64_t writes() const { return apiservice_creates + apiservice_updates + apiservice_deletes; }
};

class Controller {
 public:
  Controller(asio::any_io_executor executor, std::shared_ptr<kube::RestClient> control_plane,
             std::shared_ptr<kube::RestClient> app_cluster, ControllerOptions options,
             std::shared_ptr<SnapshotPublisher> publisher);
  ~Controller();  // Stop() must have completed (or Start() never called)
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts informers, the claim-namespace check, leader election and the reconciler. Returns
  // at once. Call once.
  void Start();
  // Cancels everything, releases the lease if held (another replica takes over at once), and
  // completes when every task has ended. Safe to call without Start(); idempotent.
  asio::awaitable<void> Stop();

  // Replaces the serving CA written as caBundle (certificate rotation); thread-safe.
  void SetCABundle(std::string pem);

  ControllerCounters counters() const;  // thread-safe
  bool leading() const;                 // thread-safe
  const std::string& identity() const;
  const std::shared_ptr<SnapshotPublisher>& publisher() const;
  // Prometheus text exposition of the counters and gauges (mcp_connector_discovery_*).
  void AppendMetrics(std::string& out) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// The app cluster ID: `given` when not empty, else the UID of the app cluster's kube-system
// namespace.
asio::awaitable<kube::Result<std::string>> ResolveClusterID(
    std::shared_ptr<kube::RestClient> app_cluster, std::string given);

// `mcp-connector uninstall`: deletes every APIService this connector owns for `cluster_id`
// (labels managed-by=mcp-connector and app-cluster=<cluster_id>) and nothing else. Returns the
// names deleted.
asio::awaitable<kube::Result<std::vector<std::string>>> Uninstall(
    std::shared_ptr<kube::RestClient> app_cluster, std::string cluster_id);

}  // namespace discovery

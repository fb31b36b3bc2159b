// Leader election on a coordination.k8s.io/v1 Lease (client-go's leaderelection semantics):
// acquire when the lease is free or expired (expiry judged on the local clock from when the
// record last changed), renew every retry period, give up leadership when a renewal has not
// succeeded within the renew deadline, release (empty holder) on clean shutdown.
// Single-threaded: run on one strand.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace kube {
class RestClient;
}

namespace discovery {

namespace asio = boost::asio;

struct LeaderElectionOptions {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;  // unique per replica
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
};

class LeaderElector {
 public:
  // on_change(true) when this replica starts leading, on_change(false) when it stops.
  LeaderElector(std::shared_ptr<kube::RestClient> client, LeaderElectionOptions options,
                std::function<void(bool)> on_change);

  // Tries to acquire, then renews, until Stop() or cancellation. Never returns early on errors.
  asio::awaitable<void> Run();
  void Stop() { stopped_ = true; }
  // Gives the lease up if held (holder emptied, duration 1 s) so another replica takes over at
  // once. Call after Run() has ended.
  asio::awaitable<void> Release();

  bool leading() const { return leading_; }
  const std::string& identity() const { return options_.identity; }

 private:
  // true when we hold the lease after this attempt.
  asio::awaitable<bool> TryAcquireOrRenew();
  void SetLeading(bool v);

  std::shared_ptr<kube::RestClient> client_;
  LeaderElectionOptions options_;
  std::function<void(bool)> on_change_;
  bool leading_ = false;
  bool stopped_ = false;
  bool held_by_other_ = false;   // the last attempt saw a valid lease of another replica
  std::string observed_record_;  // holder|renewTime|... of the last record seen
  std::chrono::steady_clock::time_point observed_time_{};
  std::chrono::steady_clock::time_point last_renew_{};
};

// "2006-01-02T15:04:05.000000Z" for now (metav1.MicroTime).
std::string MicroTimeNow();

}  // namespace discovery

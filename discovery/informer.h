// A small shared informer (client-go's reflector + store): lists a resource, then watches it from
// the list's resourceVersion, keeping an in-memory cache by key. Resumes a broken watch from the
// last resourceVersion seen, relists on 410 Expired/Gone, reconnects with capped exponential
// backoff plus jitter, never busy-loops. Single-threaded: Run() and every accessor must be used
// from the same strand.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kube/json.h"
#include "kube/status.h"

namespace kube {
class RestClient;
}

namespace discovery {

namespace asio = boost::asio;

using Object = std::shared_ptr<const kube::json::Document>;

// Capped exponential backoff with jitter: initial * 2^n, capped, times a factor in [1, 1.5).
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed = 0);
  std::chrono::milliseconds Next();
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds initial_, max_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

struct InformerOptions {
  std::string name;  // for logs: "xrds", "crds", "apiservices"
  // Collection paths to try in order; the next one is used when a list answers 404 (for example
  // an XRD version that is not served). "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
  std::vector<std::string> paths;
  std::string label_selector;
  std::string field_selector;
  int page_size = 500;
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  // Watches are restarted after a random time between min and 2*min (timeoutSeconds).
  std::chrono::seconds watch_timeout_min{300};
};

struct InformerStats {
  uint64_t lists = 0;
  uint64_t watches = 0;      // watch requests started
  uint64_t relists_410 = 0;  // relists caused by 410 Expired/Gone
  uint64_t failures = 0;     // failed list/watch attempts
  uint64_t events = 0;
};

class Informer : public std::enable_shared_from_this<Informer> {
 public:
  // Called on the strand after the cache changed for `key` (object null when deleted).
  using ChangeHandler =
      std::function<void(const std::string& key, const Object& old_obj, const Object& new_obj)>;
  // Called after each successful initial list/relist, and whenever reachability changes.
  using StateHandler = std::function<void()>;

  Informer(std::shared_ptr<kube::RestClient> client, InformerOptions options,
           ChangeHandler on_change, StateHandler on_state);

  // Runs until cancelled (asio cancellation of the awaiting coroutine) or Stop().
  asio::awaitable<void> Run();
  void Stop() { stopped_ = true; }

  bool synced() const { return synced_; }
  bool reachable() const { return reachable_; }
  const std::string& last_error() const { return last_error_; }
  const std::string& resource_version() const { return rv_; }
  const std::string& path() const { return options_.paths[path_index_]; }
  const InformerStats& stats() const { return stats_; }

  // Cache access. Keys are "name" or "namespace/name".
  Object Get(const std::string& key) const;
  std::vector<Object> List() const;
  const std::map<std::string, Object>& items() const { return items_; }

  // Write-through after our own successful writes, so that the next reconcile does not act on a
  // stale cache before the watch event arrives. The later event with the same resourceVersion is
  // then a no-op.
  void Upsert(Object obj);
  void Remove(const std::string& key);

  static std::string KeyOf(const kube::json::Value& obj);

 private:
  asio::awaitable<bool> ListAll();  // false on failure (error recorded)
  asio::awaitable<void> WatchOnce(bool& relist, bool& progress);
  void Apply(const std::string& key, Object obj);  // obj null = delete
  void SetReachable(bool ok, std::string error);
  asio::awaitable<void> Sleep(std::chrono::milliseconds d);

  std::shared_ptr<kube::RestClient> client_;
  InformerOptions options_;
  ChangeHandler on_change_;
  StateHandler on_state_;
  size_t path_index_ = 0;
  std::map<std::string, Object> items_;
  std::string rv_;
  bool synced_ = false;
  bool reachable_ = false;
  bool stopped_ = false;
  std::string last_error_;
  Backoff backoff_;
  std::mt19937_64 rng_;
  InformerStats stats_;
};

}  // namespace discovery

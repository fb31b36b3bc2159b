// fakekube's namespace controller (k8s.io/kubernetes pkg/controller/namespace and its deletion
// package). A namespace's DELETE only marks it (deletionTimestamp, status.phase Terminating, see
// the namespace registry in resource_handler.cc); this controller then, like kube's:
//  - discovers every namespaced resource that supports `delete`, in its group's preferred
//    version: local ones from the registry, aggregated ones with GET /apis/<g>/<v> through the
//    aggregator's proxy to the backend (a failing backend is a discovery failure);
//  - issues deletecollection in the namespace (list + delete per item when deletecollection is
//    not supported), then lists to verify nothing is left;
//  - writes the conditions kube writes (NamespaceDeletionDiscoveryFailure,
//    NamespaceDeletionGroupVersionParsingFailure, NamespaceDeletionContentFailure,
//    NamespaceContentRemaining, NamespaceFinalizersRemaining) with kube's reasons and messages;
//  - when everything is gone, removes the `kubernetes` finalizer with PUT .../finalize (which
//    deletes the namespace) and deletes it.
// Failures are retried with a capped backoff; the namespace stays Terminating meanwhile.
// Every request runs through fakekube's whole handler chain as
// system:serviceaccount:kube-system:namespace-controller, so aggregated APIs see it as kube's
// controller (front-proxy headers) and answer through the aggregator.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kube/api_resource.h"
#include "kube/http.h"

namespace fakekube {

class Store;

// One group/version the controller must cover (its group's preferred version).
struct NamespacedDiscoveryTarget {
  std::string group;
  std::string version;
  // Served by an aggregated APIService: resources come from GET /apis/<group>/<version>.
  bool remote = false;
  std::vector<kube::APIResource> resources;  // local group/versions: the served resources
};

class NamespaceController {
 public:
  struct Response {
    int status = 0;
    std::string content_type;
    std::string body;
  };
  // Runs one request through the handler chain as the namespace controller.
  using SendFn = std::function<boost::asio::awaitable<Response>(
      std::string method, std::string target, std::string body, std::string accept)>;
  using TargetsFn = std::function<std::vector<NamespacedDiscoveryTarget>()>;

  struct Options {
    // Retries after an error (kube's workqueue: 5 ms doubling up to 1000 s).
    std::chrono::milliseconds retry_initial{100};
    std::chrono::milliseconds retry_max{std::chrono::seconds(2)};
    // When content with finalizers remains (kube: estimate / 2 + 1 s, i.e. 8 s).
    std::chrono::milliseconds content_remaining_requeue{std::chrono::seconds(1)};
    std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  };

  // The store must outlive the controller; `send` and `targets` are called on `executor`.
  NamespaceController(Store& store, boost::asio::any_io_executor executor, SendFn send,
                      TargetsFn targets, Options options);
  ~NamespaceController();  // Stop()
  NamespaceController(const NamespaceController&) = delete;
  NamespaceController& operator=(const NamespaceController&) = delete;

  // Subscribes to namespace changes, queues every namespace already terminating, starts the loop.
  void Start();
  void Stop();  // blocking (up to a few seconds for a request in flight); idempotent

  // Counts, for tests: namespace syncs run and namespaces finished (finalized and deleted).
  uint64_t syncs() const;
  uint64_t finished() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace fakekube

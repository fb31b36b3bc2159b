// The aggregator role of fakekube (k8s.io/kube-aggregator): APIServices with a `service` are
// routed to the Service's endpoint over TLS (ServerName <svc>.<ns>.svc, trusting the caBundle)
// with the front-proxy client certificate and X-Remote-User/Group/Extra-* headers, Authorization
// removed and Audit-ID forwarded; responses (watches too) are streamed through. A periodic
// availability check (GET /apis/<g>/<v> as system:kube-aggregator, group system:masters) keeps
// each APIService's Available condition and caches its discovery and OpenAPI documents, which
// the server merges into its own.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kube/api_resource.h"
#include "kube/http.h"
#include "kube/request_info.h"
#include "kube/tls.h"
#include "tests/fakekube/auth.h"

namespace fakekube {

class Store;

// What the aggregator knows about one APIService that has a service.
struct AggregatedAPI {
  std::string name;  // "<version>.<group>"
  std::string group;
  std::string version;
  bool available = false;
  std::vector<kube::APIResource> resources;  // from the last successful discovery check
  std::string openapi_v2;                    // the backend's /openapi/v2 ("" when unknown)
  std::string openapi_v3;                    // the backend's document for this group/version
};

class Aggregator {
 public:
  struct Options {
    std::chrono::milliseconds interval = std::chrono::seconds(2);
    std::chrono::milliseconds timeout = std::chrono::seconds(5);
    kube::tls::KeyPair front_proxy_client;
  };

  // `executor` runs the availability loop and owns the backend connections. The store must
  // outlive the aggregator.
  Aggregator(Store& store, boost::asio::any_io_executor executor, Options options);
  ~Aggregator();

  void Start();
  void Stop();  // blocking; ends the loop

  // For every request after authentication and authorization: when the path is
  // /apis/<g>/<v>[/...] of an APIService with a service, proxies it (or answers 503 when the
  // APIService is unavailable) and returns true. Returns false for everything else.
  boost::asio::awaitable<bool> MaybeProxy(kube::http::Request& req, kube::http::ResponseWriter& w,
                                          const UserInfo& user);

  // Whether /apis/<g>/<v> belongs to an APIService with a service.
  bool Routes(std::string_view group, std::string_view version) const;
  std::vector<AggregatedAPI> APIs() const;  // snapshot
  uint64_t generation() const;              // bumped when APIs() changes

  // Runs one availability check of every APIService now; blocks until done.
  void CheckNow();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace fakekube

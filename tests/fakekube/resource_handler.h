// The resource verbs of fakekube (k8s.io/apiserver pkg/endpoints/handlers: get, list, watch,
// create, update, patch, delete, deletecollection) over the Store, for every resource the
// Registry serves. fksurface's router calls ServeResource after authentication and
// authorization for every resource request (RequestInfo.is_resource_request).
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kube/http.h"
#include "kube/request_info.h"

namespace fakekube {

class Store;
class Registry;
struct ServedResource;

class ResourceHandler {
 public:
  struct Options {
    // Interval of BOOKMARK events on watches with allowWatchBookmarks=true (kube: ~1 minute).
    std::chrono::milliseconds bookmark_interval{std::chrono::seconds(60)};
    // Watch duration when the client gives no timeoutSeconds (kube: 30-60 min, random).
    std::chrono::seconds default_watch_timeout{1800};
    size_t max_body_bytes = 3 * 1024 * 1024;  // 413 beyond (the HTTP server enforces it too)
    // Returns true for `requests` the caller handles itself before storage (fksurface's
    // TokenReview / SubjectAccessReview); unused by ServeResource, kept for wiring symmetry.
  };

  // Store and registry must outlive the handler.
  ResourceHandler(Store& store, Registry& registry);
  ResourceHandler(Store& store, Registry& registry, Options options);
  ~ResourceHandler();

  // Serves one resource request. `info` is the parsed request (verb, group, version, namespace,
  // resource, subresource, name). Writes exactly one response (or a watch stream) to `w`.
  // Answers 404 for resources the registry does not serve, 405 for unsupported verbs.
  boost::asio::awaitable<void> ServeResource(kube::http::Request& req,
                                             kube::http::ResponseWriter& w,
                                             const kube::RequestInfo& info);

  // Number of watch streams currently open (for tests and metrics).
  int open_watches() const;

 private:
  boost::asio::awaitable<void> Dispatch(kube::http::Request& req, kube::http::ResponseWriter& w,
                                        const ServedResource& r, const kube::RequestInfo& info);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace fakekube

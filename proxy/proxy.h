// The translating reverse proxy: serves one resource request (after authn/authz) for a claim or
// namespaced-XR API by forwarding it into the control plane's claim namespace and translating
// the answer back, streaming lists and watches item by item.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "kube/api_resource.h"
#include "kube/http.h"
#include "kube/request_info.h"
#include "naming/naming.h"

namespace kube {
class RestClient;  // kube/rest_client.h
}  // namespace kube

namespace proxy {

namespace asio = boost::asio;

// Which control-plane name prefix a served resource uses: claims ("claim-") or namespaced XRs
// ("nxr-"). Decided by the caller from the served API set.
using Kind = naming::Kind;  // Kind::kClaim, Kind::kNamespacedXR

struct Config {
  std::string cluster_id;       // this app cluster's ID (origin label value)
  std::string claim_namespace;  // the control-plane namespace everything goes to
  // Client to the control plane; it authenticates with the connector's own credentials.
  std::shared_ptr<kube::RestClient> control_plane;
  // Deadline for a non-watch request (whole response for get/create/...; headers for lists).
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  // Deadline for a watch's start: the upstream connection and the response head. A watch is
  // long-running (kube-apiserver puts no deadline on it at all), and after a control-plane
  // outage every watch re-establishes at once, each needing a new connection; that herd must
  // not be cut at the short request deadline. The stream itself never times out.
  std::chrono::milliseconds watch_start_timeout{std::chrono::seconds(60)};
  // Attempts to resolve metadata.generateName before giving up (409 AlreadyExists retries).
  int generate_name_attempts = 5;
};

class Proxy {
 public:
  explicit Proxy(Config config);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Serves one resource request: `info` is the parsed request (verb, namespace, name,
  // subresource), `resource` the served API it addresses. Always writes a complete response
  // (a Status on every error); returns when the response (or the watch stream) has ended.
  asio::awaitable<void> Serve(kube::http::Request& req, kube::http::ResponseWriter& w,
                              const kube::RequestInfo& info, const kube::APIResource& resource,
                              Kind kind);

  const Config& config() const { return config_; }

 private:
  Config config_;
};

}  // namespace proxy

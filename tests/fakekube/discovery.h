// fakekube's discovery endpoints (k8s.io/apiserver pkg/endpoints/discovery and aggregated
// discovery): /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>, in the legacy form or as
// apidiscovery.k8s.io/v2 (and v2beta1) APIGroupDiscoveryList with ETag/If-None-Match (304),
// rendered by the shared kube/discovery_docs.h from the resources the server serves.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <string_view>
#include <vector>

#include "kube/api_resource.h"
#include "kube/http.h"
#include "kube/status.h"

namespace fakekube {

// kube-apiserver's 404 for a path nothing serves: NotFound "the server could not find the
// requested resource".
kube::Status NotFoundPathStatus();

// Sends `st` as a JSON Status body with its code.
boost::asio::awaitable<void> SendStatus(kube::http::ResponseWriter& w, const kube::Status& st);

// True when `path` is one of the discovery paths above.
bool IsDiscoveryPath(std::string_view path);

// Serves a discovery GET from `resources` (404 Status for unknown groups/versions). Returns
// false, writing nothing, when `req.path` is not a discovery path.
boost::asio::awaitable<bool> ServeDiscovery(kube::http::Request& req, kube::http::ResponseWriter& w,
                                            const std::vector<kube::APIResource>& resources,
                                            std::string server_address);

}  // namespace fakekube

// fakekube's OpenAPI endpoints: /openapi/v2 (JSON, with ETag) and /openapi/v3 (index and
// per group/version documents with the ?hash= cache busting of kube-apiserver: a stale hash is
// redirected, a matching one is served immutable). Local resources are rendered by the shared
// kube/openapi_docs.h; aggregated APIs contribute the documents fetched from their backends.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "kube/api_resource.h"
#include "kube/http.h"
#include "tests/fakekube/aggregator.h"

namespace fakekube {

bool IsOpenAPIPath(std::string_view path);

// Serves an OpenAPI GET; false (nothing written) when the path is not an OpenAPI path.
boost::asio::awaitable<bool> ServeOpenAPI(kube::http::Request& req, kube::http::ResponseWriter& w,
                                          const std::vector<kube::APIResource>& local,
                                          const std::vector<AggregatedAPI>& aggregated,
                                          std::string kube_version);

// Merges the definitions and paths of `other` (a swagger 2.0 document) into `base`; entries
// already in `base` win. Returns `base` unchanged when `other` does not parse.
std::string MergeOpenAPIV2(const std::string& base, const std::string& other);

}  // namespace fakekube

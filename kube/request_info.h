// RequestInfo: what a request path means to Kubernetes, parsed exactly like
// k8s.io/apiserver/pkg/endpoints/request/requestinfo.go (RequestInfoFactory.NewRequestInfo).
//
//   /apis/{group}/{version}/namespaces/{ns}/{resource}/{name}/{subresource}
//   /api/{version}/{resource}[/{name}]            (the core group: no group segment)
//   /apis/{group}/{version}/watch/[namespaces/{ns}/]{resource}   (verb "watch")
//   anything else (/apis, /apis/{g}/{v}, /healthz, ...) is a non-resource request whose verb is
//   the lower-case HTTP method.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kube/http.h"
#include "kube/result.h"

namespace kube {

struct RequestInfo {
  // Whether the request is for an API resource or subresource.
  bool is_resource_request = false;
  // The (percent-decoded) URL path.
  std::string path;
  // get, list, watch, create, update, patch, delete, deletecollection, proxy for resource
  // requests; the lower-case HTTP method for non-resource requests; "" for an unknown method.
  std::string verb;
  std::string api_prefix;  // "api" or "apis"
  std::string api_group;   // "" for the core group
  std::string api_version;
  std::string namespace_;   // "" for cluster-scoped and all-namespaces requests
  std::string resource;     // plural: "kubernetesclusters"
  std::string subresource;  // "status", "scale", ...
  // From the path; for list/watch also from a valid `fieldSelector=metadata.name=<name>`.
  std::string name;
  // Path parts, always starting with {resource}/{name}.
  std::vector<std::string> parts;
};

class RequestInfoFactory {
 public:
  // APIPrefixes {api, apis}, GrouplessAPIPrefixes {api}: what kube-apiserver uses.
  RequestInfoFactory();
  RequestInfoFactory(std::set<std::string, std::less<>> api_prefixes,
                     std::set<std::string, std::less<>> groupless_api_prefixes);

  // `path` is percent-decoded, without the query. Fails (500 InternalError, as kube-apiserver's
  // WithRequestInfo filter answers) only for a special verb without a resource, e.g.
  // "/api/v1/watch": "unable to determine kind and namespace from url, /api/v1/watch".
  Result<RequestInfo> NewRequestInfo(std::string_view method, std::string_view path,
                                     const http::Query& query) const;
  Result<RequestInfo> NewRequestInfo(const http::Request& req) const {
    return NewRequestInfo(req.method, req.path, req.query);
  }

 private:
  std::set<std::string, std::less<>> api_prefixes_;
  std::set<std::string, std::less<>> groupless_api_prefixes_;
};

}  // namespace kube

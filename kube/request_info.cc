// Mirrors k8s.io/apiserver/pkg/endpoints/request/requestinfo.go (the version that also takes the
// name of a list/watch from `fieldSelector=metadata.name=<name>`).
#include "kube/request_info.h"

#include <algorithm>
#include <cctype>

#include "kube/selectors.h"

namespace kube {
namespace {

// REST paths for special actions; "proxy" takes no subresource.
bool IsSpecialVerb(std::string_view s) { return s == "proxy" || s == "watch"; }
bool IsSpecialVerbNoSubresources(std::string_view s) { return s == "proxy"; }
// Subresources of a namespace, so /namespaces/{ns}/status is not a resource named "status".
bool IsNamespaceSubresource(std::string_view s) { return s == "status" || s == "finalize"; }

// Views into `path` (one allocation: the vector, sized up front).
std::vector<std::string_view> SplitPath(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::vector<std::string_view> parts;
  if (path.empty()) return parts;
  parts.reserve(static_cast<size_t>(std::count(path.begin(), path.end(), '/')) + 1);
  while (true) {
    size_t slash = path.find('/');
    parts.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// path.IsValidPathSegmentName: not "." or "..", no '/' or '%'.
bool IsValidPathSegmentName(std::string_view name) {
  if (name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('%') == std::string_view::npos;
}

// "watch" per Convert_Slice_string_To_bool: any first value but "false"/"0" is true.
bool WatchRequested(const http::Query& query) {
  auto all = query.GetAll("watch");
  if (all.empty()) return false;
  std::string v = Lower(all.front());
  return v != "false" && v != "0";
}

}  // namespace

RequestInfoFactory::RequestInfoFactory() : RequestInfoFactory({"api", "apis"}, {"api"}) {}

RequestInfoFactory::RequestInfoFactory(std::set<std::string, std::less<>> api_prefixes,
                                       std::set<std::string, std::less<>> groupless_api_prefixes)
    : api_prefixes_(std::move(api_prefixes)),
      groupless_api_prefixes_(std::move(groupless_api_prefixes)) {}

Result<RequestInfo> RequestInfoFactory::NewRequestInfo(std::string_view method,
                                                       std::string_view path,
                                                       const http::Query& query) const {
  // A non-resource request until proven otherwise.
  RequestInfo info;
  info.path = std::string(path);
  info.verb = Lower(method);

  const std::vector<std::string_view> parts = SplitPath(path);
  if (parts.size() < 3) return info;
  if (!api_prefixes_.contains(parts[0])) return info;
  info.api_prefix = parts[0];
  size_t pos = 1;

  if (!groupless_api_prefixes_.contains(info.api_prefix)) {
    // The prefix is consumed, so this asks for four parts in all.
    if (parts.size() - pos < 3) return info;
    info.api_group = parts[pos++];
  }

  info.is_resource_request = true;
  info.api_version = parts[pos++];

  if (pos < parts.size() && IsSpecialVerb(parts[pos])) {
    // /{specialVerb}/*
    if (parts.size() - pos < 2) {
      std::string url(path);
      if (!query.items().empty()) url += "?" + query.Encode();
      return NewInternalError("unable to determine kind and namespace from url, " + url);
    }
    info.verb = parts[pos++];
  } else if (method == "POST") {
    info.verb = "create";
  } else if (method == "GET" || method == "HEAD") {
    info.verb = "get";
  } else if (method == "PUT") {
    info.verb = "update";
  } else if (method == "PATCH") {
    info.verb = "patch";
  } else if (method == "DELETE") {
    info.verb = "delete";
  } else {
    info.verb = "";
  }

  // /namespaces/{namespace}/{resource}/*: parts become relative to the resource.
  if (pos < parts.size() && parts[pos] == "namespaces") {
    size_t rest = parts.size() - pos;
    if (rest == 2 && info.verb == "patch") {
      // Server-side apply creating a namespace: PATCH /api/v1/namespaces/{name}.
      info.namespace_.clear();
    } else if (rest > 1) {
      info.namespace_ = parts[pos + 1];
      if (rest > 2 && !IsNamespaceSubresource(parts[pos + 2])) pos += 2;
    }
  }

  info.parts.reserve(parts.size() - pos);
  for (size_t i = pos; i < parts.size(); ++i) info.parts.emplace_back(parts[i]);

  // parts: resource/name/subresource/other/stuff/we/don't/interpret
  const auto& p = info.parts;
  if (p.size() >= 3 && !IsSpecialVerbNoSubresources(info.verb)) info.subresource = p[2];
  if (p.size() >= 2) info.name = p[1];
  if (p.size() >= 1) info.resource = p[0];

  // No name and a GET: list or watch, possibly of one object named by a field selector.
  if (info.name.empty() && info.verb == "get") {
    bool watch = WatchRequested(query);
    std::optional<FieldSelector> fields;
    bool parse_ok = true;
    if (auto fs = query.GetAll("fieldSelector"); !fs.empty()) {
      auto parsed = FieldSelector::Parse(fs.front());
      if (auto* sel = std::get_if<FieldSelector>(&parsed)) {
        fields = std::move(*sel);
      } else {
        parse_ok = false;
      }
    }
    if (auto ls = query.GetAll("labelSelector"); !ls.empty()) {
      if (std::holds_alternative<std::string>(LabelSelector::Parse(ls.front()))) parse_ok = false;
    }
    info.verb = watch ? "watch" : "list";
    // An unparsable request defaults to list/watch without a name (as kube-apiserver).
    if (parse_ok && fields) {
      if (auto name = fields->RequiresExactMatch("metadata.name");
          name && IsValidPathSegmentName(*name)) {
        info.name = *name;
      }
    }
  }
  // No name and a DELETE: deletecollection.
  if (info.name.empty() && info.verb == "delete") info.verb = "deletecollection";
  return info;
}

}  // namespace kube

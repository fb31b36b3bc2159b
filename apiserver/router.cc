#include "apiserver/router.h"

#include <glog/logging.h>

#include <map>

#include "kube/discovery_docs.h"
#include "kube/openapi_docs.h"
#include "proxy/proxy.h"

namespace apiserver {
namespace {

using kube::http::Headers;
namespace kdisc = kube::discovery;

constexpr std::string_view kJson = "application/json";

asio::awaitable<void> SendBody(RequestContext& ctx, int code, std::string_view content_type,
                               std::string_view body, Headers extra = {}) {
  Headers h = std::move(extra);
  h.Set("Content-Type", std::string(content_type));
  h.Set("X-Content-Type-Options", "nosniff");
  co_await ctx.w.Send(code, std::move(h), body);
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// If-None-Match holds the ETag (or "*").
bool NotModified(const kube::http::Request& req, std::string_view etag) {
  for (auto v : req.headers.GetAll("If-None-Match")) {
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      std::string_view item = v.substr(pos, comma == std::string_view::npos ? v.npos : comma - pos);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (item.starts_with("W/")) item.remove_prefix(2);
      if (item == etag || item == "*") return true;
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  return false;
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (path.empty()) break;
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

kube::Status MethodNotAllowed() {
  kube::Status s;
  s.code = 405;
  s.reason = "MethodNotAllowed";
  s.message = "the server does not allow this method on the requested resource";
  s.details_token = "method_not_allowed";
  return s;
}

std::string VersionJson() {
  std::string v = MCP_CONNECTOR_VERSION;
  std::string major = v.substr(0, v.find('.'));
  std::string rest = v.find('.') == std::string::npos ? "" : v.substr(v.find('.') + 1);
  std::string minor = rest.substr(0, rest.find('.'));
  return "{\n  \"major\": \"" + major + "\",\n  \"minor\": \"" + minor +
         "\",\n  \"gitVersion\": \"v" + v +
         "\",\n  \"gitCommit\": \"\",\n  \"gitTreeState\": \"\",\n  \"buildDate\": \"\",\n"
         "  \"goVersion\": \"\",\n  \"compiler\": \"gcc\",\n  \"platform\": \"linux/amd64\"\n}";
}

}  // namespace

kube::Status NotFoundStatus() {
  kube::Status s;
  s.code = 404;
  s.reason = "NotFound";
  s.message = "the server could not find the requested resource";
  s.details_token = "route_not_found";
  return s;
}

std::vector<discovery::ReadinessCheck> LivenessChecks() { return {{"ping", true, ""}}; }

// Every document rendered once per served API set (keyed by the snapshot's ETag).
struct Router::Docs {
  std::string snapshot_etag;
  std::vector<kube::APIResource> resources;
  std::string group_list;
  std::string aggregated_v2, aggregated_v2_etag;
  std::string aggregated_v2beta1, aggregated_v2beta1_etag;
  std::map<std::string, std::string, std::less<>> groups;          // group -> APIGroup
  std::map<std::string, std::string, std::less<>> resource_lists;  // "g/v" -> APIResourceList
  std::string openapi_v2, openapi_v2_etag;
  std::string openapi_v3_index, openapi_v3_index_etag;
  // "apis/g/v" -> (document, hash)
  std::map<std::string, std::pair<std::string, std::string>, std::less<>> openapi_v3;
};

Router::Router(RouterOptions options) : options_(std::move(options)) {
  if (!options_.metrics) options_.metrics = std::make_shared<Metrics>();
}

std::shared_ptr<const Router::Docs> Router::DocsFor(const discovery::DiscoverySnapshot& snap) {
  std::lock_guard lock(docs_mu_);
  if (docs_ && docs_->snapshot_etag == snap.etag()) return docs_;
  auto d = std::make_shared<Docs>();
  d->snapshot_etag = snap.etag();
  for (const discovery::ServedResource* r : snap.AllResources()) d->resources.push_back(r->api);
  d->group_list = kdisc::RenderAPIGroupList(d->resources);
  d->aggregated_v2 = kdisc::RenderAggregated(d->resources, false, kdisc::Format::kAggregatedV2);
  d->aggregated_v2_etag = Quoted(kdisc::Hash(d->aggregated_v2));
  d->aggregated_v2beta1 =
      kdisc::RenderAggregated(d->resources, false, kdisc::Format::kAggregatedV2Beta1);
  d->aggregated_v2beta1_etag = Quoted(kdisc::Hash(d->aggregated_v2beta1));
  std::vector<std::pair<std::string, std::string>> index;
  for (const auto& g : snap.groups()) {
    d->groups[g.name] = kdisc::RenderAPIGroup(g.name, d->resources);
    for (const auto& gv : g.versions) {
      d->resource_lists[g.name + "/" + gv.version] =
          kdisc::RenderAPIResourceList(g.name, gv.version, d->resources);
      std::string key = kube::openapi::V3PathKey(g.name, gv.version);
      std::string doc = kube::openapi::RenderV3(g.name, gv.version, d->resources);
      std::string hash = kdisc::Hash(doc);
      index.emplace_back(key, hash);
      d->openapi_v3[key] = {std::move(doc), std::move(hash)};
    }
  }
  d->openapi_v3_index = kube::openapi::RenderV3Index(index);
  d->openapi_v3_index_etag = Quoted(kdisc::Hash(d->openapi_v3_index));
  d->openapi_v2 = kube::openapi::RenderV2(d->resources);
  d->openapi_v2_etag = Quoted(kdisc::Hash(d->openapi_v2));
  docs_ = d;
  VLOG(1) << "rendered discovery and OpenAPI documents for " << d->resources.size()
          << " resources (snapshot " << snap.etag() << ")";
  return docs_;
}

std::vector<discovery::ReadinessCheck> Router::ReadinessChecks() const {
  std::vector<discovery::ReadinessCheck> checks = LivenessChecks();
  bool down = shutting_down_.load();
  checks.push_back({"shutdown", !down, down ? "the server is shutting down" : ""});
  auto snap = options_.snapshot ? options_.snapshot() : nullptr;
  if (snap) {
    for (auto& c : snap->readiness().Checks()) checks.push_back(std::move(c));
  } else {
    checks.push_back({"discovery-loaded", false, "no API snapshot published"});
  }
  if (options_.extra_ready_checks) {
    for (auto& c : options_.extra_ready_checks()) checks.push_back(std::move(c));
  }
  return checks;
}

asio::awaitable<void> Router::Serve(RequestContext& ctx) {
  const std::string& path = ctx.req.path;
  if (ctx.info.is_resource_request) {
    co_await ServeResource(ctx);
    co_return;
  }
  bool get = ctx.req.method == "GET" || ctx.req.method == "HEAD";
  auto parts = SplitPath(path);
  std::string_view first = parts.empty() ? std::string_view() : parts[0];
  if (first == "healthz" || first == "livez" || first == "readyz") {
    if (!get) {
      co_await WriteStatus(ctx, MethodNotAllowed());
      co_return;
    }
    // g++ 12 mishandles temporaries inside co_await expressions: build arguments first.
    std::vector<discovery::ReadinessCheck> checks;
    if (first == "readyz") {
      checks = ReadinessChecks();
    } else {
      checks = LivenessChecks();
    }
    std::string endpoint(first);
    co_await ServeHealth(ctx, endpoint, std::move(checks));
    co_return;
  }
  if (path == "/version" || path == "/version/") {
    if (!get) {
      co_await WriteStatus(ctx, MethodNotAllowed());
      co_return;
    }
    std::string body = VersionJson();
    co_await SendBody(ctx, 200, kJson, body);
    co_return;
  }
  if (path == "/metrics") {
    if (!get) {
      co_await WriteStatus(ctx, MethodNotAllowed());
      co_return;
    }
    std::string body = options_.metrics->Render();
    co_await SendBody(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", body);
    co_return;
  }
  if (first == "apis" && parts.size() <= 3) {
    if (!get) {
      co_await WriteStatus(ctx, MethodNotAllowed());
      co_return;
    }
    co_await ServeDiscovery(ctx);
    co_return;
  }
  if (first == "openapi") {
    if (!get) {
      co_await WriteStatus(ctx, MethodNotAllowed());
      co_return;
    }
    co_await ServeOpenAPI(ctx);
    co_return;
  }
  if (path == "/" && get) {
    co_await SendBody(ctx, 200, kJson,
                      "{\n  \"paths\": [\n    \"/apis\",\n    \"/healthz\",\n    \"/livez\",\n"
                      "    \"/metrics\",\n    \"/openapi/v2\",\n    \"/openapi/v3\",\n"
                      "    \"/readyz\",\n    \"/version\"\n  ]\n}");
    co_return;
  }
  co_await WriteStatus(ctx, NotFoundStatus());
}

// /healthz, /livez, /readyz like k8s.io/apiserver/pkg/server/healthz: "ok", or with ?verbose (or
// on failure) one "[+]name ok" / "[-]name failed: reason" line per check; /readyz/<check> serves
// one check; ?exclude=<check> skips checks.
asio::awaitable<void> Router::ServeHealth(RequestContext& ctx, std::string_view endpoint,
                                          std::vector<discovery::ReadinessCheck> checks) {
  auto parts = SplitPath(ctx.req.path);
  if (parts.size() > 2) {
    co_await WriteStatus(ctx, NotFoundStatus());
    co_return;
  }
  if (parts.size() == 2) {
    std::string_view want = parts[1];
    const discovery::ReadinessCheck* found = nullptr;
    for (const auto& c : checks) {
      if (c.name == want) found = &c;
    }
    if (found == nullptr) {
      co_await WriteStatus(ctx, NotFoundStatus());
      co_return;
    }
    if (found->ok) {
      co_await SendBody(ctx, 200, "text/plain; charset=utf-8", "ok");
    } else {
      std::string body = "internal server error: " + found->message + "\n";
      co_await SendBody(ctx, 500, "text/plain; charset=utf-8", body);
    }
    co_return;
  }
  auto excluded = ctx.req.query.GetAll("exclude");
  bool verbose = ctx.req.query.Get("verbose").has_value();
  bool ok = true;
  std::string body;
  for (const auto& c : checks) {
    bool skip = false;
    for (auto e : excluded) skip = skip || e == c.name;
    if (skip) {
      body += "[+]" + c.name + " excluded: ok\n";
      continue;
    }
    if (c.ok) {
      body += "[+]" + c.name + " ok";
      if (!c.message.empty()) body += ": " + c.message;
      body += "\n";
    } else {
      ok = false;
      body +=
          "[-]" + c.name + " failed: " + (c.message.empty() ? "reason withheld" : c.message) + "\n";
    }
  }
  std::string name(endpoint);
  if (ok && !verbose) {
    co_await SendBody(ctx, 200, "text/plain; charset=utf-8", "ok");
    co_return;
  }
  body += name + (ok ? " check passed\n" : " check failed\n");
  if (!ok) ctx.details = name + "_failed";
  int code = ok ? 200 : 500;
  co_await SendBody(ctx, code, "text/plain; charset=utf-8", body);
}

asio::awaitable<void> Router::ServeDiscovery(RequestContext& ctx) {
  auto snap = options_.snapshot ? options_.snapshot() : nullptr;
  if (!snap) snap = discovery::DiscoverySnapshot::Empty();
  auto docs = DocsFor(*snap);
  auto parts = SplitPath(ctx.req.path);
  if (parts.size() == 1) {
    auto accept = ctx.req.headers.Get("Accept");
    kdisc::Format format = kdisc::NegotiateFormat(accept ? *accept : std::string_view());
    Headers h;
    h.Set("Vary", "Accept");
    if (format == kdisc::Format::kLegacy) {
      co_await SendBody(ctx, 200, kJson, docs->group_list, std::move(h));
      co_return;
    }
    bool v2 = format == kdisc::Format::kAggregatedV2;
    const std::string& etag = v2 ? docs->aggregated_v2_etag : docs->aggregated_v2beta1_etag;
    h.Set("ETag", etag);
    if (NotModified(ctx.req, etag)) {
      ctx.details = "not_modified";
      co_await ctx.w.Send(304, std::move(h), "");
      co_return;
    }
    co_await SendBody(ctx, 200, kdisc::ContentType(format),
                      v2 ? docs->aggregated_v2 : docs->aggregated_v2beta1, std::move(h));
    co_return;
  }
  if (parts.size() == 2) {
    auto it = docs->groups.find(parts[1]);
    if (it == docs->groups.end() || it->second.empty()) {
      co_await WriteStatus(ctx, NotFoundStatus());
      co_return;
    }
    co_await SendBody(ctx, 200, kJson, it->second);
    co_return;
  }
  std::string key = std::string(parts[1]) + "/" + std::string(parts[2]);
  auto it = docs->resource_lists.find(key);
  if (it == docs->resource_lists.end()) {
    co_await WriteStatus(ctx, NotFoundStatus());
    co_return;
  }
  co_await SendBody(ctx, 200, kJson, it->second);
}

asio::awaitable<void> Router::ServeOpenAPI(RequestContext& ctx) {
  auto snap = options_.snapshot ? options_.snapshot() : nullptr;
  if (!snap) snap = discovery::DiscoverySnapshot::Empty();
  auto docs = DocsFor(*snap);
  auto parts = SplitPath(ctx.req.path);
  auto serve = [&](const std::string& body, const std::string& etag,
                   Headers h) -> asio::awaitable<void> {
    h.Set("ETag", etag);
    if (NotModified(ctx.req, etag)) {
      ctx.details = "not_modified";
      co_await ctx.w.Send(304, std::move(h), "");
      co_return;
    }
    co_await SendBody(ctx, 200, kJson, body, std::move(h));
  };
  if (parts.size() == 2 && parts[1] == "v2") {
    co_await serve(docs->openapi_v2, docs->openapi_v2_etag, {});
    co_return;
  }
  if (parts.size() == 2 && parts[1] == "v3") {
    co_await serve(docs->openapi_v3_index, docs->openapi_v3_index_etag, {});
    co_return;
  }
  if (parts.size() >= 3 && parts[1] == "v3") {
    std::string key;
    for (size_t i = 2; i < parts.size(); ++i) {
      if (!key.empty()) key += "/";
      key += parts[i];
    }
    auto it = docs->openapi_v3.find(key);
    if (it == docs->openapi_v3.end()) {
      co_await WriteStatus(ctx, NotFoundStatus());
      co_return;
    }
    const auto& [doc, hash] = it->second;
    Headers h;
    auto want = ctx.req.query.Get("hash");
    if (want && *want != hash) {
      // kube-openapi redirects a stale hash to the current document.
      h.Set("Location", "/openapi/v3/" + key + "?hash=" + hash);
      ctx.details = "openapi_hash_redirect";
      co_await ctx.w.Send(301, std::move(h), "");
      co_return;
    }
    if (want) {
      h.Set("Cache-Control", "public, immutable");
      h.Set("Expires", "Thu, 31 Dec 2099 23:59:59 GMT");
    }
    co_await serve(doc, Quoted(hash), std::move(h));
    co_return;
  }
  co_await WriteStatus(ctx, NotFoundStatus());
}

asio::awaitable<void> Router::ServeResource(RequestContext& ctx) {
  const kube::RequestInfo& info = ctx.info;
  auto snap = options_.snapshot ? options_.snapshot() : nullptr;
  const discovery::ServedResource* served =
      (snap && info.api_prefix == "apis")
          ? snap->Lookup(info.api_group, info.api_version, info.resource)
          : nullptr;
  if (served == nullptr) {
    co_await WriteStatus(ctx, NotFoundStatus());
    co_return;
  }
  const kube::APIResource& api = served->api;
  bool ok = true;
  if (!info.subresource.empty()) {
    ok = (info.subresource == "status" && api.has_status) ||
         (info.subresource == "scale" && api.has_scale);
  }
  // A namespaced resource is reachable without a namespace only to list and watch it.
  if (api.namespaced && info.namespace_.empty() && info.verb != "list" && info.verb != "watch") {
    ok = false;
  }
  if (!api.namespaced && !info.namespace_.empty()) ok = false;
  if (!ok) {
    co_await WriteStatus(ctx, NotFoundStatus());
    co_return;
  }
  if (info.verb.empty() || info.verb == "proxy") {
    co_await WriteStatus(ctx, MethodNotAllowed());
    co_return;
  }
  if (!options_.proxy) {
    kube::Status s = kube::NewServiceUnavailable("the control plane proxy is not configured");
    s.details_token = "no_proxy";
    co_await WriteStatus(ctx, s);
    co_return;
  }
  proxy::Kind kind = served->naming == discovery::NamingKind::kNamespacedXR
                         ? proxy::Kind::kNamespacedXR
                         : proxy::Kind::kClaim;
  ctx.details = "via_upstream";
  co_await options_.proxy->Serve(ctx.req, ctx.w, info, api, kind);
}

}  // namespace apiserver

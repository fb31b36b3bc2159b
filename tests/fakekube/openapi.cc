#include "tests/fakekube/openapi.h"

#include <set>

#include "kube/discovery_docs.h"
#include "kube/json.h"
#include "kube/openapi_docs.h"
#include "tests/fakekube/discovery.h"

namespace fakekube {
namespace {

namespace asio = boost::asio;
namespace oa = kube::openapi;

struct GV {
  std::string group, version;
  bool operator<(const GV& o) const {
    return std::tie(group, version) < std::tie(o.group, o.version);
  }
};

bool AcceptsJson(std::string_view accept) {
  if (accept.empty()) return true;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view e = accept.substr(0, comma);
    while (!e.empty() && e.front() == ' ') e.remove_prefix(1);
    std::string_view media = e.substr(0, e.find(';'));
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    if (media == "application/json" || media == "*/*" || media == "application/*") return true;
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
  }
  return false;
}

asio::awaitable<void> SendDoc(kube::http::Request& req, kube::http::ResponseWriter& w,
                              const std::string& body) {
  std::string etag = "\"" + kube::discovery::Hash(body) + "\"";
  kube::http::Headers h;
  h.Add("ETag", etag);
  h.Add("Vary", "Accept");
  if (req.headers.Get("If-None-Match") == std::optional<std::string_view>(etag)) {
    co_await w.Send(304, std::move(h), "");
    co_return;
  }
  h.Add("Content-Type", "application/json");
  co_await w.Send(200, std::move(h), body);
}

}  // namespace

bool IsOpenAPIPath(std::string_view path) {
  return path == "/openapi/v2" || path == "/openapi/v3" || path.starts_with("/openapi/v3/");
}

std::string MergeOpenAPIV2(const std::string& base, const std::string& other) {
  auto b = kube::json::Parse(base);
  auto o = kube::json::Parse(other);
  if (!b || !o || !b->IsObject() || !o->IsObject()) return base;
  auto& a = b->GetAllocator();
  for (std::string_view section : {"definitions", "paths"}) {
    const kube::json::Value* from = kube::json::Find(*o, section);
    if (from == nullptr || !from->IsObject()) continue;
    kube::json::Value& to = kube::json::EnsureObject(*b, section, a);
    for (const auto& m : from->GetObject()) {
      if (kube::json::Find(to, kube::json::View(m.name)) != nullptr) continue;
      kube::json::Value v;
      v.CopyFrom(m.value, a);
      kube::json::SetMember(to, kube::json::View(m.name), std::move(v), a);
    }
  }
  return kube::json::Serialize(*b);
}

asio::awaitable<bool> ServeOpenAPI(kube::http::Request& req, kube::http::ResponseWriter& w,
                                   const std::vector<kube::APIResource>& local,
                                   const std::vector<AggregatedAPI>& aggregated,
                                   std::string kube_version) {
  if (!IsOpenAPIPath(req.path)) co_return false;
  oa::Info info;
  info.version = kube_version;
  if (!AcceptsJson(req.headers.Get("Accept").value_or(""))) {
    // kube-apiserver also serves protobuf; fakekube serves JSON only.
    co_await SendStatus(
        w, kube::NewNotAcceptable("only the following media types are accepted: application/json"));
    co_return true;
  }
  if (req.path == "/openapi/v2") {
    std::string doc = oa::RenderV2(local, info);
    for (const auto& api : aggregated) {
      if (!api.openapi_v2.empty()) doc = MergeOpenAPIV2(doc, api.openapi_v2);
    }
    co_await SendDoc(req, w, doc);
    co_return true;
  }
  std::set<GV> gvs;
  for (const auto& r : local) gvs.insert({r.group, r.version});
  auto render = [&](const GV& gv) -> std::string {
    for (const auto& api : aggregated) {
      if (api.group == gv.group && api.version == gv.version) return api.openapi_v3;
    }
    return oa::RenderV3(gv.group, gv.version, local, info);
  };
  for (const auto& api : aggregated) {
    if (!api.openapi_v3.empty()) gvs.insert({api.group, api.version});
  }
  if (req.path == "/openapi/v3") {
    std::vector<std::pair<std::string, std::string>> entries;
    for (const auto& gv : gvs) {
      entries.emplace_back(oa::V3PathKey(gv.group, gv.version), kube::discovery::Hash(render(gv)));
    }
    kube::http::Headers h;
    h.Add("Content-Type", "application/json");
    co_await w.Send(200, std::move(h), oa::RenderV3Index(entries));
    co_return true;
  }
  std::string_view key = std::string_view(req.path).substr(std::string_view("/openapi/v3/").size());
  for (const auto& gv : gvs) {
    if (oa::V3PathKey(gv.group, gv.version) != key) continue;
    std::string doc = render(gv);
    std::string hash = kube::discovery::Hash(doc);
    auto provided = req.query.Get("hash");
    kube::http::Headers h;
    if (provided && !provided->empty()) {
      if (*provided != hash) {
        kube::http::Query q = req.query;
        q.Set("hash", hash);
        h.Add("Location", req.path + "?" + q.Encode());
        h.Add("Content-Type", "text/html; charset=utf-8");
        co_await w.Send(301, std::move(h), "");
        co_return true;
      }
      h.Add("Vary", "Accept");
      h.Add("Cache-Control", "public, immutable");
    }
    h.Add("Etag", "\"" + hash + "\"");
    if (req.headers.Get("If-None-Match") == std::optional<std::string_view>(hash)) {
      co_await w.Send(304, std::move(h), "");
      co_return true;
    }
    h.Add("Content-Type", "application/json");
    co_await w.Send(200, std::move(h), doc);
    co_return true;
  }
  co_await SendStatus(w, NotFoundPathStatus());
  co_return true;
}

}  // namespace fakekube

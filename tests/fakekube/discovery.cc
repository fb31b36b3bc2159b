#include "tests/fakekube/discovery.h"

#include "kube/discovery_docs.h"

namespace fakekube {
namespace {

namespace asio = boost::asio;
namespace disc = kube::discovery;

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    if (!seg.empty()) out.push_back(seg);
    if (slash == std::string_view::npos) break;
    path = path.substr(slash + 1);
  }
  return out;
}

bool ServesGroupVersion(const std::vector<kube::APIResource>& resources, std::string_view group,
                        std::string_view version) {
  for (const auto& r : resources) {
    if (r.group == group && r.version == version) return true;
  }
  return false;
}

asio::awaitable<void> SendJson(kube::http::ResponseWriter& w, std::string body,
                               std::string_view content_type = "application/json") {
  kube::http::Headers h;
  h.Add("Content-Type", std::string(content_type));
  co_await w.Send(200, std::move(h), body);
}

}  // namespace

kube::Status NotFoundPathStatus() {
  kube::Status st;
  st.code = 404;
  st.reason = "NotFound";
  st.message = "the server could not find the requested resource";
  st.details_token = "fakekube_no_route";
  return st;
}

asio::awaitable<void> SendStatus(kube::http::ResponseWriter& w, const kube::Status& st) {
  kube::http::Headers h;
  h.Add("Content-Type", "application/json");
  if (st.retry_after_seconds) h.Add("Retry-After", std::to_string(*st.retry_after_seconds));
  co_await w.Send(st.code, std::move(h), st.ToJson());
}

bool IsDiscoveryPath(std::string_view path) {
  auto seg = Segments(path);
  if (seg.empty()) return false;
  if (seg[0] == "api") return seg.size() <= 2;
  if (seg[0] == "apis") return seg.size() <= 3;
  return false;
}

asio::awaitable<bool> ServeDiscovery(kube::http::Request& req, kube::http::ResponseWriter& w,
                                     const std::vector<kube::APIResource>& resources,
                                     std::string server_address) {
  if (!IsDiscoveryPath(req.path)) co_return false;
  auto seg = Segments(req.path);
  if (seg.size() == 1) {
    disc::Format format = disc::NegotiateFormat(req.headers.Get("Accept").value_or(""));
    bool core = seg[0] == "api";
    if (format == disc::Format::kLegacy) {
      // (No conditional expression inside co_await: g++ 12 destroys its temporary twice.)
      std::string legacy;
      if (core) {
        legacy = disc::RenderAPIVersions(server_address);
      } else {
        legacy = disc::RenderAPIGroupList(resources);
      }
      co_await SendJson(w, std::move(legacy));
      co_return true;
    }
    std::string body = disc::RenderAggregated(resources, core, format);
    std::string etag = "\"" + disc::Hash(body) + "\"";
    kube::http::Headers h;
    h.Add("ETag", etag);
    h.Add("Vary", "Accept");
    h.Add("Cache-Control", "public");
    if (req.headers.Get("If-None-Match") == std::optional<std::string_view>(etag)) {
      co_await w.Send(304, std::move(h), "");
      co_return true;
    }
    h.Add("Content-Type", std::string(disc::ContentType(format)));
    co_await w.Send(200, std::move(h), body);
    co_return true;
  }
  std::string group;
  std::string version;
  if (seg[0] == "api") {
    version = std::string(seg[1]);
  } else {
    group = std::string(seg[1]);
    if (seg.size() == 3) version = std::string(seg[2]);
  }
  if (version.empty()) {
    std::string body = disc::RenderAPIGroup(group, resources);
    if (body.empty()) {
      co_await SendStatus(w, NotFoundPathStatus());
    } else {
      co_await SendJson(w, std::move(body));
    }
    co_return true;
  }
  if (!ServesGroupVersion(resources, group, version)) {
    co_await SendStatus(w, NotFoundPathStatus());
    co_return true;
  }
  std::string list = disc::RenderAPIResourceList(group, version, resources);
  co_await SendJson(w, std::move(list));
  co_return true;
}

}  // namespace fakekube

#include "tests/fakekube/server.h"

#include <glog/logging.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "kube/http_server.h"
#include "kube/request_info.h"
#include "tests/fakekube/aggregator.h"
#include "tests/fakekube/discovery.h"
#include "tests/fakekube/openapi.h"
#include "tests/fakekube/patch.h"
#include "tests/fakekube/protobuf.h"
#include "tests/fakekube/registry.h"

namespace fakekube {
namespace {

namespace asio = boost::asio;
namespace http = kube::http;
namespace json = kube::json;
using namespace asio::experimental::awaitable_operators;

constexpr size_t kMaxRecorded = 20000;

kube::Status ErrorFrom(int code, const std::string& body) {
  if (auto st = kube::Status::FromJson(body)) return *st;
  kube::Status s;
  s.code = code == 0 ? 500 : code;
  s.reason = "InternalError";
  s.message = body.empty() ? "request failed" : body;
  return s;
}

// A ResponseWriter that collects the response (in-process requests).
class BufferWriter : public http::ResponseWriter {
 public:
  explicit BufferWriter(asio::any_io_executor ex) : closed_(ex) {
    closed_.expires_at(asio::steady_timer::time_point::max());
  }
  asio::awaitable<bool> WriteHeader(int status, http::Headers headers,
                                    std::optional<uint64_t>) override {
    status_ = status;
    headers_ = std::move(headers);
    header_sent_ = true;
    co_return true;
  }
  asio::awaitable<bool> Write(std::string_view data) override {
    body_.append(data);
    co_return true;
  }
  asio::awaitable<bool> Finish() override { co_return true; }
  asio::awaitable<void> WaitClosed() override {
    auto [ec] = co_await closed_.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
  }
  bool header_sent() const override { return header_sent_; }

  int status_ = 0;
  http::Headers headers_;
  std::string body_;

 private:
  bool header_sent_ = false;
  asio::steady_timer closed_;
};

// Per-request control for fault injection (drop) and DropStreams().
struct StreamControl {
  explicit StreamControl(asio::any_io_executor ex) : timer(ex) {
    timer.expires_at(asio::steady_timer::time_point::max());
  }
  asio::steady_timer timer;  // fires (or is cancelled) when the stream must drop
  bool dropped = false;      // touched on the request's executor only
  std::atomic<bool> drop_requested{false};
};

}  // namespace

struct FakeKube::Impl : std::enable_shared_from_this<Impl> {
  FakeKubeOptions opts;
  std::unique_ptr<Store> store;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<ResourceHandler> resources;
  std::unique_ptr<Authenticator> authn;
  std::unique_ptr<Authorizer> authz;
  kube::RequestInfoFactory factory;
  kube::tls::KeyPair serving_ca, serving, client_ca, admin, front_proxy_ca, front_proxy_client;
  std::string admin_cert_der;
  std::shared_ptr<kube::tls::ServerCredential> credential;
  std::unique_ptr<http::Server> server;
  uint16_t port = 0;
  bool started = false;
  std::atomic<bool> started_flag{false};  // bg thread running: in-process requests possible

  asio::io_context bg;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> bg_work;
  std::thread bg_thread;
  std::unique_ptr<Aggregator> aggregator;
  int autoregister_listener = -1;
  std::unique_ptr<NamespaceController> ns_controller;
  std::string ns_controller_cert_der;  // its client certificate (system:serviceaccount:...)

  mutable std::mutex mu;  // guards below
  std::deque<RecordedRequest> requests;
  uint64_t next_request_id = 0;
  std::vector<std::pair<int, Fault>> faults;
  int next_fault_id = 0;
  std::set<std::shared_ptr<StreamControl>> streams;

  // ---- recording ----
  uint64_t Record(const http::Request& req) {
    RecordedRequest r;
    r.method = req.method;
    r.path = req.path;
    r.raw_query = req.raw_query;
    for (const auto& [k, v] : req.headers) {
      if (http::EqualsIgnoreCase(k, "Authorization")) {
        r.headers.Add(k, "Bearer <redacted>");
      } else {
        r.headers.Add(k, v);
      }
    }
    r.body = req.body;
    r.received_at = std::chrono::steady_clock::now();
    std::lock_guard lock(mu);
    r.id = ++next_request_id;
    requests.push_back(std::move(r));
    if (requests.size() > kMaxRecorded) requests.pop_front();
    return next_request_id;
  }

  template <class F>
  void UpdateRecord(uint64_t id, F&& f) {
    std::lock_guard lock(mu);
    for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
      if (it->id == id) {
        f(*it);
        return;
      }
      if (it->id < id) return;
    }
  }

  std::optional<Fault> TakeFault(const http::Request& req, const kube::RequestInfo* info) {
    std::lock_guard lock(mu);
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      const Fault& f = it->second;
      if (!f.method.empty() && !http::EqualsIgnoreCase(f.method, req.method)) continue;
      if (!f.path_prefix.empty() && !req.path.starts_with(f.path_prefix)) continue;
      if (!f.verb.empty() && (info == nullptr || info->verb != f.verb)) continue;
      Fault out = f;
      if (it->second.times > 0 && --it->second.times == 0) faults.erase(it);
      return out;
    }
    return std::nullopt;
  }

  // ---- the wrapping writer ----
  class Writer : public http::ResponseWriter {
   public:
    Writer(http::ResponseWriter& inner, Impl* impl, uint64_t id, std::shared_ptr<StreamControl> ctl)
        : inner_(inner), impl_(impl), id_(id), ctl_(std::move(ctl)) {}
    asio::awaitable<bool> WriteHeader(int status, http::Headers headers,
                                      std::optional<uint64_t> len) override {
      impl_->UpdateRecord(id_, [&](RecordedRequest& r) { r.status = status; });
      if (Dropped()) co_return false;
      co_return co_await inner_.WriteHeader(status, std::move(headers), len);
    }
    asio::awaitable<bool> Write(std::string_view data) override {
      if (Dropped()) co_return false;
      co_return co_await inner_.Write(data);
    }
    asio::awaitable<bool> Finish() override {
      if (Dropped()) co_return false;
      finished_ = co_await inner_.Finish();
      co_return finished_;
    }
    asio::awaitable<void> WaitClosed() override {
      if (Dropped()) co_return;
      auto r = co_await (inner_.WaitClosed() ||
                         ctl_->timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (r.index() == 1) {
        auto [ec] = std::get<1>(r);
        // Expired (drop_after) or cancelled by DropStreams(): the stream must drop.
        if (!ec || ctl_->drop_requested.load()) ctl_->dropped = true;
      }
    }
    bool header_sent() const override { return inner_.header_sent(); }
    // A response already sent whole is not cut: DropStreams() drops streams in flight, it does
    // not close a keep-alive connection behind a complete response (the client could not tell
    // that from an idle-connection close racing its next request).
    bool Dropped() {
      if (finished_) return false;
      if (ctl_->drop_requested.load()) ctl_->dropped = true;
      if (!ctl_->dropped && ctl_->timer.expiry() <= asio::steady_timer::clock_type::now()) {
        ctl_->dropped = true;
      }
      return ctl_->dropped;
    }

   private:
    http::ResponseWriter& inner_;
    Impl* impl_;
    uint64_t id_;
    std::shared_ptr<StreamControl> ctl_;
    bool finished_ = false;
  };

  // ---- the handler chain ----
  asio::awaitable<void> Handle(http::Request& req, http::ResponseWriter& raw) {
    uint64_t id = Record(req);
    auto ex = co_await asio::this_coro::executor;
    auto ctl = std::make_shared<StreamControl>(ex);
    {
      std::lock_guard lock(mu);
      streams.insert(ctl);
    }
    Writer w(raw, this, id, ctl);
    bool drop = false;
    try {
      co_await HandleInner(req, w, id, *ctl);
      drop = w.Dropped();
    } catch (...) {
      std::lock_guard lock(mu);
      streams.erase(ctl);
      throw;
    }
    {
      std::lock_guard lock(mu);
      streams.erase(ctl);
    }
    UpdateRecord(id, [](RecordedRequest& r) { r.done = true; });
    if (drop) {
      // The HTTP server closes a connection whose handler throws after the header was sent,
      // without the last chunk: the client sees the stream break.
      throw std::runtime_error("fakekube fault injection: connection dropped");
    }
  }

  asio::awaitable<void> HandleInner(http::Request& req, Writer& w, uint64_t id,
                                    StreamControl& ctl) {
    auto info_or = factory.NewRequestInfo(req);
    const kube::RequestInfo* info = info_or.ok() ? &info_or.value() : nullptr;
    if (info) {
      UpdateRecord(id, [&](RecordedRequest& r) {
        r.verb = info->verb;
        r.group = info->api_group;
        r.version = info->api_version;
        r.resource = info->resource;
        r.subresource = info->subresource;
        r.ns = info->namespace_;
        r.name = info->name;
      });
    }
    if (auto fault = TakeFault(req, info)) {
      if (fault->delay.count() > 0) {
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(fault->delay);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      if (fault->status != 0) {
        kube::Status st;
        st.code = fault->status;
        st.reason = fault->status == 503   ? "ServiceUnavailable"
                    : fault->status == 504 ? "Timeout"
                    : fault->status == 429 ? "TooManyRequests"
                                           : "InternalError";
        st.message = "fakekube: injected fault (" + std::to_string(fault->status) + ")";
        co_await SendStatus(w, st);
        co_return;
      }
      if (fault->drop_after) ctl.timer.expires_after(*fault->drop_after);
    }
    if (!info) {
      co_await SendStatus(w, info_or.error());
      co_return;
    }
    auto user_or = authn->Authenticate(req);
    if (!user_or.ok()) {
      co_await SendStatus(w, user_or.error());
      co_return;
    }
    const UserInfo& user = user_or.value();
    UpdateRecord(id, [&](RecordedRequest& r) {
      r.user = user.name;
      r.groups = user.groups;
    });
    Attributes attrs = ToAttributes(user, *info);
    Decision d = authz->Authorize(attrs);
    if (!d.allowed) {
      co_await SendStatus(w, ForbiddenStatus(attrs, d.reason));
      co_return;
    }
    req.headers.Remove("Authorization");
    if (aggregator && co_await aggregator->MaybeProxy(req, w, user)) co_return;
    if (!info->is_resource_request) {
      co_await ServeNonResource(req, w);
      co_return;
    }
    if (info->verb == "create" && info->subresource.empty()) {
      if (info->api_group == "authentication.k8s.io" && info->resource == "tokenreviews") {
        co_await ServeTokenReview(req, w, *info);
        co_return;
      }
      if (info->api_group == "authorization.k8s.io" &&
          (info->resource == "subjectaccessreviews" ||
           info->resource == "selfsubjectaccessreviews" ||
           info->resource == "localsubjectaccessreviews")) {
        co_await ServeAccessReview(req, w, *info, user);
        co_return;
      }
    }
    co_await resources->ServeResource(req, w, *info);
  }

  static Attributes ToAttributes(const UserInfo& user, const kube::RequestInfo& info) {
    Attributes a;
    a.user = user;
    a.verb = info.verb;
    a.resource_request = info.is_resource_request;
    a.group = info.api_group;
    a.version = info.api_version;
    a.resource = info.resource;
    a.subresource = info.subresource;
    a.ns = info.namespace_;
    a.name = info.name;
    a.path = info.path;
    return a;
  }

  std::vector<kube::APIResource> LocalResources() const {
    std::vector<kube::APIResource> out;
    for (const auto& r : registry->All()) {
      if (aggregator && aggregator->Routes(r->api.group, r->api.version)) continue;
      out.push_back(r->api);
    }
    return out;
  }

  std::vector<kube::APIResource> AllResources() const {
    auto out = LocalResources();
    if (aggregator) {
      for (const auto& api : aggregator->APIs()) {
        out.insert(out.end(), api.resources.begin(), api.resources.end());
      }
    }
    return out;
  }

  asio::awaitable<void> ServeNonResource(http::Request& req, http::ResponseWriter& w) {
    const std::string& p = req.path;
    for (std::string_view check : {"/healthz", "/livez", "/readyz"}) {
      if (p == check || p.starts_with(std::string(check) + "/")) {
        http::Headers h;
        h.Add("Content-Type", "text/plain; charset=utf-8");
        h.Add("X-Content-Type-Options", "nosniff");
        std::string body = "ok";
        if (req.query.Get("verbose")) {
          body = "[+]ping ok\n[+]etcd ok\n" + std::string(check.substr(1)) + " check passed\n";
        }
        co_await w.Send(200, std::move(h), body);
        co_return;
      }
    }
    if (p == "/version" || p == "/version/") {
      std::string v = opts.version;
      std::string minor;
      if (size_t dot = v.find('.'); dot != std::string::npos) {
        minor = v.substr(dot + 1, v.find('.', dot + 1) - dot - 1);
      }
      json::Document d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      json::SetString(d, "major", "1", a);
      json::SetString(d, "minor", minor, a);
      json::SetString(d, "gitVersion", v, a);
      json::SetString(d, "gitCommit", "fakekube", a);
      json::SetString(d, "gitTreeState", "clean", a);
      json::SetString(d, "buildDate", "2024-01-01T00:00:00Z", a);
      json::SetString(d, "goVersion", "go1.23.0", a);
      json::SetString(d, "compiler", "gc", a);
      json::SetString(d, "platform", "linux/amd64", a);
      http::Headers h;
      h.Add("Content-Type", "application/json");
      co_await w.Send(200, std::move(h), json::Serialize(d));
      co_return;
    }
    if (req.method == "GET" && IsDiscoveryPath(p)) {
      std::vector<kube::APIResource> all = AllResources();
      std::string address = opts.bind_address + ":" + std::to_string(port);
      co_await ServeDiscovery(req, w, all, address);
      co_return;
    }
    if (req.method == "GET" && IsOpenAPIPath(p)) {
      std::vector<AggregatedAPI> agg;
      if (aggregator) agg = aggregator->APIs();
      std::vector<kube::APIResource> local = LocalResources();
      co_await ServeOpenAPI(req, w, local, agg, opts.version);
      co_return;
    }
    co_await SendStatus(w, NotFoundPathStatus());
  }

  static json::Document ReviewResponse(const json::Value& body, std::string_view kind,
                                       std::string_view api_version) {
    json::Document out(rapidjson::kObjectType);
    auto& a = out.GetAllocator();
    json::SetString(out, "kind", kind, a);
    json::SetString(out, "apiVersion", api_version, a);
    json::Value meta(rapidjson::kObjectType);
    meta.AddMember("creationTimestamp", json::Value(rapidjson::kNullType), a);
    if (const auto* m = json::Find(body, "metadata"); m && m->IsObject()) {
      for (const auto& e : m->GetObject()) {
        if (json::View(e.name) == "creationTimestamp") continue;
        json::Value k(e.name, a);
        json::Value v(e.value, a);
        meta.AddMember(k, v, a);
      }
    }
    out.AddMember("metadata", meta, a);
    json::Value spec(rapidjson::kObjectType);
    if (const auto* s = json::Find(body, "spec"); s && s->IsObject()) spec.CopyFrom(*s, a);
    out.AddMember("spec", spec, a);
    return out;
  }

  static std::optional<json::Document> ParseBody(const http::Request& req) {
    if (http::StartsWithIgnoreCase(req.headers.Get("Content-Type").value_or(""),
                                   "application/vnd.kubernetes.protobuf")) {
      // kubectl's typed clients (e.g. `kubectl auth can-i`) send protobuf.
      auto p = DecodeProtobuf(req.body);
      if (!p.ok() || !p->IsObject()) return std::nullopt;
      return std::move(p.value());
    }
    auto d = json::Parse(req.body);
    if (!d || !d->IsObject()) {
      auto y = YamlToJson(req.body);
      if (!y.ok() || !y->IsObject()) return std::nullopt;
      return std::move(y.value());
    }
    return d;
  }

  asio::awaitable<void> SendCreated(http::ResponseWriter& w, const json::Document& d) {
    http::Headers h;
    h.Add("Content-Type", "application/json");
    co_await w.Send(201, std::move(h), json::Serialize(d));
  }

  asio::awaitable<void> ServeTokenReview(http::Request& req, http::ResponseWriter& w,
                                         const kube::RequestInfo& info) {
    auto body = ParseBody(req);
    if (!body) {
      co_await SendStatus(w, kube::NewBadRequest("the object provided is unrecognized"));
      co_return;
    }
    json::Document out = ReviewResponse(*body, "TokenReview", "authentication.k8s.io/v1");
    auto& a = out.GetAllocator();
    std::string_view token = json::GetString(out["spec"], "token");
    json::Value status(rapidjson::kObjectType);
    json::Value user_v(rapidjson::kObjectType);
    if (auto user = token.empty() ? std::nullopt : authn->AuthenticateToken(token)) {
      status.AddMember("authenticated", true, a);
      json::SetString(user_v, "username", user->name, a);
      if (!user->uid.empty()) json::SetString(user_v, "uid", user->uid, a);
      json::Value groups(rapidjson::kArrayType);
      for (const auto& g : user->groups) groups.PushBack(json::Str(g, a), a);
      user_v.AddMember("groups", groups, a);
      if (const auto* auds = json::FindPath(*body, "spec.audiences"); auds && auds->IsArray()) {
        json::Value copy(*auds, a);
        status.AddMember("user", user_v, a);
        status.AddMember("audiences", copy, a);
      } else {
        status.AddMember("user", user_v, a);
      }
    } else {
      status.AddMember("user", user_v, a);
    }
    out.AddMember("status", status, a);
    co_await SendCreated(w, out);
  }

  asio::awaitable<void> ServeAccessReview(http::Request& req, http::ResponseWriter& w,
                                          const kube::RequestInfo& info, const UserInfo& caller) {
    auto body = ParseBody(req);
    if (!body) {
      co_await SendStatus(w, kube::NewBadRequest("the object provided is unrecognized"));
      co_return;
    }
    std::string kind = "LocalSubjectAccessReview";
    if (info.resource == "subjectaccessreviews") kind = "SubjectAccessReview";
    if (info.resource == "selfsubjectaccessreviews") kind = "SelfSubjectAccessReview";
    json::Document out = ReviewResponse(*body, kind, "authorization.k8s.io/v1");
    const json::Value& spec = out["spec"];
    const json::Value* ra = json::Find(spec, "resourceAttributes");
    const json::Value* nra = json::Find(spec, "nonResourceAttributes");
    if ((ra == nullptr) == (nra == nullptr)) {
      kube::StatusCause c;
      c.type = "FieldValueInvalid";
      c.message = std::string("Invalid value: \"null\": exactly one of nonResourceAttributes or ") +
                  "resourceAttributes must be specified";
      c.field = "spec.resourceAttributes";
      std::vector<kube::StatusCause> causes;
      causes.push_back(c);
      kube::Status st = kube::NewInvalid(kind + ".authorization.k8s.io", "", causes);
      co_await SendStatus(w, st);
      co_return;
    }
    Attributes attrs;
    if (kind == "SelfSubjectAccessReview") {
      attrs.user = caller;
    } else {
      attrs.user.name = std::string(json::GetString(spec, "user"));
      attrs.user.uid = std::string(json::GetString(spec, "uid"));
      if (const auto* g = json::Find(spec, "groups"); g && g->IsArray()) {
        for (const auto& e : g->GetArray()) {
          if (e.IsString()) attrs.user.groups.emplace_back(json::View(e));
        }
      }
      if (attrs.user.name.empty() && attrs.user.groups.empty()) {
        kube::StatusCause c;
        c.type = "FieldValueInvalid";
        c.message = "Invalid value: \"\": at least one of user or group must be specified";
        c.field = "spec.user";
        std::vector<kube::StatusCause> causes;
        causes.push_back(c);
        kube::Status st = kube::NewInvalid(kind + ".authorization.k8s.io", "", causes);
        co_await SendStatus(w, st);
        co_return;
      }
    }
    if (ra != nullptr) {
      attrs.resource_request = true;
      attrs.verb = std::string(json::GetString(*ra, "verb"));
      attrs.group = std::string(json::GetString(*ra, "group"));
      attrs.version = std::string(json::GetString(*ra, "version"));
      attrs.resource = std::string(json::GetString(*ra, "resource"));
      attrs.subresource = std::string(json::GetString(*ra, "subresource"));
      attrs.ns = std::string(json::GetString(*ra, "namespace"));
      attrs.name = std::string(json::GetString(*ra, "name"));
      if (kind == "LocalSubjectAccessReview") attrs.ns = info.namespace_;
    } else {
      attrs.verb = std::string(json::GetString(*nra, "verb"));
      attrs.path = std::string(json::GetString(*nra, "path"));
    }
    Decision d = authz->Authorize(attrs);
    auto& a = out.GetAllocator();
    json::Value status(rapidjson::kObjectType);
    status.AddMember("allowed", d.allowed, a);
    if (!d.reason.empty()) json::SetString(status, "reason", d.reason, a);
    out.AddMember("status", status, a);
    co_await SendCreated(w, out);
  }

  // ---- in-process requests ----
  LocalResponse Do(std::string method, std::string target, std::string body = {},
                   std::string content_type = "application/json") {
    if (!started_flag.load()) {
      return LocalResponse{
          503, {}, kube::NewServiceUnavailable("fakekube is not running").ToJson()};
    }
    auto req = std::make_shared<http::Request>();
    req->method = std::move(method);
    req->target = std::move(target);
    http::ParseTarget(*req);
    req->headers.Add("Accept", "application/json");
    if (!body.empty()) req->headers.Add("Content-Type", content_type);
    req->headers.Add("User-Agent", "fakekube-seed");
    req->body = std::move(body);
    req->peer_certificates_der = {admin_cert_der};
    req->remote_address = "in-process";
    req->received_at = std::chrono::steady_clock::now();
    auto writer = std::make_shared<BufferWriter>(bg.get_executor());
    std::promise<void> done;
    auto fut = done.get_future();
    auto self = shared_from_this();
    asio::co_spawn(
        bg,
        [self, req, writer]() -> asio::awaitable<void> { co_await self->Handle(*req, *writer); },
        [&done](std::exception_ptr e) {
          if (e) LOG(ERROR) << "fakekube: in-process request threw";
          done.set_value();
        });
    fut.wait();
    return LocalResponse{writer->status_, writer->headers_, writer->body_};
  }

  kube::Outcome ApplyDocument(json::Document doc) {
    if (!doc.IsObject()) return kube::NewBadRequest("object is not a JSON object");
    std::string api_version(json::GetString(doc, "apiVersion"));
    std::string kind(json::GetString(doc, "kind"));
    if (kind.empty() || api_version.empty()) {
      return kube::NewBadRequest("object has no apiVersion or kind");
    }
    if (kind == "List" || kind.ends_with("List")) {
      if (const auto* items = json::Find(doc, "items"); items && items->IsArray()) {
        for (const auto& item : items->GetArray()) {
          auto r = ApplyDocument(CopyObject(item));
          if (!r.ok()) return r;
        }
        return kube::Ok{};
      }
    }
    std::string group, version = api_version;
    if (size_t slash = api_version.find('/'); slash != std::string::npos) {
      group = api_version.substr(0, slash);
      version = api_version.substr(slash + 1);
    }
    auto served = registry->LookupKind(group, version, kind);
    if (!served) {
      return kube::NewBadRequest("no matches for kind \"" + kind + "\" in version \"" +
                                 api_version + "\"");
    }
    const kube::APIResource& api = served->api;
    std::string ns(
        json::GetString(json::EnsureObject(doc, "metadata", doc.GetAllocator()), "namespace"));
    if (api.namespaced && ns.empty()) {
      ns = "default";
      json::SetString(doc["metadata"], "namespace", ns, doc.GetAllocator());
    }
    std::string name(json::GetString(doc["metadata"], "name"));
    std::string base = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
    std::string collection =
        base + (api.namespaced ? "/namespaces/" + ns : std::string()) + "/" + api.resource;
    bool has_status = json::Find(doc, "status") != nullptr && api.has_status;
    LocalResponse r = Do("POST", collection, json::Serialize(doc));
    if (r.status == 409 && !name.empty()) {
      LocalResponse cur = Do("GET", collection + "/" + name);
      auto cur_doc = json::Parse(cur.body);
      if (cur.status != 200 || !cur_doc) {
        return ErrorFrom(cur.status, cur.body);
      }
      std::string rv(json::GetString((*cur_doc)["metadata"], "resourceVersion"));
      json::SetString(doc["metadata"], "resourceVersion", rv, doc.GetAllocator());
      r = Do("PUT", collection + "/" + name, json::Serialize(doc));
    }
    if (r.status < 200 || r.status >= 300) return ErrorFrom(r.status, r.body);
    if (has_status && !name.empty()) {
      auto created = json::Parse(r.body);
      if (created) {
        std::string rv(json::GetString((*created)["metadata"], "resourceVersion"));
        json::SetString(doc["metadata"], "resourceVersion", rv, doc.GetAllocator());
      }
      LocalResponse s = Do("PUT", collection + "/" + name + "/status", json::Serialize(doc));
      if (s.status < 200 || s.status >= 300) return ErrorFrom(s.status, s.body);
    }
    return kube::Ok{};
  }

  kube::Outcome ApplyText(std::string_view text) {
    for (const auto& piece : SplitYamlDocuments(text)) {
      auto doc = YamlToJson(piece);
      if (!doc.ok()) return doc.error();
      if (doc->IsNull()) continue;
      auto r = ApplyDocument(std::move(doc.value()));
      if (!r.ok()) return r;
    }
    return kube::Ok{};
  }

  // kube-aggregator's autoregister controller (aggregator role): one APIService without a
  // service per locally served group/version, labelled kube-aggregator.kubernetes.io/automanaged
  // ("onstart" for built-ins, "true" for CRDs); removed when the group/version goes. APIServices
  // without that label are never touched.
  void ReconcileLocalAPIServices() {
    const kube::GroupResource gr{"apiregistration.k8s.io", "apiservices"};
    constexpr std::string_view kLabel = "kube-aggregator.kubernetes.io/automanaged";
    std::map<std::string, std::tuple<std::string, std::string, bool>> want;
    for (const auto& r : registry->All()) {
      want.emplace(r->api.version + "." + r->api.group,
                   std::make_tuple(r->api.group, r->api.version, r->builtin));
    }
    for (const auto& [name, gvb] : want) {
      if (store->Get(gr, "", name).ok()) continue;
      const auto& [group, version, builtin] = gvb;
      json::Document d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      json::SetString(d, "apiVersion", "apiregistration.k8s.io/v1", a);
      json::SetString(d, "kind", "APIService", a);
      json::Value& meta = json::EnsureObject(d, "metadata", a);
      json::SetString(meta, "name", name, a);
      json::SetString(json::EnsureObject(meta, "labels", a), kLabel, builtin ? "onstart" : "true",
                      a);
      json::Value& spec = json::EnsureObject(d, "spec", a);
      json::SetString(spec, "group", group, a);
      json::SetString(spec, "version", version, a);
      json::SetMember(spec, "groupPriorityMinimum", json::Value(group.empty() ? 18000 : 1000), a);
      json::SetMember(spec, "versionPriority", json::Value(group.empty() ? 1 : 100), a);
      auto r = store->Create(gr, "", std::move(d));
      if (!r.ok() && r.error().code != 409) {
        LOG(WARNING) << "fakekube: autoregister " << name << ": " << r.error().message;
      }
    }
    for (const auto& obj : store->Snapshot(gr)) {
      std::string name(json::GetString((*obj)["metadata"], "name"));
      const json::Value* labels = json::FindPath(*obj, "metadata.labels");
      if (labels == nullptr || json::Find(*labels, kLabel) == nullptr) continue;
      if (want.count(name)) continue;
      (void)store->Delete(gr, "", name);
    }
  }

  // ---- the namespace controller's requests ----
  static asio::awaitable<void> HandleQuietly(std::shared_ptr<Impl> self,
                                             std::shared_ptr<http::Request> req,
                                             std::shared_ptr<BufferWriter> w) {
    try {
      co_await self->Handle(*req, *w);
    } catch (const std::exception& e) {
      w->status_ = 0;
      w->body_ = e.what();
    }
  }

  // One request through the whole chain with the namespace controller's client certificate.
  asio::awaitable<NamespaceController::Response> SendAsNamespaceController(std::string method,
                                                                           std::string target,
                                                                           std::string body,
                                                                           std::string accept) {
    auto req = std::make_shared<http::Request>();
    req->method = std::move(method);
    req->target = std::move(target);
    http::ParseTarget(*req);
    req->headers.Add("Accept", accept);
    if (!body.empty()) req->headers.Add("Content-Type", "application/json");
    req->headers.Add("User-Agent", "kube-controller-manager/" + opts.version +
                                       " (linux/amd64) kubernetes/fakekube/" +
                                       std::string(kNamespaceControllerUser));
    req->body = std::move(body);
    req->peer_certificates_der = {ns_controller_cert_der};
    req->remote_address = "in-process";
    req->received_at = std::chrono::steady_clock::now();
    auto ex = co_await asio::this_coro::executor;
    auto writer = std::make_shared<BufferWriter>(ex);
    asio::steady_timer timeout(ex);
    timeout.expires_after(opts.namespace_controller_options.request_timeout);
    auto r = co_await (HandleQuietly(shared_from_this(), req, writer) ||
                       timeout.async_wait(asio::as_tuple(asio::use_awaitable)));
    NamespaceController::Response out;
    if (r.index() == 1) {
      out.body = "request timed out";
      co_return out;
    }
    out.status = writer->status_;
    out.content_type = std::string(writer->headers_.Get("Content-Type").value_or(""));
    out.body = std::move(writer->body_);
    co_return out;
  }

  // What ServerPreferredNamespacedResources would visit: each group's preferred version, local
  // (from the registry) or aggregated (an APIService with a service: fetched by the controller).
  std::vector<NamespacedDiscoveryTarget> NamespaceDiscoveryTargets() const {
    std::map<std::string, std::map<std::string, NamespacedDiscoveryTarget>> groups;
    for (const auto& r : registry->All()) {
      if (r->virtual_create_only) continue;
      if (aggregator && aggregator->Routes(r->api.group, r->api.version)) continue;
      auto& t = groups[r->api.group][r->api.version];
      t.group = r->api.group;
      t.version = r->api.version;
      t.resources.push_back(r->api);
    }
    if (aggregator) {
      for (const auto& obj : store->Snapshot({"apiregistration.k8s.io", "apiservices"})) {
        const json::Value* svc = json::FindPath(*obj, "spec.service");
        if (svc == nullptr || !svc->IsObject()) continue;
        const json::Value& spec = *json::Find(*obj, "spec");
        NamespacedDiscoveryTarget t;
        t.group = std::string(json::GetString(spec, "group"));
        t.version = std::string(json::GetString(spec, "version"));
        t.remote = true;
        groups[t.group][t.version] = std::move(t);
      }
    }
    std::vector<NamespacedDiscoveryTarget> out;
    for (auto& [group, versions] : groups) {
      auto best = versions.begin();
      for (auto it = versions.begin(); it != versions.end(); ++it) {
        if (KubeVersionLess(it->first, best->first)) best = it;
      }
      out.push_back(std::move(best->second));
    }
    return out;
  }

  kube::Outcome StartNamespaceController() {
    kube::tls::CertificateSpec spec;
    spec.common_name = std::string(kNamespaceControllerUser);
    spec.organizations = {"system:serviceaccounts", "system:serviceaccounts:kube-system"};
    spec.server_auth = false;
    spec.client_auth = true;
    auto pair = kube::tls::GenerateSigned(client_ca, spec);
    if (!pair.ok()) return pair.error();
    auto der = kube::tls::PemToDer(pair->cert_pem);
    if (!der.ok() || der->empty()) return kube::NewInternalError("namespace controller cert");
    ns_controller_cert_der = der->front();
    std::weak_ptr<Impl> weak = weak_from_this();
    auto send = [weak](std::string method, std::string target, std::string body,
                       std::string accept) -> asio::awaitable<NamespaceController::Response> {
      auto self = weak.lock();
      if (!self) co_return NamespaceController::Response{0, "", "fakekube is stopping"};
      auto r = co_await self->SendAsNamespaceController(std::move(method), std::move(target),
                                                        std::move(body), std::move(accept));
      co_return r;
    };
    auto targets = [weak]() -> std::vector<NamespacedDiscoveryTarget> {
      auto self = weak.lock();
      if (!self) return {};
      return self->NamespaceDiscoveryTargets();
    };
    ns_controller = std::make_unique<NamespaceController>(*store, bg.get_executor(), send, targets,
                                                          opts.namespace_controller_options);
    ns_controller->Start();
    return kube::Ok{};
  }

  kube::Outcome EnsureCertificates();
  kube::Outcome Bootstrap();
  kube::Outcome Listen();

  // Serving certificate rotation (FakeKubeOptions::rotatable_serving_certificate): the served
  // pair lives in files in a private directory, reloaded by the credential for new connections.
  struct ServingFiles {
    std::string dir;
    ~ServingFiles() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } serving_files;
  kube::Result<std::shared_ptr<kube::tls::ServerCredential>> RotatableCredential();
  kube::Outcome WriteServingFiles();
};

}  // namespace fakekube

namespace fakekube {
namespace {

struct CertFile {
  const char* base;
  kube::tls::KeyPair* pair;
};

kube::Result<bool> LoadPair(const std::string& dir, const std::string& base,
                            kube::tls::KeyPair& out) {
  std::string crt = dir + "/" + base + ".crt";
  std::string key = dir + "/" + base + ".key";
  if (!std::filesystem::exists(crt) || !std::filesystem::exists(key)) return false;
  auto c = kube::tls::ReadFile(crt);
  if (!c.ok()) return c.error();
  auto k = kube::SecretString::FromFile(key, false);
  if (!k.ok()) return k.error();
  out.cert_pem = std::move(c.value());
  out.key_pem = std::move(k.value());
  return true;
}

kube::Outcome SavePair(const std::string& dir, const std::string& base,
                       const kube::tls::KeyPair& pair) {
  auto r = kube::tls::WriteFile(dir + "/" + base + ".crt", pair.cert_pem, 0644);
  if (!r.ok()) return r;
  return kube::tls::WriteFile(dir + "/" + base + ".key", pair.key_pem.RevealCopy(), 0600);
}

}  // namespace

kube::Outcome FakeKube::Impl::EnsureCertificates() {
  const std::string& dir = opts.cert_dir;
  if (!dir.empty()) {
    bool all = true;
    for (auto [base, pair] : {std::pair<const char*, kube::tls::KeyPair*>{"ca", &serving_ca},
                              {"serving", &serving},
                              {"client-ca", &client_ca},
                              {"admin", &admin},
                              {"front-proxy-ca", &front_proxy_ca},
                              {"front-proxy-client", &front_proxy_client}}) {
      auto loaded = LoadPair(dir, base, *pair);
      if (!loaded.ok()) return loaded.error();
      all = all && *loaded;
    }
    if (all) return kube::Ok{};
  }
  auto ca = kube::tls::GenerateCA("fakekube-ca");
  if (!ca.ok()) return ca.error();
  serving_ca = std::move(ca.value());
  kube::tls::CertificateSpec spec;
  spec.common_name = "kube-apiserver";
  spec.dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"};
  spec.ip_addresses = {"127.0.0.1"};
  if (opts.bind_address != "127.0.0.1" && opts.bind_address != "0.0.0.0" &&
      !opts.bind_address.empty() &&
      std::isdigit(static_cast<unsigned char>(opts.bind_address[0]))) {
    spec.ip_addresses.push_back(opts.bind_address);
  }
  auto srv = kube::tls::GenerateSigned(serving_ca, spec);
  if (!srv.ok()) return srv.error();
  serving = std::move(srv.value());
  auto cca = kube::tls::GenerateCA("fakekube-client-ca");
  if (!cca.ok()) return cca.error();
  client_ca = std::move(cca.value());
  kube::tls::CertificateSpec admin_spec;
  admin_spec.common_name = "kubernetes-admin";
  admin_spec.organizations = {std::string(kMastersGroup)};
  admin_spec.server_auth = false;
  admin_spec.client_auth = true;
  auto adm = kube::tls::GenerateSigned(client_ca, admin_spec);
  if (!adm.ok()) return adm.error();
  admin = std::move(adm.value());
  auto fpca = kube::tls::GenerateCA("fakekube-front-proxy-ca");
  if (!fpca.ok()) return fpca.error();
  front_proxy_ca = std::move(fpca.value());
  kube::tls::CertificateSpec fp_spec;
  fp_spec.common_name = "front-proxy-client";
  fp_spec.server_auth = false;
  fp_spec.client_auth = true;
  auto fp = kube::tls::GenerateSigned(front_proxy_ca, fp_spec);
  if (!fp.ok()) return fp.error();
  front_proxy_client = std::move(fp.value());
  if (!dir.empty()) {
    for (auto [base, pair] : {std::pair<const char*, kube::tls::KeyPair*>{"ca", &serving_ca},
                              {"serving", &serving},
                              {"client-ca", &client_ca},
                              {"admin", &admin},
                              {"front-proxy-ca", &front_proxy_ca},
                              {"front-proxy-client", &front_proxy_client}}) {
      auto r = SavePair(dir, base, *pair);
      if (!r.ok()) return r;
    }
  }
  return kube::Ok{};
}

kube::Outcome FakeKube::Impl::Bootstrap() {
  std::string text;
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    text += "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + std::string(ns) + "\n";
  }
  if (auto r = ApplyText(text); !r.ok()) return r;
  // What kube-apiserver publishes for extension API servers (the cluster authentication trust
  // controller).
  json::Document cm(rapidjson::kObjectType);
  auto& a = cm.GetAllocator();
  json::SetString(cm, "apiVersion", "v1", a);
  json::SetString(cm, "kind", "ConfigMap", a);
  json::Value& meta = json::EnsureObject(cm, "metadata", a);
  json::SetString(meta, "name", "extension-apiserver-authentication", a);
  json::SetString(meta, "namespace", "kube-system", a);
  json::Value& data = json::EnsureObject(cm, "data", a);
  json::SetString(data, "client-ca-file", client_ca.cert_pem, a);
  json::SetString(data, "requestheader-client-ca-file", front_proxy_ca.cert_pem, a);
  json::SetString(data, "requestheader-allowed-names", "[\"front-proxy-client\"]", a);
  json::SetString(data, "requestheader-username-headers", "[\"X-Remote-User\"]", a);
  json::SetString(data, "requestheader-group-headers", "[\"X-Remote-Group\"]", a);
  json::SetString(data, "requestheader-extra-headers-prefix", "[\"X-Remote-Extra-\"]", a);
  return ApplyDocument(std::move(cm));
}

kube::Outcome FakeKube::Impl::Listen() {
  http::ServerOptions so;
  so.bind_address = opts.bind_address;
  so.port = port != 0 ? port : opts.port;
  so.tls = credential;
  so.max_body_bytes = opts.handler.max_body_bytes;
  std::weak_ptr<Impl> weak = weak_from_this();
  server = std::make_unique<http::Server>(
      so, [weak](http::Request& req, http::ResponseWriter& w) -> asio::awaitable<void> {
        auto self = weak.lock();
        if (!self) co_return;
        co_await self->Handle(req, w);
      });
  auto p = server->Start();
  if (!p.ok()) {
    server.reset();
    return p.error();
  }
  port = *p;
  return kube::Ok{};
}

std::vector<std::string> SplitYamlDocuments(std::string_view yaml) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    bool blank = true;
    size_t pos = 0;
    while (pos < cur.size()) {
      size_t nl = cur.find('\n', pos);
      std::string_view line(cur.data() + pos, (nl == std::string::npos ? cur.size() : nl) - pos);
      size_t first = line.find_first_not_of(" \t\r");
      if (first != std::string_view::npos && line[first] != '#') {
        blank = false;
        break;
      }
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    if (!blank) out.push_back(cur);
    cur.clear();
  };
  while (!yaml.empty()) {
    size_t nl = yaml.find('\n');
    std::string_view line = yaml.substr(0, nl);
    yaml = nl == std::string_view::npos ? std::string_view() : yaml.substr(nl + 1);
    std::string_view trimmed = line;
    while (!trimmed.empty() && (trimmed.back() == '\r' || trimmed.back() == ' ')) {
      trimmed.remove_suffix(1);
    }
    if (trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "...") {
      flush();
      continue;
    }
    cur.append(line);
    cur.push_back('\n');
  }
  flush();
  return out;
}

FakeKube::FakeKube(FakeKubeOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->opts = std::move(options);
}

FakeKube::~FakeKube() { Stop(); }

// ---- serving certificate rotation ----

kube::Outcome FakeKube::Impl::WriteServingFiles() {
  // Key first, then the certificate, each replaced atomically (as a Secret volume update does);
  // the credential keeps the previous pair while the two do not match.
  const std::string crt = serving_files.dir + "/serving.crt";
  const std::string key = serving_files.dir + "/serving.key";
  if (auto r = kube::tls::WriteFile(key + ".tmp", serving.key_pem.RevealCopy(), 0600); !r.ok()) {
    return r;
  }
  if (auto r = kube::tls::WriteFile(crt + ".tmp", serving.cert_pem + serving_ca.cert_pem, 0644);
      !r.ok()) {
    return r;
  }
  std::error_code ec;
  std::filesystem::rename(key + ".tmp", key, ec);
  if (!ec) std::filesystem::rename(crt + ".tmp", crt, ec);
  if (ec) return kube::NewInternalError("rotating the serving certificate: " + ec.message());
  return kube::Ok{};
}

kube::Result<std::shared_ptr<kube::tls::ServerCredential>> FakeKube::Impl::RotatableCredential() {
  if (serving_files.dir.empty()) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "fakekube-serving-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return kube::NewInternalError("cannot create a directory for the serving certificate");
    }
    serving_files.dir = tmpl;
  }
  if (auto r = WriteServingFiles(); !r.ok()) return r.error();
  return kube::tls::ServerCredential::FromFiles(serving_files.dir + "/serving.crt",
                                                serving_files.dir + "/serving.key",
                                                std::chrono::milliseconds(100));
}

kube::Outcome FakeKube::RotateServingCertificate(bool new_ca) {
  Impl& s = *impl_;
  if (!s.started || s.serving_files.dir.empty()) {
    return kube::NewBadRequest("start with rotatable_serving_certificate to rotate");
  }
  kube::tls::KeyPair ca;
  if (new_ca) {
    auto made = kube::tls::GenerateCA("fakekube-ca-rotated");
    if (!made.ok()) return made.error();
    ca = std::move(*made);
  } else {
    ca.cert_pem = s.serving_ca.cert_pem;
    ca.key_pem = s.serving_ca.key_pem;
  }
  // The same names as the first certificate (see EnsureCertificates), a new key.
  kube::tls::CertificateSpec spec;
  spec.common_name = "kube-apiserver";
  spec.dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"};
  spec.ip_addresses = {"127.0.0.1"};
  if (s.opts.bind_address != "127.0.0.1" && s.opts.bind_address != "0.0.0.0" &&
      !s.opts.bind_address.empty() &&
      std::isdigit(static_cast<unsigned char>(s.opts.bind_address[0]))) {
    spec.ip_addresses.push_back(s.opts.bind_address);
  }
  auto srv = kube::tls::GenerateSigned(ca, spec);
  if (!srv.ok()) return srv.error();
  s.serving = std::move(*srv);
  s.serving_ca = std::move(ca);
  if (auto r = s.WriteServingFiles(); !r.ok()) return r;
  if (!s.credential->ReloadIfChanged()) {
    return kube::NewInternalError("the new serving certificate was not loaded");
  }
  return kube::Ok{};
}

kube::Outcome FakeKube::Start() {
  Impl& s = *impl_;
  if (s.started) return kube::Ok{};
  if (auto r = s.EnsureCertificates(); !r.ok()) return r;
  auto pems = kube::tls::PemToDer(s.admin.cert_pem);
  if (!pems.ok() || pems->empty()) return kube::NewInternalError("admin certificate");
  s.admin_cert_der = pems->front();
  auto cred = s.opts.rotatable_serving_certificate
                  ? s.RotatableCredential()
                  : kube::tls::ServerCredential::FromPem(s.serving.cert_pem + s.serving_ca.cert_pem,
                                                         s.serving.key_pem);
  if (!cred.ok()) return cred.error();
  s.credential = cred.value();

  AuthnConfig ac;
  ac.tokens = s.opts.tokens;
  if (!s.opts.token_file.empty()) {
    auto text = kube::tls::ReadFile(s.opts.token_file);
    if (!text.ok()) return text.error();
    auto tokens = ParseTokenFile(*text);
    if (!tokens.ok()) return tokens.error();
    ac.tokens.insert(ac.tokens.end(), tokens->begin(), tokens->end());
  }
  ac.client_ca_pem = s.client_ca.cert_pem;
  ac.requestheader_ca_pem = s.front_proxy_ca.cert_pem;
  ac.requestheader_allowed_names = {"front-proxy-client"};
  ac.anonymous = s.opts.anonymous_auth;
  s.authn = std::make_unique<Authenticator>(std::move(ac));
  std::optional<Policy> policy = s.opts.policy;
  if (!s.opts.policy_file.empty()) {
    auto text = kube::tls::ReadFile(s.opts.policy_file);
    if (!text.ok()) return text.error();
    auto p = ParsePolicy(*text);
    if (!p.ok()) return p.error();
    policy = std::move(p.value());
  }
  s.authz = std::make_unique<Authorizer>(std::move(policy));

  Store::Options so = s.opts.store;
  if (!s.opts.data_file.empty()) so.data_file = s.opts.data_file;
  s.store = std::make_unique<Store>(so);
  if (auto r = s.store->Load(); !r.ok()) return r;
  s.registry = std::make_unique<Registry>(*s.store);
  s.resources = std::make_unique<ResourceHandler>(*s.store, *s.registry, s.opts.handler);

  s.bg_work.emplace(s.bg.get_executor());
  s.bg_thread = std::thread([this] { impl_->bg.run(); });
  s.started = true;
  s.started_flag = true;

  if (auto r = s.Bootstrap(); !r.ok()) return r;
  if (!s.opts.fixtures_dir.empty()) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(s.opts.fixtures_dir, ec)) {
      std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) {
        files.push_back(e.path().string());
      }
    }
    if (ec) return kube::NewBadRequest("fixtures: " + ec.message());
    std::sort(files.begin(), files.end());
    // Two passes in name order: CustomResourceDefinitions first, then everything else, so an
    // object never precedes the CRD that serves it (Crossplane's XRD CRD file sorts last).
    for (bool crds : {true, false}) {
      for (const auto& f : files) {
        auto text = kube::tls::ReadFile(f);
        if (!text.ok()) return text.error();
        std::string selected;
        for (const auto& piece : SplitYamlDocuments(*text)) {
          auto doc = YamlToJson(piece);
          bool is_crd = doc.ok() && doc->IsObject() &&
                        json::GetString(*doc, "kind") == "CustomResourceDefinition";
          if (is_crd == crds) selected += "---\n" + piece;
        }
        if (auto r = s.ApplyText(selected); !r.ok()) {
          kube::Status st = r.error();
          st.message = f + ": " + st.message;
          return st;
        }
      }
    }
  }
  if (s.opts.aggregator) {
    Aggregator::Options ao;
    ao.interval = s.opts.availability_interval;
    ao.timeout = s.opts.availability_timeout;
    ao.front_proxy_client = s.front_proxy_client;
    s.aggregator = std::make_unique<Aggregator>(*s.store, s.bg.get_executor(), ao);
    s.ReconcileLocalAPIServices();
    std::weak_ptr<Impl> weak = impl_;
    s.autoregister_listener = s.registry->AddChangeListener([weak] {
      if (auto self = weak.lock()) self->ReconcileLocalAPIServices();
    });
    s.aggregator->Start();
  }
  if (s.opts.namespace_controller) {
    if (auto r = s.StartNamespaceController(); !r.ok()) return r;
  }
  return s.Listen();
}

void FakeKube::Stop() {
  Impl& s = *impl_;
  if (!s.started) return;
  s.started = false;
  s.started_flag = false;
  if (s.server) {
    s.server->Shutdown(std::chrono::seconds(2));
    s.server.reset();
  }
  if (s.autoregister_listener >= 0) {
    s.registry->RemoveChangeListener(s.autoregister_listener);
    s.autoregister_listener = -1;
  }
  if (s.ns_controller) s.ns_controller->Stop();
  if (s.aggregator) s.aggregator->Stop();
  s.bg_work.reset();
  s.bg.stop();
  if (s.bg_thread.joinable()) s.bg_thread.join();
  s.ns_controller.reset();
  s.aggregator.reset();
  if (s.store) s.store->Flush();
}

uint16_t FakeKube::port() const { return impl_->port; }
std::string FakeKube::url() const {
  std::string host = impl_->opts.bind_address;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  return "https://" + host + ":" + std::to_string(impl_->port);
}
const std::string& FakeKube::ca_pem() const { return impl_->serving_ca.cert_pem; }
const std::string& FakeKube::client_ca_pem() const { return impl_->client_ca.cert_pem; }
const kube::tls::KeyPair& FakeKube::client_ca() const { return impl_->client_ca; }
const std::string& FakeKube::front_proxy_ca_pem() const { return impl_->front_proxy_ca.cert_pem; }
const kube::tls::KeyPair& FakeKube::front_proxy_client() const { return impl_->front_proxy_client; }

kube::ClusterConfig FakeKube::AdminConfig() const {
  kube::ClusterConfig c;
  c.server = url();
  c.ca_pem = ca_pem();
  c.client_cert_pem = impl_->admin.cert_pem;
  c.client_key_pem = impl_->admin.key_pem;
  c.user_agent = "fakekube-test";
  return c;
}

kube::ClusterConfig FakeKube::TokenConfig(std::string_view token) const {
  kube::ClusterConfig c;
  c.server = url();
  c.ca_pem = ca_pem();
  c.bearer_token = kube::SecretString(token);
  c.user_agent = "fakekube-test";
  return c;
}

kube::Result<kube::ClusterConfig> FakeKube::CertConfig(std::string_view user,
                                                       std::vector<std::string> groups) const {
  kube::tls::CertificateSpec spec;
  spec.common_name = std::string(user);
  spec.organizations = std::move(groups);
  spec.server_auth = false;
  spec.client_auth = true;
  auto pair = kube::tls::GenerateSigned(impl_->client_ca, spec);
  if (!pair.ok()) return pair.error();
  kube::ClusterConfig c;
  c.server = url();
  c.ca_pem = ca_pem();
  c.client_cert_pem = pair->cert_pem;
  c.client_key_pem = pair->key_pem;
  c.user_agent = "fakekube-test";
  return c;
}

kube::Outcome FakeKube::WriteKubeconfig(const std::string& path) const {
  kube::KubeconfigSpec spec;
  spec.server = url();
  spec.ca_pem = ca_pem();
  spec.client_cert_pem = impl_->admin.cert_pem;
  spec.client_key_pem = impl_->admin.key_pem.RevealCopy();
  spec.name = "fakekube";
  return kube::WriteKubeconfig(path, spec);
}

Store& FakeKube::store() { return *impl_->store; }
Registry& FakeKube::registry() { return *impl_->registry; }
Authenticator& FakeKube::authenticator() { return *impl_->authn; }
Authorizer& FakeKube::authorizer() { return *impl_->authz; }

kube::Outcome FakeKube::Apply(std::string_view yaml) { return impl_->ApplyText(yaml); }

kube::Outcome FakeKube::ApplyFile(const std::string& path) {
  auto text = kube::tls::ReadFile(path);
  if (!text.ok()) return text.error();
  return impl_->ApplyText(*text);
}

kube::Result<Object> FakeKube::Get(std::string_view group, std::string_view resource,
                                   std::string_view ns, std::string_view name) const {
  return impl_->store->Get(kube::GroupResource{std::string(group), std::string(resource)}, ns,
                           name);
}

FakeKube::LocalResponse FakeKube::Do(std::string method, std::string target, std::string body,
                                     std::string content_type) {
  return impl_->Do(std::move(method), std::move(target), std::move(body), std::move(content_type));
}

std::vector<RecordedRequest> FakeKube::Requests() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->requests.begin(), impl_->requests.end()};
}

std::vector<RecordedRequest> FakeKube::Requests(const RequestPredicate& pred) const {
  std::vector<RecordedRequest> out;
  std::lock_guard lock(impl_->mu);
  for (const auto& r : impl_->requests) {
    if (pred(r)) out.push_back(r);
  }
  return out;
}

void FakeKube::ClearRequests() {
  std::lock_guard lock(impl_->mu);
  impl_->requests.clear();
}

bool FakeKube::WaitForRequest(const RequestPredicate& pred, std::chrono::milliseconds timeout,
                              RecordedRequest* out) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    {
      std::lock_guard lock(impl_->mu);
      for (const auto& r : impl_->requests) {
        if (pred(r)) {
          if (out) *out = r;
          return true;
        }
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool FakeKube::WaitForObject(std::string_view group, std::string_view resource, std::string_view ns,
                             std::string_view name,
                             const std::function<bool(const json::Value*)>& pred,
                             std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto obj = Get(group, resource, ns, name);
    if (pred(obj.ok() ? obj.value().get() : nullptr)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int FakeKube::AddFault(Fault fault) {
  std::lock_guard lock(impl_->mu);
  int id = ++impl_->next_fault_id;
  impl_->faults.emplace_back(id, std::move(fault));
  return id;
}

void FakeKube::RemoveFault(int id) {
  std::lock_guard lock(impl_->mu);
  std::erase_if(impl_->faults, [id](const auto& f) { return f.first == id; });
}

void FakeKube::ClearFaults() {
  std::lock_guard lock(impl_->mu);
  impl_->faults.clear();
}

void FakeKube::ExpireResourceVersions() { impl_->store->Compact(); }

kube::Outcome FakeKube::SetRefuseConnections(bool refuse) {
  Impl& s = *impl_;
  if (refuse) {
    if (s.server) {
      s.server->Shutdown(std::chrono::milliseconds(0));
      s.server.reset();
    }
    return kube::Ok{};
  }
  if (s.server) return kube::Ok{};
  return s.Listen();
}

void FakeKube::DropStreams() {
  std::lock_guard lock(impl_->mu);
  for (const auto& ctl : impl_->streams) {
    ctl->drop_requested = true;
    asio::post(ctl->timer.get_executor(), [ctl] { ctl->timer.cancel(); });
  }
}

int FakeKube::open_watches() const {
  return impl_->resources ? impl_->resources->open_watches() : 0;
}

NamespaceController* FakeKube::namespace_controller() { return impl_->ns_controller.get(); }

void FakeKube::CheckAPIServicesNow() {
  if (impl_->aggregator) impl_->aggregator->CheckNow();
}

}  // namespace fakekube

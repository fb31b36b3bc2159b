#include "tests/fakekube/aggregator.h"

#include <glog/logging.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <random>

#include "kube/discovery_docs.h"
#include "kube/json.h"
#include "kube/rest_client.h"
#include "tests/fakekube/discovery.h"
#include "tests/fakekube/store.h"

namespace fakekube {
namespace {

namespace asio = boost::asio;
namespace http = kube::http;
namespace json = kube::json;
using namespace asio::experimental::awaitable_operators;

const kube::GroupResource kAPIServices{"apiregistration.k8s.io", "apiservices"};
const kube::GroupResource kServices{"", "services"};
const kube::GroupResource kEndpoints{"", "endpoints"};

std::string Base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;  // padding, whitespace
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return out;
}

std::string NewAuditId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) s.push_back('-');
    s.push_back(kHex[rng() & 15]);
  }
  return s;
}

bool IsHopByHop(std::string_view name) {
  for (std::string_view h :
       {"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "TE",
        "Trailer", "Host", "Content-Length", "Proxy-Authorization", "Proxy-Authenticate"}) {
    if (http::EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

struct Endpoint {
  std::string host;
  int port = 0;
  std::string url() const { return "https://" + host + ":" + std::to_string(port); }
};

struct ResolveError {
  std::string reason;
  std::string message;
};

struct ServiceRef {
  std::string ns, name;
  int port = 443;
  std::string ca_bundle;  // decoded PEM
  bool insecure = false;
};

std::optional<ServiceRef> ServiceOf(const json::Value& apiservice) {
  const json::Value* svc = json::FindPath(apiservice, "spec.service");
  if (svc == nullptr || !svc->IsObject()) return std::nullopt;
  ServiceRef r;
  r.ns = std::string(json::GetString(*svc, "namespace"));
  r.name = std::string(json::GetString(*svc, "name"));
  if (auto p = json::GetInt(*svc, "port")) r.port = static_cast<int>(*p);
  const json::Value& spec = *json::Find(apiservice, "spec");
  r.ca_bundle = Base64Decode(json::GetString(spec, "caBundle"));
  if (const auto* skip = json::Find(spec, "insecureSkipTLSVerify"); skip && skip->IsBool()) {
    r.insecure = skip->GetBool();
  }
  return r;
}

}  // namespace

struct Aggregator::Impl : std::enable_shared_from_this<Impl> {
  Store& store;
  asio::any_io_executor executor;
  Options opts;
  asio::steady_timer timer;
  int hook_id = -1;
  std::atomic<bool> stopped{false};
  std::promise<void> loop_done;
  bool loop_running = false;

  mutable std::mutex mu;                      // guards below
  std::map<std::string, AggregatedAPI> apis;  // by APIService name
  std::map<std::string, int> checks;          // per APIService: number of checks done
  std::map<std::string, std::shared_ptr<kube::RestClient>> clients;
  uint64_t gen = 1;
  std::vector<std::shared_ptr<std::promise<void>>> check_waiters;

  Impl(Store& s, asio::any_io_executor ex, Options o)
      : store(s), executor(ex), opts(std::move(o)), timer(ex) {}

  std::variant<Endpoint, ResolveError> Resolve(const ServiceRef& ref) {
    auto svc = store.Get(kServices, ref.ns, ref.name);
    if (!svc.ok()) {
      return ResolveError{"ServiceNotFound",
                          "service/" + ref.name + " in \"" + ref.ns + "\" is not present"};
    }
    const json::Value* ports = json::FindPath(**svc, "spec.ports");
    const json::Value* match = nullptr;
    if (ports && ports->IsArray()) {
      for (const auto& p : ports->GetArray()) {
        if (json::GetInt(p, "port") == ref.port) match = &p;
      }
    }
    if (match == nullptr) {
      return ResolveError{"ServicePortError", "service/" + ref.name + " in \"" + ref.ns +
                                                  "\" is not listening on port " +
                                                  std::to_string(ref.port)};
    }
    std::string port_name(json::GetString(*match, "name"));
    auto eps = store.Get(kEndpoints, ref.ns, ref.name);
    if (!eps.ok()) {
      return ResolveError{"MissingEndpoints", "cannot find endpoints for service/" + ref.name +
                                                  " in \"" + ref.ns + "\""};
    }
    const json::Value* subsets = json::Find(**eps, "subsets");
    if (subsets && subsets->IsArray()) {
      for (const auto& ss : subsets->GetArray()) {
        const json::Value* addrs = json::Find(ss, "addresses");
        const json::Value* eports = json::Find(ss, "ports");
        if (!addrs || !addrs->IsArray() || addrs->Empty() || !eports || !eports->IsArray()) {
          continue;
        }
        for (const auto& ep : eports->GetArray()) {
          if (json::GetString(ep, "name") != port_name) continue;
          auto port = json::GetInt(ep, "port");
          if (!port) continue;
          return Endpoint{std::string(json::GetString((*addrs)[0], "ip")), static_cast<int>(*port)};
        }
      }
    }
    return ResolveError{"MissingEndpoints", "endpoints for service/" + ref.name + " in \"" +
                                                ref.ns + "\" have no addresses with port name \"" +
                                                port_name + "\""};
  }

  kube::Result<std::shared_ptr<kube::RestClient>> ClientFor(const ServiceRef& ref,
                                                            const Endpoint& ep) {
    std::string key = ep.url() + "|" + ref.name + "." + ref.ns + "|" + (ref.insecure ? "1" : "0") +
                      "|" + ref.ca_bundle;
    std::lock_guard lock(mu);
    if (auto it = clients.find(key); it != clients.end()) return it->second;
    kube::ClusterConfig c;
    c.server = ep.url();
    c.ca_pem = ref.ca_bundle;
    c.insecure_skip_tls_verify = ref.insecure;
    c.tls_server_name = ref.name + "." + ref.ns + ".svc";
    c.client_cert_pem = opts.front_proxy_client.cert_pem;
    c.client_key_pem = opts.front_proxy_client.key_pem;
    c.user_agent = "kube-aggregator/fakekube";
    c.request_timeout = opts.timeout;
    c.connect_timeout = opts.timeout;
    auto client = kube::RestClient::Create(executor, std::move(c));
    if (!client.ok()) return client.error();
    clients[key] = client.value();
    return client.value();
  }

  bool Available(const std::string& name) {
    std::lock_guard lock(mu);
    auto it = apis.find(name);
    return it != apis.end() && it->second.available;
  }

  // ---- availability ----
  void SetCondition(const std::string& name, bool available, const std::string& reason,
                    const std::string& message) {
    auto r = store.Update(
        kAPIServices, "", name, [&](const Object& cur) -> kube::Result<json::Document> {
          if (!cur) return kube::NewNotFound(kAPIServices, name);
          json::Document d = CopyObject(*cur);
          auto& a = d.GetAllocator();
          json::Value& status = json::EnsureObject(d, "status", a);
          json::Value* conds = json::Find(status, "conditions");
          if (conds == nullptr || !conds->IsArray()) {
            json::SetMember(status, "conditions", json::Value(rapidjson::kArrayType), a);
            conds = json::Find(status, "conditions");
          }
          std::string want_status = available ? "True" : "False";
          json::Value* existing = nullptr;
          for (auto& c : conds->GetArray()) {
            if (json::GetString(c, "type") == "Available") existing = &c;
          }
          if (existing && json::GetString(*existing, "status") == want_status &&
              json::GetString(*existing, "reason") == reason &&
              json::GetString(*existing, "message") == message) {
            return d;  // unchanged: the store writes nothing
          }
          std::string ltt = FormatTime(std::chrono::system_clock::now());
          if (existing && json::GetString(*existing, "status") == want_status) {
            ltt = std::string(json::GetString(*existing, "lastTransitionTime"));
          }
          json::Value c(rapidjson::kObjectType);
          json::SetString(c, "type", "Available", a);
          json::SetString(c, "status", want_status, a);
          json::SetString(c, "lastTransitionTime", ltt, a);
          json::SetString(c, "reason", reason, a);
          json::SetString(c, "message", message, a);
          if (existing) {
            *existing = c;
          } else {
            conds->PushBack(c, a);
          }
          return d;
        });
    if (!r.ok() && r.error().code != 404) {
      LOG(WARNING) << "fakekube aggregator: status of " << name << ": " << r.error().message;
    }
  }

  asio::awaitable<kube::Result<std::string>> Fetch(std::shared_ptr<kube::RestClient> client,
                                                   std::string path) {
    kube::RestRequest rr;
    rr.method = "GET";
    rr.path = std::move(path);
    rr.headers.Add("Accept", "application/json");
    rr.headers.Add("X-Remote-User", "system:kube-aggregator");
    rr.headers.Add("X-Remote-Group", "system:masters");
    rr.timeout = opts.timeout;
    auto resp = co_await client->Do(std::move(rr));
    if (!resp.ok()) co_return resp.error();
    if (resp->status < 200 || resp->status >= 300) {
      co_return kube::RestClient::ErrorFromResponse(resp->status, resp->body);
    }
    co_return std::move(resp->body);
  }

  asio::awaitable<void> CheckOne(Object obj) {
    std::string name(json::GetString((*obj)["metadata"], "name"));
    std::string group(json::GetString((*obj)["spec"], "group"));
    std::string version(json::GetString((*obj)["spec"], "version"));
    auto ref = ServiceOf(*obj);
    if (!ref) {
      {
        std::lock_guard lock(mu);
        if (apis.erase(name)) ++gen;
      }
      SetCondition(name, true, "Local", "Local APIServices are always available");
      co_return;
    }
    AggregatedAPI api;
    {
      std::lock_guard lock(mu);
      if (auto it = apis.find(name); it != apis.end()) api = it->second;
    }
    api.name = name;
    api.group = group;
    api.version = version;
    bool ok = false;
    std::string reason, message;
    auto resolved = Resolve(*ref);
    if (auto* err = std::get_if<ResolveError>(&resolved)) {
      reason = err->reason;
      message = err->message;
    } else {
      Endpoint ep = std::get<Endpoint>(resolved);
      std::string discovery_url = ep.url() + "/apis/" + group + "/" + version;
      auto client = ClientFor(*ref, ep);
      if (!client.ok()) {
        reason = "FailedDiscoveryCheck";
        message =
            "failing or missing response from " + discovery_url + ": " + client.error().message;
      } else {
        kube::RestRequest rr;
        rr.method = "GET";
        rr.path = "/apis/" + group + "/" + version;
        rr.headers.Add("Accept", "application/json");
        rr.headers.Add("X-Remote-User", "system:kube-aggregator");
        rr.headers.Add("X-Remote-Group", "system:masters");
        rr.timeout = opts.timeout;
        auto resp = co_await (*client)->Do(std::move(rr));
        if (!resp.ok()) {
          reason = "FailedDiscoveryCheck";
          message =
              "failing or missing response from " + discovery_url + ": " + resp.error().message;
        } else if (resp->status < 200 || resp->status >= 400) {
          reason = "FailedDiscoveryCheck";
          message = "failing or missing response from " + discovery_url + ": bad status from " +
                    discovery_url + ": " + std::to_string(resp->status);
        } else {
          ok = true;
          reason = "Passed";
          message = "all checks passed";
          std::vector<kube::APIResource> resources;
          if (auto parsed = kube::discovery::ParseAPIResourceList(resp->body); parsed.ok()) {
            resources = std::move(parsed.value());
          }
          bool changed = resources.size() != api.resources.size();
          for (size_t i = 0; !changed && i < resources.size(); ++i) {
            changed = resources[i].resource != api.resources[i].resource ||
                      resources[i].verbs != api.resources[i].verbs ||
                      resources[i].categories != api.resources[i].categories;
          }
          api.resources = std::move(resources);
          int n;
          {
            std::lock_guard lock(mu);
            n = checks[name]++;
          }
          if (changed || api.openapi_v2.empty() || n % 15 == 0) {
            if (auto v2 = co_await Fetch(*client, "/openapi/v2"); v2.ok()) {
              api.openapi_v2 = std::move(v2.value());
            }
            if (auto index = co_await Fetch(*client, "/openapi/v3"); index.ok()) {
              auto doc = json::Parse(*index);
              std::string key = "apis/" + group + "/" + version;
              const json::Value* entry = doc ? json::FindPath(*doc, "paths") : nullptr;
              entry = entry ? json::Find(*entry, key) : nullptr;
              std::string url = entry ? std::string(json::GetString(*entry, "serverRelativeURL"))
                                      : "/openapi/v3/" + key;
              if (auto v3 = co_await Fetch(*client, url); v3.ok()) {
                api.openapi_v3 = std::move(v3.value());
              }
            }
          }
        }
      }
    }
    api.available = ok;
    {
      std::lock_guard lock(mu);
      auto& slot = apis[name];
      bool differs = slot.available != api.available ||
                     slot.resources.size() != api.resources.size() ||
                     slot.openapi_v2 != api.openapi_v2 || slot.openapi_v3 != api.openapi_v3;
      for (size_t i = 0; !differs && i < api.resources.size(); ++i) {
        differs = slot.resources[i].resource != api.resources[i].resource;
      }
      slot = std::move(api);
      if (differs) ++gen;
    }
    SetCondition(name, ok, reason, message);
  }

  asio::awaitable<void> CheckAll() {
    std::vector<Object> services = store.Snapshot(kAPIServices);
    std::set<std::string> names;
    for (const auto& obj : services) {
      names.insert(std::string(json::GetString((*obj)["metadata"], "name")));
      if (stopped) co_return;
      co_await CheckOne(obj);
    }
    std::lock_guard lock(mu);
    for (auto it = apis.begin(); it != apis.end();) {
      if (!names.count(it->first)) {
        it = apis.erase(it);
        ++gen;
      } else {
        ++it;
      }
    }
  }

  asio::awaitable<void> Loop() {
    while (!stopped) {
      std::vector<std::shared_ptr<std::promise<void>>> waiters;
      {
        std::lock_guard lock(mu);
        waiters.swap(check_waiters);
      }
      co_await CheckAll();
      for (auto& w : waiters) w->set_value();
      if (stopped) break;
      timer.expires_after(opts.interval);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    std::lock_guard lock(mu);
    for (auto& w : check_waiters) w->set_value();
    check_waiters.clear();
  }

  void Wake() {
    auto self = shared_from_this();
    asio::post(executor, [self] { self->timer.cancel(); });
  }

  void OnEvent(const Event& e) {
    if (e.group == kAPIServices.group && e.resource == kAPIServices.resource) {
      // Our own status writes must not re-trigger checks: only spec changes count.
      if (e.type == EventType::kModified && e.old_object && e.object) {
        const json::Value* a = json::Find(*e.old_object, "spec");
        const json::Value* b = json::Find(*e.object, "spec");
        if (a && b && *a == *b) return;
      }
      Wake();
    } else if (e.group.empty() && (e.resource == "services" || e.resource == "endpoints")) {
      Wake();
    }
  }
};

Aggregator::Aggregator(Store& store, asio::any_io_executor executor, Options options)
    : impl_(std::make_shared<Impl>(store, executor, std::move(options))) {}

Aggregator::~Aggregator() { Stop(); }

void Aggregator::Start() {
  std::weak_ptr<Impl> weak = impl_;
  impl_->hook_id = impl_->store.AddChangeHook([weak](const Event& e) {
    if (auto self = weak.lock()) self->OnEvent(e);
  });
  impl_->loop_running = true;
  auto self = impl_;
  asio::co_spawn(
      impl_->executor, [self]() -> asio::awaitable<void> { co_await self->Loop(); },
      [self](std::exception_ptr) { self->loop_done.set_value(); });
}

void Aggregator::Stop() {
  if (!impl_->loop_running) return;
  impl_->loop_running = false;
  impl_->stopped = true;
  if (impl_->hook_id >= 0) impl_->store.RemoveChangeHook(impl_->hook_id);
  impl_->Wake();
  impl_->loop_done.get_future().wait_for(std::chrono::seconds(10));
}

bool Aggregator::Routes(std::string_view group, std::string_view version) const {
  auto obj = impl_->store.Get(kAPIServices, "", std::string(version) + "." + std::string(group));
  return obj.ok() && ServiceOf(**obj).has_value();
}

std::vector<AggregatedAPI> Aggregator::APIs() const {
  std::lock_guard lock(impl_->mu);
  std::vector<AggregatedAPI> out;
  for (const auto& [name, api] : impl_->apis) out.push_back(api);
  return out;
}

uint64_t Aggregator::generation() const {
  std::lock_guard lock(impl_->mu);
  return impl_->gen;
}

void Aggregator::CheckNow() {
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  {
    std::lock_guard lock(impl_->mu);
    impl_->check_waiters.push_back(p);
  }
  impl_->Wake();
  f.wait_for(std::chrono::seconds(30));
}

asio::awaitable<bool> Aggregator::MaybeProxy(http::Request& req, http::ResponseWriter& w,
                                             const UserInfo& user) {
  std::string_view path = req.path;
  if (!path.starts_with("/apis/")) co_return false;
  std::string_view rest = path.substr(6);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) co_return false;
  std::string group(rest.substr(0, slash));
  rest = rest.substr(slash + 1);
  std::string version(rest.substr(0, rest.find('/')));
  if (group.empty() || version.empty()) co_return false;
  std::string name = version + "." + group;
  auto obj = impl_->store.Get(kAPIServices, "", name);
  if (!obj.ok()) co_return false;
  auto ref = ServiceOf(**obj);
  if (!ref) co_return false;

  auto text_error = [&](int code, std::string msg) -> asio::awaitable<void> {
    http::Headers h;
    h.Add("Content-Type", "text/plain; charset=utf-8");
    h.Add("X-Content-Type-Options", "nosniff");
    co_await w.Send(code, std::move(h), msg + "\n");
  };
  if (!impl_->Available(name)) {
    co_await text_error(503, "service unavailable");
    co_return true;
  }
  auto resolved = impl_->Resolve(*ref);
  if (auto* err = std::get_if<ResolveError>(&resolved)) {
    co_await text_error(503, err->message);
    co_return true;
  }
  auto client = impl_->ClientFor(*ref, std::get<Endpoint>(resolved));
  if (!client.ok()) {
    co_await text_error(500, client.error().message);
    co_return true;
  }
  kube::RestRequest rr;
  rr.method = req.method;
  rr.path = req.target;
  for (const auto& [k, v] : req.headers) {
    if (IsHopByHop(k) || http::EqualsIgnoreCase(k, "Authorization") ||
        http::StartsWithIgnoreCase(k, "X-Remote-") ||
        http::EqualsIgnoreCase(k, "Impersonate-User") ||
        http::StartsWithIgnoreCase(k, "Impersonate-")) {
      continue;
    }
    rr.headers.Add(k, v);
  }
  rr.headers.Add("X-Remote-User", user.name);
  if (!user.uid.empty()) rr.headers.Add("X-Remote-Uid", user.uid);
  for (const auto& g : user.groups) rr.headers.Add("X-Remote-Group", g);
  for (const auto& [k, vals] : user.extra) {
    for (const auto& v : vals) rr.headers.Add("X-Remote-Extra-" + http::PercentEncode(k), v);
  }
  if (!rr.headers.Has("Audit-ID")) rr.headers.Add("Audit-ID", NewAuditId());
  rr.body = req.body;
  auto stream = co_await (*client)->Stream(std::move(rr));
  if (!stream.ok()) {
    co_await text_error(503, "Error trying to reach service: '" + stream.error().message + "'");
    co_return true;
  }
  auto& s = *stream.value();
  http::Headers out;
  for (const auto& [k, v] : s.headers()) {
    if (IsHopByHop(k)) continue;
    out.Add(k, v);
  }
  if (!co_await w.WriteHeader(s.status(), std::move(out), std::nullopt)) co_return true;
  while (true) {
    auto r = co_await (s.Read() || w.WaitClosed());
    if (r.index() == 1) co_return true;  // client gone: dropping the stream closes upstream
    auto& chunk = std::get<0>(r);
    if (!chunk.ok()) {
      // The backend broke the stream: break ours too (no clean end), as a proxy would.
      throw std::runtime_error("fakekube aggregator: upstream stream broke");
    }
    if (chunk->empty()) break;
    if (!co_await w.Write(*chunk)) co_return true;
  }
  co_await w.Finish();
  co_return true;
}

}  // namespace fakekube

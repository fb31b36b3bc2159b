#include "tests/fakekube/namespace_controller.h"

#include <glog/logging.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "kube/discovery_docs.h"
#include "kube/json.h"
#include "kube/status.h"
#include "tests/fakekube/store.h"

namespace fakekube {
namespace {

namespace asio = boost::asio;
namespace json = kube::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kFinalizer = "kubernetes";
// kube's finalizerEstimateSeconds: the estimate when remaining items carry finalizers.
constexpr int64_t kFinalizerEstimateSeconds = 15;
constexpr std::string_view kMetadataListAccept =
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
constexpr std::string_view kDeleteBody =
    R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})";

// The condition types the deleter maintains, in kube's order, with their "ok" variants.
struct ConditionKind {
  std::string_view type, ok_reason, ok_message;
};
constexpr ConditionKind kConditionKinds[] = {
    {"NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered",
     "All resources successfully discovered"},
    {"NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions",
     "All legacy kube types successfully parsed"},
    {"NamespaceDeletionContentFailure", "ContentDeleted",
     "All content successfully deleted, may be waiting on finalization"},
    {"NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"},
    {"NamespaceFinalizersRemaining", "ContentRemoved", "All content successfully removed"},
};

struct Condition {
  std::string type, reason, message;  // status True
};

// client-go's error text for a failed response: the Status message, else its generic text for
// the code (newUnstructuredResponseError / NewGenericServerResponse).
std::string ErrorText(const NamespaceController::Response& r) {
  if (auto st = kube::Status::FromJson(r.body); st && !st->message.empty()) return st->message;
  switch (r.status) {
    case 0:
      return r.body.empty() ? "request failed" : r.body;
    case 404:
      return "the server could not find the requested resource";
    case 405:
      return "the server does not allow this method on the requested resource";
    case 409:
      return "the server reported a conflict";
    case 429:
      return "the server has received too many requests and has asked us to try again later";
    case 500:
      return "an error on the server (\"" + r.body +
             "\") has prevented the request from "
             "succeeding";
    case 503:
      return "the server is currently unable to handle the request";
    case 504:
      return "the server was unable to return a response in the time allotted, but may still "
             "be processing the request";
    default:
      return "an error on the server (\"" + r.body +
             "\") has prevented the request from "
             "succeeding";
  }
}

bool Has(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string BasePath(const std::string& group, const std::string& version) {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

// Go's %v of a schema.GroupVersionResource.
std::string GVRString(const kube::APIResource& r) {
  return "{" + r.group + " " + r.version + " " + r.resource + "}";
}

std::vector<std::string> SpecFinalizers(const json::Value& ns) {
  std::vector<std::string> out;
  if (const json::Value* f = json::FindPath(ns, "spec.finalizers"); f && f->IsArray()) {
    for (const auto& x : f->GetArray()) {
      if (x.IsString()) out.emplace_back(json::View(x));
    }
  }
  return out;
}

struct GVRResult {
  int64_t estimate = 0;
  int remaining = 0;
  std::map<std::string, int> finalizers;
  std::optional<std::string> error;
};

}  // namespace

struct NamespaceController::Impl : std::enable_shared_from_this<Impl> {
  Store& store;
  asio::any_io_executor executor;
  SendFn send;
  TargetsFn targets;
  Options opts;
  asio::steady_timer timer;
  int hook_id = -1;
  std::atomic<bool> stopped{false};
  std::promise<void> loop_done;
  bool running = false;
  std::atomic<uint64_t> sync_count{0}, finished_count{0};

  struct Item {
    Clock::time_point due;
    int failures = 0;
  };
  std::mutex mu;  // guards queue
  std::map<std::string, Item> queue;

  Impl(Store& s, asio::any_io_executor ex, SendFn sf, TargetsFn tf, Options o)
      : store(s), executor(ex), send(std::move(sf)), targets(std::move(tf)), opts(o), timer(ex) {}

  void Wake() {
    auto self = shared_from_this();
    asio::post(executor, [self] { self->timer.cancel(); });
  }

  void Enqueue(const std::string& name) {
    {
      std::lock_guard lock(mu);
      auto& item = queue[name];
      item.due = Clock::now();
    }
    Wake();
  }

  void OnEvent(const Event& e) {
    if (!e.group.empty() || e.resource != "namespaces" || e.type == EventType::kDeleted) return;
    if (!e.object) return;
    const json::Value* m = json::Find(*e.object, "metadata");
    if (m == nullptr || json::Find(*m, "deletionTimestamp") == nullptr) return;
    // Only the start of a deletion wakes us: later progress runs on the controller's own requeues
    // (our own status writes must not make a hot loop).
    if (e.old_object) {
      const json::Value* om = json::Find(*e.old_object, "metadata");
      if (om && json::Find(*om, "deletionTimestamp")) return;
    }
    Enqueue(e.name);
  }

  asio::awaitable<Response> Call(std::string method, std::string target, std::string body,
                                 std::string accept) {
    try {
      auto r =
          co_await send(std::move(method), std::move(target), std::move(body), std::move(accept));
      co_return r;
    } catch (const std::exception& e) {
      Response r;
      r.body = e.what();
      co_return r;
    }
  }

  // ---- discovery (ServerPreferredNamespacedResources, filtered to "delete") ----
  struct Discovered {
    std::vector<kube::APIResource> resources;
    std::map<std::string, std::string> failed;  // "<group>/<version>" -> error
  };

  asio::awaitable<Discovered> Discover() {
    Discovered out;
    std::vector<NamespacedDiscoveryTarget> ts = targets();
    for (auto& t : ts) {
      std::vector<kube::APIResource> rs = std::move(t.resources);
      if (t.remote) {
        std::string path = BasePath(t.group, t.version);
        std::string accept = "application/json";
        Response r = co_await Call("GET", path, "", accept);
        std::string gv = t.group + "/" + t.version;
        if (r.status != 200) {
          out.failed[gv] = ErrorText(r);
          continue;
        }
        auto parsed = kube::discovery::ParseAPIResourceList(r.body);
        if (!parsed.ok()) {
          out.failed[gv] = parsed.error().message;
          continue;
        }
        rs = std::move(parsed.value());
      }
      for (auto& r : rs) {
        if (r.resource.find('/') != std::string::npos || !r.namespaced) continue;
        if (!Has(r.verbs, "delete")) continue;
        if (r.group.empty() && t.remote) r.group = t.group;
        if (r.version.empty() && t.remote) r.version = t.version;
        out.resources.push_back(std::move(r));
      }
    }
    co_return out;
  }

  // ---- one resource (deleteAllContentForGroupVersionResource) ----
  asio::awaitable<GVRResult> DeleteResource(kube::APIResource r, std::string ns) {
    GVRResult out;
    std::string collection = BasePath(r.group, r.version) + "/namespaces/" + ns + "/" + r.resource;
    std::string accept = "application/json";
    std::string body(kDeleteBody);
    bool list_supported = Has(r.verbs, "list");
    bool collection_done = false;
    if (Has(r.verbs, "deletecollection")) {
      Response d = co_await Call("DELETE", collection, body, accept);
      if (d.status >= 200 && d.status < 300) {
        collection_done = true;
      } else if (d.status != 404 && d.status != 405) {
        out.error = ErrorText(d);
        co_return out;
      }
    }
    if (!collection_done && list_supported) {
      std::string list_accept(kMetadataListAccept);
      Response l = co_await Call("GET", collection, "", list_accept);
      if (l.status == 404 || l.status == 405) {
        list_supported = false;
      } else if (l.status != 200) {
        out.error = ErrorText(l);
        co_return out;
      } else {
        auto doc = json::Parse(l.body);
        const json::Value* items = doc ? json::Find(*doc, "items") : nullptr;
        std::vector<std::string> names;
        if (items && items->IsArray()) {
          for (const auto& it : items->GetArray()) {
            const json::Value* m = json::Find(it, "metadata");
            if (m) names.emplace_back(json::GetString(*m, "name"));
          }
        }
        for (const auto& name : names) {
          std::string target = collection + "/" + name;
          Response d = co_await Call("DELETE", target, body, accept);
          bool ok = (d.status >= 200 && d.status < 300) || d.status == 404 || d.status == 405;
          if (!ok) {
            out.error = ErrorText(d);
            co_return out;
          }
        }
      }
    }
    if (!list_supported) co_return out;
    // Verify nothing is left.
    std::string list_accept(kMetadataListAccept);
    Response l = co_await Call("GET", collection, "", list_accept);
    if (l.status == 404 || l.status == 405) co_return out;
    if (l.status != 200) {
      out.error = ErrorText(l);
      co_return out;
    }
    auto doc = json::Parse(l.body);
    const json::Value* items = doc ? json::Find(*doc, "items") : nullptr;
    if (items == nullptr || !items->IsArray() || items->Empty()) co_return out;
    out.remaining = static_cast<int>(items->Size());
    for (const auto& it : items->GetArray()) {
      const json::Value* f = json::FindPath(it, "metadata.finalizers");
      if (f == nullptr || !f->IsArray()) continue;
      for (const auto& x : f->GetArray()) {
        if (x.IsString()) ++out.finalizers[std::string(json::View(x))];
      }
    }
    if (!out.finalizers.empty()) {
      out.estimate = kFinalizerEstimateSeconds;
      co_return out;
    }
    out.error = "unexpected items still remain in namespace: " + ns + " for gvr: " + GVRString(r);
    co_return out;
  }

  // Writes the conditions kube's namespaceConditionUpdater would; true when they changed.
  static bool UpdateConditions(json::Document& ns, const std::vector<Condition>& failing) {
    auto& a = ns.GetAllocator();
    json::Value& status = json::EnsureObject(ns, "status", a);
    json::Value* conds = json::Find(status, "conditions");
    if (conds == nullptr || !conds->IsArray()) {
      json::SetMember(status, "conditions", json::Value(rapidjson::kArrayType), a);
      conds = json::Find(status, "conditions");
    }
    bool changed = false;
    std::string now = FormatTime(std::chrono::system_clock::now());
    for (const auto& kind : kConditionKinds) {
      std::string st = "False", reason(kind.ok_reason), message(kind.ok_message);
      for (const auto& c : failing) {
        if (c.type == kind.type) {
          st = "True";
          reason = c.reason;
          message = c.message;
          break;
        }
      }
      json::Value* old = nullptr;
      for (auto& c : conds->GetArray()) {
        if (json::GetString(c, "type") == kind.type) old = &c;
      }
      if (old == nullptr) {
        json::Value c(rapidjson::kObjectType);
        json::SetString(c, "type", kind.type, a);
        json::SetString(c, "status", st, a);
        json::SetString(c, "lastTransitionTime", now, a);
        json::SetString(c, "reason", reason, a);
        json::SetString(c, "message", message, a);
        conds->PushBack(c, a);
        changed = true;
      } else if (json::GetString(*old, "status") != st ||
                 json::GetString(*old, "reason") != reason ||
                 json::GetString(*old, "message") != message) {
        if (json::GetString(*old, "status") != st) {
          json::SetString(*old, "lastTransitionTime", now, a);
        }
        json::SetString(*old, "status", st, a);
        json::SetString(*old, "reason", reason, a);
        json::SetString(*old, "message", message, a);
        changed = true;
      }
    }
    return changed;
  }

  struct ContentResult {
    int64_t estimate = 0;
    bool failed = false;
  };

  // deleteAllContent.
  asio::awaitable<ContentResult> DeleteAllContent(json::Document ns_doc, std::string ns) {
    ContentResult out;
    std::vector<Condition> failing;
    std::vector<std::string> content_errors;
    Discovered d = co_await Discover();
    if (!d.failed.empty()) {
      out.failed = true;
      std::string groups;
      for (const auto& [gv, err] : d.failed) {
        if (!groups.empty()) groups += ", ";
        groups += gv + ": " + err;
      }
      failing.push_back(
          {"NamespaceDeletionDiscoveryFailure", "DiscoveryFailed",
           "Discovery failed for some groups, " + std::to_string(d.failed.size()) +
               " failing: unable to retrieve the complete list of server APIs: " + groups});
    }
    std::map<std::string, int> remaining_by_gvr;
    std::map<std::string, int> remaining_by_finalizer;
    for (const auto& r : d.resources) {
      if (stopped) co_return out;
      GVRResult g = co_await DeleteResource(r, ns);
      if (g.error) {
        out.failed = true;
        content_errors.push_back(*g.error);
      }
      out.estimate = std::max(out.estimate, g.estimate);
      if (g.remaining > 0) {
        remaining_by_gvr[r.resource + "." + r.group] += g.remaining;
        for (const auto& [f, n] : g.finalizers) remaining_by_finalizer[f] += n;
      }
    }
    if (!remaining_by_gvr.empty()) {
      std::vector<std::string> parts;
      for (const auto& [gvr, n] : remaining_by_gvr) {
        parts.push_back(gvr + " has " + std::to_string(n) + " resource instances");
      }
      std::sort(parts.begin(), parts.end());
      std::string msg;
      for (const auto& p : parts) msg += (msg.empty() ? "" : ", ") + p;
      failing.push_back({"NamespaceContentRemaining", "SomeResourcesRemain",
                         "Some resources are remaining: " + msg});
    }
    if (!remaining_by_finalizer.empty()) {
      std::vector<std::string> parts;
      for (const auto& [f, n] : remaining_by_finalizer) {
        parts.push_back(f + " in " + std::to_string(n) + " resource instances");
      }
      std::sort(parts.begin(), parts.end());
      std::string msg;
      for (const auto& p : parts) msg += (msg.empty() ? "" : ", ") + p;
      failing.push_back({"NamespaceFinalizersRemaining", "SomeFinalizerRemain",
                         "Some finalizers are remaining: " + msg});
    }
    if (!content_errors.empty()) {
      std::sort(content_errors.begin(), content_errors.end());
      std::string msg;
      for (const auto& e : content_errors) msg += (msg.empty() ? "" : ", ") + e;
      failing.push_back({"NamespaceDeletionContentFailure", "ContentDeletionFailed",
                         "Failed to delete all resource types, " +
                             std::to_string(content_errors.size()) + " remaining: " + msg});
    }
    if (UpdateConditions(ns_doc, failing)) {
      std::string target = "/api/v1/namespaces/" + ns + "/status";
      std::string accept = "application/json";
      Response u = co_await Call("PUT", target, json::Serialize(ns_doc), accept);
      if (u.status != 200) {
        LOG(WARNING) << "fakekube namespace controller: conditions of " << ns << ": "
                     << ErrorText(u);
      }
    }
    co_return out;
  }

  enum class Outcome { kDone, kRetry, kRequeue };

  asio::awaitable<std::optional<json::Document>> GetNamespace(std::string name, bool* gone) {
    std::string target = "/api/v1/namespaces/" + name;
    std::string accept = "application/json";
    Response r = co_await Call("GET", target, "", accept);
    *gone = r.status == 404;
    if (r.status != 200) co_return std::nullopt;
    auto doc = json::Parse(r.body);
    if (!doc || !doc->IsObject()) co_return std::nullopt;
    co_return std::move(*doc);
  }

  asio::awaitable<Outcome> DeleteNamespace(std::string name, std::string uid) {
    std::string target = "/api/v1/namespaces/" + name;
    std::string body =
        R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":")" + uid + "\"}}";
    std::string accept = "application/json";
    Response r = co_await Call("DELETE", target, body, accept);
    if ((r.status >= 200 && r.status < 300) || r.status == 404) {
      ++finished_count;
      co_return Outcome::kDone;
    }
    co_return Outcome::kRetry;
  }

  // namespacedResourcesDeleter.Delete.
  asio::awaitable<Outcome> Sync(std::string name) {
    ++sync_count;
    bool gone = false;
    auto ns = co_await GetNamespace(name, &gone);
    if (!ns) co_return gone ? Outcome::kDone : Outcome::kRetry;
    const json::Value* m = json::Find(*ns, "metadata");
    if (m == nullptr || json::Find(*m, "deletionTimestamp") == nullptr) co_return Outcome::kDone;
    std::string uid(json::GetString(*m, "uid"));
    // The phase must say Terminating.
    const json::Value* st = json::Find(*ns, "status");
    if (st == nullptr || json::GetString(*st, "phase") != "Terminating") {
      json::SetString(json::EnsureObject(*ns, "status", ns->GetAllocator()), "phase", "Terminating",
                      ns->GetAllocator());
      std::string target = "/api/v1/namespaces/" + name + "/status";
      std::string accept = "application/json";
      Response u = co_await Call("PUT", target, json::Serialize(*ns), accept);
      if (u.status == 404) co_return Outcome::kDone;
      if (u.status != 200) co_return Outcome::kRetry;
      auto doc = json::Parse(u.body);
      if (!doc || !doc->IsObject()) co_return Outcome::kRetry;
      ns = std::move(*doc);
    }
    if (SpecFinalizers(*ns).empty()) {
      auto r = co_await DeleteNamespace(name, uid);
      co_return r;
    }
    json::Document copy = CopyObject(*ns);
    ContentResult content = co_await DeleteAllContent(std::move(copy), name);
    if (stopped) co_return Outcome::kDone;
    if (content.failed) co_return Outcome::kRetry;
    if (content.estimate > 0) co_return Outcome::kRequeue;
    // Finalize: remove our token (retried on conflict with a fresh copy).
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (attempt > 0) {
        bool g = false;
        ns = co_await GetNamespace(name, &g);
        if (!ns) co_return g ? Outcome::kDone : Outcome::kRetry;
      }
      std::vector<std::string> fins = SpecFinalizers(*ns);
      std::set<std::string> keep;
      for (const auto& f : fins) {
        if (f != kFinalizer) keep.insert(f);
      }
      auto& a = ns->GetAllocator();
      json::Value arr(rapidjson::kArrayType);
      for (const auto& f : keep) arr.PushBack(json::Str(f, a), a);
      json::SetMember(json::EnsureObject(*ns, "spec", a), "finalizers", std::move(arr), a);
      std::string target = "/api/v1/namespaces/" + name + "/finalize";
      std::string accept = "application/json";
      Response u = co_await Call("PUT", target, json::Serialize(*ns), accept);
      if (u.status == 404) {
        ++finished_count;
        co_return Outcome::kDone;
      }
      if (u.status == 409) continue;
      if (u.status != 200) co_return Outcome::kRetry;
      auto doc = json::Parse(u.body);
      if (!doc || !doc->IsObject()) co_return Outcome::kRetry;
      if (!SpecFinalizers(*doc).empty()) co_return Outcome::kDone;  // another finalizer's turn
      auto r = co_await DeleteNamespace(name, uid);
      co_return r;
    }
    co_return Outcome::kRetry;
  }

  asio::awaitable<void> Loop() {
    while (!stopped) {
      std::optional<std::string> next;
      Clock::time_point wake_at = Clock::now() + std::chrono::seconds(60);
      {
        std::lock_guard lock(mu);
        auto now = Clock::now();
        for (const auto& [name, item] : queue) {
          if (item.due <= now) {
            next = name;
            break;
          }
          wake_at = std::min(wake_at, item.due);
        }
      }
      if (!next) {
        timer.expires_at(wake_at);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      {
        // Taken off the queue while it runs; an event meanwhile queues it again.
        std::lock_guard lock(mu);
        queue[*next].due = Clock::time_point::max();
      }
      Outcome o = co_await Sync(*next);
      std::lock_guard lock(mu);
      auto it = queue.find(*next);
      if (it == queue.end()) continue;
      if (it->second.due != Clock::time_point::max()) continue;  // re-queued meanwhile
      if (o == Outcome::kDone) {
        queue.erase(it);
      } else if (o == Outcome::kRequeue) {
        it->second.failures = 0;
        it->second.due = Clock::now() + opts.content_remaining_requeue;
      } else {
        auto backoff = opts.retry_initial * (1 << std::min(it->second.failures, 16));
        it->second.due =
            Clock::now() + std::min<std::chrono::milliseconds>(backoff, opts.retry_max);
        ++it->second.failures;
      }
    }
  }
};

NamespaceController::NamespaceController(Store& store, asio::any_io_executor executor, SendFn send,
                                         TargetsFn targets, Options options)
    : impl_(std::make_shared<Impl>(store, executor, std::move(send), std::move(targets), options)) {
}

NamespaceController::~NamespaceController() { Stop(); }

void NamespaceController::Start() {
  Impl& s = *impl_;
  if (s.running) return;
  s.running = true;
  std::weak_ptr<Impl> weak = impl_;
  s.hook_id = s.store.AddChangeHook([weak](const Event& e) {
    if (auto self = weak.lock()) self->OnEvent(e);
  });
  for (const auto& obj : s.store.Snapshot({"", "namespaces"})) {
    const json::Value* m = json::Find(*obj, "metadata");
    if (m && json::Find(*m, "deletionTimestamp"))
      s.Enqueue(std::string(json::GetString(*m, "name")));
  }
  auto self = impl_;
  asio::co_spawn(
      s.executor, [self]() -> asio::awaitable<void> { co_await self->Loop(); },
      [self](std::exception_ptr e) {
        if (e) LOG(ERROR) << "fakekube namespace controller: the loop ended with an exception";
        self->loop_done.set_value();
      });
}

void NamespaceController::Stop() {
  Impl& s = *impl_;
  if (!s.running) return;
  s.running = false;
  s.stopped = true;
  if (s.hook_id >= 0) s.store.RemoveChangeHook(s.hook_id);
  s.hook_id = -1;
  s.Wake();
  if (s.loop_done.get_future().wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    LOG(WARNING) << "fakekube namespace controller: a request was still in flight at stop";
  }
}

uint64_t NamespaceController::syncs() const { return impl_->sync_count.load(); }
uint64_t NamespaceController::finished() const { return impl_->finished_count.load(); }

}  // namespace fakekube

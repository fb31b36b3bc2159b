#include "discovery/secret_sync.h"

#include <glog/logging.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "discovery/apiservice.h"
#include "discovery/informer.h"
#include "discovery/leader_election.h"
#include "discovery/snapshot.h"
#include "kube/http.h"
#include "kube/rest_client.h"

namespace discovery {

namespace json = kube::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kAppClusterLabel = "mcp-connector.upbound.io/app-cluster";
constexpr std::string_view kAppNamespaceLabel = "mcp-connector.upbound.io/app-namespace";
constexpr std::string_view kAppNameLabel = "mcp-connector.upbound.io/app-resource-name";

std::string_view Meta(const json::Value& obj, std::string_view map, std::string_view key) {
  const json::Value* md = json::Find(obj, "metadata");
  const json::Value* m = md ? json::Find(*md, map) : nullptr;
  return m ? json::GetString(*m, key) : std::string_view();
}

struct Target {
  std::string ns;
  std::string name;
  std::string claim;  // "KubernetesCluster.k8s.starter.org/<app name>"
};

bool Managed(const json::Value& secret, std::string_view cluster_id) {
  return Meta(secret, "labels", kManagedByLabel) == kManagedByValue &&
         Meta(secret, "labels", kClusterLabel) == cluster_id;
}

}  // namespace

struct SecretSyncer::State : std::enable_shared_from_this<SecretSyncer::State> {
  std::shared_ptr<kube::RestClient> control_plane;
  std::shared_ptr<kube::RestClient> app_cluster;
  SecretSyncOptions options;
  std::function<bool()> may_write;
  bool stopped = false;
  bool leader = false;
  std::atomic<uint64_t> creates{0}, updates{0}, deletes{0}, conflicts{0};

  std::shared_ptr<Informer> sources;  // control-plane secrets in the claim namespace
  std::shared_ptr<Informer> copies;   // our copies in the app cluster (all namespaces)
  std::set<std::string> queue;        // control-plane secret names
  std::map<std::string, std::pair<Clock::time_point, int>> retry;
  std::set<std::string> reported;  // "<ns>/<name>@<source rv>" conflicts already reported
  std::unique_ptr<asio::steady_timer> wake;

  void Wake() {
    if (wake) wake->cancel();
  }
  bool CanWrite() const {
    return !stopped && leader && may_write && may_write() && sources && sources->synced() &&
           copies && copies->synced();
  }

  // The claim that owns a control-plane connection secret, resolved to where the copy goes.
  asio::awaitable<std::optional<Target>> Resolve(Object secret, std::string name) {
    const json::Value* refs = json::FindPath(*secret, "metadata.ownerReferences");
    if (!refs || !refs->IsArray()) co_return std::nullopt;
    auto snap = options.publisher ? options.publisher->Load() : nullptr;
    for (const auto& ref : refs->GetArray()) {
      std::string_view api_version = json::GetString(ref, "apiVersion");
      std::string_view kind = json::GetString(ref, "kind");
      std::string_view owner = json::GetString(ref, "name");
      size_t slash = api_version.find('/');
      if (slash == std::string_view::npos || owner.empty() || !snap) continue;
      std::string_view group = api_version.substr(0, slash);
      std::string_view version = api_version.substr(slash + 1);
      const ServedResource* r = snap->LookupKind(group, version, kind);
      if (!r) continue;
      std::string path = "/apis/" + std::string(api_version) + "/namespaces/" +
                         options.claim_namespace + "/" + r->api.resource + "/" + std::string(owner);
      auto claim = co_await control_plane->Get(path);
      if (!claim.ok()) continue;
      const json::Value& c = *claim;
      // Only this cluster's claims, and only the secret the claim asked for.
      if (Meta(c, "labels", kAppClusterLabel) != options.cluster_id) continue;
      const json::Value* ref_name = json::FindPath(c, "spec.writeConnectionSecretToRef");
      if (!ref_name || json::GetString(*ref_name, "name") != name) continue;
      Target t;
      t.ns = std::string(Meta(c, "labels", kAppNamespaceLabel));
      t.name = std::string(Meta(c, "annotations", kConnectionSecretNameAnnotation));
      // Claims written by `up controlplane migration import` carry no annotations and keep the
      // secret name the user wrote: Crossplane writes the secret under that very name.
      if (t.name.empty()) t.name = name;
      std::string app_name(Meta(c, "annotations", kAppNameLabel));
      if (app_name.empty()) app_name = std::string(Meta(c, "labels", kAppNameLabel));
      t.claim = std::string(kind) + "." + std::string(group) + "/" + app_name;
      if (t.ns.empty() || t.name.empty()) continue;
      co_return t;
    }
    co_return std::nullopt;
  }

  json::Document Desired(const json::Value& source, const std::string& source_name,
                         const Target& t) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    json::SetString(d, "apiVersion", "v1", a);
    json::SetString(d, "kind", "Secret", a);
    json::Value& md = json::EnsureObject(d, "metadata", a);
    json::SetString(md, "name", t.name, a);
    json::SetString(md, "namespace", t.ns, a);
    json::Value& labels = json::EnsureObject(md, "labels", a);
    json::SetString(labels, kManagedByLabel, kManagedByValue, a);
    json::SetString(labels, kClusterLabel, options.cluster_id, a);
    json::Value& ann = json::EnsureObject(md, "annotations", a);
    json::SetString(ann, kSourceSecretAnnotation, options.claim_namespace + "/" + source_name, a);
    json::SetString(ann, kClaimAnnotation, t.claim, a);
    std::string_view type = json::GetString(source, "type");
    if (!type.empty()) json::SetString(d, "type", type, a);
    if (const json::Value* data = json::Find(source, "data"); data && data->IsObject()) {
      json::Value copy;
      copy.CopyFrom(*data, a);
      json::SetMember(d, "data", std::move(copy), a);
    } else {
      json::SetMember(d, "data", json::Value(rapidjson::kObjectType), a);
    }
    return d;
  }

  static bool SameCopy(const json::Value& cur, const json::Value& want) {
    const json::Value* cd = json::Find(cur, "data");
    const json::Value* wd = json::Find(want, "data");
    bool cur_empty = !cd || (cd->IsObject() && cd->MemberCount() == 0);
    bool want_empty = !wd || (wd->IsObject() && wd->MemberCount() == 0);
    if (!(cur_empty && want_empty) && !(cd && wd && *cd == *wd)) return false;
    if (json::GetString(cur, "type", "Opaque") != json::GetString(want, "type", "Opaque")) {
      return false;
    }
    for (std::string_view map : {"labels", "annotations"}) {
      const json::Value* wm = json::FindPath(want, "metadata");
      wm = wm ? json::Find(*wm, map) : nullptr;
      if (!wm) continue;
      for (const auto& m : wm->GetObject()) {
        if (Meta(cur, map, json::View(m.name)) != json::View(m.value)) return false;
      }
    }
    return true;
  }

  asio::awaitable<void> Event(Target t, std::string message) {
    json::Document ev(rapidjson::kObjectType);
    auto& a = ev.GetAllocator();
    json::SetString(ev, "apiVersion", "v1", a);
    json::SetString(ev, "kind", "Event", a);
    json::Value& md = json::EnsureObject(ev, "metadata", a);
    // Named like client-go's recorder: "<object>.<hex nanoseconds>".
    char suffix[24];
    std::snprintf(suffix, sizeof(suffix), ".%llx",
                  static_cast<unsigned long long>(
                      std::chrono::system_clock::now().time_since_epoch().count()));
    json::SetString(md, "name", t.name + suffix, a);
    json::SetString(md, "namespace", t.ns, a);
    json::Value& obj = json::EnsureObject(ev, "involvedObject", a);
    json::SetString(obj, "apiVersion", "v1", a);
    json::SetString(obj, "kind", "Secret", a);
    json::SetString(obj, "namespace", t.ns, a);
    json::SetString(obj, "name", t.name, a);
    json::SetString(ev, "reason", "ConnectionSecretConflict", a);
    json::SetString(ev, "message", message, a);
    json::SetString(ev, "type", "Warning", a);
    json::SetMember(ev, "count", json::Value(1), a);
    std::string now = MicroTimeNow();
    now = now.substr(0, 19) + "Z";
    json::SetString(ev, "firstTimestamp", now, a);
    json::SetString(ev, "lastTimestamp", now, a);
    json::SetString(json::EnsureObject(ev, "source", a), "component", "mcp-connector", a);
    auto res =
        co_await app_cluster->Create("/api/v1/namespaces/" + t.ns + "/events", json::Serialize(ev));
    if (!res.ok()) VLOG(1) << "secret sync: event: " << res.error().message;
  }

  // Returns false when it should be retried.
  asio::awaitable<bool> Reconcile(std::string source_name) {
    const std::string source_key = options.claim_namespace + "/" + source_name;
    Object source = sources->Get(source_key);
    std::optional<Target> target;
    if (source) target = co_await Resolve(source, source_name);
    VLOG(2) << "secret sync: " << source_name
            << (target ? " -> " + target->ns + "/" + target->name
                       : std::string(" (no claim of ours)"));
    if (!CanWrite()) co_return false;
    bool ok = true;
    if (target) {
      source = sources->Get(source_key);  // may have changed while resolving
      if (!source) co_return true;
      json::Document want = Desired(*source, source_name, *target);
      std::string path = "/api/v1/namespaces/" + target->ns + "/secrets/" + target->name;
      auto cur = co_await app_cluster->Get(path);
      if (!CanWrite()) co_return false;
      if (!cur.ok() && cur.error().code == 404) {
        auto res = co_await app_cluster->Create("/api/v1/namespaces/" + target->ns + "/secrets",
                                                json::Serialize(want));
        if (res.ok()) {
          ++creates;
          LOG(INFO) << "secret sync: created " << target->ns << "/" << target->name;
          copies->Upsert(std::make_shared<json::Document>(std::move(*res)));
        } else {
          VLOG(1) << "secret sync: create " << target->ns << "/" << target->name << ": "
                  << res.error().message;
          ok = false;
        }
      } else if (!cur.ok()) {
        ok = false;
      } else if (!Managed(*cur, options.cluster_id) ||
                 (Meta(*cur, "annotations", kSourceSecretAnnotation) !=
                      options.claim_namespace + "/" + source_name &&
                  Meta(*cur, "annotations", kClaimAnnotation) != target->claim)) {
        // (Our copy for the same claim whose source moved, e.g. an imported claim's secret name
        // translated by its first write, is taken over below: the claim names its new source.)
        std::string key =
            target->ns + "/" + target->name + "@" +
            std::string(json::GetString(*json::Find(*source, "metadata"), "resourceVersion"));
        if (reported.insert(key).second) {
          ++conflicts;
          std::string msg = "Secret " + target->ns + "/" + target->name +
                            " exists and is not managed by mcp-connector for " + target->claim +
                            "; the connection secret was not copied";
          LOG(WARNING) << "secret sync: " << msg;
          co_await Event(*target, msg);
        }
      } else if (!SameCopy(*cur, want)) {
        json::Document next;
        next.CopyFrom(*cur, next.GetAllocator());
        auto& a = next.GetAllocator();
        for (std::string_view map : {"labels", "annotations"}) {
          json::Value& dst = json::EnsureObject(json::EnsureObject(next, "metadata", a), map, a);
          for (const auto& m : want["metadata"][std::string(map).c_str()].GetObject()) {
            json::SetString(dst, json::View(m.name), json::View(m.value), a);
          }
        }
        json::Value data;
        data.CopyFrom(want["data"], a);
        json::SetMember(next, "data", std::move(data), a);
        json::RemoveMember(next, "stringData");
        if (json::Find(want, "type"))
          json::SetString(next, "type", json::GetString(want, "type"), a);
        auto res = co_await app_cluster->Update(path, json::Serialize(next));
        if (res.ok()) {
          ++updates;
          LOG(INFO) << "secret sync: updated " << target->ns << "/" << target->name;
          copies->Upsert(std::make_shared<json::Document>(std::move(*res)));
        } else {
          ok = false;
        }
      }
    }
    // Copies of this source that should no longer exist (source or claim gone, target moved).
    std::vector<std::pair<std::string, std::string>> stale;
    for (const auto& [key, obj] : copies->items()) {
      if (Meta(*obj, "annotations", kSourceSecretAnnotation) !=
          options.claim_namespace + "/" + source_name) {
        continue;
      }
      const json::Value* md = json::Find(*obj, "metadata");
      std::string ns(json::GetString(*md, "namespace"));
      std::string nm(json::GetString(*md, "name"));
      if (target && target->ns == ns && target->name == nm) continue;
      if (!Managed(*obj, options.cluster_id)) continue;
      stale.emplace_back(ns, nm);
    }
    for (const auto& [ns, nm] : stale) {
      auto res = co_await app_cluster->Delete("/api/v1/namespaces/" + ns + "/secrets/" + nm);
      if (res.ok() || res.error().code == 404) {
        if (res.ok()) {
          ++deletes;
          LOG(INFO) << "secret sync: deleted " << ns << "/" << nm;
        }
        copies->Remove(ns + "/" + nm);
      } else {
        ok = false;
      }
    }
    co_return ok;
  }

  // Enqueues a source by secret name or by informer key ("<claim ns>/<name>").
  void Enqueue(const std::string& source) {
    std::string prefix = options.claim_namespace + "/";
    queue.insert(source.starts_with(prefix) ? source.substr(prefix.size()) : source);
    Wake();
  }

  asio::awaitable<void> Worker() {
    auto self = shared_from_this();
    wake = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
    while (!stopped) {
      if (CanWrite()) {
        auto now = Clock::now();
        for (const auto& [n, r] : retry) {
          if (r.first <= now) queue.insert(n);
        }
        while (!queue.empty() && CanWrite()) {
          std::string name = *queue.begin();
          queue.erase(queue.begin());
          auto it = retry.find(name);
          if (it != retry.end() && it->second.first > Clock::now()) continue;
          bool ok = co_await Reconcile(name);
          if (ok) {
            retry.erase(name);
          } else {
            auto& [when, attempts] = retry[name];
            Backoff b(options.backoff_initial, options.backoff_max);
            std::chrono::milliseconds d{0};
            for (int i = 0; i <= std::min(attempts, 20); ++i) d = b.Next();
            ++attempts;
            when = Clock::now() + d;
          }
        }
      }
      Clock::time_point until = Clock::time_point::max();
      if (CanWrite()) {
        for (const auto& [n, r] : retry) until = std::min(until, r.first);
        if (!queue.empty()) continue;
      }
      wake->expires_at(until);
      co_await wake->async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  void EnqueueAll() {
    if (sources) {
      for (const auto& [k, v] : sources->items()) {
        std::string prefix = options.claim_namespace + "/";
        queue.insert(k.starts_with(prefix) ? k.substr(prefix.size()) : k);
      }
    }
    if (copies) {
      for (const auto& [k, v] : copies->items()) {
        std::string_view src = Meta(*v, "annotations", kSourceSecretAnnotation);
        std::string prefix = options.claim_namespace + "/";
        if (src.starts_with(prefix)) queue.insert(std::string(src.substr(prefix.size())));
      }
    }
    Wake();
  }
};

SecretSyncer::SecretSyncer(std::shared_ptr<kube::RestClient> control_plane,
                           std::shared_ptr<kube::RestClient> app_cluster, SecretSyncOptions options,
                           std::function<bool()> may_write)
    : state_(std::make_shared<State>()) {
  state_->control_plane = std::move(control_plane);
  state_->app_cluster = std::move(app_cluster);
  state_->options = std::move(options);
  state_->may_write = std::move(may_write);
}

SecretSyncer::~SecretSyncer() = default;

asio::awaitable<void> SecretSyncer::Run() {
  using namespace asio::experimental::awaitable_operators;
  auto s = state_;
  std::weak_ptr<State> weak = s;
  InformerOptions src;
  src.name = "connection-secrets";
  src.paths = {"/api/v1/namespaces/" + s->options.claim_namespace + "/secrets"};
  src.backoff_initial = s->options.backoff_initial;
  src.backoff_max = s->options.backoff_max;
  src.watch_timeout_min = s->options.watch_timeout_min;
  s->sources = std::make_shared<Informer>(
      s->control_plane, src,
      [weak](const std::string& key, const Object&, const Object&) {
        if (auto st = weak.lock()) st->Enqueue(key);
      },
      [weak] {
        if (auto st = weak.lock()) st->EnqueueAll();
      });
  InformerOptions cp = src;
  cp.name = "connection-secret-copies";
  cp.paths = {"/api/v1/secrets"};
  cp.label_selector = std::string(kManagedByLabel) + "=" + std::string(kManagedByValue) + "," +
                      std::string(kClusterLabel) + "=" + s->options.cluster_id;
  s->copies = std::make_shared<Informer>(
      s->app_cluster, cp,
      [weak](const std::string&, const Object& old_obj, const Object& new_obj) {
        auto st = weak.lock();
        if (!st) return;
        const Object& o = new_obj ? new_obj : old_obj;
        std::string_view src = Meta(*o, "annotations", kSourceSecretAnnotation);
        std::string prefix = st->options.claim_namespace + "/";
        if (src.starts_with(prefix)) st->Enqueue(std::string(src.substr(prefix.size())));
      },
      [weak] {
        if (auto st = weak.lock()) st->EnqueueAll();
      });
  co_await (s->sources->Run() && s->copies->Run() && s->Worker());
}

void SecretSyncer::Stop() {
  state_->stopped = true;
  if (state_->sources) state_->sources->Stop();
  if (state_->copies) state_->copies->Stop();
  state_->Wake();
}

void SecretSyncer::SetLeader(bool leader) {
  state_->leader = leader;
  if (leader) state_->EnqueueAll();
  state_->Wake();
}

void SecretSyncer::Resync() { state_->EnqueueAll(); }

SecretSyncCounters SecretSyncer::counters() const {
  return {state_->creates, state_->updates, state_->deletes, state_->conflicts};
}

}  // namespace discovery

#include "discovery/controller.h"

#include <glog/logging.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <list>
#include <map>
#include <random>
#include <set>

#include "discovery/apiservice.h"
#include "discovery/informer.h"
#include "discovery/leader_election.h"
#include "discovery/secret_sync.h"
#include "discovery/served_apis.h"
#include "kube/http.h"
#include "kube/rest_client.h"

namespace discovery {

namespace json = kube::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kXRDPathV1 =
    "/apis/apiextensions.crossplane.io/v1/compositeresourcedefinitions";
constexpr const char* kXRDPathV2 =
    "/apis/apiextensions.crossplane.io/v2/compositeresourcedefinitions";
constexpr const char* kCRDPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
constexpr const char* kAPIServicePath = "/apis/apiregistration.k8s.io/v1/apiservices";

std::string DefaultIdentity() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == 0) std::snprintf(host, 8, "unknown");
  std::mt19937_64 rng(std::random_device{}());
  char suffix[17];
  std::snprintf(suffix, sizeof(suffix), "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(host) + "_" + std::string(suffix, 8);
}

struct AtomicCounters {
  std::atomic<uint64_t> apiservice_creates{0}, apiservice_updates{0}, apiservice_deletes{0},
      apiservice_write_errors{0}, apiservice_foreign_refusals{0}, claim_namespace_creates{0},
      snapshots_published{0}, informer_relists{0}, informer_failures{0};
};

}  // namespace

struct Controller::Impl : std::enable_shared_from_this<Controller::Impl> {
  Impl(asio::any_io_executor ex, std::shared_ptr<kube::RestClient> cp,
       std::shared_ptr<kube::RestClient> app, ControllerOptions opts,
       std::shared_ptr<SnapshotPublisher> pub)
      : strand(asio::make_strand(ex)),
        control_plane(std::move(cp)),
        app_cluster(std::move(app)),
        options(std::move(opts)),
        publisher(std::move(pub)),
        wake(strand),
        ns_backoff(options.backoff_initial, options.backoff_max),
        done(strand) {
    if (options.identity.empty()) options.identity = DefaultIdentity();
    if (options.lease_namespace.empty()) options.lease_namespace = options.service_namespace;
    if (!publisher) publisher = std::make_shared<SnapshotPublisher>();
  }

  asio::strand<asio::any_io_executor> strand;
  std::shared_ptr<kube::RestClient> control_plane;
  std::shared_ptr<kube::RestClient> app_cluster;
  ControllerOptions options;
  std::shared_ptr<SnapshotPublisher> publisher;

  std::shared_ptr<Informer> xrds, crds, apiservices;
  std::shared_ptr<LeaderElector> elector;
  std::shared_ptr<SecretSyncer> secrets;

  // Reconciler state (strand only).
  bool started = false;
  bool stopping = false;
  bool recompute = true;
  bool cp_loaded = false;  // served set computed from synced XRD + CRD caches at least once
  std::vector<ServedResource> served;
  std::map<std::string, json::Document> desired;  // APIService name -> object
  std::set<std::string> queue;
  std::map<std::string, std::pair<Clock::time_point, int>> retry;  // name -> (when, attempts)
  std::map<std::string, std::string> foreign;                      // name -> reason
  Clock::time_point next_resync{};
  asio::steady_timer wake;

  // Claim namespace state.
  bool ns_ok = false;
  std::string ns_reason = "not checked yet";
  Backoff ns_backoff;

  // Snapshot bookkeeping.
  uint64_t generation = 0;
  std::shared_ptr<const DiscoverySnapshot> last;

  // Task tracking for Stop().
  std::list<asio::cancellation_signal> signals;
  int running = 0;
  asio::steady_timer done;

  std::atomic<bool> is_leader{false};
  AtomicCounters counters;
  std::atomic<size_t> served_count{0}, foreign_count{0};
  std::atomic<bool> ready_gauge{false};

  bool CanWrite() const {
    return !stopping && is_leader.load() && cp_loaded && apiservices && apiservices->synced();
  }

  void Wake() { wake.cancel(); }

  template <class F>
  void Spawn(F&& make) {
    auto self = shared_from_this();
    signals.emplace_back();
    ++running;
    asio::co_spawn(
        strand, make(),
        asio::bind_cancellation_slot(signals.back().slot(), [self](std::exception_ptr e) {
          if (e && !self->stopping) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              LOG(ERROR) << "discovery task failed: " << ex.what();
            }
          }
          if (--self->running == 0) self->done.cancel();
        }));
  }

  // ---- served set and snapshot ----

  void OnControlPlaneChange() {
    recompute = true;
    Wake();
  }

  Readiness CurrentReadiness() const {
    Readiness r;
    r.loaded = cp_loaded;
    bool reach = xrds && crds && xrds->reachable() && crds->reachable();
    r.control_plane_reachable = reach;
    if (!reach) {
      if (xrds && !xrds->reachable()) r.control_plane_error = xrds->last_error();
      if (crds && !crds->reachable() && r.control_plane_error.empty()) {
        r.control_plane_error = crds->last_error();
      }
      if (r.control_plane_error.empty()) r.control_plane_error = "not contacted yet";
    }
    r.claim_namespace_ok = ns_ok;
    r.claim_namespace_reason = ns_reason;
    r.leader = is_leader.load();
    for (const auto& [name, reason] : foreign) r.foreign_apiservices.push_back({name, reason});
    return r;
  }

  static bool SameReadiness(const Readiness& a, const Readiness& b) {
    if (a.loaded != b.loaded || a.control_plane_reachable != b.control_plane_reachable ||
        a.control_plane_error != b.control_plane_error ||
        a.claim_namespace_ok != b.claim_namespace_ok ||
        a.claim_namespace_reason != b.claim_namespace_reason || a.leader != b.leader ||
        a.foreign_apiservices.size() != b.foreign_apiservices.size()) {
      return false;
    }
    for (size_t i = 0; i < a.foreign_apiservices.size(); ++i) {
      if (a.foreign_apiservices[i].name != b.foreign_apiservices[i].name ||
          a.foreign_apiservices[i].reason != b.foreign_apiservices[i].reason) {
        return false;
      }
    }
    return true;
  }

  // Publishes a new snapshot when the served set (new_served) or readiness changed.
  void Publish(std::vector<ServedResource>* new_served) {
    Readiness r = CurrentReadiness();
    std::shared_ptr<const DiscoverySnapshot> next;
    if (new_served) {
      auto candidate = DiscoverySnapshot::Make(*new_served, r, generation + 1);
      if (last && candidate->SameAPIs(*last) &&
          SameReadiness(last->readiness(), candidate->readiness())) {
        return;
      }
      next = std::move(candidate);
    } else {
      if (last && SameReadiness(last->readiness(), r)) return;
      next = last ? last->WithReadiness(std::move(r), generation + 1)
                  : DiscoverySnapshot::Make({}, std::move(r), generation + 1);
    }
    bool apis_changed = !last || !next->SameAPIs(*last);
    ++generation;
    last = next;
    if (apis_changed && secrets) secrets->Resync();
    served_count = next->size();
    ready_gauge = next->readiness().Ready();
    publisher->Publish(std::move(next));
    ++counters.snapshots_published;
  }

  void Recompute() {
    recompute = false;
    if (!xrds->synced() || !crds->synced()) {
      Publish(nullptr);
      return;
    }
    std::vector<const json::Value*> x, c;
    for (const auto& [k, v] : xrds->items()) x.push_back(v.get());
    for (const auto& [k, v] : crds->items()) c.push_back(v.get());
    ServedAPIs computed = ComputeServedAPIs(x, c);
    for (const auto& note : computed.notes) VLOG(2) << "discovery: " << note;
    bool first = !cp_loaded;
    cp_loaded = true;
    served = std::move(computed.resources);
    if (first) {
      LOG(INFO) << "discovery: control plane loaded, serving " << served.size() << " resources";
    }
    Publish(&served);
    RecomputeDesired();
  }

  void RecomputeDesired() {
    std::map<std::string, json::Document> next;
    for (const auto& r : served) {
      std::string name = APIServiceName(r.api.group, r.api.version);
      if (next.count(name)) continue;
      APIServiceSpec spec;
      spec.group = r.api.group;
      spec.version = r.api.version;
      spec.service_namespace = options.service_namespace;
      spec.service_name = options.service_name;
      spec.service_port = options.service_port;
      spec.ca_bundle_pem = options.ca_bundle_pem;
      spec.cluster_id = options.cluster_id;
      next.emplace(name, DesiredAPIService(spec));
    }
    // Enqueue names whose desired object changed or appeared/disappeared.
    for (const auto& [name, doc] : next) {
      auto it = desired.find(name);
      if (it == desired.end() || !(it->second == doc)) queue.insert(name);
    }
    for (const auto& [name, doc] : desired) {
      if (!next.count(name)) queue.insert(name);
    }
    desired = std::move(next);
    RefreshForeign();
  }

  // Foreign APIServices among the names we want (every replica computes it, for /readyz).
  void RefreshForeign() {
    std::map<std::string, std::string> next;
    if (apiservices && apiservices->synced()) {
      for (const auto& [name, doc] : desired) {
        Object cur = apiservices->Get(name);
        if (cur && !OwnedBy(*cur, options.cluster_id)) {
          next.emplace(name, ForeignReason(*cur, options.cluster_id));
        }
      }
    }
    for (const auto& [name, reason] : next) {
      if (!foreign.count(name)) {
        ++counters.apiservice_foreign_refusals;
        LOG(WARNING) << "discovery: refusing to touch APIService " << name
                     << " which this connector does not own: " << reason;
      }
    }
    foreign = std::move(next);
    foreign_count = foreign.size();
    Publish(nullptr);
  }

  void OnAPIServiceChange(const std::string& key) {
    if (desired.count(key) || foreign.count(key)) {
      queue.insert(key);
      RefreshForeign();
    } else if (Object cur = apiservices->Get(key); cur && OwnedBy(*cur, options.cluster_id)) {
      queue.insert(key);  // ours but no longer desired (or appeared while we ran): reconcile
    }
    Wake();
  }

  void EnqueueAll() {
    for (const auto& [name, doc] : desired) queue.insert(name);
    if (apiservices) {
      for (const auto& [name, obj] : apiservices->items()) {
        if (OwnedBy(*obj, options.cluster_id)) queue.insert(name);
      }
    }
  }

  // ---- reconcile ----

  void Requeue(const std::string& name) {
    auto& [when, attempts] = retry[name];
    ++attempts;
    Backoff b(options.backoff_initial, options.backoff_max);
    std::chrono::milliseconds d{0};
    for (int i = 0; i < std::min(attempts, 20); ++i) d = b.Next();
    when = Clock::now() + d;
  }

  asio::awaitable<void> ReconcileOne(std::string name) {
    auto want = desired.find(name);
    Object cur = apiservices->Get(name);
    const std::string path = std::string(kAPIServicePath) + "/" + name;
    if (want != desired.end()) {
      if (!cur) {
        auto res = co_await app_cluster->Create(kAPIServicePath, json::Serialize(want->second));
        if (res.ok()) {
          ++counters.apiservice_creates;
          LOG(INFO) << "discovery: created APIService " << name;
          apiservices->Upsert(std::make_shared<json::Document>(std::move(*res)));
          retry.erase(name);
        } else {
          ++counters.apiservice_write_errors;
          LOG(WARNING) << "discovery: create APIService " << name << ": " << res.error().code << " "
                       << res.error().message;
          Requeue(name);
        }
        co_return;
      }
      if (!OwnedBy(*cur, options.cluster_id)) {
        retry.erase(name);
        co_return;  // reported by RefreshForeign; never touched
      }
      std::optional<json::Document> update = UpdateFor(*cur, want->second);
      if (!update) {
        retry.erase(name);
        co_return;
      }
      auto res = co_await app_cluster->Update(path, json::Serialize(*update));
      if (res.ok()) {
        ++counters.apiservice_updates;
        LOG(INFO) << "discovery: updated APIService " << name;
        apiservices->Upsert(std::make_shared<json::Document>(std::move(*res)));
        retry.erase(name);
      } else {
        ++counters.apiservice_write_errors;
        LOG(WARNING) << "discovery: update APIService " << name << ": " << res.error().code << " "
                     << res.error().message;
        Requeue(name);
      }
      co_return;
    }
    if (!cur || !OwnedBy(*cur, options.cluster_id)) {
      retry.erase(name);
      co_return;
    }
    // Ours and no longer served: delete, with a precondition on the uid we saw.
    json::Document opts(rapidjson::kObjectType);
    auto& a = opts.GetAllocator();
    json::SetString(opts, "apiVersion", "v1", a);
    json::SetString(opts, "kind", "DeleteOptions", a);
    const json::Value* uid = json::FindPath(*cur, "metadata.uid");
    if (uid && uid->IsString()) {
      json::Value& pre = json::EnsureObject(opts, "preconditions", a);
      json::SetString(pre, "uid", json::View(*uid), a);
    }
    auto res = co_await app_cluster->Delete(path, json::Serialize(opts));
    if (res.ok() || res.error().code == 404) {
      if (res.ok()) {
        ++counters.apiservice_deletes;
        LOG(INFO) << "discovery: deleted APIService " << name << " (no longer served)";
      }
      apiservices->Remove(name);
      retry.erase(name);
    } else {
      ++counters.apiservice_write_errors;
      LOG(WARNING) << "discovery: delete APIService " << name << ": " << res.error().code << " "
                   << res.error().message;
      Requeue(name);
    }
  }

  asio::awaitable<void> Worker() {
    auto self = shared_from_this();
    next_resync = Clock::now() + options.resync_period;
    while (!stopping) {
      if (recompute) Recompute();
      if (CanWrite()) {
        if (Clock::now() >= next_resync) {
          EnqueueAll();
          next_resync = Clock::now() + options.resync_period;
        }
        auto now = Clock::now();
        for (auto it = retry.begin(); it != retry.end(); ++it) {
          if (it->second.first <= now) queue.insert(it->first);
        }
        while (!queue.empty() && CanWrite() && !recompute) {
          std::string name = *queue.begin();
          queue.erase(queue.begin());
          auto r = retry.find(name);
          if (r != retry.end() && r->second.first > Clock::now()) continue;  // not due yet
          co_await ReconcileOne(name);
        }
        if (recompute) continue;
      }
      // Sleep until woken, the next retry, or the next resync.
      Clock::time_point until = Clock::time_point::max();
      if (CanWrite()) {
        until = next_resync;
        for (const auto& [n, r] : retry) until = std::min(until, r.first);
        if (!queue.empty()) continue;
      }
      wake.expires_at(until);
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  // ---- claim namespace ----

  asio::awaitable<void> NamespaceLoop() {
    auto self = shared_from_this();
    asio::steady_timer timer(strand);
    const std::string& ns = options.claim_namespace;
    while (!stopping) {
      bool ok = false;
      std::string reason;
      auto got = co_await control_plane->Get("/api/v1/namespaces/" + ns);
      if (stopping) break;
      if (got.ok()) {
        const json::Value* status = json::Find(*got, "status");
        if (status && json::GetString(*status, "phase") == "Terminating") {
          reason = "claim namespace " + ns + " is terminating in the control plane";
        } else {
          ok = true;
        }
      } else if (got.error().code == 404) {
        if (!options.create_claim_namespace) {
          reason = "claim namespace " + ns +
                   " does not exist in the control plane (creating it is disabled)";
        } else {
          json::Document body(rapidjson::kObjectType);
          auto& a = body.GetAllocator();
          json::SetString(body, "apiVersion", "v1", a);
          json::SetString(body, "kind", "Namespace", a);
          json::SetString(json::EnsureObject(body, "metadata", a), "name", ns, a);
          auto created =
              co_await control_plane->Create("/api/v1/namespaces", json::Serialize(body));
          if (stopping) break;
          if (created.ok() || created.error().code == 409) {
            if (created.ok()) {
              ++counters.claim_namespace_creates;
              LOG(INFO) << "discovery: created claim namespace " << ns << " in the control plane";
            }
            ok = true;
          } else if (created.error().code == 403) {
            reason = "claim namespace " + ns +
                     " does not exist in the control plane and the connector may not create it: " +
                     created.error().message;
          } else {
            reason = "claim namespace " + ns +
                     " does not exist in the control plane; creating it "
                     "failed: " +
                     created.error().message;
          }
        }
      } else if (got.error().code == 403) {
        reason =
            "cannot read claim namespace " + ns + " in the control plane: " + got.error().message;
      } else {
        reason = "cannot check claim namespace " + ns + ": " + got.error().message;
      }
      if (ok != ns_ok || reason != ns_reason) {
        if (!ok) LOG(WARNING) << "discovery: " << reason;
        ns_ok = ok;
        ns_reason = ok ? "" : reason;
        Publish(nullptr);
      }
      std::chrono::milliseconds wait = options.namespace_recheck;
      if (ok) {
        ns_backoff.Reset();
      } else {
        wait = std::min(ns_backoff.Next(), std::chrono::milliseconds(10000));
      }
      timer.expires_after(wait);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  // ---- lifecycle ----

  std::shared_ptr<Informer> MakeInformer(std::shared_ptr<kube::RestClient> client, std::string name,
                                         std::vector<std::string> paths,
                                         Informer::ChangeHandler on_change) {
    InformerOptions o;
    o.name = std::move(name);
    o.paths = std::move(paths);
    o.backoff_initial = options.backoff_initial;
    o.backoff_max = options.backoff_max;
    o.watch_timeout_min = options.watch_timeout_min;
    std::weak_ptr<Impl> weak = weak_from_this();
    return std::make_shared<Informer>(std::move(client), std::move(o), std::move(on_change),
                                      [weak] {
                                        if (auto s = weak.lock()) s->OnControlPlaneChange();
                                      });
  }

  void StartOnStrand() {
    std::weak_ptr<Impl> weak = weak_from_this();
    auto cp_change = [weak](const std::string&, const Object&, const Object&) {
      if (auto s = weak.lock()) s->OnControlPlaneChange();
    };
    xrds = MakeInformer(control_plane, "xrds", {kXRDPathV1, kXRDPathV2}, cp_change);
    crds = MakeInformer(control_plane, "crds", {kCRDPath}, cp_change);
    apiservices = MakeInformer(app_cluster, "apiservices", {kAPIServicePath},
                               [weak](const std::string& key, const Object&, const Object&) {
                                 if (auto s = weak.lock()) s->OnAPIServiceChange(key);
                               });
    Spawn([x = xrds] { return x->Run(); });
    Spawn([c = crds] { return c->Run(); });
    Spawn([a = apiservices] { return a->Run(); });
    Spawn([self = shared_from_this()] { return self->Worker(); });
    Spawn([self = shared_from_this()] { return self->NamespaceLoop(); });
    if (options.leader_election) {
      LeaderElectionOptions lo;
      lo.lease_namespace = options.lease_namespace;
      lo.lease_name = options.lease_name;
      lo.identity = options.identity;
      lo.lease_duration = options.lease_duration;
      lo.renew_deadline = options.renew_deadline;
      lo.retry_period = options.retry_period;
      elector = std::make_shared<LeaderElector>(app_cluster, lo, [weak](bool leading) {
        if (auto s = weak.lock()) s->OnLeading(leading);
      });
      Spawn([e = elector] { return e->Run(); });
    } else {
      OnLeading(true);
    }
    if (options.sync_connection_secrets) {
      SecretSyncOptions so;
      so.cluster_id = options.cluster_id;
      so.claim_namespace = options.claim_namespace;
      so.publisher = publisher;
      so.backoff_initial = options.backoff_initial;
      so.backoff_max = options.backoff_max;
      so.watch_timeout_min = options.watch_timeout_min;
      secrets = std::make_shared<SecretSyncer>(control_plane, app_cluster, so, [weak] {
        auto s = weak.lock();
        return s && s->is_leader.load() && !s->stopping;
      });
      secrets->SetLeader(is_leader.load());
      Spawn([s = secrets] { return s->Run(); });
    }
  }

  void OnLeading(bool leading) {
    is_leader = leading;
    if (leading) {
      EnqueueAll();
      retry.clear();
    }
    if (secrets) secrets->SetLeader(leading);
    Publish(nullptr);
    Wake();
  }

  asio::awaitable<void> StopOnStrand() {
    auto self = shared_from_this();
    if (!stopping) {
      stopping = true;
      if (xrds) xrds->Stop();
      if (crds) crds->Stop();
      if (apiservices) apiservices->Stop();
      if (elector) elector->Stop();
      if (secrets) secrets->Stop();
      for (auto& s : signals) s.emit(asio::cancellation_type::terminal);
      Wake();
    }
    if (running > 0) {
      done.expires_at(Clock::time_point::max());
      co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    // Release the lease so another replica takes over at once.
    if (elector && elector->leading()) co_await elector->Release();
    is_leader = false;
    signals.clear();
  }
};

Controller::Controller(asio::any_io_executor executor,
                       std::shared_ptr<kube::RestClient> control_plane,
                       std::shared_ptr<kube::RestClient> app_cluster, ControllerOptions options,
                       std::shared_ptr<SnapshotPublisher> publisher)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(control_plane),
                                   std::move(app_cluster), std::move(options),
                                   std::move(publisher))) {}

Controller::~Controller() = default;

void Controller::Start() {
  auto impl = impl_;
  asio::dispatch(impl->strand, [impl] {
    if (impl->started || impl->stopping) return;
    impl->started = true;
    LOG(INFO) << "discovery: starting (cluster ID " << impl->options.cluster_id
              << ", claim namespace " << impl->options.claim_namespace << ", identity "
              << impl->options.identity << ")";
    impl->StartOnStrand();
  });
}

namespace {
// A plain function (not a coroutine lambda) so that no temporary with a destructor lives in a
// co_await expression (g++ 12 destroys some of those twice).
asio::awaitable<void> RunStop(std::shared_ptr<Controller::Impl> impl) {
  co_await impl->StopOnStrand();
}
}  // namespace

asio::awaitable<void> Controller::Stop() {
  // Not a coroutine: returns the awaitable of a task spawned on the controller's strand.
  return asio::co_spawn(impl_->strand, RunStop(impl_), asio::use_awaitable);
}

void Controller::SetCABundle(std::string pem) {
  auto impl = impl_;
  asio::post(impl->strand, [impl, pem = std::move(pem)]() mutable {
    if (pem == impl->options.ca_bundle_pem) return;
    impl->options.ca_bundle_pem = std::move(pem);
    if (impl->cp_loaded) impl->RecomputeDesired();
    impl->Wake();
  });
}

ControllerCounters Controller::counters() const {
  const auto& c = impl_->counters;
  ControllerCounters out;
  out.apiservice_creates = c.apiservice_creates;
  out.apiservice_updates = c.apiservice_updates;
  out.apiservice_deletes = c.apiservice_deletes;
  out.apiservice_write_errors = c.apiservice_write_errors;
  out.apiservice_foreign_refusals = c.apiservice_foreign_refusals;
  out.claim_namespace_creates = c.claim_namespace_creates;
  out.snapshots_published = c.snapshots_published;
  if (impl_->secrets) {
    SecretSyncCounters s = impl_->secrets->counters();
    out.secret_creates = s.creates;
    out.secret_updates = s.updates;
    out.secret_deletes = s.deletes;
    out.secret_conflicts = s.conflicts;
  }
  return out;
}

bool Controller::leading() const { return impl_->is_leader.load(); }
const std::string& Controller::identity() const { return impl_->options.identity; }
const std::shared_ptr<SnapshotPublisher>& Controller::publisher() const { return impl_->publisher; }

void Controller::AppendMetrics(std::string& out) const {
  ControllerCounters c = counters();
  auto line = [&out](const char* name, const char* help, const char* type,
                     std::vector<std::pair<std::string, uint64_t>> samples) {
    out += "# HELP ";
    out += name;
    out += " ";
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " ";
    out += type;
    out += "\n";
    for (const auto& [labels, v] : samples) {
      out += name;
      out += labels;
      out += " " + std::to_string(v) + "\n";
    }
  };
  line("mcp_connector_apiservice_writes_total", "APIService writes by verb.", "counter",
       {{"{verb=\"create\"}", c.apiservice_creates},
        {"{verb=\"update\"}", c.apiservice_updates},
        {"{verb=\"delete\"}", c.apiservice_deletes}});
  line("mcp_connector_apiservice_write_errors_total", "Failed APIService writes.", "counter",
       {{"", c.apiservice_write_errors}});
  line("mcp_connector_apiservice_foreign_refusals_total",
       "APIServices not owned by this connector that it refused to modify or delete.", "counter",
       {{"", c.apiservice_foreign_refusals}});
  line("mcp_connector_apiservice_foreign", "APIServices currently in conflict.", "gauge",
       {{"", impl_->foreign_count.load()}});
  line("mcp_connector_discovery_served_resources", "Resources in the published snapshot.", "gauge",
       {{"", impl_->served_count.load()}});
  line("mcp_connector_discovery_snapshots_total", "Discovery snapshots published.", "counter",
       {{"", c.snapshots_published}});
  line("mcp_connector_leader", "1 when this replica holds the APIService-writer lease.", "gauge",
       {{"", impl_->is_leader.load() ? 1u : 0u}});
  line("mcp_connector_claim_namespace_creates_total", "Claim namespaces created.", "counter",
       {{"", c.claim_namespace_creates}});
  if (impl_->secrets) {
    line("mcp_connector_connection_secret_writes_total", "Connection-secret copies written.",
         "counter",
         {{"{verb=\"create\"}", c.secret_creates},
          {"{verb=\"update\"}", c.secret_updates},
          {"{verb=\"delete\"}", c.secret_deletes}});
    line("mcp_connector_connection_secret_conflicts_total",
         "App-cluster Secrets not managed by the connector that it refused to overwrite.",
         "counter", {{"", c.secret_conflicts}});
  }
}

// ---- free functions ----

asio::awaitable<kube::Result<std::string>> ResolveClusterID(
    std::shared_ptr<kube::RestClient> app_cluster, std::string given) {
  if (!given.empty()) co_return given;
  auto ns = co_await app_cluster->Get("/api/v1/namespaces/kube-system");
  if (!ns.ok()) co_return std::move(ns).error();
  const json::Value* uid = json::FindPath(*ns, "metadata.uid");
  if (!uid || !uid->IsString() || uid->GetStringLength() == 0) {
    co_return kube::NewInternalError("namespace kube-system has no metadata.uid");
  }
  co_return std::string(json::View(*uid));
}

asio::awaitable<kube::Result<std::vector<std::string>>> Uninstall(
    std::shared_ptr<kube::RestClient> app_cluster, std::string cluster_id) {
  if (cluster_id.empty()) co_return kube::NewBadRequest("uninstall: cluster ID is empty");
  kube::http::Query q;
  q.Set("labelSelector", std::string(kManagedByLabel) + "=" + std::string(kManagedByValue) + "," +
                             std::string(kClusterLabel) + "=" + cluster_id);
  auto list = co_await app_cluster->List(std::string(kAPIServicePath) + "?" + q.Encode());
  if (!list.ok()) co_return std::move(list).error();
  std::vector<std::string> deleted;
  const json::Value* items = json::Find(*list, "items");
  if (!items || !items->IsArray()) co_return deleted;
  for (const auto& item : items->GetArray()) {
    // Check ownership ourselves too: never trust a selector alone to protect others' objects.
    if (!OwnedBy(item, cluster_id)) continue;
    std::string name(json::GetString(*json::Find(item, "metadata"), "name"));
    if (name.empty()) continue;
    json::Document opts(rapidjson::kObjectType);
    auto& a = opts.GetAllocator();
    json::SetString(opts, "apiVersion", "v1", a);
    json::SetString(opts, "kind", "DeleteOptions", a);
    const json::Value* uid = json::FindPath(item, "metadata.uid");
    if (uid && uid->IsString()) {
      json::SetString(json::EnsureObject(opts, "preconditions", a), "uid", json::View(*uid), a);
    }
    auto res = co_await app_cluster->Delete(std::string(kAPIServicePath) + "/" + name,
                                            json::Serialize(opts));
    if (res.ok()) {
      LOG(INFO) << "uninstall: deleted APIService " << name;
      deleted.push_back(name);
    } else if (res.error().code != 404) {
      co_return std::move(res).error();
    }
  }
  co_return deleted;
}

}  // namespace discovery

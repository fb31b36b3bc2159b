// fakekube's storage: a generic in-memory object store with kube-apiserver's storage semantics
// (k8s.io/apiserver pkg/registry/generic/registry/store.go over etcd3): one global
// resourceVersion counter, uid/creationTimestamp on create, optimistic concurrency, finalizers,
// a bounded event log for watches (older resourceVersions are "compacted": 410 Expired), lists
// at an exact resourceVersion within the window, and optional JSON persistence.
//
// Objects are keyed by group/resource/namespace/name. Versions of a multi-version CRD share one
// bucket (conversion strategy None): the handler rewrites apiVersion on the way out.
// Stored objects are immutable shared documents; every write stores a new one.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/json.h"
#include "kube/result.h"
#include "kube/status.h"

namespace fakekube {

using Object = std::shared_ptr<const kube::json::Document>;

// Copies an object into a fresh mutable document.
kube::json::Document CopyObject(const kube::json::Value& v);

enum class EventType { kAdded, kModified, kDeleted };
std::string_view EventTypeName(EventType t);  // "ADDED", "MODIFIED", "DELETED"

struct Event {
  EventType type = EventType::kAdded;
  uint64_t resource_version = 0;
  std::string group;
  std::string resource;
  std::string ns;  // "" for cluster-scoped
  std::string name;
  Object object;      // new state; for DELETED the last state carrying the deletion's RV
  Object old_object;  // previous state; null for ADDED
};

// Per-write options. The strategy-level checks (validation, generation, status rules) are the
// caller's: the store only stamps metadata and enforces storage-level semantics.
struct WriteOptions {
  bool dry_run = false;  // run every check, return the would-be result, persist and notify nothing
  // Update only: stamps metadata.deletionTimestamp (now) on an object that has none: a namespace's
  // first DELETE (kube's namespace REST Delete marks it through GuaranteedUpdate).
  bool mark_deletion = false;
};

struct DeleteOptions {
  bool dry_run = false;
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  // "Orphan" / "Foreground" add the orphan / foregroundDeletion finalizer as kube does; since
  // fakekube has no garbage collector and no owner graph, the "GC" removes them at once (after
  // the object's other finalizers), which is what kube's GC does for an object without dependents.
  std::optional<std::string> propagation_policy;
  std::optional<int64_t> grace_period_seconds;
};

struct DeleteResult {
  Object object;         // the deleted object, or the object marked for deletion
  bool deleted = false;  // false: marked (deletionTimestamp set) and waiting on finalizers
};

// How a list chooses its resourceVersion (k8s "Resource version semantics" table).
enum class ListRVMatch { kMostRecent, kAny, kNotOlderThan, kExact };

struct ListOptions {
  std::string ns;  // "" = all namespaces (or cluster-scoped)
  // Raw query values.
  std::string resource_version;        // "", "0", "<n>"
  std::string resource_version_match;  // "", "NotOlderThan", "Exact"
  int64_t limit = 0;                   // 0 = no limit
  std::string continue_token;
  // Selector applied to each object (label/field selectors); null = everything.
  std::function<bool(const kube::json::Value&)> predicate;
};

struct ListResult {
  std::vector<Object> items;  // sorted by namespace, then name
  uint64_t resource_version = 0;
  std::string continue_token;                   // "" when complete
  std::optional<int64_t> remaining_item_count;  // set when limited and the predicate is empty
};

// A watch cursor. Events come from the shared event log; Next() returns those after the
// cursor that match the watch's group/resource/namespace. The handler applies selectors.
class Watcher {
 public:
  virtual ~Watcher() = default;
  // Appends up to `max` pending events. An error (410 Expired "too old resource version") when
  // the cursor fell behind the compaction window; the watch must then end.
  virtual kube::Result<size_t> Next(std::vector<Event>& out, size_t max = 256) = 0;
  // Called (from the writing thread, without store locks held) whenever a write touched this
  // watch's group/resource. Must be cheap and thread-safe (e.g. post a timer cancel).
  virtual void SetWakeup(std::function<void()> wakeup) = 0;
  // Unregisters; Next() returns nothing afterwards. Also done by the destructor.
  virtual void Stop() = 0;
  virtual uint64_t cursor() const = 0;  // last resourceVersion handed out (or the start RV)
};

// For the change-notification hook: called after every committed (non dry-run) write, in
// commit order, without store locks held. Hooks may write to the store (nested writes notify
// recursively). Used by the registry (CRDs), the aggregator (APIServices, Services, Endpoints).
using ChangeHook = std::function<void(const Event&)>;

class Store {
 public:
  struct Options {
    // Events older than this are compacted away (watch/continue from before: 410 Expired).
    std::chrono::seconds compaction_window{300};
    size_t max_events = 100000;  // the log is also capped at this many events
    std::string data_file;       // "" = no persistence
    std::chrono::milliseconds persist_debounce{200};
    // Time source for creationTimestamp/deletionTimestamp (tests may pin it).
    std::function<std::chrono::system_clock::time_point()> now;
  };

  Store();
  explicit Store(Options options);
  ~Store();  // flushes pending persistence
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Loads `data_file` if it exists (objects and the resourceVersion counter; no events are
  // replayed, so earlier resourceVersions give 410). Call once at start, before serving.
  kube::Outcome Load();
  // Writes `data_file` now if there are unwritten changes.
  void Flush();

  uint64_t CurrentResourceVersion() const;

  kube::Result<Object> Get(const kube::GroupResource& gr, std::string_view ns,
                           std::string_view name) const;

  // Stamps uid, creationTimestamp, resourceVersion (metadata.generation is the caller's: the
  // handler sets 1 for resources that have it). A missing name with
  // metadata.generateName set generates one (base cut to 58 + 5 random chars; retried on clash).
  // An existing object: 409 AlreadyExists.
  kube::Result<Object> Create(const kube::GroupResource& gr, std::string_view ns,
                              kube::json::Document obj, const WriteOptions& opts = {});

  // GuaranteedUpdate: `update` receives the current object (null when absent) and returns the
  // desired object or a Status. The store then:
  //  - keeps uid, creationTimestamp, deletionTimestamp (cannot be changed by updates);
  //  - when the returned object's metadata.resourceVersion is set and differs from the current
  //    one: 409 Conflict with kube's "the object has been modified" message;
  //  - absent current and `allow_create`: creates (as Create, RV check skipped), else 404;
  //  - an object with deletionTimestamp and no finalizers left is deleted (DELETED event;
  //    kube's ShouldDeleteDuringUpdate); a namespace also needs an empty spec.finalizers
  //    (ShouldDeleteNamespaceDuringUpdate), so the namespace controller's finalize removes it;
  //  - an update that changes nothing returns the current object without a new RV or event.
  using UpdateFn = std::function<kube::Result<kube::json::Document>(const Object& current)>;
  struct UpdateResult {
    Object object;
    bool created = false;
    bool deleted = false;  // last finalizer removed from an object marked for deletion
  };
  kube::Result<UpdateResult> Update(const kube::GroupResource& gr, std::string_view ns,
                                    std::string_view name, const UpdateFn& update,
                                    bool allow_create = false, const WriteOptions& opts = {});

  // Preconditions (409 Conflict on mismatch with kube's Precondition failed message);
  // objects with finalizers get deletionTimestamp (+ deletionGracePeriodSeconds 0) and stay.
  kube::Result<DeleteResult> Delete(const kube::GroupResource& gr, std::string_view ns,
                                    std::string_view name, const DeleteOptions& opts = {});

  // kube list semantics: RV ""/unset = most recent; "0" = any (limit ignored, as the watch
  // cache does); "<n>" with limit or match=Exact = exact (410 when compacted), otherwise
  // NotOlderThan (504-style "Too large resource version" when n is in the future).
  // continue tokens are opaque; an expired one gives 410 Expired with kube's message.
  kube::Result<ListResult> List(const kube::GroupResource& gr, const ListOptions& opts) const;

  // A watch over gr (and ns when not empty) from `from_rv` (exclusive): events with RV > from_rv.
  // 410 Expired ("too old resource version: <rv> (<oldest>)") when from_rv is compacted away.
  // from_rv = 0 means "now" (the caller sends the initial ADDED events from a List first and
  // then watches from the list's RV).
  kube::Result<std::shared_ptr<Watcher>> Watch(const kube::GroupResource& gr, std::string ns,
                                               uint64_t from_rv);

  // Registers a hook; returns an id for RemoveChangeHook.
  int AddChangeHook(ChangeHook hook);
  void RemoveChangeHook(int id);

  // Fault injection / tests: compacts the event log so every resourceVersion <= the current one
  // is expired (watches from them and continue tokens for them give 410).
  void Compact();
  // Snapshot of every stored object of a group/resource (all namespaces), for seeding/fixtures
  // and the aggregator.
  std::vector<Object> Snapshot(const kube::GroupResource& gr) const;
  // Every group/resource that currently holds objects.
  std::vector<kube::GroupResource> Resources() const;

  const Options& options() const { return options_; }

 private:
  friend class WatcherImpl;
  struct Impl;
  Options options_;
  std::shared_ptr<Impl> impl_;
};

// RFC 3339, UTC, seconds: "2024-01-02T03:04:05Z" (metav1.Time's wire format).
std::string FormatTime(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> ParseTime(std::string_view s);
std::string NewUid();

}  // namespace fakekube

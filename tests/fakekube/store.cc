#include "tests/fakekube/store.h"

#include <glog/logging.h>
#include <openssl/rand.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace fakekube {

namespace json = kube::json;
using kube::GroupResource;
using kube::Result;
using kube::Status;

namespace {

std::string BucketKey(const GroupResource& gr) { return gr.group + "/" + gr.resource; }
std::string ObjKey(std::string_view ns, std::string_view name) {
  std::string k(ns);
  k += '/';
  k += name;
  return k;
}

std::string_view MetaString(const json::Value& obj, std::string_view key) {
  const json::Value* m = json::Find(obj, "metadata");
  return m ? json::GetString(*m, key) : std::string_view();
}

bool HasFinalizers(const json::Value& obj) {
  const json::Value* m = json::Find(obj, "metadata");
  const json::Value* f = m ? json::Find(*m, "finalizers") : nullptr;
  return f && f->IsArray() && !f->Empty();
}

Object Freeze(json::Document doc) { return std::make_shared<const json::Document>(std::move(doc)); }

// Random string from kube's alphabet (k8s.io/apimachinery/pkg/util/rand).
std::string RandomSuffix(size_t n) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  unsigned char buf[16];
  RAND_bytes(buf, sizeof buf);
  for (size_t i = 0; i < n; ++i) out += kAlphabet[buf[i % sizeof buf] % kAlphabet.size()];
  return out;
}

std::string Base64(std::string_view in) {
  static constexpr char kTab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += kTab[(v >> 6) & 63];
    out += kTab[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += kTab[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> Unbase64(std::string_view in) {
  auto dec = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int d = dec(c);
    if (d < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::optional<uint64_t> ParseRV(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

Status InvalidRV(std::string_view rv) {
  // storage.APIObjectVersioner.ParseResourceVersion -> NewBadRequest via the list handler.
  return kube::NewBadRequest("invalid resource version: strconv.ParseUint: parsing " +
                             std::string("\"") + std::string(rv) + "\": invalid syntax");
}

constexpr std::string_view kInconsistentContinue =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list.";

std::string EncodeContinue(uint64_t rv, std::string_view start_key) {
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("v", "meta.k8s.io/v1", a);
  d.AddMember("rv", int64_t(rv), a);
  d.AddMember("start", json::Str(start_key, a), a);
  return Base64(json::Serialize(d));
}

struct ContinueToken {
  int64_t rv;
  std::string start;
};

Result<ContinueToken> DecodeContinue(std::string_view token) {
  auto bad = [](std::string_view why) {
    return kube::NewBadRequest("invalid continue token: " + std::string(why));
  };
  auto raw = Unbase64(token);
  if (!raw) return bad("continue key is not valid: illegal base64 data");
  auto doc = json::Parse(*raw);
  if (!doc || !doc->IsObject()) return bad("continue key is not valid: invalid character");
  if (json::GetString(*doc, "v") != "meta.k8s.io/v1") {
    return bad("continue key is not valid: server does not recognize this encoded version");
  }
  auto rv = json::GetInt(*doc, "rv");
  const json::Value* start = json::Find(*doc, "start");
  if (!rv || *rv == 0 || !start || !start->IsString() || json::View(*start).empty()) {
    return bad(
        "continue key is not valid: incorrect encoded start resourceVersion "
        "(version meta.k8s.io/v1)");
  }
  return ContinueToken{*rv, std::string(json::View(*start))};
}

void SetMetaString(json::Document& d, std::string_view key, std::string_view value) {
  auto& a = d.GetAllocator();
  json::Value& m = json::EnsureObject(d, "metadata", a);
  json::SetString(m, key, value, a);
}

}  // namespace

json::Document CopyObject(const json::Value& v) {
  json::Document d;
  d.CopyFrom(v, d.GetAllocator());
  return d;
}

std::string_view EventTypeName(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "";
}

std::string FormatTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> ParseTime(std::string_view s) {
  std::tm tm{};
  std::string str(s);
  const char* end = strptime(str.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string NewUid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

class WatcherImpl;

struct Store::Impl : std::enable_shared_from_this<Store::Impl> {
  Options options;
  mutable std::mutex mu;
  uint64_t rv = 0;
  uint64_t compacted_rv = 0;  // events with RV <= this are gone
  std::map<std::string, std::map<std::string, Object>> buckets;
  struct LoggedEvent {
    Event event;
    std::chrono::steady_clock::time_point at;
  };
  std::deque<LoggedEvent> log;
  std::map<std::string, std::vector<std::weak_ptr<WatcherImpl>>> watchers;

  // Change hooks, dispatched in commit order.
  std::recursive_mutex notify_mu;
  std::deque<Event> pending;        // guarded by mu
  std::map<int, ChangeHook> hooks;  // guarded by mu
  int next_hook = 1;

  // Persistence.
  std::mutex persist_mu;
  std::condition_variable persist_cv;
  bool dirty = false;
  bool stopping = false;
  std::thread persist_thread;

  std::chrono::system_clock::time_point Now() const {
    return options.now ? options.now() : std::chrono::system_clock::now();
  }

  // Requires mu. Appends an event and compacts.
  void Append(Event e);
  void CompactLocked(bool all);
  // Requires mu. The bucket's state at `at_rv` (undoing newer events); nullopt when compacted.
  std::optional<std::map<std::string, Object>> StateAt(const std::string& bucket,
                                                       uint64_t at_rv) const;
  void Commit(const GroupResource& gr, std::string_view ns, std::string_view name, EventType type,
              Object obj, Object old, uint64_t event_rv);
  void Dispatch();
  void MarkDirty();
  void PersistLoop();
  bool WriteFile();
};

class WatcherImpl : public Watcher, public std::enable_shared_from_this<WatcherImpl> {
 public:
  WatcherImpl(std::shared_ptr<Store::Impl> impl, GroupResource gr, std::string ns, uint64_t rv)
      : impl_(std::move(impl)), gr_(std::move(gr)), ns_(std::move(ns)), cursor_(rv) {}
  ~WatcherImpl() override { Stop(); }

  kube::Result<size_t> Next(std::vector<Event>& out, size_t max) override {
    auto impl = impl_.lock();
    if (!impl) return size_t{0};
    std::lock_guard lock(impl->mu);
    if (stopped_) return size_t{0};
    if (missed_ || cursor_ < impl->compacted_rv) {
      return kube::NewResourceExpired("too old resource version: " + std::to_string(cursor_) +
                                      " (" + std::to_string(impl->compacted_rv) + ")");
    }
    auto it = std::upper_bound(impl->log.begin(), impl->log.end(), cursor_,
                               [](uint64_t rv, const Store::Impl::LoggedEvent& e) {
                                 return rv < e.event.resource_version;
                               });
    size_t n = 0;
    for (; it != impl->log.end() && n < max; ++it) {
      const Event& e = it->event;
      cursor_ = e.resource_version;
      if (Matches(e)) {
        out.push_back(e);
        ++n;
      }
    }
    if (it == impl->log.end()) cursor_ = std::max(cursor_, impl->rv);
    return n;
  }

  void SetWakeup(std::function<void()> wakeup) override {
    std::lock_guard lock(wake_mu_);
    wakeup_ = std::move(wakeup);
  }
  void Wake() {
    std::function<void()> w;
    {
      std::lock_guard lock(wake_mu_);
      w = wakeup_;
    }
    if (w) w();
  }
  void Stop() override {
    auto impl = impl_.lock();
    if (!impl) return;
    std::lock_guard lock(impl->mu);
    stopped_ = true;
  }
  uint64_t cursor() const override {
    auto impl = impl_.lock();
    if (!impl) return cursor_;
    std::lock_guard lock(impl->mu);
    return cursor_;
  }

  bool Matches(const Event& e) const {
    return e.group == gr_.group && e.resource == gr_.resource && (ns_.empty() || e.ns == ns_);
  }
  // Requires impl->mu. Called when `e` is compacted away: a watcher not interested in it moves
  // past it, so only watchers that really miss events expire.
  void OnDrop(const Event& e) {
    if (cursor_ >= e.resource_version) return;
    if (Matches(e)) {
      missed_ = true;
    } else if (!missed_) {
      cursor_ = e.resource_version;
    }
  }
  // Requires impl->mu. Compaction up to `rv` with nothing missed: the watcher is current.
  void OnCompactAll(uint64_t rv) {
    if (!missed_) cursor_ = std::max(cursor_, rv);
  }
  bool stopped() const { return stopped_; }  // requires impl->mu

 private:
  std::weak_ptr<Store::Impl> impl_;
  GroupResource gr_;
  std::string ns_;
  uint64_t cursor_;
  bool missed_ = false;  // a matching event was compacted away before delivery
  bool stopped_ = false;
  std::mutex wake_mu_;
  std::function<void()> wakeup_;
};

void Store::Impl::Append(Event e) {
  log.push_back({std::move(e), std::chrono::steady_clock::now()});
  CompactLocked(false);
}

void Store::Impl::CompactLocked(bool all) {
  auto now = std::chrono::steady_clock::now();
  while (!log.empty()) {
    const LoggedEvent& front = log.front();
    bool drop =
        all || log.size() > options.max_events || now - front.at > options.compaction_window;
    if (!drop) break;
    for (auto& [key, list] : watchers) {
      for (auto& w : list) {
        if (auto sp = w.lock()) sp->OnDrop(front.event);
      }
    }
    compacted_rv = front.event.resource_version;
    log.pop_front();
  }
  if (all) {
    compacted_rv = rv;
    for (auto& [key, list] : watchers) {
      for (auto& w : list) {
        if (auto sp = w.lock()) sp->OnCompactAll(rv);
      }
    }
  }
}

std::optional<std::map<std::string, Object>> Store::Impl::StateAt(const std::string& bucket,
                                                                  uint64_t at_rv) const {
  if (at_rv < compacted_rv) return std::nullopt;
  std::map<std::string, Object> state;
  if (auto b = buckets.find(bucket); b != buckets.end()) state = b->second;
  for (auto it = log.rbegin(); it != log.rend() && it->event.resource_version > at_rv; ++it) {
    const Event& e = it->event;
    if (e.group + "/" + e.resource != bucket) continue;
    std::string key = ObjKey(e.ns, e.name);
    if (e.type == EventType::kAdded) {
      state.erase(key);
    } else {
      state[key] = e.old_object;
    }
  }
  return state;
}

void Store::Impl::Commit(const GroupResource& gr, std::string_view ns, std::string_view name,
                         EventType type, Object obj, Object old, uint64_t event_rv) {
  auto& bucket = buckets[BucketKey(gr)];
  std::string key = ObjKey(ns, name);
  if (type == EventType::kDeleted) {
    bucket.erase(key);
  } else {
    bucket[key] = obj;
  }
  Event e{type, event_rv, gr.group, gr.resource, std::string(ns), std::string(name), obj, old};
  pending.push_back(e);
  Append(std::move(e));
  MarkDirty();
}

void Store::Impl::Dispatch() {
  std::lock_guard nlock(notify_mu);
  while (true) {
    Event e;
    std::vector<ChangeHook> hs;
    std::vector<std::shared_ptr<WatcherImpl>> ws;
    {
      std::lock_guard lock(mu);
      if (pending.empty()) return;
      e = std::move(pending.front());
      pending.pop_front();
      for (auto& [id, h] : hooks) hs.push_back(h);
      auto it = watchers.find(e.group + "/" + e.resource);
      if (it != watchers.end()) {
        auto& list = it->second;
        for (auto w = list.begin(); w != list.end();) {
          auto sp = w->lock();
          if (!sp || sp->stopped()) {
            w = list.erase(w);
            continue;
          }
          if (sp->Matches(e)) ws.push_back(std::move(sp));
          ++w;
        }
      }
    }
    for (auto& w : ws) w->Wake();
    for (auto& h : hs) h(e);
  }
}

void Store::Impl::MarkDirty() {
  if (options.data_file.empty()) return;
  std::lock_guard lock(persist_mu);
  dirty = true;
  persist_cv.notify_all();
}

bool Store::Impl::WriteFile() {
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  {
    std::lock_guard lock(mu);
    d.AddMember("resourceVersion", rv, a);
    json::Value objects(rapidjson::kArrayType);
    for (auto& [bkey, bucket] : buckets) {
      auto slash = bkey.find('/');
      for (auto& [okey, obj] : bucket) {
        json::Value entry(rapidjson::kObjectType);
        entry.AddMember("group", json::Str(bkey.substr(0, slash), a), a);
        entry.AddMember("resource", json::Str(bkey.substr(slash + 1), a), a);
        json::Value o;
        o.CopyFrom(*obj, a);
        entry.AddMember("object", std::move(o), a);
        objects.PushBack(std::move(entry), a);
      }
    }
    d.AddMember("objects", std::move(objects), a);
  }
  std::string tmp = options.data_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) {
      LOG(ERROR) << "fakekube: cannot write " << tmp;
      return false;
    }
    f << json::Serialize(d);
    if (!f) return false;
  }
  if (std::rename(tmp.c_str(), options.data_file.c_str()) != 0) {
    LOG(ERROR) << "fakekube: cannot rename " << tmp;
    return false;
  }
  return true;
}

void Store::Impl::PersistLoop() {
  std::unique_lock lock(persist_mu);
  while (true) {
    persist_cv.wait(lock, [&] { return dirty || stopping; });
    if (stopping) break;
    persist_cv.wait_for(lock, options.persist_debounce, [&] { return stopping; });
    dirty = false;
    lock.unlock();
    WriteFile();
    lock.lock();
  }
  if (dirty) {
    dirty = false;
    lock.unlock();
    WriteFile();
  }
}

Store::Store() : Store(Options{}) {}

Store::Store(Options options) : options_(options), impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  if (!impl_->options.data_file.empty()) {
    impl_->persist_thread = std::thread([impl = impl_.get()] { impl->PersistLoop(); });
  }
}

Store::~Store() {
  if (impl_->persist_thread.joinable()) {
    {
      std::lock_guard lock(impl_->persist_mu);
      impl_->stopping = true;
      impl_->persist_cv.notify_all();
    }
    impl_->persist_thread.join();
  }
}

kube::Outcome Store::Load() {
  if (options_.data_file.empty()) return kube::Ok{};
  std::ifstream f(options_.data_file);
  if (!f) return kube::Ok{};  // nothing saved yet
  std::stringstream ss;
  ss << f.rdbuf();
  auto doc = json::Parse(ss.str());
  if (!doc || !doc->IsObject()) {
    return kube::NewInternalError("data file " + options_.data_file + " is not valid JSON");
  }
  std::lock_guard lock(impl_->mu);
  const json::Value* rv = json::Find(*doc, "resourceVersion");
  if (rv && rv->IsUint64()) impl_->rv = std::max(impl_->rv, rv->GetUint64());
  const json::Value* objects = json::Find(*doc, "objects");
  if (objects && objects->IsArray()) {
    for (const auto& e : objects->GetArray()) {
      const json::Value* o = json::Find(e, "object");
      if (!o || !o->IsObject()) continue;
      GroupResource gr{std::string(json::GetString(e, "group")),
                       std::string(json::GetString(e, "resource"))};
      impl_->buckets[BucketKey(gr)][ObjKey(MetaString(*o, "namespace"), MetaString(*o, "name"))] =
          Freeze(CopyObject(*o));
    }
  }
  impl_->compacted_rv = impl_->rv;
  return kube::Ok{};
}

void Store::Flush() {
  if (options_.data_file.empty()) return;
  bool was_dirty;
  {
    std::lock_guard lock(impl_->persist_mu);
    was_dirty = impl_->dirty;
    impl_->dirty = false;
  }
  if (was_dirty) impl_->WriteFile();
}

uint64_t Store::CurrentResourceVersion() const {
  std::lock_guard lock(impl_->mu);
  return impl_->rv;
}

Result<Object> Store::Get(const GroupResource& gr, std::string_view ns,
                          std::string_view name) const {
  std::lock_guard lock(impl_->mu);
  auto b = impl_->buckets.find(BucketKey(gr));
  if (b != impl_->buckets.end()) {
    auto it = b->second.find(ObjKey(ns, name));
    if (it != b->second.end()) return it->second;
  }
  return kube::NewNotFound(gr, name);
}

Result<Object> Store::Create(const GroupResource& gr, std::string_view ns, json::Document obj,
                             const WriteOptions& opts) {
  if (!obj.IsObject()) return kube::NewBadRequest("the object provided is not an object");
  auto& a = obj.GetAllocator();
  json::Value& meta = json::EnsureObject(obj, "metadata", a);
  std::string name(json::GetString(meta, "name"));
  std::string generate(json::GetString(meta, "generateName"));
  if (ns.empty()) {
    json::RemoveMember(meta, "namespace");
  } else {
    json::SetString(meta, "namespace", ns, a);
  }
  json::SetString(meta, "uid", NewUid(), a);
  json::SetString(meta, "creationTimestamp", FormatTime(impl_->Now()), a);
  json::RemoveMember(meta, "resourceVersion");
  json::RemoveMember(meta, "deletionTimestamp");
  json::RemoveMember(meta, "deletionGracePeriodSeconds");
  json::RemoveMember(meta, "selfLink");
  Object created;
  {
    std::lock_guard lock(impl_->mu);
    auto& bucket = impl_->buckets[BucketKey(gr)];
    if (name.empty() && !generate.empty()) {
      // names.SimpleNameGenerator; kube-apiserver retries a clashing generated name.
      std::string base = generate.size() > 58 ? generate.substr(0, 58) : generate;
      for (int attempt = 0; attempt < 8; ++attempt) {
        name = base + RandomSuffix(5);
        if (!bucket.count(ObjKey(ns, name))) break;
      }
      json::SetString(meta, "name", name, a);
    }
    if (name.empty()) {
      return kube::NewBadRequest("name or generateName is required");
    }
    if (bucket.count(ObjKey(ns, name))) return kube::NewAlreadyExists(gr, name);
    if (opts.dry_run) return Freeze(std::move(obj));
    uint64_t rv = ++impl_->rv;
    json::SetString(meta, "resourceVersion", std::to_string(rv), a);
    created = Freeze(std::move(obj));
    impl_->Commit(gr, ns, name, EventType::kAdded, created, nullptr, rv);
  }
  impl_->Dispatch();
  return created;
}

Result<Store::UpdateResult> Store::Update(const GroupResource& gr, std::string_view ns,
                                          std::string_view name, const UpdateFn& update,
                                          bool allow_create, const WriteOptions& opts) {
  Object current;
  {
    std::lock_guard lock(impl_->mu);
    auto b = impl_->buckets.find(BucketKey(gr));
    if (b != impl_->buckets.end()) {
      auto it = b->second.find(ObjKey(ns, name));
      if (it != b->second.end()) current = it->second;
    }
  }
  // The update function runs without the lock (it may be slow: patches, SSA); the commit below
  // re-checks that the object did not change meanwhile and retries like GuaranteedUpdate.
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto desired = update(current);
    if (!desired.ok()) return std::move(desired).error();
    json::Document obj = std::move(desired).value();
    if (!obj.IsObject()) return kube::NewBadRequest("the object provided is not an object");
    auto& a = obj.GetAllocator();
    json::Value& meta = json::EnsureObject(obj, "metadata", a);
    std::string wanted_rv(json::GetString(meta, "resourceVersion"));
    if (!current) {
      if (!allow_create) return kube::NewNotFound(gr, name);
      if (!wanted_rv.empty()) return kube::NewNotFound(gr, name);
      auto created = Create(gr, ns, std::move(obj), opts);
      if (!created.ok()) {
        if (created.error().reason == "AlreadyExists") {
          auto now = Get(gr, ns, name);
          current = now.ok() ? *now : nullptr;
          continue;
        }
        return std::move(created).error();
      }
      return UpdateResult{*created, true, false};
    }
    const json::Value& cur_meta = *json::Find(*current, "metadata");
    std::string cur_rv(json::GetString(cur_meta, "resourceVersion"));
    if (!wanted_rv.empty() && wanted_rv != cur_rv) {
      return kube::NewConflict(gr, name,
                               "the object has been modified; please apply your changes to the "
                               "latest version and try again");
    }
    std::string_view cur_uid = json::GetString(cur_meta, "uid");
    std::string_view new_uid = json::GetString(meta, "uid");
    if (!new_uid.empty() && new_uid != cur_uid) {
      return kube::NewConflict(gr, name,
                               "Precondition failed: UID in precondition: " + std::string(new_uid) +
                                   ", UID in object meta: " + std::string(cur_uid));
    }
    // System fields updates cannot change.
    json::SetString(meta, "name", name, a);
    if (ns.empty()) {
      json::RemoveMember(meta, "namespace");
    } else {
      json::SetString(meta, "namespace", ns, a);
    }
    json::SetString(meta, "uid", std::string(cur_uid), a);
    for (std::string_view k :
         {"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
      json::RemoveMember(meta, k);
      if (const json::Value* v = json::Find(cur_meta, k)) {
        json::Value copy;
        copy.CopyFrom(*v, a);
        json::SetMember(meta, k, std::move(copy), a);
      }
    }
    json::RemoveMember(meta, "selfLink");
    if (opts.mark_deletion && json::Find(meta, "deletionTimestamp") == nullptr) {
      json::SetString(meta, "deletionTimestamp", FormatTime(impl_->Now()), a);
    }
    bool terminating = json::Find(cur_meta, "deletionTimestamp") != nullptr;
    if (terminating) {
      // ValidateObjectMetaUpdate: no new finalizers once deletion started.
      std::vector<std::string_view> old_f;
      if (const json::Value* f = json::Find(cur_meta, "finalizers"); f && f->IsArray()) {
        for (auto& x : f->GetArray()) old_f.push_back(json::View(x));
      }
      if (const json::Value* f = json::Find(meta, "finalizers"); f && f->IsArray()) {
        for (auto& x : f->GetArray()) {
          if (std::find(old_f.begin(), old_f.end(), json::View(x)) == old_f.end()) {
            std::string kind(json::GetString(obj, "kind"));
            std::string api(json::GetString(obj, "apiVersion"));
            auto slash = api.find('/');
            if (slash != std::string::npos) kind += "." + api.substr(0, slash);
            return kube::NewInvalid(kind, name,
                                    {{"FieldValueForbidden",
                                      "Forbidden: no new finalizers can be added if the object "
                                      "is being deleted, found new finalizers []string{\"" +
                                          std::string(json::View(x)) + "\"}",
                                      "metadata.finalizers"}});
          }
        }
      }
    }
    // A no-op update keeps the object (and its resourceVersion) as it is.
    json::SetString(meta, "resourceVersion", cur_rv, a);
    if (obj == *current) return UpdateResult{current, false, false};
    bool remove = terminating && !HasFinalizers(obj);
    if (remove && gr.group.empty() && gr.resource == "namespaces") {
      // ShouldDeleteNamespaceDuringUpdate: the namespace controller's finalizer must be gone too.
      const json::Value* sf = json::FindPath(obj, "spec.finalizers");
      remove = sf == nullptr || !sf->IsArray() || sf->Empty();
    }
    if (opts.dry_run) return UpdateResult{Freeze(std::move(obj)), false, remove};
    Object stored;
    {
      std::lock_guard lock(impl_->mu);
      auto& bucket = impl_->buckets[BucketKey(gr)];
      auto it = bucket.find(ObjKey(ns, name));
      if (it == bucket.end() || it->second != current) {
        current = it == bucket.end() ? nullptr : it->second;
        continue;  // raced with another writer: recompute from the new state
      }
      uint64_t rv = ++impl_->rv;
      json::SetString(meta, "resourceVersion", std::to_string(rv), a);
      stored = Freeze(std::move(obj));
      impl_->Commit(gr, ns, name, remove ? EventType::kDeleted : EventType::kModified, stored,
                    current, rv);
    }
    impl_->Dispatch();
    return UpdateResult{stored, false, remove};
  }
  return kube::NewConflict(gr, name, "too many concurrent updates");
}

Result<DeleteResult> Store::Delete(const GroupResource& gr, std::string_view ns,
                                   std::string_view name, const DeleteOptions& opts) {
  DeleteResult result;
  {
    std::lock_guard lock(impl_->mu);
    auto& bucket = impl_->buckets[BucketKey(gr)];
    auto it = bucket.find(ObjKey(ns, name));
    if (it == bucket.end()) return kube::NewNotFound(gr, name);
    Object current = it->second;
    const json::Value& meta = *json::Find(*current, "metadata");
    std::string_view uid = json::GetString(meta, "uid");
    std::string_view rv = json::GetString(meta, "resourceVersion");
    if (opts.precondition_uid && *opts.precondition_uid != uid) {
      return kube::NewConflict(
          gr, name,
          "Precondition failed: UID in precondition: " + *opts.precondition_uid +
              ", UID in object meta: " + std::string(uid));
    }
    if (opts.precondition_resource_version && *opts.precondition_resource_version != rv) {
      return kube::NewConflict(gr, name,
                               "Precondition failed: ResourceVersion in precondition: " +
                                   *opts.precondition_resource_version +
                                   ", ResourceVersion in object meta: " + std::string(rv));
    }
    if (HasFinalizers(*current)) {
      if (json::Find(meta, "deletionTimestamp")) return DeleteResult{current, false};
      json::Document marked = CopyObject(*current);
      auto& a = marked.GetAllocator();
      json::Value& m = *json::Find(marked, "metadata");
      json::SetString(m, "deletionTimestamp", FormatTime(impl_->Now()), a);
      json::SetMember(m, "deletionGracePeriodSeconds", json::Value(0), a);
      if (opts.dry_run) return DeleteResult{Freeze(std::move(marked)), false};
      uint64_t new_rv = ++impl_->rv;
      json::SetString(m, "resourceVersion", std::to_string(new_rv), a);
      result.object = Freeze(std::move(marked));
      impl_->Commit(gr, ns, name, EventType::kModified, result.object, current, new_rv);
    } else {
      result.deleted = true;
      result.object = current;
      if (opts.dry_run) return result;
      uint64_t new_rv = ++impl_->rv;
      json::Document last = CopyObject(*current);
      SetMetaString(last, "resourceVersion", std::to_string(new_rv));
      impl_->Commit(gr, ns, name, EventType::kDeleted, Freeze(std::move(last)), current, new_rv);
    }
  }
  impl_->Dispatch();
  return result;
}

Result<ListResult> Store::List(const GroupResource& gr, const ListOptions& opts) const {
  ListResult out;
  std::lock_guard lock(impl_->mu);
  std::string bucket_key = BucketKey(gr);
  uint64_t at = impl_->rv;
  bool exact = false;
  bool use_limit = opts.limit > 0;
  std::string start_key;
  if (!opts.continue_token.empty()) {
    if (!opts.resource_version.empty() && opts.resource_version != "0") {
      return kube::NewBadRequest("specifying resource version is not allowed when using continue");
    }
    auto tok = DecodeContinue(opts.continue_token);
    if (!tok.ok()) return std::move(tok).error();
    start_key = tok->start;
    if (tok->rv > 0) {
      at = uint64_t(tok->rv);
      exact = true;
      if (at < impl_->compacted_rv) return kube::NewResourceExpired(kInconsistentContinue);
    }
  } else if (opts.resource_version.empty()) {
    // Most recent.
  } else {
    auto rv = ParseRV(opts.resource_version);
    if (!rv) return InvalidRV(opts.resource_version);
    if (*rv == 0) {
      use_limit = false;  // served from the "watch cache": limit is ignored
    } else if (opts.resource_version_match == "Exact" ||
               (opts.resource_version_match.empty() && opts.limit > 0)) {
      at = *rv;
      exact = true;
      if (at > impl_->rv) {
        return kube::NewTimeout("Too large resource version: " + std::to_string(at) +
                                    ", current: " + std::to_string(impl_->rv),
                                1);
      }
      if (at < impl_->compacted_rv) {
        return kube::NewResourceExpired("The resourceVersion for the provided list is too old.");
      }
    } else if (*rv > impl_->rv) {
      return kube::NewTimeout("Too large resource version: " + std::to_string(*rv) +
                                  ", current: " + std::to_string(impl_->rv),
                              1);
    }
  }
  std::map<std::string, Object> snapshot;
  const std::map<std::string, Object>* state = nullptr;
  if (exact && at != impl_->rv) {
    auto s = impl_->StateAt(bucket_key, at);
    if (!s)
      return kube::NewResourceExpired("The resourceVersion for the provided list is too old.");
    snapshot = std::move(*s);
    state = &snapshot;
  } else {
    auto b = impl_->buckets.find(bucket_key);
    state = b != impl_->buckets.end() ? &b->second : &snapshot;
  }
  auto it = state->begin();
  std::string prefix = opts.ns.empty() ? "" : opts.ns + "/";
  if (!start_key.empty()) {
    it = state->lower_bound(start_key);
  } else if (!prefix.empty()) {
    it = state->lower_bound(prefix);
  }
  std::string last_key;
  for (; it != state->end(); ++it) {
    if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (use_limit && int64_t(out.items.size()) >= opts.limit) {
      out.continue_token = EncodeContinue(at, last_key + std::string(1, '\0'));
      if (!opts.predicate) {
        int64_t remaining = 0;
        for (auto r = it; r != state->end(); ++r) {
          if (!prefix.empty() && r->first.compare(0, prefix.size(), prefix) != 0) break;
          ++remaining;
        }
        out.remaining_item_count = remaining;
      }
      break;
    }
    if (opts.predicate && !opts.predicate(*it->second)) continue;
    out.items.push_back(it->second);
    last_key = it->first;
  }
  out.resource_version = at;
  return out;
}

Result<std::shared_ptr<Watcher>> Store::Watch(const GroupResource& gr, std::string ns,
                                              uint64_t from_rv) {
  std::lock_guard lock(impl_->mu);
  if (from_rv == 0) from_rv = impl_->rv;
  if (from_rv < impl_->compacted_rv) {
    return kube::NewResourceExpired("too old resource version: " + std::to_string(from_rv) + " (" +
                                    std::to_string(impl_->compacted_rv) + ")");
  }
  auto w = std::make_shared<WatcherImpl>(impl_, gr, std::move(ns), from_rv);
  impl_->watchers[BucketKey(gr)].push_back(w);
  return std::shared_ptr<Watcher>(w);
}

int Store::AddChangeHook(ChangeHook hook) {
  std::lock_guard lock(impl_->mu);
  int id = impl_->next_hook++;
  impl_->hooks[id] = std::move(hook);
  return id;
}

void Store::RemoveChangeHook(int id) {
  std::lock_guard lock(impl_->mu);
  impl_->hooks.erase(id);
}

void Store::Compact() {
  std::vector<std::shared_ptr<WatcherImpl>> ws;
  {
    std::lock_guard lock(impl_->mu);
    impl_->CompactLocked(true);
    for (auto& [key, list] : impl_->watchers) {
      for (auto& w : list) {
        if (auto sp = w.lock()) ws.push_back(std::move(sp));
      }
    }
  }
  for (auto& w : ws) w->Wake();  // watchers behind now see 410
}

std::vector<Object> Store::Snapshot(const GroupResource& gr) const {
  std::lock_guard lock(impl_->mu);
  std::vector<Object> out;
  auto b = impl_->buckets.find(BucketKey(gr));
  if (b == impl_->buckets.end()) return out;
  for (auto& [k, v] : b->second) out.push_back(v);
  return out;
}

std::vector<GroupResource> Store::Resources() const {
  std::lock_guard lock(impl_->mu);
  std::vector<GroupResource> out;
  for (auto& [k, v] : impl_->buckets) {
    if (v.empty()) continue;
    auto slash = k.find('/');
    out.push_back({k.substr(0, slash), k.substr(slash + 1)});
  }
  return out;
}

}  // namespace fakekube

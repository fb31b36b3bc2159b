#include "discovery/informer.h"

#include <glog/logging.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "kube/http.h"
#include "kube/rest_client.h"

namespace discovery {

namespace json = kube::json;

Informer::Informer(std::shared_ptr<kube::RestClient> client, InformerOptions options,
                   ChangeHandler on_change, StateHandler on_state)
    : client_(std::move(client)),
      options_(std::move(options)),
      on_change_(std::move(on_change)),
      on_state_(std::move(on_state)),
      backoff_(options_.backoff_initial, options_.backoff_max),
      rng_(std::random_device{}()) {}

std::string Informer::KeyOf(const json::Value& obj) {
  const json::Value* md = json::Find(obj, "metadata");
  if (!md) return {};
  std::string_view ns = json::GetString(*md, "namespace");
  std::string_view name = json::GetString(*md, "name");
  if (ns.empty()) return std::string(name);
  return std::string(ns) + "/" + std::string(name);
}

namespace {
std::string_view RV(const json::Value& obj) {
  const json::Value* md = json::Find(obj, "metadata");
  return md ? json::GetString(*md, "resourceVersion") : std::string_view();
}
}  // namespace

Object Informer::Get(const std::string& key) const {
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<Object> Informer::List() const {
  std::vector<Object> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(v);
  return out;
}

void Informer::Upsert(Object obj) {
  if (!obj) return;
  std::string key = KeyOf(*obj);
  if (!key.empty()) Apply(key, std::move(obj));
}

void Informer::Remove(const std::string& key) { Apply(key, nullptr); }

void Informer::Apply(const std::string& key, Object obj) {
  auto it = items_.find(key);
  Object old = it == items_.end() ? nullptr : it->second;
  if (!obj) {
    if (!old) return;
    items_.erase(it);
  } else {
    if (old && RV(*old) == RV(*obj) && !RV(*obj).empty()) return;  // already seen
    items_[key] = obj;
  }
  if (on_change_) on_change_(key, old, obj);
}

void Informer::SetReachable(bool ok, std::string error) {
  bool changed = ok != reachable_ || (!ok && error != last_error_);
  reachable_ = ok;
  if (!ok) last_error_ = std::move(error);
  if (changed && on_state_) on_state_();
}

asio::awaitable<void> Informer::Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<bool> Informer::ListAll() {
  ++stats_.lists;
  std::map<std::string, Object> fresh;
  std::string cont;
  std::string list_rv;
  for (;;) {
    kube::http::Query q;
    q.Set("limit", std::to_string(options_.page_size));
    if (!options_.label_selector.empty()) q.Set("labelSelector", options_.label_selector);
    if (!options_.field_selector.empty()) q.Set("fieldSelector", options_.field_selector);
    if (!cont.empty()) q.Set("continue", cont);
    auto res = co_await client_->List(path() + "?" + q.Encode());
    if (stopped_) co_return false;
    if (!res.ok()) {
      const kube::Status& st = res.error();
      if (st.code == 404 && path_index_ + 1 < options_.paths.size()) {
        LOG(INFO) << "informer " << options_.name << ": " << path() << " not served, trying "
                  << options_.paths[path_index_ + 1];
        ++path_index_;
        cont.clear();
        fresh.clear();
        continue;
      }
      if (st.code == 410 && !cont.empty()) {  // continue token expired: full list again
        cont.clear();
        fresh.clear();
        continue;
      }
      ++stats_.failures;
      SetReachable(false, std::to_string(st.code) + " " + st.message);
      co_return false;
    }
    json::Document& doc = *res;
    const json::Value* items = json::Find(doc, "items");
    if (items && items->IsArray()) {
      for (auto& item : doc["items"].GetArray()) {
        auto obj = std::make_shared<json::Document>();
        obj->CopyFrom(item, obj->GetAllocator());
        std::string key = KeyOf(*obj);
        if (!key.empty()) fresh.emplace(std::move(key), std::move(obj));
      }
    }
    const json::Value* md = json::Find(doc, "metadata");
    std::string_view next = md ? json::GetString(*md, "continue") : std::string_view();
    if (md && cont.empty()) list_rv = std::string(json::GetString(*md, "resourceVersion"));
    if (next.empty()) {
      if (md && !cont.empty() && list_rv.empty()) {
        list_rv = std::string(json::GetString(*md, "resourceVersion"));
      }
      break;
    }
    cont = std::string(next);
  }
  // Replace the cache, notifying each difference.
  std::vector<std::string> gone;
  for (const auto& [k, v] : items_) {
    if (!fresh.count(k)) gone.push_back(k);
  }
  for (const auto& k : gone) Apply(k, nullptr);
  for (auto& [k, v] : fresh) Apply(k, std::move(v));
  rv_ = list_rv;
  bool first = !synced_;
  synced_ = true;
  if (first) VLOG(1) << "informer " << options_.name << ": synced, " << items_.size() << " items";
  SetReachable(true, {});
  if (on_state_) on_state_();
  co_return true;
}

asio::awaitable<void> Informer::WatchOnce(bool& relist, bool& progress) {
  ++stats_.watches;
  kube::http::Query q;
  q.Set("resourceVersion", rv_);
  q.Set("allowWatchBookmarks", "true");
  auto min = options_.watch_timeout_min.count();
  std::uniform_int_distribution<int64_t> dist(min, 2 * min);
  q.Set("timeoutSeconds", std::to_string(std::max<int64_t>(1, dist(rng_))));
  if (!options_.label_selector.empty()) q.Set("labelSelector", options_.label_selector);
  if (!options_.field_selector.empty()) q.Set("fieldSelector", options_.field_selector);
  auto started = std::chrono::steady_clock::now();
  auto w = co_await client_->Watch(path() + "?" + q.Encode());
  if (stopped_) co_return;
  if (!w.ok()) {
    if (w.error().code == 410) {
      ++stats_.relists_410;
      relist = true;
      co_return;
    }
    ++stats_.failures;
    SetReachable(false, std::to_string(w.error().code) + " " + w.error().message);
    co_return;
  }
  SetReachable(true, {});
  std::unique_ptr<kube::Watcher> watcher = std::move(*w);
  for (;;) {
    auto ev = co_await watcher->Next();
    if (stopped_) co_return;
    if (!ev.ok()) {
      ++stats_.failures;
      VLOG(1) << "informer " << options_.name << ": watch broke: " << ev.error().message;
      break;
    }
    if (!ev->has_value()) break;  // clean end (timeoutSeconds or server closed)
    kube::WatchEvent& e = **ev;
    ++stats_.events;
    if (e.type == "ERROR") {
      std::optional<int64_t> code = json::GetInt(e.object, "code");
      if (code && *code == 410) {
        ++stats_.relists_410;
        relist = true;
      } else {
        ++stats_.failures;
        LOG(WARNING) << "informer " << options_.name
                     << ": watch error: " << json::GetString(e.object, "message");
      }
      co_return;
    }
    std::string_view rv = RV(e.object);
    if (!rv.empty()) rv_ = std::string(rv);
    progress = true;
    if (e.type == "BOOKMARK") continue;
    auto obj = std::make_shared<json::Document>(std::move(e.object));
    std::string key = KeyOf(*obj);
    if (key.empty()) continue;
    if (e.type == "DELETED") {
      Apply(key, nullptr);
    } else if (e.type == "ADDED" || e.type == "MODIFIED") {
      Apply(key, std::move(obj));
    }
  }
  if (std::chrono::steady_clock::now() - started > std::chrono::seconds(1)) progress = true;
}

asio::awaitable<void> Informer::Run() {
  auto self = shared_from_this();
  bool need_list = true;
  while (!stopped_) {
    if (need_list) {
      const bool listed = co_await ListAll();  // not in the condition: g++ 12 miscompiles it
      if (!listed) {
        if (stopped_) break;
        auto d = backoff_.Next();
        VLOG(1) << "informer " << options_.name << ": list failed (" << last_error_
                << "), retry in " << d.count() << "ms";
        co_await Sleep(d);
        continue;
      }
      need_list = false;
      backoff_.Reset();
    }
    bool relist = false, progress = false;
    co_await WatchOnce(relist, progress);
    if (stopped_) break;
    if (relist) {
      VLOG(1) << "informer " << options_.name << ": resourceVersion " << rv_
              << " expired, relisting";
      need_list = true;
      if (!progress) co_await Sleep(backoff_.Next());
      continue;
    }
    if (progress) {
      backoff_.Reset();
    } else {
      // Failed or ended at once: back off, then resume from the last resourceVersion.
      co_await Sleep(backoff_.Next());
    }
  }
}

}  // namespace discovery

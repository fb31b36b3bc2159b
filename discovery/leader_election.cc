#include "discovery/leader_election.h"

#include <glog/logging.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <ctime>
#include <random>

#include "kube/json.h"
#include "kube/rest_client.h"

namespace discovery {

namespace json = kube::json;

std::string MicroTimeNow() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now - secs).count();
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long>(micros));
  return buf;
}

LeaderElector::LeaderElector(std::shared_ptr<kube::RestClient> client,
                             LeaderElectionOptions options, std::function<void(bool)> on_change)
    : client_(std::move(client)), options_(std::move(options)), on_change_(std::move(on_change)) {}

void LeaderElector::SetLeading(bool v) {
  if (v == leading_) return;
  leading_ = v;
  LOG(INFO) << "leader election: " << options_.identity
            << (v ? " became the leader" : " stopped leading") << " (lease "
            << options_.lease_namespace << "/" << options_.lease_name << ")";
  if (on_change_) on_change_(v);
}

namespace {

std::string LeasePath(const LeaderElectionOptions& o, bool collection) {
  std::string p = "/apis/coordination.k8s.io/v1/namespaces/" + o.lease_namespace + "/leases";
  if (!collection) p += "/" + o.lease_name;
  return p;
}

std::string Record(const json::Value& lease) {
  const json::Value* spec = json::Find(lease, "spec");
  if (!spec) return "|";
  std::string out(json::GetString(*spec, "holderIdentity"));
  out += "|";
  out += json::GetString(*spec, "renewTime");
  out += "|";
  out += json::GetString(*spec, "acquireTime");
  out += "|" + std::to_string(json::GetInt(*spec, "leaseTransitions").value_or(0));
  return out;
}

int DurationSeconds(std::chrono::milliseconds d) {
  return static_cast<int>(std::max<int64_t>(1, (d.count() + 999) / 1000));
}

}  // namespace

asio::awaitable<bool> LeaderElector::TryAcquireOrRenew() {
  const std::string now = MicroTimeNow();
  held_by_other_ = false;
  auto got = co_await client_->Get(LeasePath(options_, false));
  if (stopped_) co_return leading_;
  if (!got.ok()) {
    if (got.error().code != 404) {
      VLOG(1) << "leader election: get lease: " << got.error().code << " " << got.error().message;
      co_return false;
    }
    json::Document lease(rapidjson::kObjectType);
    auto& a = lease.GetAllocator();
    json::SetString(lease, "apiVersion", "coordination.k8s.io/v1", a);
    json::SetString(lease, "kind", "Lease", a);
    json::Value& md = json::EnsureObject(lease, "metadata", a);
    json::SetString(md, "name", options_.lease_name, a);
    json::SetString(md, "namespace", options_.lease_namespace, a);
    json::Value& spec = json::EnsureObject(lease, "spec", a);
    json::SetString(spec, "holderIdentity", options_.identity, a);
    json::SetMember(spec, "leaseDurationSeconds",
                    json::Value(DurationSeconds(options_.lease_duration)), a);
    json::SetString(spec, "acquireTime", now, a);
    json::SetString(spec, "renewTime", now, a);
    json::SetMember(spec, "leaseTransitions", json::Value(0), a);
    auto created = co_await client_->Create(LeasePath(options_, true), json::Serialize(lease));
    if (!created.ok()) {
      VLOG(1) << "leader election: create lease: " << created.error().code << " "
              << created.error().message;
      co_return false;
    }
    observed_record_ = Record(*created);
    observed_time_ = std::chrono::steady_clock::now();
    co_return true;
  }
  json::Document& lease = *got;
  std::string record = Record(lease);
  auto steady_now = std::chrono::steady_clock::now();
  if (record != observed_record_) {
    observed_record_ = record;
    observed_time_ = steady_now;
  }
  auto& a = lease.GetAllocator();
  json::Value& spec = json::EnsureObject(lease, "spec", a);
  std::string holder(json::GetString(spec, "holderIdentity"));
  if (!holder.empty() && holder != options_.identity &&
      observed_time_ + options_.lease_duration > steady_now) {
    held_by_other_ = true;
    co_return false;  // held by another replica and not expired
  }
  int64_t transitions = json::GetInt(spec, "leaseTransitions").value_or(0);
  if (holder != options_.identity) {
    json::SetString(spec, "acquireTime", now, a);
    json::SetMember(spec, "leaseTransitions", json::Value(transitions + 1), a);
  }
  json::SetString(spec, "holderIdentity", options_.identity, a);
  json::SetString(spec, "renewTime", now, a);
  json::SetMember(spec, "leaseDurationSeconds",
                  json::Value(DurationSeconds(options_.lease_duration)), a);
  auto updated = co_await client_->Update(LeasePath(options_, false), json::Serialize(lease));
  if (!updated.ok()) {
    VLOG(1) << "leader election: update lease: " << updated.error().code << " "
            << updated.error().message;
    co_return false;
  }
  observed_record_ = Record(*updated);
  observed_time_ = std::chrono::steady_clock::now();
  co_return true;
}

asio::awaitable<void> LeaderElector::Run() {
  std::mt19937_64 rng(std::random_device{}());
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopped_) {
    bool held = co_await TryAcquireOrRenew();
    if (stopped_) break;
    auto now = std::chrono::steady_clock::now();
    if (held) {
      last_renew_ = now;
      SetLeading(true);
    } else if (leading_) {
      // Another holder, or renewals failing for longer than the renew deadline.
      if (held_by_other_ || now - last_renew_ > options_.renew_deadline) SetLeading(false);
    }
    auto wait = options_.retry_period;
    if (!leading_) {
      // Jitter the acquire attempts of non-leaders (client-go: factor 1.2).
      std::uniform_real_distribution<double> j(1.0, 1.2);
      wait = std::chrono::milliseconds(static_cast<int64_t>(wait.count() * j(rng)));
    }
    timer.expires_after(wait);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> LeaderElector::Release() {
  if (!leading_) co_return;
  SetLeading(false);  // stop writing before the lease is given away
  auto got = co_await client_->Get(LeasePath(options_, false));
  if (!got.ok()) co_return;
  json::Document& lease = *got;
  auto& a = lease.GetAllocator();
  json::Value& spec = json::EnsureObject(lease, "spec", a);
  if (json::GetString(spec, "holderIdentity") != options_.identity) co_return;
  const std::string now = MicroTimeNow();
  json::SetString(spec, "holderIdentity", "", a);
  json::SetMember(spec, "leaseDurationSeconds", json::Value(1), a);
  json::SetString(spec, "renewTime", now, a);
  json::SetString(spec, "acquireTime", now, a);
  auto updated = co_await client_->Update(LeasePath(options_, false), json::Serialize(lease));
  if (updated.ok()) {
    LOG(INFO) << "leader election: released lease " << options_.lease_namespace << "/"
              << options_.lease_name;
  } else {
    LOG(WARNING) << "leader election: release failed: " << updated.error().message;
  }
}

}  // namespace discovery

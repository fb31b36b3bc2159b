// soak: issue 8's soak run. A mixed workload against the real connector binary for N minutes with
// faults injected into the control plane, reporting every response that is not expected (must be
// 0) and the connector's RSS over the run (must be flat).
//
//   soak [--minutes 10] [--watches 1000] [--namespaces 20] [--workers 8] [--rate 50]
//        [--warmup 30] [--fault-period 60] [--no-faults] [--max-rss-growth 10]
//        [--connector PATH] [--fixtures DIR] [--keep]
//
// Set-up: two in-process fakekubes (tests/fakekube): the control plane (Crossplane fixtures,
// claim namespace "soak-claims") and the app cluster (aggregator role: front-proxy CA,
// extension-apiserver-authentication ConfigMap, SubjectAccessReview, allow-all policy). The
// connector is `mcp-connector serve` from the same build, a child process, so /proc/<pid> measures
// it alone. Clients speak to it as kube-aggregator does: front-proxy client certificate +
// X-Remote-User / X-Remote-Group.
//
// Workload (one client io thread):
//  - W watches on the claim API (one in 100 across all namespaces, the rest on one app namespace
//    each), informer-style: list, then watch from the list's resourceVersion with
//    allowWatchBookmarks and a random timeoutSeconds in [60, 120]; a watch that ends is resumed
//    from the last resourceVersion seen, a 410 (status or ERROR event) re-lists. Every event's
//    object must be in the watched app namespace and carry no control-plane name or namespace.
//  - A beacon object per app namespace, merge-patched every 5 s: every healthy watch sees an
//    event at least every 5 s; a watch open for 30 s without one is "stalled" (an error).
//  - A closed loop of `workers` workers (rate-capped) doing every verb: create, get, list, list
//    as Table, update (get + put), merge patch, JSON patch, server-side apply, status update
//    (get + put /status), delete, deletecollection (label selector). Each worker owns its objects
//    (and tracks whether each exists), so 404/409 on them are errors; 10% of operations go to a
//    few shared names every worker races on, where 404/409 are expected.
//  - Faults, one window per period, kinds in turn (the driver knows each window):
//      slow    every control-plane claim request delayed by request-timeout + 3 s -> 504
//      5xx     control plane answers 500 (first half) / 503 (second half)         -> 500, 503
//      drop    every open watch (and any request in flight) cut mid-stream       -> 500/503 for
//              the requests in flight at that instant (or a cut-off body: a list whose
//              upstream broke is aborted); watches must end cleanly and resume
//      outage  control plane refuses connections (and cuts those open)            -> 503 (or
//              a cut-off body for a list in flight at that instant)
//    A response is "injected" when its code is the window's and the request overlapped the
//    window (plus the request timeout + 2 s after it). Objects touched by a failed write become
//    "unknown" until a GET resolves them (after delayed writes could have landed).
//
// Report: counts per verb and code, errors (each one printed, up to 40), the connector's RSS,
// HWM, fds, threads and CPU after warm-up, every minute, at the end, and after the watches closed;
// its /metrics open connections/streams/watches returning to zero. Exit 0 when errors == 0, the
// RSS grew by no more than --max-rss-growth percent (end vs start) and nothing leaked; 1 on
// errors, 3 on RSS growth, 4 on leaks, 2 on set-up failures.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <glog/logging.h>

#include "kube/json.h"
#include "tests/fakekube/server.h"

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace fs = std::filesystem;
namespace json = kube::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kApi = "/apis/k8s.starter.org/v1alpha1";
const std::string kPlural = "kubernetesclusters";
const std::string kClaimNs = "soak-claims";
const std::string kClusterId = "soak-cluster";
const std::string kTableAccept =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
    "g=meta.k8s.io,application/json";

struct Options {
  double minutes = 10;
  int watches = 1000;
  int namespaces = 20;
  int workers = 8;
  double rate = 50;          // mixed operations per second, all workers together (0 = uncapped)
  int names_per_worker = 4;  // per namespace
  int shared_names = 3;      // per namespace
  double warmup_s = 30;
  double ramp_s = 20;  // watches start spread over this
  double fault_period_s = 60;
  bool faults = true;
  double max_rss_growth_pct = 10;
  std::chrono::milliseconds request_timeout = 15s;  // the connector's --request-timeout
  std::string connector_bin = MCP_CONNECTOR_BIN_DEFAULT;
  std::string fixtures;
  bool keep = false;
  std::string fault_kinds = "slow,5xx,drop,outage";  // the windows' kinds, in turn
  int connector_v = 0;                               // the connector's --v
  int fakekube_v = -1;  // >= 0: the in-process fakekubes' glog to stderr, at this --v
};

double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- /proc -------------------------------------------------------------------------------------

double StatusKb(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1));
  }
  return -1;
}

double CpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream is(s.substr(rp + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && is >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int CountFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

std::string LoadAvg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Busy and total jiffies of the whole machine.
std::pair<double, double> MachineCpu() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  f >> cpu;
  double v[10] = {};
  double total = 0;
  for (double& x : v) {
    f >> x;
    total += x;
  }
  return {total - v[3] - v[4], total};
}

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// ---- fault windows and the ledger ---------------------------------------------------------------

enum class FaultKind { kSlow, k5xx, kDrop, kOutage };
const char* FaultName(FaultKind k) {
  switch (k) {
    case FaultKind::kSlow:
      return "slow";
    case FaultKind::k5xx:
      return "5xx";
    case FaultKind::kDrop:
      return "drop";
    case FaultKind::kOutage:
      return "outage";
  }
  return "?";
}

enum class Outcome { kOk, kRaced, kInjected, kExpired, kError };

struct Window {
  FaultKind kind;
  Clock::time_point start, end;  // end = max() while open
};

// Every response, classified; thread-safe (the client thread writes, the main thread reads).
class Ledger {
 public:
  explicit Ledger(Clock::duration grace) : grace_(grace) {}

  void Open(FaultKind k) {
    std::lock_guard l(mu_);
    windows_.push_back({k, Clock::now(), Clock::time_point::max()});
  }
  void Close() {
    std::lock_guard l(mu_);
    if (!windows_.empty()) windows_.back().end = Clock::now();
  }
  int windows(FaultKind k) const {
    std::lock_guard l(mu_);
    return static_cast<int>(std::count_if(windows_.begin(), windows_.end(),
                                          [k](const Window& w) { return w.kind == k; }));
  }

  // True when `code` is what a fault window overlapping [t0, t1] injects.
  bool Injected(Clock::time_point t0, Clock::time_point t1, int code) const {
    std::lock_guard l(mu_);
    for (const auto& w : windows_) {
      Clock::time_point end = w.end == Clock::time_point::max() ? w.end : w.end + grace_;
      if (t1 < w.start || t0 > end) continue;
      switch (w.kind) {
        case FaultKind::kSlow:
          if (code == 504) return true;
          break;
        case FaultKind::k5xx:
          if (code == 500 || code == 503) return true;
          break;
        case FaultKind::kDrop:
          // fakekube's DropStreams() cuts every response in flight, not only watches: those
          // requests see the control plane vanish mid-response (503, or 500 before its header).
          // Code 0: a response cut after its header (a list whose upstream broke is aborted).
          if ((code == 500 || code == 503 || code == 0) && t0 <= w.start + 1s && t1 >= w.start)
            return true;
          break;
        case FaultKind::kOutage:
          if (code == 503) return true;
          // The control plane going away cuts responses in flight (code 0, see drop).
          if (code == 0 && t0 <= w.start + 1s && t1 >= w.start) return true;
          break;
      }
    }
    return false;
  }

  // Classifies and counts one response.
  Outcome Judge(const std::string& verb, const std::string& target, int code,
                const std::string& body, const std::string& transport_error, Clock::time_point t0,
                std::initializer_list<int> ok, std::initializer_list<int> raced = {}) {
    Clock::time_point t1 = Clock::now();
    Outcome o = Outcome::kError;
    if (std::find(ok.begin(), ok.end(), code) != ok.end()) {
      o = Outcome::kOk;
    } else if (std::find(raced.begin(), raced.end(), code) != raced.end()) {
      o = Outcome::kRaced;
    } else if (Injected(t0, t1, code)) {
      o = Outcome::kInjected;
    }
    Count(verb, code, o);
    if (o == Outcome::kError) {
      const std::string windows = WindowsAt(t0, t1);
      Error(verb + " -> " + std::to_string(code) + (windows.empty() ? "" : " in " + windows),
            target + (transport_error.empty() ? "" : " (" + transport_error + ")") + " after " +
                std::to_string(static_cast<int>(Secs(t1 - t0) * 1000)) +
                " ms: " + body.substr(0, 300));
    }
    return o;
  }

  void Count(const std::string& verb, int code, Outcome o) {
    std::lock_guard l(mu_);
    counts_[verb][code]++;
    outcomes_[static_cast<int>(o)]++;
    if (o == Outcome::kError) errors_by_verb_[verb]++;
    total_++;
  }
  // Fault windows overlapping [t0, t1] (with the grace after each), e.g. "slow#3".
  std::string WindowsAt(Clock::time_point t0, Clock::time_point t1) const {
    std::lock_guard l(mu_);
    std::string out;
    for (size_t i = 0; i < windows_.size(); ++i) {
      const auto& w = windows_[i];
      Clock::time_point end = w.end == Clock::time_point::max() ? w.end : w.end + grace_;
      if (t1 < w.start || t0 > end) continue;
      out += std::string(out.empty() ? "" : ",") + FaultName(w.kind) + "#" + std::to_string(i);
    }
    return out;
  }
  // Errors are grouped by `key`; the first of each group is kept (and printed at once).
  void Error(const std::string& key, const std::string& what) {
    std::lock_guard l(mu_);
    errors_++;
    auto& g = groups_[key];
    if (g.first++ == 0) {
      g.second = std::to_string(static_cast<int>(Secs(Clock::now() - born_))) + "s " + what;
      std::fprintf(stderr, "soak: ERROR [%s] %s\n", key.c_str(), g.second.c_str());
    }
  }
  // An error that is not a response (a stalled or cut watch, a bad event).
  void NonResponseError(const std::string& kind, const std::string& what) {
    {
      std::lock_guard l(mu_);
      other_errors_[kind]++;
    }
    Error(kind, what);
  }

  uint64_t errors() const {
    std::lock_guard l(mu_);
    return errors_;
  }
  uint64_t total() const {
    std::lock_guard l(mu_);
    return total_;
  }
  void Print() const {
    std::lock_guard l(mu_);
    std::printf(
        "\n## Responses per verb and code\n\n| verb | total | codes | errors "
        "|\n|---|---|---|---|\n");
    for (const auto& [verb, codes] : counts_) {
      uint64_t n = 0;
      std::string cs;
      for (const auto& [code, c] : codes) {
        n += c;
        if (!cs.empty()) cs += ", ";
        cs += std::to_string(code) + ": " + std::to_string(c);
      }
      auto e = errors_by_verb_.find(verb);
      std::printf("| %s | %llu | %s | %llu |\n", verb.c_str(), static_cast<unsigned long long>(n),
                  cs.c_str(),
                  static_cast<unsigned long long>(e == errors_by_verb_.end() ? 0 : e->second));
    }
    const char* names[] = {"expected", "raced by design (404/409 on shared names)",
                           "injected (the fault window's code)", "expired (410, re-list)", "ERROR"};
    std::printf("\n| outcome | responses |\n|---|---|\n");
    for (int i = 0; i < 5; ++i) {
      std::printf("| %s | %llu |\n", names[i], static_cast<unsigned long long>(outcomes_[i]));
    }
    for (const auto& [k, n] : other_errors_) {
      std::printf("| ERROR (not a response): %s | %llu |\n", k.c_str(),
                  static_cast<unsigned long long>(n));
    }
    std::printf("\nerrors: %llu\n", static_cast<unsigned long long>(errors_));
    for (const auto& [key, g] : groups_) {
      std::printf("  [%s] x%llu, first: %s\n", key.c_str(),
                  static_cast<unsigned long long>(g.first), g.second.c_str());
    }
  }

 private:
  const Clock::duration grace_;
  const Clock::time_point born_ = Clock::now();
  mutable std::mutex mu_;
  std::vector<Window> windows_;
  std::map<std::string, std::map<int, uint64_t>> counts_;
  std::map<std::string, uint64_t> errors_by_verb_, other_errors_;
  uint64_t outcomes_[5] = {};
  uint64_t errors_ = 0, total_ = 0;
  std::map<std::string, std::pair<uint64_t, std::string>> groups_;
};

// ---- HTTP over TLS, as the aggregator
// ------------------------------------------------------------

struct Reply {
  int status = 0;
  std::string body;
  std::string error;  // transport failure
  bool keep_alive = true;
};

struct Request {
  http::verb method = http::verb::get;
  std::string target;
  std::string body;
  std::string content_type = "application/json";
  std::string accept = "application/json";
  std::chrono::milliseconds timeout = 30s;
};

class Conn {
 public:
  Conn(asio::any_io_executor ex, ssl::context& ctx, uint16_t port)
      : ex_(std::move(ex)), ctx_(ctx), port_(port) {}

  asio::awaitable<bool> Connect() {
    Close();
    stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex_, ctx_);
    buf_.clear();
    auto& low = beast::get_lowest_layer(*stream_);
    low.expires_after(15s);
    beast::error_code ec;
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
    co_await low.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      error_ = "connect: " + ec.message();
      co_return false;
    }
    low.socket().set_option(tcp::no_delay(true));
    co_await stream_->async_handshake(ssl::stream_base::client,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      error_ = "handshake: " + ec.message();
      co_return false;
    }
    connected_ = true;
    co_return true;
  }

  // Closes the socket: a pending read or write completes with an error.
  void Close() {
    if (stream_) {
      beast::error_code ec;
      beast::get_lowest_layer(*stream_).socket().close(ec);
    }
    connected_ = false;
  }
  bool connected() const { return connected_; }

  http::request<http::string_body> Build(const Request& q) const {
    http::request<http::string_body> req{q.method, q.target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    req.set(http::field::user_agent, "soak/kube-aggregator");
    req.set(http::field::accept, q.accept);
    req.set("X-Remote-User", "soak-user");
    req.set("X-Remote-Group", "soak-group");
    req.insert("X-Remote-Group", "system:authenticated");
    if (!q.body.empty()) {
      req.set(http::field::content_type, q.content_type);
      req.body() = q.body;
    }
    req.prepare_payload();
    return req;
  }

  asio::awaitable<Reply> Do(Request q) {
    Reply r;
    if (!connected_) {
      const bool ok = co_await Connect();
      if (!ok) {
        r.error = error_;
        co_return r;
      }
    }
    auto req = Build(q);
    auto& low = beast::get_lowest_layer(*stream_);
    low.expires_after(q.timeout);
    beast::error_code ec;
    co_await http::async_write(*stream_, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      r.error = "write: " + ec.message();
      Close();
      co_return r;
    }
    http::response_parser<http::string_body> p;
    p.body_limit(256u * 1024 * 1024);
    co_await http::async_read(*stream_, buf_, p, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      r.error = "read: " + ec.message();
      Close();
      co_return r;
    }
    r.status = p.get().result_int();
    r.keep_alive = p.get().keep_alive();
    r.body = std::move(p.get().body());
    if (!r.keep_alive) Close();
    co_return r;
  }

  beast::ssl_stream<beast::tcp_stream>& stream() { return *stream_; }
  beast::flat_buffer& buffer() { return buf_; }

 private:
  asio::any_io_executor ex_;
  ssl::context& ctx_;
  uint16_t port_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buf_;
  bool connected_ = false;
  std::string error_;
};

// ---- shared state of the client side
// -------------------------------------------------------------

struct WatchSlot {
  std::string ns;                      // "" = all namespaces
  std::atomic<int64_t> open_since{0};  // steady ns since epoch when the current watch got 200
  std::atomic<int64_t> last_event{0};
  std::atomic<uint64_t> events{0};
};

int64_t NowNs() { return Clock::now().time_since_epoch().count(); }

struct Shared {
  Options opt;
  uint16_t port = 0;
  std::unique_ptr<ssl::context> ctx;
  std::unique_ptr<Ledger> ledger;
  std::vector<std::string> namespaces;
  std::vector<std::unique_ptr<WatchSlot>> slots;
  std::atomic<bool> stop_load{false}, stop_watches{false};
  std::atomic<int> load_running{0}, watches_running{0};
  std::set<Conn*> watch_conns;  // client thread only
  Clock::time_point next_slot{};
  // Counters (client thread writes, main thread reads).
  std::atomic<uint64_t> watch_sessions{0}, watch_clean_ends{0}, watch_relists{0}, events{0},
      bookmarks{0}, mixed_ops{0};
  std::atomic<int64_t> slow_delay_ms{0};
};

std::string Collection(const std::string& ns) {
  if (ns.empty()) return kApi + "/" + kPlural;
  return kApi + "/namespaces/" + ns + "/" + kPlural;
}
std::string ObjectPath(const std::string& ns, const std::string& name) {
  return Collection(ns) + "/" + name;
}

std::string ClaimBody(const std::string& ns, const std::string& name, const std::string& owner,
                      int nodes, const std::string& rv = "", bool with_status = false,
                      int gen = 0) {
  std::string meta = "\"name\":\"" + name + "\",\"namespace\":\"" + ns +
                     "\",\"labels\":{\"soak/owner\":\"" + owner + "\"}";
  if (!rv.empty()) meta += ",\"resourceVersion\":\"" + rv + "\"";
  std::string s =
      "{\"apiVersion\":\"k8s.starter.org/v1alpha1\",\"kind\":\"KubernetesCluster\","
      "\"metadata\":{" +
      meta +
      "},\"spec\":{\"parameters\":{\"version\":\"1.30\",\"nodeCount\":" + std::to_string(nodes) +
      "}}";
  if (with_status) {
    s += ",\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":"
         "\"Soak\",\"message\":\"generation " +
         std::to_string(gen) + "\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}";
  }
  return s + "}";
}

std::string ResourceVersionOf(const std::string& body) {
  auto doc = json::Parse(body);
  if (!doc || !doc->IsObject()) return "";
  const json::Value* rv = json::FindPath(*doc, "metadata.resourceVersion");
  if (!rv || !rv->IsString()) return "";
  return std::string(json::View(*rv));
}

// An object or list from the app side must not show the control plane's names or namespace.
bool LeaksControlPlane(const std::string& body) {
  return body.find("\"namespace\":\"" + kClaimNs + "\"") != std::string::npos ||
         body.find("\"name\":\"claim-") != std::string::npos;
}

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// ---- watches
// -------------------------------------------------------------------------------------

asio::awaitable<void> WatchLoop(Shared* s, int i) {
  auto ex = co_await asio::this_coro::executor;
  WatchSlot& slot = *s->slots[i];
  const std::string coll = Collection(slot.ns);
  const std::string verb_suffix = slot.ns.empty() ? " (all namespaces)" : "";
  std::mt19937 rng(static_cast<unsigned>(i) * 7919u + 17u);
  Conn conn(ex, *s->ctx, s->port);
  s->watch_conns.insert(&conn);
  std::string rv;
  int failures = 0;
  // Informers start spread over the ramp, not all in the same millisecond.
  co_await Sleep(std::chrono::milliseconds(
      static_cast<int64_t>(s->opt.ramp_s * 1000 * i / std::max(1, s->opt.watches))));
  while (!s->stop_watches) {
    if (failures > 0) {
      int base = std::min(8000, 500 << std::min(failures, 5));
      co_await Sleep(std::chrono::milliseconds(base / 2 + static_cast<int>(rng() % (base / 2))));
      if (s->stop_watches) break;
    }
    if (rv.empty()) {
      Request q;
      q.target = coll + "?limit=500";
      auto t0 = Clock::now();
      Reply r = co_await conn.Do(q);
      if (s->stop_watches) break;
      s->watch_relists++;
      Outcome o = s->ledger->Judge("list (informer)" + verb_suffix, q.target, r.status, r.body,
                                   r.error, t0, {200});
      if (o != Outcome::kOk) {
        failures++;
        continue;
      }
      rv = ResourceVersionOf(r.body);
      if (rv.empty() || LeaksControlPlane(r.body)) {
        s->ledger->NonResponseError("bad list", q.target + ": " + r.body.substr(0, 200));
        failures++;
        rv.clear();
        continue;
      }
    }
    if (!conn.connected()) {
      const bool ok = co_await conn.Connect();
      if (!ok) {
        s->ledger->Judge("watch" + verb_suffix, coll, 0, "", "connect failed", Clock::now(), {200});
        failures++;
        continue;
      }
    }
    const int timeout_s = 60 + static_cast<int>(rng() % 61);
    Request q;
    q.target = coll + "?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv +
               "&timeoutSeconds=" + std::to_string(timeout_s);
    auto req = conn.Build(q);
    auto& low = beast::get_lowest_layer(conn.stream());
    low.expires_after(30s);
    auto t0 = Clock::now();
    beast::error_code ec;
    co_await http::async_write(conn.stream(), req, asio::redirect_error(asio::use_awaitable, ec));
    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);
    if (!ec) {
      co_await http::async_read_header(conn.stream(), conn.buffer(), p,
                                       asio::redirect_error(asio::use_awaitable, ec));
    }
    if (s->stop_watches) break;
    if (ec) {
      s->ledger->Judge("watch" + verb_suffix, q.target, 0, "", ec.message(), t0, {200});
      conn.Close();
      failures++;
      continue;
    }
    const int status = p.get().result_int();
    if (status != 200) {
      // Read the (small) error body.
      std::string body;
      char chunk[4096];
      while (!p.is_done()) {
        p.get().body().data = chunk;
        p.get().body().size = sizeof chunk;
        co_await http::async_read_some(conn.stream(), conn.buffer(), p,
                                       asio::redirect_error(asio::use_awaitable, ec));
        if (ec && ec != http::error::need_buffer) break;
        body.append(chunk, sizeof chunk - p.get().body().size);
        ec = {};
      }
      if (ec || !p.get().keep_alive()) conn.Close();
      if (status == 410) {  // the resourceVersion is too old: re-list
        s->ledger->Count("watch" + verb_suffix, 410, Outcome::kExpired);
        rv.clear();
        continue;
      }
      s->ledger->Judge("watch" + verb_suffix, q.target, status, body, "", t0, {200});
      failures++;
      continue;
    }
    s->ledger->Count("watch" + verb_suffix, 200, Outcome::kOk);
    s->watch_sessions++;
    failures = 0;
    const int64_t opened = NowNs();
    slot.last_event = opened;
    slot.open_since = opened;
    std::string pending;
    std::vector<char> chunk(64 * 1024);
    bool expired = false;
    while (!p.is_done()) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      low.expires_after(120s);
      co_await http::async_read_some(conn.stream(), conn.buffer(), p,
                                     asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) break;
      pending.append(chunk.data(), chunk.size() - p.get().body().size);
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::string_view line(pending.data(), nl);
        if (line.empty()) {
          pending.erase(0, 1);
          continue;
        }
        const int64_t now = NowNs();
        slot.last_event = now;
        slot.events++;
        s->events++;
        size_t at = line.find("\"resourceVersion\":\"");
        if (at != std::string_view::npos) {
          size_t end = line.find('"', at + 19);
          if (end != std::string_view::npos) rv = std::string(line.substr(at + 19, end - at - 19));
        }
        if (line.find("\"type\":\"BOOKMARK\"") != std::string_view::npos) {
          s->bookmarks++;
        } else if (line.find("\"type\":\"ERROR\"") != std::string_view::npos) {
          int code = 0;
          size_t c = line.find("\"code\":");
          if (c != std::string_view::npos)
            code = std::atoi(std::string(line.substr(c + 7, 4)).c_str());
          if (code == 410) {
            s->ledger->Count("watch ERROR event" + verb_suffix, 410, Outcome::kExpired);
            expired = true;
          } else {
            s->ledger->Judge("watch ERROR event" + verb_suffix, q.target, code, std::string(line),
                             "", t0, {});
          }
        } else {
          std::string text(line);
          bool bad = LeaksControlPlane(text) ||
                     (!slot.ns.empty() &&
                      text.find("\"namespace\":\"" + slot.ns + "\"") == std::string::npos);
          if (bad)
            s->ledger->NonResponseError("bad watch event", q.target + ": " + text.substr(0, 300));
        }
        pending.erase(0, nl + 1);
      }
    }
    slot.open_since = 0;
    if (s->stop_watches) break;
    if (p.is_done()) {
      s->watch_clean_ends++;
      if (!p.get().keep_alive()) conn.Close();
      // Resume from the last resourceVersion after a short random pause (informers do not all
      // come back in the same millisecond).
      co_await Sleep(std::chrono::milliseconds(rng() % 1000));
    } else {
      s->ledger->NonResponseError("watch cut (no terminating chunk)",
                                  q.target + ": " + ec.message() + " after " +
                                      std::to_string(static_cast<int>(Secs(Clock::now() - t0))) +
                                      " s");
      conn.Close();
      failures++;
    }
    if (expired) rv.clear();
  }
  slot.open_since = 0;
  conn.Close();
  s->watch_conns.erase(&conn);
  s->watches_running--;
}

// ---- the mixed workload
// --------------------------------------------------------------------------

asio::awaitable<void> Pace(Shared* s) {
  if (s->opt.rate <= 0) co_return;
  auto now = Clock::now();
  auto slot = std::max(now, s->next_slot);
  s->next_slot = slot + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(1.0 / s->opt.rate));
  if (slot > now) {
    asio::steady_timer t(co_await asio::this_coro::executor, slot);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

enum class State { kAbsent, kPresent, kUnknown };
struct Owned {
  State state = State::kAbsent;
  Clock::time_point not_before{};  // unknown objects: delayed writes may still land until then
};

asio::awaitable<void> Worker(Shared* s, int w) {
  auto ex = co_await asio::this_coro::executor;
  Conn conn(ex, *s->ctx, s->port);
  std::mt19937 rng(1000u + static_cast<unsigned>(w));
  const int nns = static_cast<int>(s->namespaces.size());
  const int per = s->opt.names_per_worker;
  const std::string owner = "w" + std::to_string(w);
  std::vector<Owned> objs(static_cast<size_t>(nns * per));
  auto name_of = [&](int k) { return owner + "-" + std::to_string(k); };
  int gen = 0;
  // After a failed write the object is unknown until delayed writes can no longer land.
  auto unknown_after = [&](Owned& o) {
    o.state = State::kUnknown;
    o.not_before = Clock::now() + std::chrono::milliseconds(s->slow_delay_ms.load()) + 2s;
  };
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng() % (hi - lo + 1)); };
  while (!s->stop_load) {
    co_await Pace(s);
    if (s->stop_load) break;
    s->mixed_ops++;
    gen++;
    const int nsi = pick(0, nns - 1);
    const std::string& ns = s->namespaces[nsi];
    const int dice = pick(0, 99);
    auto t0 = Clock::now();
    if (dice < 7) {  // list
      Request q;
      q.target = Collection(ns);
      Reply r = co_await conn.Do(q);
      auto o = s->ledger->Judge("list", q.target, r.status, r.body, r.error, t0, {200});
      if (o == Outcome::kOk && LeaksControlPlane(r.body))
        s->ledger->NonResponseError("bad list", r.body.substr(0, 300));
      continue;
    }
    if (dice < 11) {  // list as Table (one namespace, or all namespaces)
      Request q;
      q.target = dice < 10 ? Collection(ns) : Collection("");
      q.accept = kTableAccept;
      Reply r = co_await conn.Do(q);
      auto o = s->ledger->Judge(dice < 10 ? "list as Table" : "list as Table (all namespaces)",
                                q.target, r.status, r.body, r.error, t0, {200});
      if (o == Outcome::kOk &&
          (r.body.find("\"kind\":\"Table\"") == std::string::npos || LeaksControlPlane(r.body)))
        s->ledger->NonResponseError("bad Table", r.body.substr(0, 300));
      continue;
    }
    if (dice < 13) {  // deletecollection of this worker's objects in the namespace
      Request q;
      q.method = http::verb::delete_;
      q.target = Collection(ns) + "?labelSelector=soak%2Fowner%3D" + owner;
      Reply r = co_await conn.Do(q);
      auto o = s->ledger->Judge("deletecollection", q.target, r.status, r.body, r.error, t0, {200});
      for (int k = 0; k < per; ++k) {
        Owned& ob = objs[static_cast<size_t>(nsi * per + k)];
        if (o == Outcome::kOk) {
          ob.state = State::kAbsent;
        } else {
          unknown_after(ob);
        }
      }
      continue;
    }
    if (dice < 23) {  // shared names: every worker races on them; 404/409 are expected
      const std::string name = "shared-" + std::to_string(pick(0, s->opt.shared_names - 1));
      const int op = pick(0, 4);
      Request q;
      std::string verb;
      if (op == 0) {
        verb = "create (shared)";
        q.method = http::verb::post;
        q.target = Collection(ns);
        q.body = ClaimBody(ns, name, "shared", pick(1, 9));
        Reply r = co_await conn.Do(q);
        s->ledger->Judge(verb, q.target, r.status, r.body, r.error, t0, {201}, {409});
      } else if (op == 1) {
        q.target = ObjectPath(ns, name);
        Reply g = co_await conn.Do(q);
        auto o =
            s->ledger->Judge("get (shared)", q.target, g.status, g.body, g.error, t0, {200}, {404});
        if (o != Outcome::kOk) continue;
        const std::string rv = ResourceVersionOf(g.body);
        Request u;
        u.method = http::verb::put;
        u.target = ObjectPath(ns, name);
        u.body = ClaimBody(ns, name, "shared", pick(1, 9), rv);
        auto t1 = Clock::now();
        Reply r = co_await conn.Do(u);
        s->ledger->Judge("update (shared)", u.target, r.status, r.body, r.error, t1, {200},
                         {404, 409});
      } else if (op == 2) {
        q.method = http::verb::patch;
        q.target = ObjectPath(ns, name);
        q.content_type = "application/merge-patch+json";
        q.body = "{\"metadata\":{\"annotations\":{\"soak/n\":\"" + std::to_string(gen) + "\"}}}";
        Reply r = co_await conn.Do(q);
        s->ledger->Judge("patch merge (shared)", q.target, r.status, r.body, r.error, t0, {200},
                         {404});
      } else {
        q.method = http::verb::delete_;
        q.target = ObjectPath(ns, name);
        Reply r = co_await conn.Do(q);
        s->ledger->Judge("delete (shared)", q.target, r.status, r.body, r.error, t0, {200, 202},
                         {404});
      }
      continue;
    }
    // Own objects.
    const int k = pick(0, per - 1);
    Owned& ob = objs[static_cast<size_t>(nsi * per + k)];
    const std::string name = name_of(k);
    const std::string path = ObjectPath(ns, name);
    if (ob.state == State::kUnknown) {
      if (Clock::now() < ob.not_before) continue;
      Request q;
      q.target = path;
      Reply r = co_await conn.Do(q);
      auto o = s->ledger->Judge("get", path, r.status, r.body, r.error, t0, {200, 404});
      if (o == Outcome::kOk) ob.state = r.status == 200 ? State::kPresent : State::kAbsent;
      continue;
    }
    // A write's outcome: ok -> the new state; anything else -> unknown.
    auto settle = [&](Outcome o, State ok_state) {
      if (o == Outcome::kOk) {
        ob.state = ok_state;
      } else {
        unknown_after(ob);
      }
    };
    if (ob.state == State::kAbsent) {
      Request q;
      q.method = dice % 3 == 0 ? http::verb::patch : http::verb::post;
      if (q.method == http::verb::post) {
        q.target = Collection(ns);
        q.body = ClaimBody(ns, name, owner, pick(1, 9));
        Reply r = co_await conn.Do(q);
        settle(s->ledger->Judge("create", q.target, r.status, r.body, r.error, t0, {201}),
               State::kPresent);
      } else {
        q.target = path + "?fieldManager=soak&force=true";
        q.content_type = "application/apply-patch+yaml";
        q.body = ClaimBody(ns, name, owner, pick(1, 9));
        Reply r = co_await conn.Do(q);
        settle(s->ledger->Judge("apply (server-side)", q.target, r.status, r.body, r.error, t0,
                                {200, 201}),
               State::kPresent);
      }
      continue;
    }
    // Present.
    const int op = pick(0, 99);
    if (op < 20) {
      Request q;
      q.target = path;
      Reply r = co_await conn.Do(q);
      auto o = s->ledger->Judge("get", path, r.status, r.body, r.error, t0, {200});
      if (o == Outcome::kOk && (LeaksControlPlane(r.body) ||
                                r.body.find("\"name\":\"" + name + "\"") == std::string::npos))
        s->ledger->NonResponseError("bad object", r.body.substr(0, 300));
      if (o != Outcome::kOk && o != Outcome::kInjected) unknown_after(ob);
    } else if (op < 46) {  // update or status update: get, then put with its resourceVersion
      const bool status = op >= 33;
      Request g;
      g.target = path;
      Reply gr = co_await conn.Do(g);
      auto o = s->ledger->Judge("get", path, gr.status, gr.body, gr.error, t0, {200});
      if (o != Outcome::kOk) {
        if (o != Outcome::kInjected) unknown_after(ob);
        continue;
      }
      Request q;
      q.method = http::verb::put;
      q.target = status ? path + "/status" : path;
      q.body = ClaimBody(ns, name, owner, pick(1, 9), ResourceVersionOf(gr.body), status, gen);
      auto t1 = Clock::now();
      Reply r = co_await conn.Do(q);
      settle(s->ledger->Judge(status ? "update status" : "update", q.target, r.status, r.body,
                              r.error, t1, {200}),
             State::kPresent);
    } else if (op < 58) {
      Request q;
      q.method = http::verb::patch;
      q.target = path;
      q.content_type = "application/merge-patch+json";
      q.body = "{\"metadata\":{\"annotations\":{\"soak/n\":\"" + std::to_string(gen) + "\"}}}";
      Reply r = co_await conn.Do(q);
      settle(s->ledger->Judge("patch merge", path, r.status, r.body, r.error, t0, {200}),
             State::kPresent);
    } else if (op < 70) {
      Request q;
      q.method = http::verb::patch;
      q.target = path;
      q.content_type = "application/json-patch+json";
      q.body = "[{\"op\":\"replace\",\"path\":\"/spec/parameters/nodeCount\",\"value\":" +
               std::to_string(pick(1, 9)) + "}]";
      Reply r = co_await conn.Do(q);
      settle(s->ledger->Judge("patch json", path, r.status, r.body, r.error, t0, {200}),
             State::kPresent);
    } else if (op < 82) {
      Request q;
      q.method = http::verb::patch;
      q.target = path + "?fieldManager=soak&force=true";
      q.content_type = "application/apply-patch+yaml";
      q.body = ClaimBody(ns, name, owner, pick(1, 9));
      Reply r = co_await conn.Do(q);
      settle(
          s->ledger->Judge("apply (server-side)", q.target, r.status, r.body, r.error, t0, {200}),
          State::kPresent);
    } else {
      Request q;
      q.method = http::verb::delete_;
      q.target = path;
      Reply r = co_await conn.Do(q);
      settle(s->ledger->Judge("delete", path, r.status, r.body, r.error, t0, {200, 202}),
             State::kAbsent);
    }
  }
  conn.Close();
  s->load_running--;
}

// Merge-patches the beacon of one namespace every 5 s, so every watch sees events.
asio::awaitable<void> Beacon(Shared* s, std::string ns) {
  auto ex = co_await asio::this_coro::executor;
  Conn conn(ex, *s->ctx, s->port);
  uint64_t beat = 0;
  while (!s->stop_load) {
    auto round = Clock::now();
    Request q;
    q.method = http::verb::patch;
    q.target = ObjectPath(ns, "beacon");
    q.content_type = "application/merge-patch+json";
    q.body = "{\"metadata\":{\"annotations\":{\"soak/beat\":\"" + std::to_string(++beat) + "\"}}}";
    Reply r = co_await conn.Do(q);
    s->ledger->Judge("patch merge (beacon)", q.target, r.status, r.body, r.error, round, {200});
    auto next = round + 5s;
    while (!s->stop_load && Clock::now() < next) co_await Sleep(200ms);
  }
  conn.Close();
  s->load_running--;
}

// Runs `fn` on the client io_context and waits for it.
template <typename T>
T RunOn(asio::io_context& io, std::function<asio::awaitable<T>()> fn) {
  std::promise<T> done;
  auto fut = done.get_future();
  asio::co_spawn(
      io,
      [fn, &done]() -> asio::awaitable<void> {
        T v = co_await fn();
        done.set_value(std::move(v));
      },
      asio::detached);
  return fut.get();
}

// ---- the connector process
// -----------------------------------------------------------------------

struct Metrics {
  bool ok = false;
  double conns = -1, streams = -1, watches = -1, inflight = -1, handshakes = -1;
  double heap_in_use = -1, heap_free = -1, heap_released = -1;  // bytes (kube/heap_trimmer.h)
};

Metrics Scrape(Shared& s, asio::io_context& io) {
  Reply r = RunOn<Reply>(io, [&s]() -> asio::awaitable<Reply> {
    Conn c(co_await asio::this_coro::executor, *s.ctx, s.port);
    Request q;
    q.target = "/metrics";
    q.accept = "text/plain";
    q.timeout = 10s;
    Reply rr = co_await c.Do(q);
    c.Close();
    co_return rr;
  });
  Metrics m;
  if (r.status != 200) return m;
  m.ok = true;
  auto get = [&](const std::string& name) {
    size_t p = r.body.find("\n" + name + " ");
    return p == std::string::npos ? -1.0
                                  : std::strtod(r.body.c_str() + p + name.size() + 2, nullptr);
  };
  m.conns = get("mcp_connector_open_connections");
  m.streams = get("mcp_connector_active_streams");
  m.watches = get("apiserver_longrunning_requests{verb=\"WATCH\"}");
  m.inflight = get("apiserver_current_inflight_requests");
  m.handshakes = get("mcp_connector_upstream_handshakes_total");
  m.heap_in_use = get("mcp_connector_heap_bytes{state=\"in_use\"}");
  m.heap_free = get("mcp_connector_heap_bytes{state=\"free\"}");
  m.heap_released = get("mcp_connector_heap_released_bytes_total");
  return m;
}

struct Sample {
  std::string label;
  double t = 0;  // seconds since the start sample
  double rss_mb = 0, hwm_mb = 0, cpu_s = 0;
  int fds = 0, threads = 0;
  uint64_t responses = 0, errors = 0, events = 0, sessions = 0;
  int open_watches = 0, stalled = 0;
  Metrics m;
  std::string load;
};

int Usage() {
  std::cerr << "usage: soak [--minutes N] [--watches N] [--namespaces N] [--workers N] [--rate R]\n"
               "            [--warmup S] [--ramp S] [--request-timeout S] [--fault-period S] "
               "[--no-faults] [--max-rss-growth PCT]\n"
               "            [--faults slow,5xx,drop,outage] [--connector-v N] [--fakekube-v N]\n"
               "            [--connector PATH] [--fixtures DIR] [--keep]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Shared s;
  Options& o = s.opt;
  std::string src = MCP_SOURCE_DIR_DEFAULT;
  o.fixtures = src + "/hack/demo/control-plane";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(Usage());
      return argv[++i];
    };
    if (a == "--minutes")
      o.minutes = std::stod(val());
    else if (a == "--watches")
      o.watches = std::stoi(val());
    else if (a == "--namespaces")
      o.namespaces = std::stoi(val());
    else if (a == "--workers")
      o.workers = std::stoi(val());
    else if (a == "--rate")
      o.rate = std::stod(val());
    else if (a == "--warmup")
      o.warmup_s = std::stod(val());
    else if (a == "--ramp")
      o.ramp_s = std::stod(val());
    else if (a == "--request-timeout")
      o.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(std::stod(val()) * 1000));
    else if (a == "--fault-period")
      o.fault_period_s = std::stod(val());
    else if (a == "--no-faults")
      o.faults = false;
    else if (a == "--max-rss-growth")
      o.max_rss_growth_pct = std::stod(val());
    else if (a == "--connector")
      o.connector_bin = val();
    else if (a == "--fixtures")
      o.fixtures = val();
    else if (a == "--keep")
      o.keep = true;
    else if (a == "--faults")
      o.fault_kinds = val();
    else if (a == "--connector-v")
      o.connector_v = std::stoi(val());
    else if (a == "--fakekube-v")
      o.fakekube_v = std::stoi(val());
    else
      return Usage();
  }
  s.ledger = std::make_unique<Ledger>(o.request_timeout + 2s);
  // The in-process fakekubes' logs (dropped connections are on purpose) unless asked for.
  FLAGS_minloglevel = o.fakekube_v >= 0 ? 0 : 3;
  FLAGS_v = std::max(0, o.fakekube_v);
  std::signal(SIGPIPE, SIG_IGN);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(o.watches) * 3 + 500) {
    std::fprintf(stderr, "soak: open-file limit %llu is too low for %d watches\n",
                 static_cast<unsigned long long>(rl.rlim_cur), o.watches);
    return 2;
  }

  std::string tmpl = (fs::temp_directory_path() / "mcp-soak-XXXXXX").string();
  const std::string dir = mkdtemp(tmpl.data());
  std::printf(
      "# soak: %.1f min, %d watches, %d namespaces, %d workers at <= %.0f ops/s, faults %s "
      "(period %.0f s), connector %s, dir %s\n",
      o.minutes, o.watches, o.namespaces, o.workers, o.rate, o.faults ? "on" : "off",
      o.fault_period_s, o.connector_bin.c_str(), dir.c_str());
  std::printf("# host %ld CPUs, load average at start %s\n", sysconf(_SC_NPROCESSORS_ONLN),
              LoadAvg().c_str());
  std::fflush(stdout);

  // Control plane and app cluster.
  fakekube::FakeKubeOptions cpo;
  cpo.fixtures_dir = o.fixtures;
  auto cp = std::make_unique<fakekube::FakeKube>(cpo);
  if (auto r = cp->Start(); !r.ok()) {
    std::fprintf(stderr, "soak: control plane: %s\n", r.error().message.c_str());
    return 2;
  }
  if (!cp->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + kClaimNs + "}\n").ok()) {
    std::fprintf(stderr, "soak: cannot create the claim namespace\n");
    return 2;
  }
  fakekube::FakeKubeOptions appo;
  appo.aggregator = true;
  appo.availability_interval = 3600s;
  auto app = std::make_unique<fakekube::FakeKube>(appo);
  if (auto r = app->Start(); !r.ok()) {
    std::fprintf(stderr, "soak: app cluster: %s\n", r.error().message.c_str());
    return 2;
  }
  for (int i = 0; i < o.namespaces; ++i) {
    char n[32];
    std::snprintf(n, sizeof n, "soak-%02d", i);
    s.namespaces.push_back(n);
    if (!app->Apply(std::string("apiVersion: v1\nkind: Namespace\nmetadata: {name: ") + n + "}\n")
             .ok()) {
      std::fprintf(stderr, "soak: cannot create namespace %s\n", n);
      return 2;
    }
  }
  if (!cp->WriteKubeconfig(dir + "/cp.kubeconfig").ok() ||
      !app->WriteKubeconfig(dir + "/app.kubeconfig").ok()) {
    std::fprintf(stderr, "soak: cannot write kubeconfigs\n");
    return 2;
  }
  std::ofstream(dir + "/api.yaml")
      << ReadAll(o.fixtures + "/10-xrd-xkubernetesclusters.yaml") << "\n---\n"
      << ReadAll(o.fixtures + "/12-crd-kubernetesclusters.yaml");

  // The connector.
  s.port = FreePort();
  const std::string rt = std::to_string(o.request_timeout.count()) + "ms";
  std::vector<std::string> args = {o.connector_bin,
                                   "serve",
                                   "--bind-address",
                                   "127.0.0.1",
                                   "--secure-port",
                                   std::to_string(s.port),
                                   "--cert-dir",
                                   dir + "/connector-certs",
                                   "--kubeconfig",
                                   dir + "/app.kubeconfig",
                                   "--control-plane-kubeconfig",
                                   dir + "/cp.kubeconfig",
                                   "--cluster-id",
                                   kClusterId,
                                   "--claim-namespace",
                                   kClaimNs,
                                   "--api-file",
                                   dir + "/api.yaml",
                                   "--leader-elect=false",
                                   "--request-timeout",
                                   rt,
                                   "--max-watches",
                                   std::to_string(std::max(4096, o.watches * 2)),
                                   "--v=" + std::to_string(o.connector_v)};
  std::vector<char*> argvv;
  for (auto& a : args) argvv.push_back(a.data());
  argvv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = dir + "/connector.log";
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  // Nothing else of ours (the fakekubes' listening sockets above all) may leak into the child: a
  // listener inherited by the connector outlives fakekube's "refuse connections" (connects then
  // hang in its backlog instead of being refused, and the re-listen fails with EADDRINUSE).
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  pid_t pid = 0;
  if (posix_spawn(&pid, o.connector_bin.c_str(), &fa, nullptr, argvv.data(), environ) != 0) {
    std::fprintf(stderr, "soak: cannot start %s\n", o.connector_bin.c_str());
    return 2;
  }
  posix_spawn_file_actions_destroy(&fa);
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "soak: %s; connector log %s\n", why.c_str(), log.c_str());
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return 2;
  };

  s.ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  s.ctx->set_verify_mode(ssl::verify_none);  // loopback; the connector's own CA is not under test
  const auto& fp = app->front_proxy_client();
  s.ctx->use_certificate_chain(asio::buffer(fp.cert_pem));
  const std::string fp_key = fp.key_pem.RevealCopy();
  s.ctx->use_private_key(asio::buffer(fp_key), ssl::context::pem);

  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  std::thread client([&io] { io.run(); });
  auto shutdown_client = [&] {
    guard.reset();
    io.stop();
    client.join();
  };

  // Ready once the front proxy is trusted (extension-apiserver-authentication loaded).
  {
    auto deadline = Clock::now() + 60s;
    bool ready = false;
    while (!ready && Clock::now() < deadline) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) {
        shutdown_client();
        return fail("the connector exited");
      }
      Reply r = RunOn<Reply>(io, [&s]() -> asio::awaitable<Reply> {
        Conn c(co_await asio::this_coro::executor, *s.ctx, s.port);
        Request q;
        q.target = "/readyz?verbose";
        q.timeout = 5s;
        Reply rr = co_await c.Do(q);
        c.Close();
        co_return rr;
      });
      ready = r.status == 200 && r.body.find("[+]authentication ok") != std::string::npos;
      if (!ready) std::this_thread::sleep_for(200ms);
    }
    if (!ready) {
      shutdown_client();
      return fail("the connector did not become ready");
    }
  }
  // Beacons.
  {
    int bad = RunOn<int>(io, [&s]() -> asio::awaitable<int> {
      Conn c(co_await asio::this_coro::executor, *s.ctx, s.port);
      int failed = 0;
      for (const auto& ns : s.namespaces) {
        Request q;
        q.method = http::verb::post;
        q.target = Collection(ns);
        q.body = ClaimBody(ns, "beacon", "beacon", 1);
        Reply r = co_await c.Do(q);
        if (r.status != 201) {
          failed++;
          std::fprintf(stderr, "soak: beacon %s: %d %s %s\n", ns.c_str(), r.status, r.error.c_str(),
                       r.body.substr(0, 300).c_str());
        }
      }
      c.Close();
      co_return failed;
    });
    if (bad > 0) {
      shutdown_client();
      return fail("could not create the beacons");
    }
  }

  // Watches.
  auto t_watch = Clock::now();
  for (int i = 0; i < o.watches; ++i) {
    auto slot = std::make_unique<WatchSlot>();
    slot->ns = i % 100 == 99 ? "" : s.namespaces[static_cast<size_t>(i) % s.namespaces.size()];
    s.slots.push_back(std::move(slot));
  }
  s.watches_running = o.watches;
  for (int i = 0; i < o.watches; ++i) asio::co_spawn(io, WatchLoop(&s, i), asio::detached);
  auto open_watches = [&] {
    int n = 0;
    for (const auto& sl : s.slots) n += sl->open_since.load() != 0;
    return n;
  };
  while (open_watches() < o.watches && Clock::now() - t_watch < 180s)
    std::this_thread::sleep_for(200ms);
  std::printf("# %d/%d watches open after %.1f s\n", open_watches(), o.watches,
              Secs(Clock::now() - t_watch));
  std::fflush(stdout);
  if (open_watches() < o.watches) {
    s.ledger->NonResponseError("set-up", "not every watch opened within 180 s");
  }

  // Mixed workload + beacons; warm-up.
  s.load_running = o.workers + static_cast<int>(s.namespaces.size());
  for (const auto& ns : s.namespaces) asio::co_spawn(io, Beacon(&s, ns), asio::detached);
  for (int w = 0; w < o.workers; ++w) asio::co_spawn(io, Worker(&s, w), asio::detached);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(o.warmup_s * 1000)));

  std::vector<Sample> samples;
  auto stalled = [&] {
    const int64_t now = NowNs();
    const int64_t limit = std::chrono::nanoseconds(30s).count();
    int n = 0;
    for (const auto& sl : s.slots) {
      int64_t open = sl->open_since.load();
      if (open == 0 || now - open < limit) continue;
      if (now - sl->last_event.load() > limit) n++;
    }
    return n;
  };
  const auto t_start = Clock::now();
  auto sample = [&](const std::string& label, bool scrape) {
    Sample x;
    x.label = label;
    x.t = Secs(Clock::now() - t_start);
    x.rss_mb = StatusKb(pid, "VmRSS") / 1024;
    x.hwm_mb = StatusKb(pid, "VmHWM") / 1024;
    x.cpu_s = CpuSeconds(pid);
    x.fds = CountFds(pid);
    x.threads = static_cast<int>(StatusKb(pid, "Threads"));
    x.responses = s.ledger->total();
    x.errors = s.ledger->errors();
    x.events = s.events;
    x.sessions = s.watch_sessions;
    x.open_watches = open_watches();
    x.stalled = stalled();
    if (scrape) x.m = Scrape(s, io);
    x.load = LoadAvg();
    samples.push_back(x);
    std::fprintf(
        stderr,
        "soak: %-7s t=%6.0fs rss %.1f MB hwm %.1f MB heap in use %.1f MB cpu %.1fs fds %d "
        "responses %llu errors %llu events %llu watches open %d stalled %d load %s\n",
        label.c_str(), x.t, x.rss_mb, x.hwm_mb, x.m.heap_in_use / 1048576, x.cpu_s, x.fds,
        static_cast<unsigned long long>(x.responses), static_cast<unsigned long long>(x.errors),
        static_cast<unsigned long long>(x.events), x.open_watches, x.stalled, x.load.c_str());
    return x;
  };
  const auto machine0 = MachineCpu();
  sample("start", true);

  // The run: faults by period, a sample every minute, stalled watches checked every 5 s.
  const auto run_for =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.minutes * 60));
  const auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.fault_period_s));
  const auto fault_len = std::min<Clock::duration>(12s, period / 4);
  const std::string cp_claims = kApi + "/namespaces/" + kClaimNs;
  std::vector<FaultKind> kinds;
  for (const FaultKind k :
       {FaultKind::kSlow, FaultKind::k5xx, FaultKind::kDrop, FaultKind::kOutage}) {
    if (("," + o.fault_kinds + ",").find("," + std::string(FaultName(k)) + ",") !=
        std::string::npos) {
      kinds.push_back(k);
    }
  }
  if (kinds.empty()) o.faults = false;
  int next_minute = 1;
  int fault_index = 0;
  auto next_check = Clock::now() + 5s;
  int worst_stalled = 0;
  while (Clock::now() - t_start < run_for) {
    auto now = Clock::now();
    auto since = now - t_start;
    if (o.faults && since >= period * fault_index + period * 3 / 10 &&
        since + fault_len < run_for) {
      FaultKind k = kinds[static_cast<size_t>(fault_index) % kinds.size()];
      fault_index++;
      std::fprintf(stderr, "soak: fault %s for %.0f s\n", FaultName(k), Secs(fault_len));
      s.ledger->Open(k);
      std::vector<int> ids;
      if (k == FaultKind::kSlow) {
        fakekube::Fault f;
        f.path_prefix = cp_claims;
        f.delay = o.request_timeout + 3s;
        s.slow_delay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(f.delay).count();
        ids.push_back(cp->AddFault(f));
        std::this_thread::sleep_for(fault_len);
      } else if (k == FaultKind::k5xx) {
        fakekube::Fault f;
        f.path_prefix = cp_claims;
        f.status = 500;
        int id = cp->AddFault(f);
        std::this_thread::sleep_for(fault_len / 2);
        cp->RemoveFault(id);
        f.status = 503;
        ids.push_back(cp->AddFault(f));
        std::this_thread::sleep_for(fault_len / 2);
      } else if (k == FaultKind::kDrop) {
        cp->DropStreams();
        std::this_thread::sleep_for(fault_len);
      } else {
        if (!cp->SetRefuseConnections(true).ok()) s.ledger->NonResponseError("set-up", "refuse");
        std::this_thread::sleep_for(fault_len);
        // Re-listen on the same port (retried: the old listener may still be closing).
        auto back = cp->SetRefuseConnections(false);
        for (int tries = 0; !back.ok() && tries < 40; ++tries) {
          std::fprintf(stderr, "soak: control plane re-listen: %s\n", back.error().message.c_str());
          std::this_thread::sleep_for(250ms);
          back = cp->SetRefuseConnections(false);
        }
        if (!back.ok()) {
          s.ledger->NonResponseError(
              "set-up", "the control plane did not come back: " + back.error().message);
        }
      }
      for (int id : ids) cp->RemoveFault(id);
      s.ledger->Close();
      continue;
    }
    if (since >= std::chrono::minutes(next_minute)) {
      sample("min " + std::to_string(next_minute), true);
      next_minute++;
    }
    if (now >= next_check) {
      next_check = now + 5s;
      int st = stalled();
      if (st > worst_stalled) {
        worst_stalled = st;
        if (st > 0) {
          s.ledger->NonResponseError("stalled watches",
                                     std::to_string(st) + " watches open >30 s without an event");
        }
      }
    }
    std::this_thread::sleep_for(200ms);
  }
  // End: stop the load, sample with the watches still open, then close them.
  s.stop_load = true;
  while (s.load_running > 0) std::this_thread::sleep_for(50ms);
  std::this_thread::sleep_for(2s);
  Sample end = sample("end", true);
  const auto machine1 = MachineCpu();
  s.stop_watches = true;
  RunOn<int>(io, [&s]() -> asio::awaitable<int> {
    for (Conn* c : s.watch_conns) c->Close();
    co_return 0;
  });
  auto t_close = Clock::now();
  while (s.watches_running > 0 && Clock::now() - t_close < 60s) std::this_thread::sleep_for(50ms);
  // The connector's gauges back to zero (beyond the scrape's own connection and request).
  Metrics m;
  bool drained = false;
  while (Clock::now() - t_close < 30s) {
    m = Scrape(s, io);
    if (m.ok && m.conns == 1 && m.streams == 1 && m.watches == 0 && m.inflight == 1 &&
        cp->open_watches() == 0) {
      drained = true;
      break;
    }
    std::this_thread::sleep_for(500ms);
  }
  const double drain_s = Secs(Clock::now() - t_close);
  std::this_thread::sleep_for(2s);
  Sample closed = sample("closed", false);
  closed.m = m;
  samples.back().m = m;
  shutdown_client();

  // Graceful stop of the connector.
  auto t_term = Clock::now();
  kill(pid, SIGTERM);
  int wstatus = 0;
  bool exited = false;
  while (Clock::now() - t_term < 40s) {
    if (waitpid(pid, &wstatus, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &wstatus, 0);
  }
  const double term_s = Secs(Clock::now() - t_term);
  app.reset();
  cp.reset();

  // ---- report ----
  s.ledger->Print();
  std::printf(
      "\n## Watches\n\nwatch sessions opened %llu, ended cleanly %llu, informer re-lists %llu, "
      "events received %llu (bookmarks %llu), worst stalled count %d\n",
      static_cast<unsigned long long>(s.watch_sessions.load()),
      static_cast<unsigned long long>(s.watch_clean_ends.load()),
      static_cast<unsigned long long>(s.watch_relists.load()),
      static_cast<unsigned long long>(s.events.load()),
      static_cast<unsigned long long>(s.bookmarks.load()), worst_stalled);
  std::printf("fault windows: slow %d, 5xx %d, drop %d, outage %d\n",
              s.ledger->windows(FaultKind::kSlow), s.ledger->windows(FaultKind::k5xx),
              s.ledger->windows(FaultKind::kDrop), s.ledger->windows(FaultKind::kOutage));
  std::printf(
      "\n## Connector process (pid %d)\n\n"
      "| sample | t (s) | VmRSS MB | VmHWM MB | heap in use MB | heap free MB | trimmed MB | "
      "CPU s | fds | threads | open conns | streams | watches | responses | events | load avg |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      pid);
  for (const auto& x : samples) {
    std::printf(
        "| %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %d | %.0f | %.0f | %.0f | "
        "%llu | %llu | %s |\n",
        x.label.c_str(), x.t, x.rss_mb, x.hwm_mb, x.m.heap_in_use / 1048576,
        x.m.heap_free / 1048576, x.m.heap_released / 1048576, x.cpu_s, x.fds, x.threads, x.m.conns,
        x.m.streams, x.m.watches, static_cast<unsigned long long>(x.responses),
        static_cast<unsigned long long>(x.events), x.load.c_str());
  }
  const Sample& start = samples.front();
  const double growth = start.rss_mb > 0 ? (end.rss_mb - start.rss_mb) / start.rss_mb * 100 : 0;
  const double run_s = end.t;
  std::printf(
      "\nRSS start %.1f MB -> end %.1f MB (%+.1f%%, threshold %.0f%%); after the watches "
      "closed %.1f MB\n",
      start.rss_mb, end.rss_mb, growth, o.max_rss_growth_pct, closed.rss_mb);
  std::printf(
      "connector CPU over the run %.1f s (%.0f%% of one core); machine busy %.0f%% of %ld "
      "CPUs\n",
      end.cpu_s - start.cpu_s, (end.cpu_s - start.cpu_s) / run_s * 100,
      (machine1.first - machine0.first) / (machine1.second - machine0.second) * 100,
      sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("mixed operations %llu (%.1f/s), responses %llu\n",
              static_cast<unsigned long long>(s.mixed_ops.load()),
              static_cast<double>(s.mixed_ops.load()) / run_s,
              static_cast<unsigned long long>(s.ledger->total()));
  std::printf(
      "after closing the watches: %s in %.1f s (open connections %.0f, streams %.0f, "
      "watches %.0f, inflight %.0f, upstream handshakes total %.0f)\n",
      drained ? "drained" : "NOT DRAINED", drain_s, m.conns, m.streams, m.watches, m.inflight,
      m.handshakes);
  std::printf("connector SIGTERM -> exit in %.1f s, %s %d\n", term_s,
              WIFEXITED(wstatus) ? "exit code" : "signal",
              WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
  std::printf("load average at end %s\n", LoadAvg().c_str());

  int rc = 0;
  if (s.ledger->errors() > 0)
    rc = 1;
  else if (growth > o.max_rss_growth_pct)
    rc = 3;
  else if (!drained)
    rc = 4;
  std::printf("\nverdict: %s (errors %llu, RSS growth %+.1f%%, drained %s)\n",
              rc == 0 ? "PASS" : "FAIL", static_cast<unsigned long long>(s.ledger->errors()),
              growth, drained ? "yes" : "no");
  if (!o.keep && rc == 0) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    std::printf("kept %s (connector.log)\n", dir.c_str());
  }
  return rc;
}

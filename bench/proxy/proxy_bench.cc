// proxy_bench: issue 9's load client. The same client drives three targets that serve the same
// claims: (a) "direct" (the control-plane fakekube), (b) "nginx" (plain TLS reverse proxy to it)
// and (c) "connector" (mcp-connector, spoken to as kube-aggregator does: front-proxy client
// certificate + X-Remote-User / X-Remote-Group). Targets are interleaved within each repetition;
// medians over repetitions and pairwise ratios are printed as a table. CPU time of each
// process comes from its CPU clock, to the microsecond, children included for nginx's workers
// (bench/proxy/process_cpu.h).
//
//   proxy_bench certs --dir D --cp-kubeconfig K
//       writes D/front-proxy-ca.crt, D/front-proxy-client.{crt,key}, D/serving.{crt,key} (for
//       nginx) and D/admin.{crt,key} (the control plane's admin client certificate, for nginx's
//       upstream side) using kube/tls.h.
//   proxy_bench run --workload get|create|list|watch --dir D --cp-kubeconfig K --cp-pid P
//       --direct PORT --nginx PORT:PID --connector PORT:PID [--reps 3] [--seconds 5] ...
//
// hack/bench.sh starts the processes and calls this; see bench/README.md.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/proxy/process_cpu.h"
#include "bench/proxy/start_gate.h"
#include "kube/kubeconfig.h"
#include "kube/tls.h"
#include "naming/naming.h"

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---- /proc ------------------------------------------------------------------------------------

// CPU time of `pid` and its direct children (nginx workers), in microseconds.
double CpuMicros(pid_t pid) { return bench::CpuMicrosWithChildren(pid); }

// A /proc/<pid>/status field in kB (VmRSS, VmHWM), summed over the process and its children.
double StatusKb(pid_t pid, const std::string& key) {
  if (pid <= 0) return 0;
  double total = 0;
  for (pid_t p : bench::WithChildren(pid)) {
    std::ifstream f("/proc/" + std::to_string(p) + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind(key + ":", 0) == 0) total += std::stod(line.substr(key.size() + 1));
    }
  }
  return total;
}

// Resets VmHWM to the current RSS (Linux >= 4.0: "5" > clear_refs).
void ResetPeak(pid_t pid) {
  for (pid_t p : bench::WithChildren(pid)) {
    std::ofstream f("/proc/" + std::to_string(p) + "/clear_refs");
    f << "5";
  }
}

double SelfCpuMicros() { return bench::ProcessCpuMicros(getpid()); }

// ---- statistics -------------------------------------------------------------------------------

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}
double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

// ---- configuration ----------------------------------------------------------------------------

struct Target {
  std::string name;  // direct, nginx, connector
  uint16_t port = 0;
  pid_t pid = 0;          // process charged for the proxying (0 for direct)
  bool app_side = false;  // connector: app-cluster paths and X-Remote-* identity
  std::shared_ptr<ssl::context> ctx;
};

struct Config {
  std::string workload = "get";
  std::string dir;
  std::string cp_kubeconfig;
  pid_t cp_pid = 0;
  std::vector<Target> targets;
  Target admin;  // direct to the control plane, for seeding and watch writes
  int reps = 3;
  double seconds = 5;
  double rate = 300;  // open-loop requests per second
  std::string cluster_id = "bench-cluster";
  std::string claim_ns = "bench-claims";
  std::string group = "k8s.starter.org", version = "v1alpha1", plural = "kubernetesclusters",
              kind = "KubernetesCluster";
  std::vector<int> list_sizes = {1000, 10000};
  std::vector<int> watch_counts = {1000, 5000};
  int creates = 1000;
  int concurrency = 16;
  int threads = 2;
};

std::string CpName(const Config& c, const std::string& app_ns, const std::string& name) {
  return naming::ControlPlaneName(naming::Kind::kClaim, name, app_ns, c.cluster_id);
}

std::string ApiPrefix(const Config& c) { return "/apis/" + c.group + "/" + c.version; }

std::string ObjectPath(const Config& c, const Target& t, const std::string& app_ns,
                       const std::string& name) {
  if (t.app_side) return ApiPrefix(c) + "/namespaces/" + app_ns + "/" + c.plural + "/" + name;
  return ApiPrefix(c) + "/namespaces/" + c.claim_ns + "/" + c.plural + "/" +
         CpName(c, app_ns, name);
}

// The collection of one app namespace: the connector's own path; for the control plane the
// selector the connector sends upstream (cluster and app-namespace labels).
std::string CollectionPath(const Config& c, const Target& t, const std::string& app_ns) {
  if (t.app_side) return ApiPrefix(c) + "/namespaces/" + app_ns + "/" + c.plural;
  return ApiPrefix(c) + "/namespaces/" + c.claim_ns + "/" + c.plural +
         "?labelSelector=mcp-connector.upbound.io%2Fapp-cluster%3D" + c.cluster_id +
         "%2Cmcp-connector.upbound.io%2Fapp-namespace%3D" + app_ns;
}

std::string CreatePath(const Config& c, const Target& t, const std::string& app_ns) {
  if (t.app_side) return ApiPrefix(c) + "/namespaces/" + app_ns + "/" + c.plural;
  return ApiPrefix(c) + "/namespaces/" + c.claim_ns + "/" + c.plural;
}

// A claim as the user writes it (app side) or as the connector stores it (control plane).
std::string ClaimBody(const Config& c, const Target& t, const std::string& app_ns,
                      const std::string& name, size_t pad) {
  std::string meta;
  if (t.app_side) {
    meta = "\"name\":\"" + name + "\",\"namespace\":\"" + app_ns + "\"";
  } else {
    meta = "\"name\":\"" + CpName(c, app_ns, name) + "\",\"namespace\":\"" + c.claim_ns +
           "\",\"labels\":{\"mcp-connector.upbound.io/app-cluster\":\"" + c.cluster_id +
           "\",\"mcp-connector.upbound.io/app-namespace\":\"" + app_ns +
           "\",\"mcp-connector.upbound.io/app-resource-name\":\"" + name + "\"}";
  }
  if (pad > 0) meta += ",\"annotations\":{\"bench/pad\":\"" + std::string(pad, 'x') + "\"}";
  return "{\"apiVersion\":\"" + c.group + "/" + c.version + "\",\"kind\":\"" + c.kind +
         "\",\"metadata\":{" + meta + "},\"spec\":{\"id\":\"" + name +
         "\",\"parameters\":{\"nodes\":{\"count\":3,\"size\":\"small\"},\"services\":{"
         "\"operators\":{\"prometheus\":{\"version\":\"34.5.1\"}}}}}}";
}

// ---- HTTP over TLS ----------------------------------------------------------------------------

struct Reply {
  int status = 0;
  size_t bytes = 0;
  std::string body;
};

class Conn {
 public:
  Conn(asio::any_io_executor ex, const Target& t) : target_(t), stream_(ex, *t.ctx) {}

  asio::awaitable<void> Connect() {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), target_.port);
    co_await beast::get_lowest_layer(stream_).async_connect(ep, asio::use_awaitable);
    beast::get_lowest_layer(stream_).socket().set_option(tcp::no_delay(true));
    co_await stream_.async_handshake(ssl::stream_base::client, asio::use_awaitable);
  }

  http::request<http::string_body> MakeRequest(http::verb verb, const std::string& path,
                                               std::string body = {},
                                               std::string content_type = {}) const {
    http::request<http::string_body> req{verb, path, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(target_.port));
    req.set(http::field::user_agent, "proxy_bench");
    req.set(http::field::accept, "application/json");
    if (target_.app_side) {
      req.set("X-Remote-User", "bench-user");
      req.set("X-Remote-Group", "bench-group");
      req.insert("X-Remote-Group", "system:authenticated");
    }
    if (!body.empty() || verb == http::verb::post) {
      req.set(http::field::content_type, content_type.empty() ? "application/json" : content_type);
      req.body() = std::move(body);
      req.prepare_payload();
    }
    return req;
  }

  asio::awaitable<Reply> Send(http::request<http::string_body> req, bool keep_body = false) {
    co_await http::async_write(stream_, req, asio::use_awaitable);
    http::response_parser<http::string_body> parser;
    parser.body_limit(512u * 1024 * 1024);
    co_await http::async_read(stream_, buf_, parser, asio::use_awaitable);
    Reply r;
    r.status = parser.get().result_int();
    r.bytes = parser.get().body().size();
    if (keep_body || r.status >= 300) r.body = std::move(parser.get().body());
    co_return r;
  }

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }
  beast::flat_buffer& buffer() { return buf_; }

 private:
  const Target& target_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buf_;
};

// Runs `n` copies of `fn(i)` on a pool of `threads` threads and waits for all of them.
template <typename Fn>
void RunParallel(int threads, int n, Fn fn) {
  asio::io_context io(threads);
  std::atomic<int> failures{0};
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(io, fn(i), [&failures](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        if (failures++ < 5) std::cerr << "proxy_bench: worker failed: " << ex.what() << "\n";
      }
    });
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
}

// ---- results table ----------------------------------------------------------------------------

// metric -> target -> one value per repetition.
struct Results {
  std::vector<std::string> order;
  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  void Add(const std::string& metric, const std::string& target, double v) {
    if (!values.count(metric)) order.push_back(metric);
    values[metric][target].push_back(v);
  }
  double Med(const std::string& metric, const std::string& target) const {
    auto m = values.find(metric);
    if (m == values.end()) return 0;
    auto t = m->second.find(target);
    return t == m->second.end() ? 0 : Median(t->second);
  }
  void Print(const std::string& title, const std::vector<std::string>& targets) const {
    std::printf("\n## %s (medians over repetitions; [min..max])\n", title.c_str());
    std::printf("%-34s", "metric");
    for (const auto& t : targets) std::printf(" %24s", t.c_str());
    std::printf(" %10s %10s\n", "c/a", "c/b");
    for (const auto& metric : order) {
      std::printf("%-34s", metric.c_str());
      for (const auto& t : targets) {
        auto it = values.at(metric).find(t);
        if (it == values.at(metric).end() || it->second.empty()) {
          std::printf(" %24s", "-");
          continue;
        }
        auto v = it->second;
        char cell[64];
        std::snprintf(cell, sizeof cell, "%.1f [%.0f..%.0f]", Median(v),
                      *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
        std::printf(" %24s", cell);
      }
      auto ratio = [&](const std::string& a, const std::string& b) {
        double x = Med(metric, a), y = Med(metric, b);
        if (y == 0 || !values.at(metric).count(a) || !values.at(metric).count(b)) {
          std::printf(" %10s", "-");
        } else {
          std::printf(" %10.3f", x / y);
        }
      };
      ratio("connector", "direct");
      ratio("connector", "nginx");
      std::printf("\n");
    }
    std::fflush(stdout);
  }
};

// ---- workloads --------------------------------------------------------------------------------

struct Sampler {
  std::vector<std::vector<double>> per_worker;  // latencies in microseconds
  std::atomic<uint64_t> errors{0};
  explicit Sampler(int n) : per_worker(n) {}
  std::vector<double> All() const {
    std::vector<double> out;
    for (const auto& w : per_worker) out.insert(out.end(), w.begin(), w.end());
    return out;
  }
};

struct CpuSnap {
  double proxy = 0, cp = 0, client = 0;
  Clock::time_point at;
};
CpuSnap TakeCpu(const Config& c, const Target& t) {
  return {CpuMicros(t.pid), CpuMicros(c.cp_pid), SelfCpuMicros(), Clock::now()};
}

// How many of a run's workers made at least one request (each must, or the run was short-handed).
double WorkersThatRan(const Sampler& s) {
  return static_cast<double>(std::count_if(s.per_worker.begin(), s.per_worker.end(),
                                           [](const auto& w) { return !w.empty(); }));
}

// Creates `n` objects through `t` at `conc`; returns wall seconds.
double CreateMany(const Config& c, const Target& t, const std::string& app_ns,
                  const std::string& prefix, int n, int conc, size_t pad, Sampler* s,
                  std::atomic<uint64_t>* errors) {
  std::atomic<int> next{0};
  auto start = Clock::now();
  RunParallel(c.threads, conc, [&](int w) -> asio::awaitable<void> {
    Conn conn(co_await asio::this_coro::executor, t);
    co_await conn.Connect();
    for (int i = next++; i < n; i = next++) {
      std::string name = prefix + std::to_string(i);
      auto t0 = Clock::now();
      Reply r = co_await conn.Send(conn.MakeRequest(http::verb::post, CreatePath(c, t, app_ns),
                                                    ClaimBody(c, t, app_ns, name, pad)));
      if (s) {
        s->per_worker[w].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      if (r.status != 201 && r.status != 409) {
        if ((*errors)++ < 3)
          std::cerr << "create " << t.name << ": " << r.status << " " << r.body << "\n";
      }
    }
  });
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One GET, retried until it answers 200 (the target is starting) or 30 s pass.
bool WaitReady(const Config& c, const Target& t, const std::string& path) {
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    int status = 0;
    std::string body;
    RunParallel(1, 1, [&](int) -> asio::awaitable<void> {
      Conn conn(co_await asio::this_coro::executor, t);
      co_await conn.Connect();
      Reply r = co_await conn.Send(conn.MakeRequest(http::verb::get, path));
      status = r.status;
      body = r.body;
    });
    if (status == 200) return true;
    if (status != 0)
      std::cerr << t.name << " not ready: " << status << " " << body.substr(0, 200) << "\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return false;
}

void EnsureNamespace(const Config& c) {
  std::atomic<uint64_t> errors{0};
  RunParallel(1, 1, [&](int) -> asio::awaitable<void> {
    Conn conn(co_await asio::this_coro::executor, c.admin);
    co_await conn.Connect();
    co_await conn.Send(
        conn.MakeRequest(http::verb::post, "/api/v1/namespaces",
                         "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" +
                             c.claim_ns + "\"}}"));
  });
}

// Reads mcp_connector_upstream_{handshakes,requests}_total from the connector's /metrics.
std::pair<double, double> ConnectorUpstream(const Config& c, const Target& t) {
  std::string body;
  RunParallel(1, 1, [&](int) -> asio::awaitable<void> {
    Conn conn(co_await asio::this_coro::executor, t);
    co_await conn.Connect();
    auto req = conn.MakeRequest(http::verb::get, "/metrics");
    req.set(http::field::accept, "text/plain");
    Reply r = co_await conn.Send(std::move(req), true);
    body = r.body;
  });
  auto value = [&](const std::string& name) {
    size_t p = body.find("\n" + name + " ");
    return p == std::string::npos ? -1.0 : std::stod(body.substr(p + name.size() + 2));
  };
  return {value("mcp_connector_upstream_handshakes_total"),
          value("mcp_connector_upstream_requests_total")};
}

void WorkloadGet(const Config& c) {
  const std::string app_ns = "bench-get", name = "my-cluster";
  {
    std::atomic<uint64_t> errors{0};
    CreateMany(c, c.admin, app_ns, name, 1, 1, 0, nullptr, &errors);
    // (CreateMany names objects prefix + index: "my-cluster0".)
  }
  const std::string obj = name + "0";
  for (const auto& t : c.targets) {
    if (!WaitReady(c, t, ObjectPath(c, t, app_ns, obj))) {
      std::cerr << "proxy_bench: " << t.name << " never answered\n";
      std::exit(1);
    }
  }
  Results res;
  std::vector<std::string> names;
  for (const auto& t : c.targets) names.push_back(t.name);
  std::map<std::string, std::pair<double, double>> upstream_before;
  for (const auto& t : c.targets) {
    if (t.name == "connector") upstream_before[t.name] = ConnectorUpstream(c, t);
  }
  double steady_handshakes = 0, steady_requests = 0;
  for (int conc : {1, 16}) {
    std::string suffix = " c=" + std::to_string(conc);
    for (int rep = 0; rep < c.reps; ++rep) {
      for (const auto& t : c.targets) {
        std::string path = ObjectPath(c, t, app_ns, obj);
        // Warm-up: connections, SAR cache.
        Sampler warm(conc);
        auto end_warm = Clock::now() + std::chrono::milliseconds(300);
        RunParallel(c.threads, conc, [&](int w) -> asio::awaitable<void> {
          Conn conn(co_await asio::this_coro::executor, t);
          co_await conn.Connect();
          while (Clock::now() < end_warm)
            co_await conn.Send(conn.MakeRequest(http::verb::get, path));
        });
        // Upstream connections in steady state: counted over the timed run only (the pool has
        // grown to this concurrency during the warm-up above).
        std::pair<double, double> up_a{0, 0};
        if (t.name == "connector") up_a = ConnectorUpstream(c, t);
        Sampler s(conc);
        // Connections are opened before the clock starts.
        std::vector<std::unique_ptr<Conn>> conns;
        CpuSnap a{};
        bench::StartGate gate(conc);
        const auto run_for =
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c.seconds));
        RunParallel(c.threads, conc, [&](int w) -> asio::awaitable<void> {
          Conn conn(co_await asio::this_coro::executor, t);
          co_await conn.Connect();
          const Clock::time_point end = co_await gate.Arrive([&] {
            a = TakeCpu(c, t);
            return a.at + run_for;
          });
          while (Clock::now() < end) {
            auto t0 = Clock::now();
            Reply r = co_await conn.Send(conn.MakeRequest(http::verb::get, path));
            s.per_worker[w].push_back(
                std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            if (r.status != 200) s.errors++;
          }
        });
        CpuSnap b = TakeCpu(c, t);
        if (t.name == "connector") {
          auto up_b = ConnectorUpstream(c, t);
          steady_handshakes += up_b.first - up_a.first;
          steady_requests += up_b.second - up_a.second;
          // Per run: 0 once the pool has grown to the concurrency (a run that needs more
          // concurrent upstream requests than its warm-up did grows the pool by the difference).
          res.Add("upstream handshakes in a timed run" + suffix, t.name, up_b.first - up_a.first);
        }
        auto lat = s.All();
        double secs = std::chrono::duration<double>(b.at - a.at).count();
        double n = static_cast<double>(lat.size());
        res.Add("req/s" + suffix, t.name, n / secs);
        res.Add("p50 us" + suffix, t.name, Percentile(lat, 0.5));
        res.Add("p99 us" + suffix, t.name, Percentile(lat, 0.99));
        if (t.pid) res.Add("proxy CPU us/req" + suffix, t.name, (b.proxy - a.proxy) / n);
        res.Add("fakekube CPU us/req" + suffix, t.name, (b.cp - a.cp) / n);
        res.Add("client CPU us/req" + suffix, t.name, (b.client - a.client) / n);
        res.Add("errors" + suffix, t.name, static_cast<double>(s.errors));
        const int ran = static_cast<int>(WorkersThatRan(s));
        res.Add("workers that ran" + suffix, t.name, ran);
        std::fprintf(stderr, "get c=%d rep %d %-9s %8.0f req/s p50 %7.0f us, %d/%d workers ran\n",
                     conc, rep, t.name.c_str(), n / secs, Percentile(lat, 0.5), ran, conc);
        if (ran != conc) {  // the run measured a lower concurrency than it claims
          std::fprintf(stderr, "proxy_bench: only %d of %d workers ran; figures void\n", ran, conc);
          std::exit(1);
        }
      }
    }
  }
  // Open loop: a fixed arrival rate, latency from the intended send time.
  const int workers = 32;
  std::string suffix = " open " + std::to_string(static_cast<int>(c.rate)) + "/s";
  for (int rep = 0; rep < c.reps; ++rep) {
    for (const auto& t : c.targets) {
      std::string path = ObjectPath(c, t, app_ns, obj);
      Sampler s(workers);
      std::atomic<int> next{0};
      int total = static_cast<int>(c.rate * c.seconds);
      bench::StartGate gate(workers);
      auto period = std::chrono::duration<double>(1.0 / c.rate);
      RunParallel(c.threads, workers, [&](int w) -> asio::awaitable<void> {
        Conn conn(co_await asio::this_coro::executor, t);
        co_await conn.Connect();
        co_await conn.Send(conn.MakeRequest(http::verb::get, path));
        const Clock::time_point t_start =
            co_await gate.Arrive([] { return Clock::now() + std::chrono::milliseconds(20); });
        for (int i = next++; i < total; i = next++) {
          auto intended = t_start + std::chrono::duration_cast<Clock::duration>(
                                        period * static_cast<double>(i));
          asio::steady_timer tm(co_await asio::this_coro::executor, intended);
          co_await tm.async_wait(asio::use_awaitable);
          Reply r = co_await conn.Send(conn.MakeRequest(http::verb::get, path));
          s.per_worker[w].push_back(
              std::chrono::duration<double, std::micro>(Clock::now() - intended).count());
          if (r.status != 200) s.errors++;
        }
      });
      auto lat = s.All();
      res.Add("p50 us" + suffix, t.name, Percentile(lat, 0.5));
      res.Add("p99 us" + suffix, t.name, Percentile(lat, 0.99));
      res.Add("errors" + suffix, t.name, static_cast<double>(s.errors));
    }
  }
  for (const auto& t : c.targets) {
    if (t.name != "connector") continue;
    auto after = ConnectorUpstream(c, t);
    auto before = upstream_before[t.name];
    double reqs = after.second - before.second;
    res.Add("upstream handshakes per 1000 req, whole workload incl. pool warm-up", t.name,
            reqs > 0 ? 1000.0 * (after.first - before.first) / reqs : -1);
    res.Add("upstream handshakes per 1000 req, steady state (timed closed-loop runs)", t.name,
            steady_requests > 0 ? 1000.0 * steady_handshakes / steady_requests : -1);
    res.Add("upstream requests in the timed closed-loop runs", t.name, steady_requests);
  }
  res.Print("GET one claim (workload 1)", names);
  for (const auto& t : c.targets) {
    if (t.name == "connector" || t.name == "nginx") {
      std::printf(
          "CPU ratio connector/nginx c=1: %.3f  c=16: %.3f\n",
          res.Med("proxy CPU us/req c=1", "connector") / res.Med("proxy CPU us/req c=1", "nginx"),
          res.Med("proxy CPU us/req c=16", "connector") /
              res.Med("proxy CPU us/req c=16", "nginx"));
      std::printf(
          "added p50 over direct (us) c=1: connector %.0f nginx %.0f; c=16: connector %.0f nginx "
          "%.0f\n",
          res.Med("p50 us c=1", "connector") - res.Med("p50 us c=1", "direct"),
          res.Med("p50 us c=1", "nginx") - res.Med("p50 us c=1", "direct"),
          res.Med("p50 us c=16", "connector") - res.Med("p50 us c=16", "direct"),
          res.Med("p50 us c=16", "nginx") - res.Med("p50 us c=16", "direct"));
      break;
    }
  }
}

void WorkloadCreate(const Config& c) {
  Results res;
  std::vector<std::string> names;
  for (const auto& t : c.targets) names.push_back(t.name);
  for (const auto& t : c.targets) {
    // Readiness: a GET of a missing object answers 404 quickly; any answer will do.
    std::atomic<uint64_t> e{0};
    CreateMany(c, t, "bench-warm", "warm-" + t.name + "-", 16, 16, 0, nullptr, &e);
  }
  for (int rep = 0; rep < c.reps; ++rep) {
    for (const auto& t : c.targets) {
      std::string app_ns = "create-" + std::to_string(rep);
      Sampler s(c.concurrency);
      std::atomic<uint64_t> errors{0};
      CpuSnap a = TakeCpu(c, t);
      double wall =
          CreateMany(c, t, app_ns, t.name + "-", c.creates, c.concurrency, 0, &s, &errors);
      CpuSnap b = TakeCpu(c, t);
      double n = c.creates;
      res.Add("wall ms", t.name, wall * 1000);
      res.Add("p50 us", t.name, Percentile(s.All(), 0.5));
      res.Add("p99 us", t.name, Percentile(s.All(), 0.99));
      if (t.pid) res.Add("proxy CPU us/req", t.name, (b.proxy - a.proxy) / n);
      res.Add("fakekube CPU us/req", t.name, (b.cp - a.cp) / n);
      res.Add("client CPU us/req", t.name, (b.client - a.client) / n);
      res.Add("errors", t.name, static_cast<double>(errors));
      std::fprintf(stderr, "create rep %d %-9s %8.0f ms\n", rep, t.name.c_str(), wall * 1000);
    }
  }
  res.Print("CREATE " + std::to_string(c.creates) + " claims at concurrency " +
                std::to_string(c.concurrency) + " (workload 4)",
            names);
}

// Streams a GET to the end, counting bytes; returns {status, bytes}.
asio::awaitable<std::pair<int, size_t>> StreamGet(Conn& conn,
                                                  http::request<http::string_body> req) {
  co_await http::async_write(conn.stream(), req, asio::use_awaitable);
  http::response_parser<http::buffer_body> p;
  p.body_limit(boost::none);
  co_await http::async_read_header(conn.stream(), conn.buffer(), p, asio::use_awaitable);
  size_t bytes = 0;
  char chunk[64 * 1024];
  while (!p.is_done()) {
    p.get().body().data = chunk;
    p.get().body().size = sizeof chunk;
    beast::error_code ec;
    co_await http::async_read(conn.stream(), conn.buffer(), p,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec && ec != http::error::need_buffer) throw beast::system_error(ec);
    bytes += sizeof chunk - p.get().body().size;
  }
  co_return std::pair<int, size_t>{p.get().result_int(), bytes};
}

void WorkloadList(const Config& c) {
  Results res;
  std::vector<std::string> names;
  for (const auto& t : c.targets) names.push_back(t.name);
  for (int n : c.list_sizes) {
    std::string app_ns = "list-" + std::to_string(n);
    std::atomic<uint64_t> errors{0};
    double secs = CreateMany(c, c.admin, app_ns, "item-", n, 16, 1200, nullptr, &errors);
    std::fprintf(stderr, "seeded %d claims in %.1f s (%lu errors)\n", n, secs,
                 static_cast<unsigned long>(errors.load()));
  }
  for (const auto& t : c.targets) WaitReady(c, t, CollectionPath(c, t, "list-1"));
  for (bool table : {false, true}) {
    for (int n : c.list_sizes) {
      std::string app_ns = "list-" + std::to_string(n);
      std::string tag = std::string(table ? "Table " : "JSON ") + std::to_string(n);
      for (int rep = 0; rep < c.reps; ++rep) {
        for (const auto& t : c.targets) {
          std::pair<int, size_t> got;
          double rss0 = 0, hwm = 0;
          CpuSnap a{}, b{};
          double ttlb = 0;
          RunParallel(1, 1, [&](int) -> asio::awaitable<void> {
            Conn conn(co_await asio::this_coro::executor, t);
            co_await conn.Connect();
            auto req = conn.MakeRequest(http::verb::get, CollectionPath(c, t, app_ns));
            if (table) {
              req.set(http::field::accept,
                      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
            }
            if (t.pid) {
              ResetPeak(t.pid);
              rss0 = StatusKb(t.pid, "VmRSS");
            }
            a = TakeCpu(c, t);
            got = co_await StreamGet(conn, std::move(req));
            b = TakeCpu(c, t);
            if (t.pid) hwm = StatusKb(t.pid, "VmHWM");
          });
          ttlb = std::chrono::duration<double, std::milli>(b.at - a.at).count();
          res.Add(tag + " ms to last byte", t.name, ttlb);
          res.Add(tag + " MB", t.name, static_cast<double>(got.second) / 1e6);
          if (t.pid) {
            res.Add(tag + " peak RSS growth MB", t.name, (hwm - rss0) / 1024);
            res.Add(tag + " proxy CPU ms", t.name, (b.proxy - a.proxy) / 1000);
          }
          res.Add(tag + " fakekube CPU ms", t.name, (b.cp - a.cp) / 1000);
          if (got.first != 200) res.Add(tag + " status", t.name, got.first);
          std::fprintf(stderr, "list %s rep %d %-9s %8.0f ms %zu bytes status %d\n", tag.c_str(),
                       rep, t.name.c_str(), ttlb, got.second, got.first);
        }
      }
    }
  }
  res.Print("LIST claims, time to last byte (workload 2)", names);
}

// Watches: one per object (fieldSelector metadata.name, as `kubectl get -w NAME` and `kubectl
// wait` do), one change every 10 ms written straight into the control plane (round robin over
// the objects), delivery latency = arrival at the client - the write's send time (carried in an
// annotation; same process, same monotonic clock).
void WorkloadWatch(const Config& c) {
  Results res;
  std::vector<std::string> names;
  for (const auto& t : c.targets) names.push_back(t.name);
  int max_w = *std::max_element(c.watch_counts.begin(), c.watch_counts.end());
  const std::string app_ns = "watch";
  {
    std::atomic<uint64_t> errors{0};
    double secs = CreateMany(c, c.admin, app_ns, "w-", max_w, 16, 0, nullptr, &errors);
    std::fprintf(stderr, "seeded %d claims in %.1f s\n", max_w, secs);
  }
  for (const auto& t : c.targets) WaitReady(c, t, ObjectPath(c, t, app_ns, "w-0"));
  for (int w : c.watch_counts) {
    std::string tag = std::to_string(w) + " watches";
    for (int rep = 0; rep < c.reps; ++rep) {
      for (const auto& t : c.targets) {
        double rss0 = StatusKb(t.pid, "VmRSS");
        std::atomic<int> established{0};
        std::atomic<bool> stop{false};
        std::vector<std::vector<double>> lat(w);
        std::atomic<uint64_t> errors{0}, stale{0};
        double rss1 = 0;
        CpuSnap a{}, b{};
        int changes = 0;
        asio::io_context io(c.threads);
        std::vector<std::shared_ptr<Conn>> conns;
        for (int i = 0; i < w; ++i) {
          asio::co_spawn(
              io,
              [&, i]() -> asio::awaitable<void> {
                auto conn = std::make_shared<Conn>(co_await asio::this_coro::executor, t);
                co_await conn->Connect();
                std::string name = "w-" + std::to_string(i);
                std::string field = t.app_side ? name : CpName(c, app_ns, name);
                // To the control plane (direct, nginx) with the label selector the connector
                // adds upstream, so fakekube does the same work for every target.
                std::string target = CollectionPath(c, t, app_ns);
                target += (t.app_side ? "?" : "&");
                target += "watch=1&fieldSelector=metadata.name%3D" + field;
                auto req = conn->MakeRequest(http::verb::get, target);
                co_await http::async_write(conn->stream(), req, asio::use_awaitable);
                http::response_parser<http::buffer_body> p;
                p.body_limit(boost::none);
                co_await http::async_read_header(conn->stream(), conn->buffer(), p,
                                                 asio::use_awaitable);
                if (p.get().result_int() != 200) {
                  errors++;
                  established++;
                  co_return;
                }
                std::string pending;
                char chunk[16 * 1024];
                bool first = true;
                while (!p.is_done() && !stop) {
                  p.get().body().data = chunk;
                  p.get().body().size = sizeof chunk;
                  beast::error_code ec;
                  // read_some: hand each event over as it arrives (read() would wait for a full
                  // buffer).
                  co_await http::async_read_some(conn->stream(), conn->buffer(), p,
                                                 asio::redirect_error(asio::use_awaitable, ec));
                  auto now = Clock::now();
                  if (ec && ec != http::error::need_buffer) break;
                  pending.append(chunk, sizeof chunk - p.get().body().size);
                  size_t nl;
                  while ((nl = pending.find('\n')) != std::string::npos) {
                    std::string_view line(pending.data(), nl);
                    if (getenv("BENCH_DEBUG") && i == 0) {
                      {
                        size_t q = line.find("annotations");
                        std::cerr << "watch line: "
                                  << line.substr(q == std::string_view::npos ? 0 : q, 200) << "\n";
                      }
                    }
                    if (first) {
                      first = false;
                      established++;
                    }
                    if (line.find("\"type\":\"MODIFIED\"") != std::string_view::npos) {
                      size_t k = line.find("\"bench/ts\":\"");
                      if (k != std::string_view::npos) {
                        int64_t ts = std::stoll(std::string(line.substr(k + 12, 20)));
                        int64_t now_ns = now.time_since_epoch().count();
                        if (ts >= a.at.time_since_epoch().count()) {
                          lat[i].push_back((now_ns - ts) / 1000.0);
                        } else {
                          stale++;
                        }
                      }
                    }
                    pending.erase(0, nl + 1);
                  }
                }
              },
              [&](std::exception_ptr e) {
                if (e) {
                  errors++;
                  established++;
                }
              });
        }
        // Writer and controller on the same io_context.
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              auto ex = co_await asio::this_coro::executor;
              auto deadline = Clock::now() + std::chrono::seconds(120);
              while (established < w && Clock::now() < deadline) {
                asio::steady_timer tm(ex, std::chrono::milliseconds(20));
                co_await tm.async_wait(asio::use_awaitable);
              }
              std::this_thread::sleep_for(std::chrono::milliseconds(500));
              rss1 = StatusKb(t.pid, "VmRSS");
              a = TakeCpu(c, t);
              Conn writer(ex, c.admin);
              co_await writer.Connect();
              auto period = std::chrono::milliseconds(10);
              int total = static_cast<int>(c.seconds * 100);
              for (int k = 0; k < total; ++k) {
                asio::steady_timer tm(ex, a.at + period * (k + 1));
                co_await tm.async_wait(asio::use_awaitable);
                std::string name = "w-" + std::to_string(k % w);
                int64_t ts = Clock::now().time_since_epoch().count();
                char tsbuf[32];
                std::snprintf(tsbuf, sizeof tsbuf, "%020lld", static_cast<long long>(ts));
                Reply r = co_await writer.Send(writer.MakeRequest(
                    http::verb::patch, ObjectPath(c, c.admin, app_ns, name),
                    std::string("{\"metadata\":{\"annotations\":{\"bench/ts\":\"") + tsbuf +
                        "\"}}}",
                    "application/merge-patch+json"));
                if (r.status != 200) errors++;
                changes++;
              }
              asio::steady_timer tm(ex, std::chrono::milliseconds(500));
              co_await tm.async_wait(asio::use_awaitable);
              b = TakeCpu(c, t);
              stop = true;
              io.stop();
            },
            asio::detached);
        std::vector<std::thread> pool;
        for (int i = 1; i < c.threads; ++i) pool.emplace_back([&io] { io.run(); });
        io.run();
        for (auto& th : pool) th.join();
        std::vector<double> all;
        for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
        res.Add(tag + " p50 delivery us", t.name, Percentile(all, 0.5));
        res.Add(tag + " p99 delivery us", t.name, Percentile(all, 0.99));
        res.Add(tag + " events received", t.name, static_cast<double>(all.size()));
        res.Add(tag + " changes written", t.name, changes);
        if (t.pid) {
          res.Add(tag + " RSS per watch KB", t.name, (rss1 - rss0) / w);
          res.Add(tag + " proxy CPU ms/s", t.name,
                  (b.proxy - a.proxy) / 1000 / std::chrono::duration<double>(b.at - a.at).count());
        }
        res.Add(tag + " errors", t.name, static_cast<double>(errors));
        std::fprintf(stderr, "watch %d rep %d %-9s p99 %8.0f us, %zu events, rss/watch %.1f KB\n",
                     w, rep, t.name.c_str(), Percentile(all, 0.99), all.size(),
                     t.pid ? (rss1 - rss0) / w : 0.0);
        // Let the target close the watches before the next one starts.
        std::this_thread::sleep_for(std::chrono::seconds(2));
      }
    }
  }
  res.Print("WATCH delivery (workload 3)", names);
}

// ---- main -------------------------------------------------------------------------------------

std::shared_ptr<ssl::context> ClientContext(const std::string& cert_pem,
                                            const std::string& key_pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_verify_mode(ssl::verify_none);  // loopback benchmark: the chain is not what we measure
  if (!cert_pem.empty()) {
    ctx->use_certificate_chain(asio::buffer(cert_pem));
    ctx->use_private_key(asio::buffer(key_pem), ssl::context::pem);
  }
  return ctx;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

int Certs(const std::string& dir, const std::string& cp_kubeconfig) {
  auto ca = kube::tls::GenerateCA("bench-front-proxy-ca");
  if (!ca.ok()) return std::cerr << ca.error().message << "\n", 1;
  kube::tls::CertificateSpec client;
  client.common_name = "front-proxy-client";
  client.server_auth = false;
  client.client_auth = true;
  auto fp = kube::tls::GenerateSigned(*ca, client);
  auto serving_ca = kube::tls::GenerateCA("bench-serving-ca");
  kube::tls::CertificateSpec serving;
  serving.common_name = "localhost";
  serving.dns_names = {"localhost"};
  serving.ip_addresses = {"127.0.0.1"};
  auto sv = kube::tls::GenerateSigned(*serving_ca, serving);
  auto cp = kube::LoadKubeconfig(cp_kubeconfig);
  if (!fp.ok() || !serving_ca.ok() || !sv.ok() || !cp.ok()) {
    std::cerr << "proxy_bench certs: failed\n";
    return 1;
  }
  bool ok = kube::tls::WriteFile(dir + "/front-proxy-ca.crt", ca->cert_pem, 0644).ok() &&
            kube::tls::WriteFile(dir + "/front-proxy-client.crt", fp->cert_pem).ok() &&
            kube::tls::WriteFile(dir + "/front-proxy-client.key", fp->key_pem.RevealCopy()).ok() &&
            kube::tls::WriteFile(dir + "/serving.crt", sv->cert_pem).ok() &&
            kube::tls::WriteFile(dir + "/serving.key", sv->key_pem.RevealCopy()).ok() &&
            kube::tls::WriteFile(dir + "/admin.crt", cp->client_cert_pem).ok() &&
            kube::tls::WriteFile(dir + "/admin.key", cp->client_key_pem.RevealCopy()).ok() &&
            kube::tls::WriteFile(dir + "/cp-ca.crt", cp->ca_pem).ok();
  return ok ? 0 : 1;
}

int Usage() {
  std::cerr << "usage: proxy_bench certs --dir D --cp-kubeconfig K\n"
               "       proxy_bench run --workload get|create|list|watch --dir D --cp-kubeconfig K\n"
               "           --cp-pid P --direct PORT [--nginx PORT:PID] [--connector PORT:PID]\n"
               "           [--reps N] [--seconds S] [--rate R] [--cluster-id ID]\n"
               "           [--claim-namespace NS] [--list-sizes 1000,10000]\n"
               "           [--watch-counts 1000,5000] [--creates N] [--threads N]\n";
  return 2;
}

std::vector<int> IntList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string cmd = argv[1];
  std::map<std::string, std::string> flags;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) return Usage();
    flags[a.substr(2)] = argv[++i];
  }
  Config c;
  c.dir = flags["dir"];
  c.cp_kubeconfig = flags["cp-kubeconfig"];
  if (cmd == "certs") return Certs(c.dir, c.cp_kubeconfig);
  if (cmd != "run") return Usage();
  if (flags.count("workload")) c.workload = flags["workload"];
  if (flags.count("reps")) c.reps = std::stoi(flags["reps"]);
  if (flags.count("seconds")) c.seconds = std::stod(flags["seconds"]);
  if (flags.count("rate")) c.rate = std::stod(flags["rate"]);
  if (flags.count("cp-pid")) c.cp_pid = std::stoi(flags["cp-pid"]);
  if (flags.count("cluster-id")) c.cluster_id = flags["cluster-id"];
  if (flags.count("claim-namespace")) c.claim_ns = flags["claim-namespace"];
  if (flags.count("list-sizes")) c.list_sizes = IntList(flags["list-sizes"]);
  if (flags.count("watch-counts")) c.watch_counts = IntList(flags["watch-counts"]);
  if (flags.count("creates")) c.creates = std::stoi(flags["creates"]);
  if (flags.count("threads")) c.threads = std::stoi(flags["threads"]);

  auto cp = kube::LoadKubeconfig(c.cp_kubeconfig);
  if (!cp.ok()) {
    std::cerr << "proxy_bench: " << cp.error().message << "\n";
    return 1;
  }
  std::string admin_cert = cp->client_cert_pem, admin_key = cp->client_key_pem.RevealCopy();
  auto port_of = [](const std::string& url) {
    return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
  };
  c.admin = {"admin", port_of(cp->server), 0, false, ClientContext(admin_cert, admin_key)};
  if (flags.count("direct")) {
    c.targets.push_back({"direct", static_cast<uint16_t>(std::stoi(flags["direct"])), 0, false,
                         ClientContext(admin_cert, admin_key)});
  }
  auto split = [](const std::string& v) {
    size_t colon = v.find(':');
    return std::pair<uint16_t, pid_t>{static_cast<uint16_t>(std::stoi(v.substr(0, colon))),
                                      std::stoi(v.substr(colon + 1))};
  };
  if (flags.count("nginx")) {
    auto [port, pid] = split(flags["nginx"]);
    c.targets.push_back({"nginx", port, pid, false, ClientContext({}, {})});
  }
  if (flags.count("connector")) {
    auto [port, pid] = split(flags["connector"]);
    c.targets.push_back({"connector", port, pid, true,
                         ClientContext(Slurp(c.dir + "/front-proxy-client.crt"),
                                       Slurp(c.dir + "/front-proxy-client.key"))});
  }
  EnsureNamespace(c);
  char host[256] = {};
  gethostname(host, sizeof host);
  double load[3] = {};
  getloadavg(load, 3);
  std::printf(
      "# proxy_bench %s: reps %d, %.1f s per run, client threads %d, host %s, "
      "%ld CPUs, load average at start %.2f\n",
      c.workload.c_str(), c.reps, c.seconds, c.threads, host, sysconf(_SC_NPROCESSORS_ONLN),
      load[0]);
  if (c.workload == "get") {
    WorkloadGet(c);
  } else if (c.workload == "create") {
    WorkloadCreate(c);
  } else if (c.workload == "list") {
    WorkloadList(c);
  } else if (c.workload == "watch") {
    WorkloadWatch(c);
  } else {
    return Usage();
  }
  getloadavg(load, 3);
  std::printf("# load average at end %.2f\n", load[0]);
  return 0;
}

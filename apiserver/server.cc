#include "apiserver/server.h"

#include <glog/logging.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <csignal>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

#include "apiserver/authn.h"
#include "apiserver/authz.h"
#include "apiserver/handler_chain.h"
#include "apiserver/metrics.h"
#include "apiserver/reviewers.h"
#include "apiserver/router.h"
#include "discovery/controller.h"
#include "discovery/snapshot.h"
#include "kube/heap_trimmer.h"
#include "kube/http_server.h"
#include "kube/kubeconfig.h"
#include "kube/rest_client.h"
#include "proxy/proxy.h"

namespace apiserver {
namespace {

namespace asio = boost::asio;

// Runs `a` on `ex` (another thread) and waits for it. Result<T> is not default-constructible,
// which co_spawn's future needs: the value travels through an optional.
template <class T>
T RunSync(asio::any_io_executor ex, asio::awaitable<T> a) {
  std::optional<T> out;
  auto wrap = [](asio::awaitable<T> a, std::optional<T>* out) -> asio::awaitable<void> {
    out->emplace(co_await std::move(a));
  };
  asio::co_spawn(ex, wrap(std::move(a), &out), asio::use_future).get();
  return std::move(*out);
}

void RunSync(asio::any_io_executor ex, asio::awaitable<void> a) {
  asio::co_spawn(ex, std::move(a), asio::use_future).get();
}

asio::awaitable<void> SleepFor(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

kube::Result<kube::ClusterConfig> AppClusterConfig(const Options& o) {
  if (!o.kubeconfig.empty()) return kube::LoadKubeconfig(o.kubeconfig);
  return kube::InClusterConfig();
}

kube::Result<kube::ClusterConfig> ControlPlaneConfig(const Options& o) {
  if (!o.control_plane_kubeconfig.empty()) return kube::LoadKubeconfig(o.control_plane_kubeconfig);
  if (o.spaces_host.empty()) {
    return kube::NewBadRequest(
        "no control plane: give --control-plane-kubeconfig or --spaces-host");
  }
  kube::ClusterConfig c;
  c.server = kube::SpacesServerURL(o.spaces_host, o.spaces_group, o.control_plane_name);
  c.token_file = o.token_file;
  c.insecure_skip_tls_verify = o.insecure_skip_tls_verify;
  return c;
}

kube::Result<std::string> ReadPem(const std::string& path) {
  if (path.empty()) return std::string();
  return kube::tls::ReadFile(path);
}

}  // namespace

kube::Result<ServingCertificate> PrepareServingCertificate(const Options& o) {
  ServingCertificate out;
  if (!o.tls_cert_file.empty()) {
    auto cred = kube::tls::ServerCredential::FromFiles(o.tls_cert_file, o.tls_private_key_file);
    if (!cred.ok()) return cred.error();
    out.credential = *cred;
    auto ca = kube::tls::ReadFile(o.tls_ca_file.empty() ? o.tls_cert_file : o.tls_ca_file);
    if (!ca.ok()) return ca.error();
    out.ca_bundle_pem = *ca;
    out.cert_file = o.tls_cert_file;
    out.key_file = o.tls_private_key_file;
    return out;
  }
  namespace fs = std::filesystem;
  fs::path dir(o.cert_dir);
  std::string ca_crt = (dir / "ca.crt").string(), ca_key = (dir / "ca.key").string();
  kube::tls::KeyPair ca;
  auto existing_crt = kube::tls::ReadFile(ca_crt);
  auto existing_key = kube::SecretString::FromFile(ca_key, false);
  if (existing_crt.ok() && existing_key.ok() && kube::tls::PemToDer(*existing_crt).ok()) {
    ca.cert_pem = *existing_crt;
    ca.key_pem = std::move(*existing_key);
    LOG(INFO) << "serving: reusing the CA in " << ca_crt;
  } else {
    auto gen = kube::tls::GenerateCA("mcp-connector-ca");
    if (!gen.ok()) return gen.error();
    ca = std::move(*gen);
    if (auto w = kube::tls::WriteFile(ca_crt, ca.cert_pem, 0644); !w.ok()) return w.error();
    auto w = ca.key_pem.With([&](std::string_view k) { return kube::tls::WriteFile(ca_key, k); });
    if (!w.ok()) return w.error();
    LOG(INFO) << "serving: generated a self-signed CA in " << ca_crt;
  }
  kube::tls::CertificateSpec spec;
  std::string svc = o.service_name + "." + o.service_namespace;
  spec.common_name = svc + ".svc";
  spec.dns_names = {svc + ".svc", svc + ".svc.cluster.local", svc, o.service_name, "localhost"};
  spec.ip_addresses = {"127.0.0.1", "::1"};
  if (o.bind_address != "0.0.0.0" && o.bind_address != "::" && o.bind_address != "127.0.0.1") {
    spec.ip_addresses.push_back(o.bind_address);
  }
  auto leaf = kube::tls::GenerateSigned(ca, spec);
  if (!leaf.ok()) return leaf.error();
  out.cert_file = (dir / "apiserver.crt").string();
  out.key_file = (dir / "apiserver.key").string();
  // Leaf then CA: clients get the whole chain.
  if (auto w = kube::tls::WriteFile(out.cert_file, leaf->cert_pem + ca.cert_pem, 0644); !w.ok()) {
    return w.error();
  }
  auto w =
      leaf->key_pem.With([&](std::string_view k) { return kube::tls::WriteFile(out.key_file, k); });
  if (!w.ok()) return w.error();
  auto cred = kube::tls::ServerCredential::FromFiles(out.cert_file, out.key_file);
  if (!cred.ok()) return cred.error();
  out.credential = *cred;
  out.ca_bundle_pem = ca.cert_pem;
  return out;
}

struct ConnectorServer::Impl {
  // Clients, discovery and background loops run here (a thread of their own). Declared first:
  // destroyed last, after everything that holds sockets or executors on it.
  asio::io_context client_ctx{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread client_thread;

  Options options;
  ServingCertificate cert;
  std::string cluster_id;
  std::shared_ptr<Metrics> metrics = std::make_shared<Metrics>();
  // Gives malloc's free pages back after bursts (kube/heap_trimmer.h); its own thread.
  std::shared_ptr<kube::HeapTrimmer> heap_trimmer;
  std::shared_ptr<discovery::SnapshotPublisher> publisher =
      std::make_shared<discovery::SnapshotPublisher>();
  std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
  asio::cancellation_signal authn_watch_cancel;
  std::optional<std::future<void>> authn_watch_done;
  // The CA bundle watch (certificate rotation -> APIService caBundle); cert.ca_bundle_pem is
  // guarded by cert_mu once serving.
  mutable std::mutex cert_mu;
  asio::cancellation_signal ca_watch_cancel;
  std::optional<std::future<void>> ca_watch_done;

  // Every `interval`: reloads the serving credential when its files changed, and when the CA
  // bundle file (--tls-ca-file, else --tls-cert-file, else the self-signed CA in --cert-dir)
  // holds a new, complete PEM bundle, hands it to discovery, which rewrites the APIServices'
  // caBundle (the leader does). A half-written file is skipped until the next check.
  asio::awaitable<void> WatchCABundle(std::string path, std::chrono::milliseconds interval) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!stop->load()) {
      timer.expires_after(interval);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec || stop->load()) break;
      if (cert.credential) cert.credential->ReloadIfChanged();
      auto pem = kube::tls::ReadFile(path);
      if (!pem.ok()) continue;
      {
        std::lock_guard lock(cert_mu);
        if (*pem == cert.ca_bundle_pem) continue;  // the usual case: no decoding every second
      }
      auto der = kube::tls::PemToDer(*pem);
      if (!der.ok() || der->empty()) continue;
      {
        std::lock_guard lock(cert_mu);
        cert.ca_bundle_pem = *pem;
      }
      LOG(INFO) << "serving CA bundle changed in " << path
                << ": updating the APIServices' caBundle";
      if (controller) controller->SetCABundle(*pem);
    }
  }

  std::shared_ptr<kube::RestClient> app, control_plane;
  // The proxy's own control-plane client, its sockets on the HTTPS server's io threads (see
  // Start): emptied before that io_context goes away.
  std::shared_ptr<kube::RestClient> proxy_control_plane;
  std::unique_ptr<discovery::Controller> controller;
  bool controller_stopped = false;
  std::shared_ptr<Authenticator> authenticator;
  std::shared_ptr<Authorizer> authorizer;
  std::shared_ptr<proxy::Proxy> proxy;
  std::unique_ptr<Router> router;
  std::unique_ptr<HandlerChain> chain;
  std::unique_ptr<kube::http::Server> http;
  bool started = false;
  bool shut_down = false;

  // Ends the background work on client_ctx cleanly (no frame left to destroy with the context).
  void StopBackground() {
    stop->store(true);
    if (ca_watch_done) {
      asio::post(client_ctx, [this] { ca_watch_cancel.emit(asio::cancellation_type::all); });
      ca_watch_done->wait_for(std::chrono::seconds(3));
      ca_watch_done.reset();
    }
    if (authn_watch_done) {
      asio::post(client_ctx, [this] { authn_watch_cancel.emit(asio::cancellation_type::all); });
      if (authn_watch_done->wait_for(std::chrono::seconds(3)) != std::future_status::ready) {
        LOG(WARNING) << "the authentication ConfigMap watch did not stop within 3s";
      }
      authn_watch_done.reset();
    }
    if (controller && !controller_stopped) {
      controller_stopped = true;
      auto fut = asio::co_spawn(client_ctx, controller->Stop(), asio::use_future);
      if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        LOG(WARNING) << "discovery did not stop within 5s";
      }
    }
  }

  ~Impl() {
    if (heap_trimmer) heap_trimmer->Stop();  // it posts to http's and client_ctx's threads
    if (http) http->Shutdown(std::chrono::milliseconds(0));  // no-op after Shutdown()
    if (proxy_control_plane) proxy_control_plane->CloseIdle();
    http.reset();  // joins the serving threads; request frames (proxy streams) end here
    // A connection pooled after CloseIdle (a handler outliving the shutdown) has its socket on
    // the io_context just destroyed: it must never be touched again, so the client is leaked.
    if (proxy_control_plane && proxy_control_plane->stats().idle_connections > 0) {
      LOG(WARNING) << "control-plane connections pooled after shutdown: not closed";
      new std::shared_ptr<kube::RestClient>(proxy_control_plane);  // NOLINT: deliberate leak
    }
    if (client_thread.joinable()) StopBackground();
    chain.reset();
    router.reset();
    proxy.reset();
    authorizer.reset();
    authenticator.reset();
    controller.reset();
    if (app) app->CloseIdle();
    if (control_plane) control_plane->CloseIdle();
    app.reset();
    control_plane.reset();
    work.reset();
    // Whatever is still pending (nothing, normally) gets a moment to finish, then is stopped.
    for (int i = 0; i < 100 && !client_ctx.stopped(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    client_ctx.stop();
    if (client_thread.joinable()) client_thread.join();
  }
};

ConnectorServer::ConnectorServer(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

ConnectorServer::~ConnectorServer() {
  if (impl_->started && !impl_->shut_down) Shutdown();
}

uint16_t ConnectorServer::port() const { return impl_->http ? impl_->http->port() : 0; }
std::string ConnectorServer::ca_bundle_pem() const {
  std::lock_guard lock(impl_->cert_mu);
  return impl_->cert.ca_bundle_pem;
}
const std::string& ConnectorServer::cluster_id() const { return impl_->cluster_id; }
Router& ConnectorServer::router() { return *impl_->router; }
Metrics& ConnectorServer::metrics() { return *impl_->metrics; }

kube::Result<uint16_t> ConnectorServer::Start() {
  Impl& m = *impl_;
  const Options& o = m.options;
  m.work.emplace(m.client_ctx.get_executor());
  m.client_thread = std::thread([&m] { m.client_ctx.run(); });
  asio::any_io_executor cex = m.client_ctx.get_executor();

  auto cert = PrepareServingCertificate(o);
  if (!cert.ok()) return cert.error();
  m.cert = std::move(*cert);

  auto app_cfg = AppClusterConfig(o);
  if (!app_cfg.ok()) return app_cfg.error();
  auto app = kube::RestClient::Create(cex, std::move(*app_cfg));
  if (!app.ok()) return app.error();
  m.app = *app;

  auto cp_cfg = ControlPlaneConfig(o);
  if (!cp_cfg.ok()) return cp_cfg.error();
  kube::ClusterConfig proxy_cp_cfg = *cp_cfg;
  // The proxy's requests run on the server's io threads, each with its own io_context: their
  // upstream connections stay on the thread that uses them.
  proxy_cp_cfg.pool_per_caller_context = true;
  auto cp = kube::RestClient::Create(cex, std::move(*cp_cfg));
  if (!cp.ok()) return cp.error();
  m.control_plane = *cp;

  // Cluster ID: the flag, else kube-system's UID (retried for a while: the app cluster may be
  // starting too).
  kube::Result<std::string> id = std::string();
  for (int attempt = 0;; ++attempt) {
    id = RunSync(cex, discovery::ResolveClusterID(m.app, o.cluster_id));
    if (id.ok() || attempt >= 30) break;
    LOG(WARNING) << "cannot determine the cluster ID yet: " << id.error().message;
    RunSync(cex, SleepFor(std::chrono::seconds(1)));
  }
  if (!id.ok()) return id.error();
  m.cluster_id = *id;
  LOG(INFO) << "cluster ID " << m.cluster_id << ", claim namespace " << o.claim_namespace;

  // The served API set.
  if (!o.api_file.empty()) {
    auto snap = discovery::SnapshotFromFile(o.api_file);
    if (!snap.ok()) return snap.error();
    m.publisher->Publish(*snap);
    LOG(INFO) << "serving " << (*snap)->size() << " resources from " << o.api_file;
  } else {
    discovery::ControllerOptions co;
    co.cluster_id = m.cluster_id;
    co.claim_namespace = o.claim_namespace;
    co.service_namespace = o.service_namespace;
    co.service_name = o.service_name;
    co.ca_bundle_pem = m.cert.ca_bundle_pem;
    co.leader_election = o.leader_election;
    co.sync_connection_secrets = true;  // issue 7: copies back to the app namespaces (leader only)
    m.controller =
        std::make_unique<discovery::Controller>(cex, m.control_plane, m.app, co, m.publisher);
    m.controller->Start();
  }
  {
    std::string ca_source = !o.tls_cert_file.empty()
                                ? (o.tls_ca_file.empty() ? o.tls_cert_file : o.tls_ca_file)
                                : (std::filesystem::path(o.cert_dir) / "ca.crt").string();
    m.ca_watch_done =
        asio::co_spawn(cex, m.WatchCABundle(std::move(ca_source), std::chrono::seconds(1)),
                       asio::bind_cancellation_slot(m.ca_watch_cancel.slot(), asio::use_future));
  }

  // Authentication: flags first, then the ConfigMap (flags override it).
  AuthenticationOverrides ov;
  auto rh_ca = ReadPem(o.requestheader_client_ca_file);
  if (!rh_ca.ok()) return rh_ca.error();
  auto client_ca = ReadPem(o.client_ca_file);
  if (!client_ca.ok()) return client_ca.error();
  ov.has_requestheader_ca = !o.requestheader_client_ca_file.empty();
  ov.config.request_header.client_ca_pem = *rh_ca;
  ov.has_client_ca = !o.client_ca_file.empty();
  ov.config.client_ca_pem = *client_ca;
  auto take = [](const std::optional<std::vector<std::string>>& flag, std::vector<std::string>& dst,
                 bool& has) {
    if (flag) {
      dst = *flag;
      has = true;
    }
  };
  take(o.requestheader_allowed_names, ov.config.request_header.allowed_names, ov.has_allowed_names);
  take(o.requestheader_username_headers, ov.config.request_header.username_headers,
       ov.has_username_headers);
  take(o.requestheader_uid_headers, ov.config.request_header.uid_headers, ov.has_uid_headers);
  take(o.requestheader_group_headers, ov.config.request_header.group_headers, ov.has_group_headers);
  take(o.requestheader_extra_headers_prefix, ov.config.request_header.extra_headers_prefix,
       ov.has_extra_prefix);
  m.authenticator = std::make_shared<Authenticator>(
      NewTokenReviewer(m.app, std::chrono::seconds(10)), o.authentication_cache_ttl);
  if (o.authentication_skip_lookup || ov.has_requestheader_ca || ov.has_client_ca) {
    m.authenticator->SetConfig(ov.Apply({}));
  }
  if (!o.authentication_skip_lookup) {
    m.authn_watch_done =
        asio::co_spawn(cex, WatchAuthenticationConfig(m.app, m.authenticator, ov, m.stop),
                       asio::bind_cancellation_slot(m.authn_watch_cancel.slot(), asio::use_future));
  }
  AuthorizerOptions ao;
  ao.allow_ttl = o.authorization_allow_ttl;
  ao.deny_ttl = o.authorization_deny_ttl;
  m.authorizer =
      std::make_shared<Authorizer>(NewAccessReviewer(m.app, std::chrono::seconds(10)), ao);

  // The HTTPS server (its io threads start at the end of Start) comes before the proxy: the
  // proxy's control-plane client lives on the same io threads (each upstream connection on the
  // thread of the request using it), so a request is served by one thread from the caller's
  // bytes to the control plane's answer and back, without a hand-off to another thread for
  // any upstream read or write (bench/README.md "Workload 1"). Discovery and authorization keep
  // the client thread.
  kube::http::ServerOptions so;
  so.bind_address = o.bind_address;
  so.port = static_cast<uint16_t>(o.secure_port);
  so.tls = m.cert.credential;
  so.io_threads = o.io_threads;
  if (o.read_header_timeout.count() > 0) so.header_timeout = o.read_header_timeout;
  if (o.idle_connection_timeout.count() > 0) so.idle_timeout = o.idle_connection_timeout;
  m.http = std::make_unique<kube::http::Server>(
      so, [&m](kube::http::Request& req, kube::http::ResponseWriter& w) {
        return m.chain->Serve(req, w);  // set below, before the server starts
      });
  auto proxy_cp = kube::RestClient::Create(m.http->executor(), proxy_cp_cfg);
  if (!proxy_cp.ok()) return proxy_cp.error();
  m.proxy_control_plane = *proxy_cp;

  proxy::Config pc;
  pc.cluster_id = m.cluster_id;
  pc.claim_namespace = o.claim_namespace;
  pc.control_plane = m.proxy_control_plane;
  pc.request_timeout = o.request_timeout;
  pc.watch_start_timeout = o.watch_start_timeout;
  m.proxy = std::make_shared<proxy::Proxy>(pc);

  RouterOptions ro;
  auto publisher = m.publisher;
  ro.snapshot = [publisher] { return publisher->Load(); };
  ro.proxy = m.proxy;
  ro.metrics = m.metrics;
  auto authn = m.authenticator;
  ro.extra_ready_checks = [authn] {
    bool ok = authn->has_config();
    return std::vector<discovery::ReadinessCheck>{
        {"authentication", ok,
         ok ? "" : "kube-system/extension-apiserver-authentication not loaded yet"}};
  };
  m.router = std::make_unique<Router>(std::move(ro));

  ChainOptions chain_opts;
  chain_opts.max_requests_inflight = o.max_requests_inflight;
  chain_opts.max_watches = o.max_watches;
  chain_opts.request_timeout = o.request_timeout;
  Router* router = m.router.get();
  m.chain =
      std::make_unique<HandlerChain>(chain_opts, m.authenticator, m.authorizer, m.metrics,
                                     [router](RequestContext& ctx) { return router->Serve(ctx); });

  // Gauges owned elsewhere.
  kube::http::Server* http = m.http.get();
  auto authz = m.authorizer;
  auto cpc = m.control_plane;
  auto proxy_cpc = m.proxy_control_plane;
  discovery::Controller* controller = m.controller.get();
  m.metrics->AddCollector([http, authz, authn, cpc, proxy_cpc, controller](std::string& out) {
    Metrics::AppendFamily(out, "mcp_connector_open_connections", "gauge",
                          "Client connections open.");
    Metrics::AppendSample(out, "mcp_connector_open_connections", "",
                          static_cast<double>(http->open_connections()));
    Metrics::AppendFamily(out, "mcp_connector_active_streams", "gauge",
                          "Requests being handled, including watches.");
    Metrics::AppendSample(out, "mcp_connector_active_streams", "",
                          static_cast<double>(http->active_streams()));
    Metrics::AppendFamily(out, "mcp_connector_authorization_cache_total", "counter",
                          "SubjectAccessReview cache lookups, by result.");
    Metrics::AppendSample(out, "mcp_connector_authorization_cache_total", "result=\"hit\"",
                          static_cast<double>(authz->cache_hits()));
    Metrics::AppendSample(out, "mcp_connector_authorization_cache_total", "result=\"miss\"",
                          static_cast<double>(authz->cache_misses()));
    Metrics::AppendFamily(out, "mcp_connector_token_cache_hits_total", "counter",
                          "TokenReview answers served from the cache.");
    Metrics::AppendSample(out, "mcp_connector_token_cache_hits_total", "",
                          static_cast<double>(authn->token_cache_hits()));
    // Both control-plane clients: the proxy's and discovery's.
    auto st = cpc->stats();
    const auto pst = proxy_cpc->stats();
    st.requests += pst.requests;
    st.handshakes += pst.handshakes;
    st.transport_errors += pst.transport_errors;
    Metrics::AppendFamily(out, "mcp_connector_upstream_requests_total", "counter",
                          "Requests sent to the control plane.");
    Metrics::AppendSample(out, "mcp_connector_upstream_requests_total", "",
                          static_cast<double>(st.requests));
    Metrics::AppendFamily(out, "mcp_connector_upstream_handshakes_total", "counter",
                          "Connections established to the control plane.");
    Metrics::AppendSample(out, "mcp_connector_upstream_handshakes_total", "",
                          static_cast<double>(st.handshakes));
    Metrics::AppendFamily(out, "mcp_connector_upstream_transport_errors_total", "counter",
                          "Transport failures talking to the control plane.");
    Metrics::AppendSample(out, "mcp_connector_upstream_transport_errors_total", "",
                          static_cast<double>(st.transport_errors));
    if (controller != nullptr) controller->AppendMetrics(out);
  });
  kube::HeapTrimOptions trim;
  // Under mimalloc each thread collects its own heap (kube/heap_trimmer.h): the io threads and
  // the client thread. ~Impl stops the trimmer before either goes away.
  trim.collect_threads = [&m] {
    m.http->PostToEachIoThread(kube::CollectThreadHeap);
    asio::post(m.client_ctx, kube::CollectThreadHeap);
  };
  m.heap_trimmer = std::make_shared<kube::HeapTrimmer>(std::move(trim));
  m.metrics->AddCollector([trimmer = m.heap_trimmer](std::string& out) {
    Metrics::AppendFamily(out, "mcp_connector_heap_trims_total", "counter",
                          "Times free malloc memory was given back to the kernel (glibc: "
                          "trims; mimalloc: rounds of collection on every thread).");
    Metrics::AppendSample(out, "mcp_connector_heap_trims_total", "",
                          static_cast<double>(trimmer->trims()));
    Metrics::AppendFamily(out, "mcp_connector_heap_released_bytes_total", "counter",
                          "Resident bytes given back to the kernel by heap trims.");
    Metrics::AppendSample(out, "mcp_connector_heap_released_bytes_total", "",
                          static_cast<double>(trimmer->released_bytes()));
    const kube::HeapStats heap = trimmer->last_stats();
    Metrics::AppendFamily(out, "mcp_connector_heap_allocator_info", "gauge",
                          "The allocator serving malloc and operator new.");
    Metrics::AppendSample(
        out, "mcp_connector_heap_allocator_info",
        "allocator=\"" + std::string(kube::AllocatorName(kube::CurrentAllocator())) + "\"", 1);
    Metrics::AppendFamily(out, "mcp_connector_heap_bytes", "gauge",
                          "The allocator's heap at the last check (every 10 s), by state. glibc: "
                          "in_use is allocated, free is held free. mimalloc: in_use is "
                          "committed, free is 0 (not known).");
    Metrics::AppendSample(out, "mcp_connector_heap_bytes", "state=\"in_use\"",
                          static_cast<double>(heap.in_use_bytes));
    Metrics::AppendSample(out, "mcp_connector_heap_bytes", "state=\"free\"",
                          static_cast<double>(heap.free_bytes));
  });

  auto port = m.http->Start();
  if (!port.ok()) return port.error();
  m.started = true;
  LOG(INFO) << "serving on " << o.bind_address << ":" << *port;
  return *port;
}

void ConnectorServer::Shutdown() {
  Impl& m = *impl_;
  if (m.shut_down) return;
  m.shut_down = true;
  auto begin = std::chrono::steady_clock::now();
  LOG(INFO) << "shutting down: /readyz fails from now on";
  if (m.router) m.router->SetShuttingDown();
  if (m.options.shutdown_delay.count() > 0) std::this_thread::sleep_for(m.options.shutdown_delay);
  m.stop->store(true);
  auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - begin);
  auto grace = std::max(std::chrono::milliseconds(0), m.options.shutdown_grace_period - spent);
  if (m.http) m.http->Shutdown(grace);
  LOG(INFO) << "listener closed, requests drained";
  m.StopBackground();
}

int RunServe(const Options& options) {
  // Block the signals in every thread; this one waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto server = std::make_unique<ConnectorServer>(options);
  auto port = server->Start();
  if (!port.ok()) {
    LOG(ERROR) << "cannot start: " << port.error().message;
    std::cerr << "mcp-connector: " << port.error().message << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  LOG(INFO) << "received signal " << sig;
  server->Shutdown();
  LOG(INFO) << "stopped";
  google::FlushLogFiles(google::GLOG_INFO);
  return 0;
}

int RunUninstall(const Options& options) {
  asio::io_context ctx;
  auto app_cfg = AppClusterConfig(options);
  if (!app_cfg.ok()) {
    std::cerr << "mcp-connector uninstall: " << app_cfg.error().message << "\n";
    return 1;
  }
  auto app = kube::RestClient::Create(ctx.get_executor(), std::move(*app_cfg));
  if (!app.ok()) {
    std::cerr << "mcp-connector uninstall: " << app.error().message << "\n";
    return 1;
  }
  std::shared_ptr<kube::RestClient> client = *app;
  int rc = 1;
  auto run = [](std::shared_ptr<kube::RestClient> c, std::string given,
                int* rc) -> asio::awaitable<void> {
    auto id = co_await discovery::ResolveClusterID(c, given);
    if (!id.ok()) {
      std::cerr << "mcp-connector uninstall: cannot determine the cluster ID: "
                << id.error().message << "\n";
      co_return;
    }
    auto deleted = co_await discovery::Uninstall(c, *id);
    if (!deleted.ok()) {
      std::cerr << "mcp-connector uninstall: " << deleted.error().message << "\n";
      co_return;
    }
    for (const auto& n : *deleted) std::cout << "deleted apiservice " << n << "\n";
    std::cout << "uninstalled " << deleted->size() << " APIService(s) of cluster " << *id << "\n";
    *rc = 0;
  };
  asio::co_spawn(ctx, run(client, options.cluster_id, &rc), asio::detached);
  ctx.run();
  client.reset();
  return rc;
}

}  // namespace apiserver

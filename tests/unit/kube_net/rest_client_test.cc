#include "kube/rest_client.h"

#include <gtest/gtest.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <sys/stat.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/unit/kube_net/net_fixture.h"

namespace kube::testing {
namespace {

using http::Headers;
using http::Request;
using http::ResponseWriter;
using std::chrono::milliseconds;

class RestClientTest : public NetFixture {
 protected:
  // A client whose one pooled connection the server (idle timeout 100 ms) has since closed.
  std::shared_ptr<RestClient> ClientWithAConnectionTheServerClosed();
};

asio::awaitable<void> AuthEcho(Request& req, ResponseWriter& w) {
  co_await w.Send(200, Headers(), std::string(req.headers.Get("Authorization").value_or("-")));
}

TEST_F(RestClientTest, HostNameVerificationRejectsAWrongName) {
  Route("/x", AuthEcho);
  StartServer();
  ClusterConfig wrong = Config();
  wrong.tls_server_name = "wrong.example.com";
  auto r = io_.Run(Client(wrong)->Do(Get("/x")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 503);
  EXPECT_EQ(r.error().reason, "ServiceUnavailable");
  EXPECT_NE(r.error().message.find("unreachable"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("handshake"), std::string::npos) << r.error().message;

  ClusterConfig right = Config();
  right.tls_server_name = "localhost";  // SAN DNS:localhost
  EXPECT_EQ(MustDo(*Client(right), Get("/x")).status, 200);

  ClusterConfig untrusted = Config();
  untrusted.ca_pem = TestPki().other_ca.cert_pem;
  auto u = io_.Run(Client(untrusted)->Do(Get("/x")));
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, 503);

  ClusterConfig insecure = Config();
  insecure.ca_pem.clear();
  insecure.insecure_skip_tls_verify = true;
  insecure.tls_server_name = "wrong.example.com";
  EXPECT_EQ(MustDo(*Client(insecure), Get("/x")).status, 200);
}

TEST_F(RestClientTest, UnreachableServerIs503AndSlowServerIs504) {
  Route("/slow", [](Request&, ResponseWriter& w) -> asio::awaitable<void> {
    co_await Sleep(milliseconds(1500));
    co_await w.Send(200, Headers(), "late");
  });
  StartServer();
  ClusterConfig c = Config();
  c.request_timeout = milliseconds(200);
  auto client = Client(c);
  auto start = std::chrono::steady_clock::now();
  auto r = io_.Run(client->Do(Get("/slow")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 504);
  EXPECT_EQ(r.error().reason, "Timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));

  // A closed port.
  uint16_t port = port_;
  server_->Shutdown(milliseconds(2000));
  ClusterConfig gone = Config();
  gone.server = "https://127.0.0.1:" + std::to_string(port);
  auto g = io_.Run(Client(gone)->Do(Get("/slow")));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, 503);
  EXPECT_NE(g.error().message.find("unreachable"), std::string::npos);
}

TEST_F(RestClientTest, StreamReadCanBeCancelledByRacingATimer) {
  Route("/watch", [](Request&, ResponseWriter& w) -> asio::awaitable<void> {
    co_await w.WriteHeader(200, Headers(), std::nullopt);
    co_await w.WaitClosed();  // never sends anything
  });
  StartServer();
  auto client = Client();
  io_.Run([&]() -> asio::awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    auto s = co_await client->Stream(Get("/watch"));
    EXPECT_TRUE(s.ok());
    if (!s.ok()) co_return;
    auto start = std::chrono::steady_clock::now();
    auto which = co_await ((*s)->Read() || Sleep(milliseconds(100)));
    EXPECT_EQ(which.index(), 1u);  // the timer won; the read was cancelled
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }());
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

TEST_F(RestClientTest, BearerTokenAndTokenFileReload) {
  Route("/x", AuthEcho);
  StartServer();
  ClusterConfig c = Config();
  c.bearer_token.Assign("static-token");
  EXPECT_EQ(MustDo(*Client(c), Get("/x")).body, "Bearer static-token");

  TempDir dir;
  ASSERT_TRUE(tls::WriteFile(dir.File("token"), "first\n").ok());
  ClusterConfig f = Config();
  f.token_file = dir.File("token");
  auto client = Client(f);
  EXPECT_EQ(MustDo(*client, Get("/x")).body, "Bearer first");
  ASSERT_TRUE(tls::WriteFile(dir.File("token"), "second\n").ok());
  // Make sure the modification time differs even on coarse clocks.
  struct timespec times[2] = {{0, UTIME_OMIT}, {time(nullptr) + 10, 0}};
  utimensat(AT_FDCWD, dir.File("token").c_str(), times, 0);
  std::this_thread::sleep_for(milliseconds(1100));
  EXPECT_EQ(MustDo(*client, Get("/x")).body, "Bearer second");

  // An explicit Authorization header wins.
  RestRequest r = Get("/x");
  r.headers.Add("Authorization", "Bearer explicit");
  EXPECT_EQ(MustDo(*client, std::move(r)).body, "Bearer explicit");
}

TEST_F(RestClientTest, ServerPathPrefixIsPrepended) {
  const std::string prefix =
      "/apis/spaces.upbound.io/v1beta1/namespaces/default/controlplanes/ctp/k8s";
  Route(prefix + "/api/v1/namespaces",
        [](Request& req, ResponseWriter& w) -> asio::awaitable<void> {
          co_await w.Send(200, Headers(),
                          "{\"kind\":\"NamespaceList\",\"q\":\"" + req.raw_query + "\"}");
        });
  StartServer();
  ClusterConfig c = Config();
  c.server = SpacesServerURL("127.0.0.1:" + std::to_string(port_), "default", "ctp");
  EXPECT_EQ(c.server, "https://127.0.0.1:" + std::to_string(port_) + prefix);
  auto doc = io_.Run(Client(c)->List("/api/v1/namespaces?limit=5"));
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ(json::GetString(*doc, "kind"), "NamespaceList");
  EXPECT_EQ(json::GetString(*doc, "q"), "limit=5");
}

// A header that would split the upstream request (CR or LF anywhere, a colon in the name) is
// refused with 400 before anything is sent; a colon in a value is fine.
TEST_F(RestClientTest, HeadersThatWouldSplitTheRequestAreRefused) {
  std::atomic<int> hits = 0;
  Route("/x", [&hits](Request& req, ResponseWriter& w) -> asio::awaitable<void> {
    ++hits;
    co_await w.Send(200, Headers(), std::string(req.headers.Get("X-A").value_or("-")));
  });
  StartServer();
  auto client = Client(Config());
  const std::pair<std::string, std::string> refused[] = {
      {"X-A", "v\r\nX-Injected: 1"}, {"X-A", "v\n"}, {"X-A", "\rv"},
      {"X-A\r\nX-B", "v"},           {"X-A:B", "v"}, {"X-A\n", "v"}};
  for (const auto& [name, value] : refused) {
    RestRequest r;
    r.path = "/x";
    r.headers.Set(name, value);
    auto resp = io_.Run(client->Do(std::move(r)));
    ASSERT_FALSE(resp.ok()) << name;
    EXPECT_EQ(resp.error().code, 400) << name;
    EXPECT_EQ(resp.error().message, "invalid header in upstream request");
  }
  RestRequest r;
  r.path = "/x";
  r.headers.Set("X-A", "a:b c");
  auto resp = io_.Run(client->Do(std::move(r)));
  ASSERT_TRUE(resp.ok()) << resp.error().message;
  EXPECT_EQ(resp->body, "a:b c");
  EXPECT_EQ(hits.load(), 1);
}

TEST_F(RestClientTest, JsonConveniencesReturnDocumentsOrStatus) {
  Route("/api/v1/namespaces/ns/configmaps/cm",
        [](Request& req, ResponseWriter& w) -> asio::awaitable<void> {
          Headers h;
          h.Add("Content-Type", "application/json");
          if (req.method == "GET") {
            co_await w.Send(200, std::move(h), "{\"metadata\":{\"name\":\"cm\"}}");
          } else if (req.method == "PATCH") {
            std::string ct(req.headers.Get("Content-Type").value_or(""));
            co_await w.Send(200, std::move(h), "{\"ct\":\"" + ct + "\",\"body\":" + req.body + "}");
          } else if (req.method == "DELETE") {
            co_await w.Send(200, std::move(h), "{\"kind\":\"Status\",\"status\":\"Success\"}");
          } else if (req.method == "PUT") {
            Status st = NewConflict({"", "configmaps"}, "cm", "the object has been modified");
            co_await w.Send(409, std::move(h), st.ToJson());
          } else {
            co_await w.Send(500, Headers(), "plain text failure");
          }
        });
  StartServer();
  auto client = Client();
  const std::string path = "/api/v1/namespaces/ns/configmaps/cm";
  auto got = io_.Run(client->Get(path));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(json::GetString(*json::Find(*got, "metadata"), "name"), "cm");

  auto patched = io_.Run(client->Patch(path, "application/merge-patch+json", "{\"a\":1}"));
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(json::GetString(*patched, "ct"), "application/merge-patch+json");
  EXPECT_EQ(json::Serialize(*json::Find(*patched, "body")), "{\"a\":1}");

  auto updated = io_.Run(client->Update(path, "{}"));
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().code, 409);
  EXPECT_EQ(updated.error().reason, "Conflict");

  auto created = io_.Run(client->Create(path, "{}"));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, 500);
  EXPECT_EQ(created.error().reason, "InternalError");

  auto deleted = io_.Run(client->Delete(path));
  ASSERT_TRUE(deleted.ok());

  auto missing = io_.Run(client->Get("/api/v1/namespaces/ns/configmaps/other"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, 404);
  EXPECT_EQ(missing.error().reason, "NotFound");
}

TEST_F(RestClientTest, WatchHelperDecodesEventsOneAtATime) {
  Route("/api/v1/configmaps", [](Request& req, ResponseWriter& w) -> asio::awaitable<void> {
    EXPECT_EQ(req.query.Get("watch").value_or(""), "1");
    co_await w.WriteHeader(200, Headers(), std::nullopt);
    // Events split at awkward places, one without a trailing newline.
    co_await w.Write("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\\\"}\"}}}\n{\"ty");
    co_await Sleep(milliseconds(20));
    co_await w.Write("pe\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}");
    co_await w.Write(
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}}}\n");
    co_await w.Finish();
  });
  StartServer();
  auto client = Client();
  io_.Run([&]() -> asio::awaitable<void> {
    auto w = co_await client->Watch("/api/v1/configmaps?resourceVersion=1");
    EXPECT_TRUE(w.ok());
    if (!w.ok()) co_return;
    std::vector<std::string> seen;
    while (true) {
      auto ev = co_await (*w)->Next();
      EXPECT_TRUE(ev.ok());
      if (!ev.ok() || !ev->has_value()) break;
      const json::Value* md = json::Find((*ev)->object, "metadata");
      EXPECT_NE(md, nullptr);
      if (md == nullptr) break;
      seen.push_back((*ev)->type + ":" + std::string(json::GetString(*md, "name")) +
                     std::string(json::GetString(*md, "resourceVersion")));
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"ADDED:a\"}", "MODIFIED:b", "BOOKMARK:7"}));
  }());
}

TEST_F(RestClientTest, WatchErrorStatusIsReturned) {
  StartServer();  // no routes: 404 Status
  auto w = io_.Run(Client()->Watch("/api/v1/nothing"));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, 404);
}

std::shared_ptr<RestClient> RestClientTest::ClientWithAConnectionTheServerClosed() {
  Route("/x", AuthEcho);
  http::ServerOptions o;
  o.idle_timeout = milliseconds(100);
  StartServer(o);
  auto client = Client();
  EXPECT_EQ(MustDo(*client, Get("/x")).status, 200);
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
  return client;
}

TEST_F(RestClientTest, StaleKeepAliveConnectionIsReplacedTransparently) {
  auto client = ClientWithAConnectionTheServerClosed();
  EXPECT_EQ(MustDo(*client, Get("/x")).status, 200);
  EXPECT_EQ(client->stats().handshakes, 2u);
  // The GET came within 1 s of the first response: the closed connection was not probed but
  // written to, and the GET sent again on a fresh one.
  EXPECT_EQ(client->stats().idle_probes, 0u);
}

TEST_F(RestClientTest, StaleKeepAliveConnectionIsProbedBeforeANonReplayableRequest) {
  auto client = ClientWithAConnectionTheServerClosed();
  RestRequest post = Get("/x");
  post.method = "POST";
  post.body = "{}";
  // A POST is never written to a connection the server may have closed: the probe finds it
  // closed, and the POST goes out once, on a fresh connection.
  EXPECT_EQ(MustDo(*client, std::move(post)).status, 200);
  EXPECT_EQ(client->stats().idle_probes, 1u);
  EXPECT_EQ(client->stats().handshakes, 2u);
}

TEST_F(RestClientTest, IdleProbeIsSkippedOnlyForReplayableRequestsOnFreshlyPooledConnections) {
  Route("/x", AuthEcho);
  StartServer();
  auto client = Client();
  auto post = [] {
    RestRequest r = Get("/x");
    r.method = "POST";
    r.body = "{}";
    return r;
  };
  EXPECT_EQ(MustDo(*client, Get("/x")).status, 200);  // a new connection: nothing to probe
  EXPECT_EQ(MustDo(*client, Get("/x")).status, 200);  // reused at once: not probed
  RestRequest head = Get("/x");
  head.method = "HEAD";
  EXPECT_EQ(MustDo(*client, std::move(head)).status, 200);  // replayable too: not probed
  EXPECT_EQ(client->stats().idle_probes, 0u);
  EXPECT_EQ(MustDo(*client, post()).status, 200);  // not replayable: probed
  EXPECT_EQ(client->stats().idle_probes, 1u);
  std::this_thread::sleep_for(milliseconds(1100));  // pooled for more than 1 s: probed
  EXPECT_EQ(MustDo(*client, Get("/x")).status, 200);
  EXPECT_EQ(client->stats().idle_probes, 2u);
  EXPECT_EQ(client->stats().reused, 4u);
  EXPECT_EQ(client->stats().handshakes, 1u);
}

// A TLS server that answers its connections' requests in turn from a script: "ok" answers 200
// keep-alive, "cut" reads the request and closes the TCP connection without a reply and without
// TLS close_notify (a server closing an idle keep-alive connection just as a request arrives).
using Script = std::vector<std::vector<std::string>>;

class ScriptedTlsServer {
 public:
  explicit ScriptedTlsServer(Script per_connection)
      : script_(std::move(per_connection)), ctx_(asio::ssl::context::tls_server) {
    const Pki& pki = TestPki();
    ctx_.use_certificate_chain(asio::buffer(pki.server.cert_pem));
    pki.server.key_pem.With([&](std::string_view key) {
      ctx_.use_private_key(asio::buffer(key), asio::ssl::context::pem);
    });
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedTlsServer() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int requests_seen() const { return requests_seen_.load(); }

 private:
  void Serve() {
    for (const auto& actions : script_) {
      asio::ssl::stream<asio::ip::tcp::socket> s(io_, ctx_);
      boost::system::error_code ec;
      acceptor_.accept(s.lowest_layer(), ec);
      if (ec) return;
      s.handshake(asio::ssl::stream_base::server, ec);
      if (ec) return;
      std::string buf;
      for (const auto& action : actions) {
        size_t n = asio::read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", ec);
        if (ec) return;
        buf.erase(0, n);
        ++requests_seen_;
        if (action == "cut") break;
        asio::write(
            s,
            asio::buffer(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: "
                                          "application/json\r\n\r\n{}")),
            ec);
        if (ec) return;
      }
      s.lowest_layer().close(ec);  // no close_notify
    }
  }

  Script script_;
  asio::io_context io_;
  asio::ssl::context ctx_;
  asio::ip::tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::atomic<int> requests_seen_{0};
  std::thread thread_;
};

// A pooled connection the server cut as the next request arrived: a GET is replayed once on a
// fresh connection (the caller sees 200, not 503); a POST is not (the server may have acted on
// it), as Go's http.Transport decides.
TEST_F(RestClientTest, CutPooledConnectionIsRetriedOnlyForReplayableRequests) {
  {
    ScriptedTlsServer server(Script{{"ok", "cut"}, {"ok"}});
    port_ = server.port();
    auto client = Client();
    EXPECT_EQ(MustDo(*client, Get("/a")).status, 200);
    EXPECT_EQ(MustDo(*client, Get("/b")).status, 200);
    EXPECT_EQ(client->stats().handshakes, 2u);
    EXPECT_EQ(server.requests_seen(), 3);
  }
  {
    ScriptedTlsServer server(Script{{"ok", "cut"}});
    port_ = server.port();
    auto client = Client();
    EXPECT_EQ(MustDo(*client, Get("/a")).status, 200);
    RestRequest post = Get("/things");
    post.method = "POST";
    post.body = "{}";
    auto r = io_.Run(client->Do(std::move(post)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, 503);
    EXPECT_EQ(server.requests_seen(), 2);  // sent once, never replayed
  }
}

// Issue 9: upstream TLS handshakes per 1,000 requests <= 1. Keep-alive connections go back to
// the pool after every complete response, errors (4xx/5xx) included, and streamed bodies read
// to the end; the pool keeps as many idle connections as the peak concurrency needed.
TEST_F(RestClientTest, PoolReusesConnectionsForAnswersOfEveryKind) {
  Route("/ok", [](Request&, ResponseWriter& w) -> asio::awaitable<void> {
    co_await w.Send(200, Headers(), "{\"kind\":\"Thing\"}");
  });
  Route("/conflict", [](Request&, ResponseWriter& w) -> asio::awaitable<void> {
    // Named locals: g++ 12 double-frees temporaries built inside a co_await expression.
    const GroupResource gr{"", "things"};
    const std::string body = NewConflict(gr, "x", "stale").ToJson();
    co_await w.Send(409, Headers(), body);
  });
  Route("/fail", [](Request&, ResponseWriter& w) -> asio::awaitable<void> {
    co_await w.Send(500, Headers(), "boom");
  });
  Route("/chunked", [](Request&, ResponseWriter& w) -> asio::awaitable<void> {
    co_await w.WriteHeader(200, Headers(), std::nullopt);
    co_await w.Write("[1,");
    co_await w.Write("2]");
    co_await w.Finish();
  });
  StartServer();
  auto client = Client();
  const std::vector<std::string> paths = {"/ok", "/missing", "/conflict", "/fail", "/chunked"};
  int sent = 0;
  io_.Run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 200; ++i) {
      const std::string& path = paths[static_cast<size_t>(i) % paths.size()];
      RestRequest req = Get(path);
      if (i % 2 == 0) {
        auto r = co_await client->Do(std::move(req));
        EXPECT_TRUE(r.ok());
      } else {
        auto s = co_await client->Stream(std::move(req));
        EXPECT_TRUE(s.ok());
        if (!s.ok()) co_return;
        auto body = co_await (*s)->ReadAll();
        EXPECT_TRUE(body.ok());
      }
      ++sent;
    }
  }());
  EXPECT_EQ(sent, 200);
  auto st = client->stats();
  EXPECT_EQ(st.requests, 200u);
  EXPECT_EQ(st.handshakes, 1u);
  EXPECT_EQ(st.reused, 199u);
  EXPECT_EQ(st.idle_connections, 1u);
  EXPECT_EQ(server_->open_connections(), 1u);

  // Four at a time: the pool grows to four connections once and keeps them.
  using namespace asio::experimental::awaitable_operators;
  auto one = [&](const char* path) -> asio::awaitable<void> {
    RestRequest req = Get(path);
    auto r = co_await client->Do(std::move(req));
    EXPECT_TRUE(r.ok());
  };
  io_.Run([&]() -> asio::awaitable<void> {
    for (int round = 0; round < 50; ++round) {
      co_await (one("/ok") && one("/missing") && one("/conflict") && one("/fail"));
    }
  }());
  st = client->stats();
  EXPECT_EQ(st.requests, 400u);
  EXPECT_LE(st.handshakes, 4u);
  EXPECT_EQ(st.idle_connections, st.handshakes);
  EXPECT_EQ(server_->open_connections(), st.handshakes);
}

// With pool_per_caller_context (the proxy's client: one io_context per server io thread), a
// connection is opened on the caller's executor and reused only by callers on that context, so
// a request's upstream I/O never leaves its thread; without it, one pool serves every caller.
TEST_F(RestClientTest, PoolPerCallerContextKeepsConnectionsOnTheirThread) {
  Route("/ok", [](Request&, ResponseWriter& w) -> asio::awaitable<void> {
    co_await w.Send(200, Headers(), "{\"kind\":\"Thing\"}");
  });
  StartServer();
  IoThread other;
  auto run_on = [](IoThread& t, std::shared_ptr<RestClient> c,
                   std::thread::id* ran_on) -> bool {
    return t.Run([](std::shared_ptr<RestClient> c, std::thread::id* ran_on) -> asio::awaitable<bool> {
      RestRequest req;
      req.path = "/ok";
      auto r = co_await c->Do(std::move(req));
      *ran_on = std::this_thread::get_id();
      co_return r.ok() && r->status == 200;
    }(std::move(c), ran_on));
  };
  for (bool per_context : {true, false}) {
    ClusterConfig cfg = Config();
    cfg.pool_per_caller_context = per_context;
    auto client = Client(cfg);
    std::thread::id a, b;
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(run_on(io_, client, &a));
      ASSERT_TRUE(run_on(other, client, &b));
    }
    EXPECT_NE(a, b);
    auto st = client->stats();
    EXPECT_EQ(st.requests, 20u);
    if (per_context) {
      EXPECT_EQ(st.handshakes, 2u) << "one connection per caller context";
      EXPECT_EQ(st.idle_connections, 2u);
    } else {
      EXPECT_EQ(st.handshakes, 1u) << "one pool for every caller";
      EXPECT_EQ(st.idle_connections, 1u);
    }
    client->CloseIdle();
  }
}

TEST_F(RestClientTest, ManyConcurrentStreamsAndLeakFreeTeardown) {
  Route("/watch", [](Request&, ResponseWriter& w) -> asio::awaitable<void> {
    co_await w.WriteHeader(200, Headers(), std::nullopt);
    co_await w.Write("{\"type\":\"ADDED\",\"object\":{}}\n");
    co_await w.WaitClosed();
  });
  http::ServerOptions o;
  o.io_threads = 2;
  StartServer(o);
  auto client = Client();
  constexpr int kStreams = 200;
  std::vector<std::unique_ptr<Watcher>> watchers;
  io_.Run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < kStreams; ++i) {
      auto w = co_await client->Watch("/watch");
      EXPECT_TRUE(w.ok());
      if (!w.ok()) co_return;
      auto ev = co_await (*w)->Next();
      EXPECT_TRUE(ev.ok() && ev->has_value());
      watchers.push_back(std::move(*w));
    }
  }());
  EXPECT_EQ(server_->active_streams(), static_cast<size_t>(kStreams));
  EXPECT_EQ(server_->open_connections(), static_cast<size_t>(kStreams));
  io_.Run([&]() -> asio::awaitable<void> {
    watchers.clear();
    co_return;
  }());
  EXPECT_TRUE(WaitFor([&] { return server_->active_streams() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return server_->open_connections() == 0; }));
}

}  // namespace
}  // namespace kube::testing

// Connection lifecycle of the HTTPS front end (kube::http::Server) under the races a loaded
// machine produces, driven deterministically: a handler holds its connection's strand while the
// client does something, so the completions that arrive meanwhile queue up behind it.
#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <future>
#include <thread>
#include <vector>

#include "kube/http_server.h"
#include "kube/tls.h"
#include "tests/integration/reliability/harness.h"

namespace reliability {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct TlsServer {
  std::string ca_pem;
  std::unique_ptr<kube::http::Server> server;
  uint16_t port = 0;

  void Start(kube::http::Handler handler) {
    auto ca = kube::tls::GenerateCA("session-test-ca");
    ASSERT_TRUE(ca.ok());
    kube::tls::CertificateSpec spec;
    spec.common_name = "connector";
    spec.dns_names = {"mcp-connector.kube-system.svc"};
    spec.ip_addresses = {"127.0.0.1"};
    auto leaf = kube::tls::GenerateSigned(*ca, spec);
    ASSERT_TRUE(leaf.ok());
    auto cred = kube::tls::ServerCredential::FromPem(leaf->cert_pem, leaf->key_pem);
    ASSERT_TRUE(cred.ok());
    ca_pem = ca->cert_pem;
    kube::http::ServerOptions o;
    o.bind_address = "127.0.0.1";
    o.tls = *cred;
    o.idle_timeout = std::chrono::seconds(30);
    o.io_threads = 2;  // one io thread is held by the handler, the other reads the socket
    server = std::make_unique<kube::http::Server>(o, std::move(handler));
    auto p = server->Start();
    ASSERT_TRUE(p.ok()) << p.error().message;
    port = *p;
  }
};

// A streamed response the server ends (a watch reaching timeoutSeconds) whose client reads it
// to the end and closes at once, while the server is still finishing the request: the "client
// still there?" read completes with the end of stream just as the request's end cancels it.
// The connection must close then, not go back to idle waiting for a client that is gone (it
// stayed open until the idle timeout: the teardown leak check of LimitsTest.MaxInflight... and
// FaultsTest.ExpiredResourceVersionsAre410 saw it under load).
TEST(SessionTest, ClientClosingAsAStreamEndsIsNotKeptAlive) {
  std::promise<void> client_closed;
  std::shared_future<void> closed = client_closed.get_future().share();
  TlsServer s;
  s.Start([closed](kube::http::Request&, kube::http::ResponseWriter& w) -> asio::awaitable<void> {
    kube::http::Headers h;
    h.Set("Content-Type", "application/json");
    co_await w.WriteHeader(200, std::move(h), std::nullopt);  // chunked, like a watch
    co_await w.Write("{\"type\":\"ADDED\"}\n");
    // The relay's race with the client going away starts the monitor read.
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer tick(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
    co_await (w.WaitClosed() || tick.async_wait(asio::use_awaitable));
    co_await w.Finish();  // the stream ends (timeoutSeconds)
    // Still on the connection's strand: the client reads the end and closes; the other io thread
    // reads the end of stream and queues its completion behind us.
    closed.wait_for(std::chrono::seconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  });
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  {
    Client c(s.port, s.ca_pem);
    ASSERT_TRUE(c.Connect()) << c.error();
    ASSERT_TRUE(c.SendRaw(c.BuildRequest("GET", "/watch", "", {})));
    ASSERT_EQ(c.ReadHead(5s).status, 200);
    while (c.NextEvent(5s)) {
    }
    EXPECT_TRUE(c.stream_ended_cleanly());
  }  // closed without close_notify, as most clients do
  client_closed.set_value();
  auto start = Clock::now();
  EXPECT_TRUE(Eventually([&] { return s.server->open_connections() == 0; }, 5s,
                         "the server closed its side"));
  EXPECT_LT(Clock::now() - start, 5s);
  s.server->Shutdown(std::chrono::milliseconds(0));
}

// WriteFramed (the list and watch relays' writes): the writer puts the chunk's size line into the
// caller's headroom and its CRLF after the data, one buffer per write. Whatever the sizes (one
// byte, more than a TLS record, several records), before or after the head went out and mixed
// with Write, the client decodes exactly the bytes given, framed as HTTP/1.1 chunks.
TEST(SessionTest, FramedWritesAreChunksOfExactlyTheData) {
  constexpr size_t kHeadroom = kube::http::ResponseWriter::kFrameHeadroom;
  auto payload = [](size_t n, char seed) {
    std::string s(n, ' ');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i * 7) % 26);
    return s;
  };
  const std::vector<std::string> parts = {payload(1, 0), payload(40000, 1), payload(16384, 2),
                                          payload(16370, 3), payload(100000, 4)};
  TlsServer s;
  s.Start([&](kube::http::Request&, kube::http::ResponseWriter& w) -> asio::awaitable<void> {
    kube::http::Headers h;
    h.Set("Content-Type", "application/json");
    co_await w.WriteHeader(200, std::move(h), std::nullopt);
    std::string buf;
    for (size_t i = 0; i < parts.size(); ++i) {
      buf.assign(kHeadroom, 'H');  // never reaches the client
      buf += parts[i];
      co_await w.WriteFramed(buf);
      if (i == 1) co_await w.Write("-written-");
    }
    buf.assign(kHeadroom, 'H');  // nothing to write: no empty chunk (that would end the body)
    co_await w.WriteFramed(buf);
    co_await w.Finish();
  });
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Client c(s.port, s.ca_pem);
  ASSERT_TRUE(c.Connect()) << c.error();
  ASSERT_TRUE(c.SendRaw(c.BuildRequest("GET", "/list", "", {})));
  HttpResponse r = c.ReadResponse(10s);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
  EXPECT_TRUE(r.clean_end);
  std::string want;
  for (size_t i = 0; i < parts.size(); ++i) {
    want += parts[i];
    if (i == 1) want += "-written-";
  }
  EXPECT_EQ(r.body.size(), want.size());
  EXPECT_TRUE(r.body == want) << "the decoded body differs from what was written";
  EXPECT_EQ(r.body.find('H'), std::string::npos);
  s.server->Shutdown(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace reliability

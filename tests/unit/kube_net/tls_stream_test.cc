// kube::tls::Stream: OpenSSL straight on the socket, driven like asio::ssl::stream.
#include "kube/tls_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kube/tls.h"
#include "tests/unit/kube_net/net_test_util.h"

namespace kube::tls {
namespace {

namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// A position-dependent byte stream (period 65521, a prime, so chunk boundaries drift): the
// bytes at [offset, offset + n) are Pattern(seed) + offset % kPeriod, for n <= kMaxChunk.
constexpr size_t kPeriod = 65521;
constexpr size_t kMaxChunk = 200 * 1024;
const unsigned char* Pattern(uint64_t seed) {
  static std::map<uint64_t, std::vector<unsigned char>> patterns;
  auto& p = patterns[seed];
  if (p.empty()) {
    std::mt19937_64 rng(seed);
    p.resize(kPeriod + kMaxChunk);
    for (size_t i = 0; i < kPeriod; ++i) p[i] = static_cast<unsigned char>(rng());
    for (size_t i = kPeriod; i < p.size(); ++i) p[i] = p[i - kPeriod];
  }
  return p.data();
}

struct Side {
  std::shared_ptr<asio::ssl::context> ctx;
  std::unique_ptr<Stream> stream;
};

class TlsStreamTest : public ::testing::Test {
 protected:
  // A connected pair of streams over loopback (not yet handshaken).
  void Connect(bool client_certificate = false, int sndbuf = 0) {
    const auto& pki = testing::TestPki();
    auto sctx = MakeServerContext(pki.server.cert_pem, pki.server.key_pem);
    ASSERT_TRUE(sctx.ok()) << sctx.error().message;
    ClientTLSOptions copts;
    copts.ca_pem = pki.ca.cert_pem;
    if (client_certificate) {
      copts.client_cert_pem = pki.client.cert_pem;
      copts.client_key_pem = pki.client.key_pem;
    }
    auto cctx = MakeClientContext(copts);
    ASSERT_TRUE(cctx.ok()) << cctx.error().message;

    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket c(ioc_);
    c.connect(acceptor.local_endpoint());
    tcp::socket s = acceptor.accept();
    if (sndbuf > 0) {
      c.set_option(asio::socket_base::send_buffer_size(sndbuf));
      s.set_option(asio::socket_base::send_buffer_size(sndbuf));
      c.set_option(asio::socket_base::receive_buffer_size(sndbuf));
      s.set_option(asio::socket_base::receive_buffer_size(sndbuf));
    }
    server_.ctx = *sctx;
    client_.ctx = *cctx;
    server_.stream = std::make_unique<Stream>(beast::tcp_stream(std::move(s)), *server_.ctx);
    client_.stream = std::make_unique<Stream>(beast::tcp_stream(std::move(c)), *client_.ctx);
    SSL_set_tlsext_host_name(client_.stream->native_handle(), "localhost");
    client_.stream->set_verify_callback(asio::ssl::host_name_verification("localhost"));
  }

  static asio::awaitable<void> Handshake(Stream* s, asio::ssl::stream_base::handshake_type t,
                                         error_code* out) {
    auto [ec] = co_await s->async_handshake(t, kTuple);
    *out = ec;
  }

  // Both handshakes; true when both succeeded.
  bool HandshakeBoth() {
    error_code sec = asio::error::would_block, cec = asio::error::would_block;
    asio::co_spawn(ioc_, Handshake(server_.stream.get(), asio::ssl::stream_base::server, &sec),
                   asio::detached);
    asio::co_spawn(ioc_, Handshake(client_.stream.get(), asio::ssl::stream_base::client, &cec),
                   asio::detached);
    ioc_.run();
    ioc_.restart();
    EXPECT_FALSE(sec) << sec.message();
    EXPECT_FALSE(cec) << cec.message();
    return !sec && !cec;
  }

  asio::io_context ioc_;
  Side server_, client_;
};

TEST_F(TlsStreamTest, HandshakeBothWaysVerifiesServerAndCarriesSni) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  EXPECT_EQ(SSL_get_verify_result(client_.stream->native_handle()), X509_V_OK);
  const char* sni = SSL_get_servername(server_.stream->native_handle(), TLSEXT_NAMETYPE_host_name);
  ASSERT_NE(sni, nullptr);
  EXPECT_STREQ(sni, "localhost");
  EXPECT_EQ(SSL_version(client_.stream->native_handle()), TLS1_3_VERSION);
  // No client certificate was configured.
  EXPECT_EQ(SSL_get0_peer_certificate(server_.stream->native_handle()), nullptr);
}

TEST_F(TlsStreamTest, HostNameMismatchFailsTheClientHandshake) {
  Connect();
  client_.stream->set_verify_callback(asio::ssl::host_name_verification("other.example"));
  error_code sec, cec;
  asio::co_spawn(ioc_, Handshake(server_.stream.get(), asio::ssl::stream_base::server, &sec),
                 asio::detached);
  asio::co_spawn(ioc_, Handshake(client_.stream.get(), asio::ssl::stream_base::client, &cec),
                 asio::detached);
  ioc_.run();
  ASSERT_TRUE(cec);
  EXPECT_EQ(&cec.category(), &asio::error::get_ssl_category());
  EXPECT_NE(cec.message().find("certificate verify failed"), std::string::npos) << cec.message();
  EXPECT_TRUE(sec);  // the server saw the alert
}

TEST_F(TlsStreamTest, ClientCertificateIsVisibleToTheServer) {
  Connect(/*client_certificate=*/true);
  ASSERT_TRUE(HandshakeBoth());
  X509* leaf = SSL_get0_peer_certificate(server_.stream->native_handle());
  ASSERT_NE(leaf, nullptr);
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "alice");
}

// Writes `total` pattern bytes in random pieces (sometimes as three gathered buffers).
asio::awaitable<void> WritePattern(Stream* s, uint64_t total, uint64_t seed, error_code* out) {
  std::mt19937_64 rng(seed);
  const unsigned char* pattern = Pattern(seed);
  uint64_t at = 0;
  while (at < total) {
    size_t n = std::min<uint64_t>(total - at, 1 + rng() % kMaxChunk);
    const unsigned char* data = pattern + at % kPeriod;
    error_code ec;
    size_t written = 0;
    if (n >= 3 && rng() % 3 == 0) {
      size_t a = rng() % n, b = a + rng() % (n - a);
      std::array<asio::const_buffer, 3> parts{asio::buffer(data, a), asio::buffer(data + a, b - a),
                                              asio::buffer(data + b, n - b)};
      auto [wec, w] = co_await asio::async_write(*s, parts, kTuple);
      ec = wec;
      written = w;
    } else {
      auto [wec, w] = co_await asio::async_write(*s, asio::buffer(data, n), kTuple);
      ec = wec;
      written = w;
    }
    if (ec) {
      *out = ec;
      co_return;
    }
    EXPECT_EQ(written, n);
    at += n;
  }
}

// Reads `total` bytes with read_some of random sizes and checks every byte.
asio::awaitable<void> ReadPattern(Stream* s, uint64_t total, uint64_t seed, error_code* out,
                                  uint64_t* mismatches) {
  std::mt19937_64 rng(seed * 7 + 1);
  const unsigned char* pattern = Pattern(seed);
  std::vector<unsigned char> buf(100 * 1024);
  uint64_t at = 0;
  while (at < total) {
    size_t want = std::min<uint64_t>(total - at, 1 + rng() % buf.size());
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf.data(), want), kTuple);
    if (ec) {
      *out = ec;
      co_return;
    }
    if (std::memcmp(buf.data(), pattern + at % kPeriod, n) != 0) ++*mismatches;
    at += n;
  }
}

TEST_F(TlsStreamTest, TwentyMegabytesBothDirectionsAtOnceWithRandomChunks) {
  // Small socket buffers: writes would block often, while a read is pending on the same stream.
  Connect(false, 64 * 1024);
  ASSERT_TRUE(HandshakeBoth());
  constexpr uint64_t kTotal = 20ull * 1024 * 1024;
  error_code e1, e2, e3, e4;
  uint64_t bad1 = 0, bad2 = 0;
  asio::co_spawn(ioc_, WritePattern(client_.stream.get(), kTotal, 11, &e1), asio::detached);
  asio::co_spawn(ioc_, ReadPattern(server_.stream.get(), kTotal, 11, &e2, &bad1), asio::detached);
  asio::co_spawn(ioc_, WritePattern(server_.stream.get(), kTotal, 22, &e3), asio::detached);
  asio::co_spawn(ioc_, ReadPattern(client_.stream.get(), kTotal, 22, &e4, &bad2), asio::detached);
  ioc_.run();
  EXPECT_FALSE(e1) << e1.message();
  EXPECT_FALSE(e2) << e2.message();
  EXPECT_FALSE(e3) << e3.message();
  EXPECT_FALSE(e4) << e4.message();
  EXPECT_EQ(bad1, 0u);
  EXPECT_EQ(bad2, 0u);
}

asio::awaitable<void> HttpServe(Stream* s, int requests, std::vector<std::string>* bodies,
                                error_code* out) {
  beast::flat_buffer buffer;
  for (int i = 0; i < requests; ++i) {
    bhttp::request<bhttp::string_body> req;
    auto [ec, n] = co_await bhttp::async_read(*s, buffer, req, kTuple);
    if (ec) {
      *out = ec;
      co_return;
    }
    bodies->push_back(req.body());
    bhttp::response<bhttp::string_body> res(bhttp::status::ok, 11);
    res.set(bhttp::field::content_type, "text/plain");
    res.body() = std::string(req.target()) + ":" + std::string(100000, 'x');
    res.prepare_payload();
    auto [wec, wn] = co_await bhttp::async_write(*s, res, kTuple);
    if (wec) {
      *out = wec;
      co_return;
    }
  }
  // Then the client's close_notify: end_of_stream, as Beast expects of a clean close.
  bhttp::request<bhttp::string_body> req;
  auto [ec, n] = co_await bhttp::async_read(*s, buffer, req, kTuple);
  *out = ec;
  if (ec == bhttp::error::end_of_stream) {
    auto [sec] = co_await s->async_shutdown(kTuple);  // answer the close_notify
    EXPECT_FALSE(sec) << sec.message();
  }
}

asio::awaitable<void> HttpClient(Stream* s, int requests, std::vector<std::string>* answers,
                                 error_code* out) {
  beast::flat_buffer buffer;
  for (int i = 0; i < requests; ++i) {
    bhttp::request<bhttp::string_body> req(bhttp::verb::post, "/r" + std::to_string(i), 11);
    req.set(bhttp::field::host, "localhost");
    req.body() = "hello " + std::to_string(i);
    req.prepare_payload();
    auto [wec, wn] = co_await bhttp::async_write(*s, req, kTuple);
    if (wec) {
      *out = wec;
      co_return;
    }
    bhttp::response<bhttp::string_body> res;
    auto [ec, n] = co_await bhttp::async_read(*s, buffer, res, kTuple);
    if (ec) {
      *out = ec;
      co_return;
    }
    answers->push_back(res.body());
  }
  auto [sec] = co_await s->async_shutdown(kTuple);
  *out = sec;
}

TEST_F(TlsStreamTest, BeastHttpRoundTripsThenCleanShutdown) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  std::vector<std::string> bodies, answers;
  error_code sec = asio::error::would_block, cec = asio::error::would_block;
  asio::co_spawn(ioc_, HttpServe(server_.stream.get(), 3, &bodies, &sec), asio::detached);
  asio::co_spawn(ioc_, HttpClient(client_.stream.get(), 3, &answers, &cec), asio::detached);
  ioc_.run();
  EXPECT_EQ(sec, bhttp::error::end_of_stream) << sec.message();
  EXPECT_FALSE(cec) << cec.message();  // the client's shutdown saw the server's close_notify
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[2], "hello 2");
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[1], "/r1:" + std::string(100000, 'x'));
}

asio::awaitable<void> ReadOnce(Stream* s, error_code* out, size_t* got) {
  std::array<char, 512> buf;
  auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), kTuple);
  *out = ec;
  *got = n;
}

asio::awaitable<void> ReadResponse(Stream* s, error_code* out) {
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  auto [ec, n] = co_await bhttp::async_read(*s, buffer, res, kTuple);
  *out = ec;
}

TEST_F(TlsStreamTest, PeerClosingWithoutCloseNotifyIsStreamTruncated) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  error_code ec;
  size_t n = 0;
  asio::co_spawn(ioc_, ReadOnce(client_.stream.get(), &ec, &n), asio::detached);
  // The server closes the TCP connection while the client's read is pending.
  asio::steady_timer t(ioc_);
  t.expires_after(std::chrono::milliseconds(20));
  t.async_wait([this](error_code) { server_.stream->next_layer().close(); });
  ioc_.run();
  EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();

  // And through Beast's HTTP reader too (a response cut off before its head).
  ioc_.restart();
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  server_.stream->next_layer().close();
  ec = {};
  asio::co_spawn(ioc_, ReadResponse(client_.stream.get(), &ec), asio::detached);
  ioc_.run();
  EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();
}

TEST_F(TlsStreamTest, ReadTimesOutThroughTheTcpStreamExpiry) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  client_.stream->next_layer().expires_after(std::chrono::milliseconds(100));
  error_code ec;
  size_t n = 0;
  auto start = std::chrono::steady_clock::now();
  asio::co_spawn(ioc_, ReadOnce(client_.stream.get(), &ec, &n), asio::detached);
  ioc_.run();
  EXPECT_EQ(ec, beast::error::timeout) << ec.message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST_F(TlsStreamTest, CancellationSlotEndsAPendingRead) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  error_code ec;
  size_t n = 0;
  asio::cancellation_signal signal;
  asio::co_spawn(ioc_, ReadOnce(client_.stream.get(), &ec, &n),
                 asio::bind_cancellation_slot(signal.slot(), asio::detached));
  asio::steady_timer t(ioc_);
  t.expires_after(std::chrono::milliseconds(20));
  t.async_wait([&](error_code) { signal.emit(asio::cancellation_type::terminal); });
  ioc_.run();
  EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();
}

asio::awaitable<void> WriteText(Stream* s, std::string text, error_code* out) {
  auto [ec, n] = co_await asio::async_write(*s, asio::buffer(text), kTuple);
  *out = ec;
}

// The server session stops its "is the client still there" read with cancel() on the socket and
// reads on afterwards: the stream must stay usable.
TEST_F(TlsStreamTest, SocketCancelEndsAPendingReadAndTheStreamStaysUsable) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  error_code ec;
  size_t n = 0;
  asio::co_spawn(ioc_, ReadOnce(server_.stream.get(), &ec, &n), asio::detached);
  asio::steady_timer t(ioc_);
  t.expires_after(std::chrono::milliseconds(20));
  t.async_wait([this](error_code) { server_.stream->next_layer().cancel(); });
  ioc_.run();
  ioc_.restart();
  EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();

  error_code wec;
  asio::co_spawn(ioc_, WriteText(client_.stream.get(), "still here", &wec), asio::detached);
  asio::co_spawn(ioc_, ReadOnce(server_.stream.get(), &ec, &n), asio::detached);
  ioc_.run();
  EXPECT_FALSE(wec) << wec.message();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(n, 10u);
}

// Messages that arrive while the reader waits (a watch's events, a response after its request):
// the wait's read takes the whole record, and when it left the socket empty the next read waits
// at once instead of first calling recv for an EAGAIN.
asio::awaitable<void> ReadBytes(Stream* s, size_t total, std::string* got, error_code* out) {
  std::array<char, 4096> buf;
  while (got->size() < total) {
    auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), kTuple);
    *out = ec;
    if (ec) co_return;
    got->append(buf.data(), n);
  }
}

asio::awaitable<void> WriteSpaced(Stream* s, std::vector<std::string> messages,
                                  std::chrono::milliseconds gap, error_code* out) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (const std::string& m : messages) {
    t.expires_after(gap);
    co_await t.async_wait(asio::use_awaitable);
    auto [ec, n] = co_await asio::async_write(*s, asio::buffer(m), kTuple);
    *out = ec;
    if (ec) co_return;
  }
}

TEST_F(TlsStreamTest, AReaderWaitingForEachMessageNeverCallsRecvForAnEagain) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  // As the server and the REST client set it: each message leaves at once (Nagle's algorithm
  // would hold it for the delayed ACK of the one before, up to 40 ms).
  client_.stream->next_layer().socket().set_option(tcp::no_delay(true));
  server_.stream->next_layer().socket().set_option(tcp::no_delay(true));
  std::vector<std::string> messages;
  std::string all;
  for (int i = 0; i < 8; ++i) {
    messages.push_back(std::string(900, static_cast<char>('a' + i)));
    all += messages.back();
  }
  const uint64_t recv_before = server_.stream->stats().recv_calls;
  const uint64_t eagain_before = server_.stream->stats().recv_would_block;
  server_.stream->next_layer().expires_after(std::chrono::seconds(10));  // fail, never hang
  std::string got;
  error_code rec, wec;
  asio::co_spawn(ioc_, ReadBytes(server_.stream.get(), all.size(), &got, &rec), asio::detached);
  asio::co_spawn(ioc_,
                 WriteSpaced(client_.stream.get(), messages, std::chrono::milliseconds(5), &wec),
                 asio::detached);
  ioc_.run();
  EXPECT_FALSE(rec) << rec.message();
  EXPECT_FALSE(wec) << wec.message();
  EXPECT_EQ(got, all);
  // Only the first read, started before anything was sent, asks the socket and hears EAGAIN;
  // every record after it came whole with the wait (before: a recv for the rest of each record
  // and one EAGAIN per message).
  EXPECT_LE(server_.stream->stats().recv_would_block - eagain_before, 1u);
  EXPECT_LE(server_.stream->stats().recv_calls - recv_before, 1u);
}

// Data that arrives between the read that emptied the socket and the next read is not missed:
// the next read's wait finds it at once.
TEST_F(TlsStreamTest, DataArrivingAfterTheSocketWasEmptiedIsReadAtOnce) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  server_.stream->next_layer().expires_after(std::chrono::seconds(10));  // fail, never hang
  std::string got;
  error_code rec, wec;
  asio::co_spawn(ioc_, ReadBytes(server_.stream.get(), 5, &got, &rec), asio::detached);
  asio::co_spawn(ioc_, WriteText(client_.stream.get(), "first", &wec), asio::detached);
  ioc_.run();
  ioc_.restart();
  ASSERT_EQ(got, "first");
  // The second message is in the server's socket before its next read starts.
  asio::co_spawn(ioc_, WriteText(client_.stream.get(), "second", &wec), asio::detached);
  ioc_.run();
  ioc_.restart();
  ASSERT_FALSE(wec) << wec.message();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  server_.stream->next_layer().expires_after(std::chrono::seconds(10));
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(ioc_, ReadBytes(server_.stream.get(), 11, &got, &rec), asio::detached);
  ioc_.run();
  EXPECT_FALSE(rec) << rec.message();
  EXPECT_EQ(got, "firstsecond");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(TlsStreamTest, StreamMovesWithPendingState) {
  Connect();
  ASSERT_TRUE(HandshakeBoth());
  Stream moved(std::move(*client_.stream));
  error_code wec, ec;
  size_t n = 0;
  asio::co_spawn(ioc_, WriteText(&moved, "moved", &wec), asio::detached);
  asio::co_spawn(ioc_, ReadOnce(server_.stream.get(), &ec, &n), asio::detached);
  ioc_.run();
  EXPECT_FALSE(wec) << wec.message();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(n, 5u);
  EXPECT_TRUE(beast::get_lowest_layer(moved).socket().is_open());
}

}  // namespace
}  // namespace kube::tls

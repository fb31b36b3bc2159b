#include "kube/rest_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <charconv>
#include <iterator>
#include <mutex>
#include <vector>

#include <glog/logging.h>

#include "kube/dial_gate.h"
#include "kube/tls.h"
#include "kube/tls_stream.h"
#include "kube/watch_decoder.h"

namespace kube {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr uint64_t kMaxBufferedBody = 1ull << 30;
constexpr uint32_t kMaxResponseHeader = 1024 * 1024;
// Body read buffer of a stream: small for watches (thousands stay open), grows for big lists.
constexpr size_t kStreamChunkMin = 4 * 1024;
constexpr size_t kStreamChunkMax = 64 * 1024;
// A connection's read buffer while it waits for a response. Beast reads at most the buffer's free
// capacity (>= 512 bytes) at a time: left as the headers sized it (~1 KB), a 3 KB response took
// four reads, each a trip through the TLS stream and the parser.
constexpr size_t kResponseReadBuffer = 16 * 1024;

struct ParsedURL {
  bool tls = true;
  std::string host;  // without brackets
  std::string port;
  std::string prefix;  // path prefix without trailing '/'
  std::string host_header;
};

Result<ParsedURL> ParseServerURL(std::string_view url) {
  ParsedURL u;
  if (url.starts_with("https://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    u.tls = false;
    url.remove_prefix(7);
  } else {
    return NewBadRequest("server URL must start with https:// or http://: " + std::string(url));
  }
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : url.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  u.prefix = std::string(path);
  if (authority.empty()) return NewBadRequest("server URL has no host");
  u.host_header = std::string(authority);
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return NewBadRequest("bad IPv6 host in server URL");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (rest.starts_with(":")) u.port = std::string(rest.substr(1));
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  return u;
}

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, p);
}

std::string_view ReasonForCode(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

bool IsTimeout(const boost::system::error_code& ec) { return ec == beast::error::timeout; }

// One pooled connection (TLS or plain).
using TlsStream = tls::Stream;  // OpenSSL on the socket (kube/tls_stream.h)

struct Conn {
  std::optional<TlsStream> tls;
  std::optional<beast::tcp_stream> plain;
  beast::flat_buffer buffer;
  bool reused = false;
  const void* home = nullptr;  // the execution context its socket lives on
  Clock::time_point pooled_at{};  // when it last went back to the pool

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  void Close() {
    beast::error_code ec;
    auto& s = lowest().socket();
    if (s.is_open()) {
      s.shutdown(tcp::socket::shutdown_both, ec);
      s.close(ec);
    }
  }
  // An idle keep-alive connection the server has closed (or sent something unexpected on).
  // `probe`: also ask the socket (one recv(MSG_PEEK) system call) whether the server closed it.
  bool Stale(bool probe) {
    if (!lowest().socket().is_open() || buffer.size() > 0) return true;
    if (!probe) return false;
    char c;
    ssize_t n = ::recv(lowest().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }
};

class RestClientImpl;

// A replayable request takes a pooled connection without probing it when it was pooled less
// than this ago (RestClientImpl::TakeIdle).
constexpr std::chrono::seconds kProbeIdleAfter{1};

// Small bodies travel in the head's buffer (one write, one TLS record); large ones follow it.
// (A gathered write of two buffers through beast::ssl_stream lost data under g++ 12.)
constexpr size_t kCoalesceBody = 16 * 1024;

template <class S>
asio::awaitable<boost::system::error_code> WriteAll(S& s, std::string_view head,
                                                    std::string_view body) {
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(head.data(), head.size()), kTuple);
  if (ec || body.empty()) co_return ec;
  auto [bec, bn] = co_await asio::async_write(s, asio::buffer(body.data(), body.size()), kTuple);
  co_return bec;
}

template <class S, class Parser>
asio::awaitable<boost::system::error_code> ReadHeader(S& s, beast::flat_buffer& b, Parser& p) {
  auto [ec, n] = co_await bhttp::async_read_header(s, b, p, kTuple);
  co_return ec;
}

template <class S, class Parser>
asio::awaitable<boost::system::error_code> ReadMessage(S& s, beast::flat_buffer& b, Parser& p) {
  auto [ec, n] = co_await bhttp::async_read(s, b, p, kTuple);
  co_return ec;
}

template <class S, class Parser>
asio::awaitable<boost::system::error_code> ReadSome(S& s, beast::flat_buffer& b, Parser& p) {
  auto [ec, n] = co_await bhttp::async_read_some(s, b, p, kTuple);
  co_return ec;
}

template <class Fields>
void CopyHeaders(const Fields& in, http::Headers& out) {
  out.Reserve(out.size() + static_cast<size_t>(std::distance(in.begin(), in.end())));
  for (const auto& f : in) out.Add(std::string(f.name_string()), std::string(f.value()));
}

class ResponseStreamImpl;

class RestClientImpl final : public RestClient,
                             public std::enable_shared_from_this<RestClientImpl> {
 public:
  RestClientImpl(asio::any_io_executor ex, ClusterConfig cfg, ParsedURL url,
                 std::shared_ptr<ssl::context> ctx)
      : ex_(std::move(ex)), cfg_(std::move(cfg)), url_(std::move(url)), ctx_(std::move(ctx)) {
    verify_name_ = cfg_.tls_server_name.empty() ? url_.host : cfg_.tls_server_name;
    display_ = std::string(url_.tls ? "https://" : "http://") + url_.host_header;
  }

  ~RestClientImpl() override { CloseIdle(); }

  asio::awaitable<Result<RestResponse>> Do(RestRequest request) override;
  asio::awaitable<Result<std::unique_ptr<ResponseStream>>> Stream(RestRequest request) override;

  RestClientStats stats() const override {
    RestClientStats s;
    s.requests = requests_.load();
    s.handshakes = handshakes_.load();
    s.reused = reused_.load();
    s.idle_probes = idle_probes_.load();
    s.transport_errors = transport_errors_.load();
    std::lock_guard<std::mutex> lock(pool_mu_);
    s.idle_connections = idle_.size();
    return s;
  }
  const ClusterConfig& config() const override { return cfg_; }
  void CloseIdle() override {
    std::vector<std::unique_ptr<Conn>> idle;
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      idle.swap(idle_);
    }
    for (auto& c : idle) c->Close();
  }

  void Release(std::unique_ptr<Conn> c) {
    c->reused = true;
    c->pooled_at = Clock::now();
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (idle_.size() < cfg_.max_idle_connections) {
      idle_.push_back(std::move(c));
      return;
    }
    c->Close();
  }

  Status Unreachable(std::string_view what, const boost::system::error_code& ec) {
    transport_errors_.fetch_add(1, std::memory_order_relaxed);
    Status st = NewServiceUnavailable("server " + display_ + " unreachable: " + std::string(what) +
                                      ": " + ec.message());
    st.details_token = "upstream_unreachable";
    return st;
  }
  Status TimedOut() {
    transport_errors_.fetch_add(1, std::memory_order_relaxed);
    Status st = NewTimeout("request to " + display_ + " did not complete in time", 1);
    st.details_token = "upstream_timeout";
    return st;
  }
  Status MapError(std::string_view what, const boost::system::error_code& ec) {
    if (IsTimeout(ec)) return TimedOut();
    return Unreachable(what, ec);
  }

 private:
  friend class ResponseStreamImpl;

  // The execution context a request runs on (its pooled connections' home).
  static const void* ContextOf(const asio::any_io_executor& ex) {
    return &asio::query(ex, asio::execution::context);
  }

  // The most recently pooled idle connection whose home is `home` (any, when null).
  //
  // Whether the server closed it while it was idle is asked of the socket (a MSG_PEEK probe)
  // unless the request is `replayable` and the connection was pooled less than
  // kProbeIdleAfter ago. A replayable request on a reused connection that fails before any
  // response byte is sent again on a fresh one (Exchange), as Go's http.Transport does (it never
  // probes), so the probe only saves a retry, and a server rarely closes a connection it
  // answered on a moment ago. The probe was one of a proxied GET's ~5 system calls at c=16; its
  // CPU share was below the benchmark's noise (bench/README.md, "Session 9"). Other requests
  // (POST, PATCH...) are always probed: a write to a connection the server has closed may have
  // been processed, and is not retried.
  std::unique_ptr<Conn> TakeIdle(const void* home, bool replayable) {
    while (true) {
      std::unique_ptr<Conn> c;
      {
        std::lock_guard<std::mutex> lock(pool_mu_);
        for (size_t i = idle_.size(); i-- > 0;) {
          if (home != nullptr && idle_[i]->home != home) continue;
          c = std::move(idle_[i]);
          idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
        if (!c) return nullptr;
      }
      const bool probe = !replayable || Clock::now() - c->pooled_at >= kProbeIdleAfter;
      if (probe) idle_probes_.fetch_add(1, std::memory_order_relaxed);
      if (!c->Stale(probe)) return c;
      c->Close();
    }
  }

  asio::awaitable<Result<std::unique_ptr<Conn>>> Connect(asio::any_io_executor ex,
                                                         Clock::time_point deadline);
  asio::awaitable<Result<std::unique_ptr<Conn>>> Acquire(bool fresh, bool long_running,
                                                         bool replayable,
                                                         Clock::time_point deadline) {
    asio::any_io_executor caller = co_await asio::this_coro::executor;
    asio::any_io_executor ex = cfg_.pool_per_caller_context ? caller : ex_;
    const void* home = cfg_.pool_per_caller_context ? ContextOf(ex) : nullptr;
    if (!fresh) {
      if (auto c = TakeIdle(home, replayable)) {
        reused_.fetch_add(1, std::memory_order_relaxed);
        co_return std::move(c);
      }
    }
    const bool entered = co_await dial_gate_.Enter(long_running, deadline);
    if (!entered) co_return TimedOut();
    struct Slot {
      DialGate& gate;
      ~Slot() { gate.Leave(); }
    } slot{dial_gate_};
    auto c = co_await Connect(ex, deadline);
    if (c.ok()) (*c)->home = home;
    co_return c;
  }

  // The request head, including credentials. Wiped by the caller after use.
  Result<std::string> BuildHead(const RestRequest& r);

  // A connection with the request sent and the response head (or, with `whole_message`, the
  // whole response) read into `parser`.
  template <class Body>
  struct Exchanged {
    std::unique_ptr<Conn> conn;
    std::unique_ptr<bhttp::response_parser<Body>> parser;
  };
  // Sends `r` over a pooled connection (a fresh one when none is idle) and reads the response;
  // a pooled connection the server closed while idle is replaced once. The head, which may
  // hold the bearer token, is wiped before returning. `r` must outlive the await.
  template <class Body>
  asio::awaitable<Result<Exchanged<Body>>> Exchange(const RestRequest& r,
                                                    std::optional<uint64_t> body_limit,
                                                    bool whole_message);
  Outcome RefreshToken();

  asio::any_io_executor ex_;
  ClusterConfig cfg_;
  ParsedURL url_;
  std::shared_ptr<ssl::context> ctx_;
  std::string verify_name_;
  std::string display_;

  mutable std::mutex pool_mu_;
  std::vector<std::unique_ptr<Conn>> idle_;
  DialGate dial_gate_{cfg_.max_concurrent_dials};

  std::mutex token_mu_;
  SecretString file_token_;
  int64_t token_mtime_ns_ = -1;
  Clock::time_point token_next_check_{};

  std::atomic<uint64_t> requests_{0}, handshakes_{0}, reused_{0}, transport_errors_{0},
      idle_probes_{0};
};

asio::awaitable<Result<std::unique_ptr<Conn>>> RestClientImpl::Connect(
    asio::any_io_executor ex, Clock::time_point deadline) {
  auto c = std::make_unique<Conn>();
  beast::tcp_stream stream(ex);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(url_.host, ec);
  if (!ec) {
    uint16_t port = 0;
    std::from_chars(url_.port.data(), url_.port.data() + url_.port.size(), port);
    stream.expires_at(deadline);
    auto [cec] = co_await stream.async_connect(tcp::endpoint(addr, port), kTuple);
    ec = cec;
  } else {
    tcp::resolver resolver(ex);
    auto [rec, results] = co_await resolver.async_resolve(url_.host, url_.port, kTuple);
    if (rec) co_return Unreachable("resolving " + url_.host, rec);
    stream.expires_at(deadline);
    auto [cec, ep] = co_await stream.async_connect(results, kTuple);
    ec = cec;
  }
  if (ec) co_return MapError("connect", ec);
  stream.socket().set_option(tcp::no_delay(true), ec);
  if (!url_.tls) {
    c->plain.emplace(std::move(stream));
    handshakes_.fetch_add(1, std::memory_order_relaxed);
    co_return std::move(c);
  }
  c->tls.emplace(std::move(stream), *ctx_);
  SSL* native = c->tls->native_handle();
  if (!IsIpLiteral(verify_name_)) SSL_set_tlsext_host_name(native, verify_name_.c_str());
  if (!cfg_.insecure_skip_tls_verify) {
    c->tls->set_verify_callback(ssl::host_name_verification(verify_name_));
  }
  beast::get_lowest_layer(*c->tls).expires_at(deadline);
  auto [hec] = co_await c->tls->async_handshake(ssl::stream_base::client, kTuple);
  if (hec) co_return MapError("TLS handshake", hec);
  handshakes_.fetch_add(1, std::memory_order_relaxed);
  co_return std::move(c);
}

Outcome RestClientImpl::RefreshToken() {
  if (cfg_.token_file.empty()) return Ok{};
  auto now = Clock::now();
  if (now < token_next_check_ && token_mtime_ns_ >= 0) return Ok{};
  token_next_check_ = now + std::chrono::seconds(1);
  struct stat st {};
  if (::stat(cfg_.token_file.c_str(), &st) != 0) {
    if (token_mtime_ns_ >= 0) return Ok{};  // keep the last good token
    return NewServiceUnavailable("cannot read token file " + cfg_.token_file);
  }
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (mtime == token_mtime_ns_) return Ok{};
  auto tok = SecretString::FromFile(cfg_.token_file);
  if (!tok.ok()) {
    if (token_mtime_ns_ >= 0) return Ok{};
    return NewServiceUnavailable("cannot read token file " + cfg_.token_file);
  }
  file_token_ = std::move(*tok);
  token_mtime_ns_ = mtime;
  VLOG(2) << "token reloaded from " << cfg_.token_file;
  return Ok{};
}

Result<std::string> RestClientImpl::BuildHead(const RestRequest& r) {
  // The head may carry the bearer token: it is sized exactly first and never reallocated once a
  // credential is in it, so no copy of the token is left behind in freed heap (the caller wipes
  // the one buffer with sodium_memzero after the write).
  auto skipped = [](const std::string& name) {
    return http::EqualsIgnoreCase(name, "Host") || http::EqualsIgnoreCase(name, "Content-Length") ||
           http::EqualsIgnoreCase(name, "Transfer-Encoding") ||
           http::EqualsIgnoreCase(name, "Connection");
  };
  constexpr std::string_view kAuthPrefix = "Authorization: Bearer ";
  constexpr size_t kMaxContentLengthLine = 16 + 20 + 2;  // "Content-Length: " + digits + CRLF
  const bool coalesce_body = r.body.size() <= kCoalesceBody;
  const bool has_user_agent = r.headers.Has("User-Agent");
  const bool has_auth = r.headers.Has("Authorization");
  size_t size = r.method.size() + 1 + url_.prefix.size() + 1 + r.path.size() +
                std::string_view(" HTTP/1.1\r\nHost: ").size() + url_.host_header.size() + 2 +
                kMaxContentLengthLine + 2 + (coalesce_body ? r.body.size() : 0);
  if (!has_user_agent) size += std::string_view("User-Agent: ").size() + cfg_.user_agent.size() + 2;
  for (const auto& [name, value] : r.headers) {
    if (skipped(name)) continue;
    if (http::FindFirstOf(name, "\r\n:") != std::string::npos ||
        http::FindFirstOf(value, "\r\n") != std::string::npos) {
      return NewBadRequest("invalid header in upstream request");
    }
    size += name.size() + 2 + value.size() + 2;
  }
  std::unique_lock<std::mutex> token_lock(token_mu_, std::defer_lock);
  const SecretString* token = nullptr;
  if (!has_auth) {
    token_lock.lock();
    auto refreshed = RefreshToken();
    if (!refreshed.ok()) return std::move(refreshed).error();
    token = cfg_.token_file.empty() ? &cfg_.bearer_token : &file_token_;
    if (token->empty()) {
      token = nullptr;
    } else {
      size += kAuthPrefix.size() + token->size() + 2;
    }
  }

  std::string head;
  head.reserve(size);
  const char* const buffer = head.data();
  head += r.method;
  head += ' ';
  head += url_.prefix;
  if (r.path.empty() || r.path.front() != '/') head += '/';
  head += r.path;
  head += " HTTP/1.1\r\nHost: ";
  head += url_.host_header;
  head += "\r\n";
  if (!has_user_agent) {
    head += "User-Agent: ";
    head += cfg_.user_agent;
    head += "\r\n";
  }
  for (const auto& [name, value] : r.headers) {
    if (skipped(name)) continue;
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (token != nullptr) {
    token->With([&](std::string_view t) {
      head += kAuthPrefix;
      head += t;
      head += "\r\n";
    });
    token_lock.unlock();
  }
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
    head += "Content-Length: ";
    AppendUint(head, r.body.size());
    head += "\r\n";
  }
  head += "\r\n";
  if (coalesce_body) head += r.body;
  DCHECK(head.data() == buffer) << "request head reallocated";
  (void)buffer;
  return Result<std::string>(std::move(head));  // moved, never copied: one buffer to wipe
}

void Wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

std::atomic<void (*)(std::string_view)> sensitive_body_wiped_hook{nullptr};

// Once a request is written (or has failed) a body marked sensitive is wiped; the one buffer it
// lives in is the caller's (moved in), so no copy is left behind when the frame is freed.
void WipeSensitiveBody(RestRequest& r) {
  if (!r.sensitive || r.body.empty()) return;
  sodium_memzero(r.body.data(), r.body.size());
  if (auto hook = sensitive_body_wiped_hook.load()) hook(r.body);
}

bool IsReplayable(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

bool RetryableOnReused(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

// ----- Do -------------------------------------------------------------------------------------

template <class Body>
asio::awaitable<Result<RestClientImpl::Exchanged<Body>>> RestClientImpl::Exchange(
    const RestRequest& r, std::optional<uint64_t> body_limit, bool whole_message) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  auto deadline = Clock::now() + r.timeout.value_or(cfg_.request_timeout);
  auto head = BuildHead(r);
  if (!head.ok()) co_return std::move(head).error();
  struct WipeGuard {
    std::string& s;
    ~WipeGuard() { Wipe(s); }
  } wipe{*head};
  const std::string_view body_after_head =
      r.body.size() <= kCoalesceBody ? std::string_view() : std::string_view(r.body);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto acquired = co_await Acquire(attempt > 0, r.long_running, IsReplayable(r.method), deadline);
    if (!acquired.ok()) co_return std::move(acquired).error();
    Exchanged<Body> out;
    out.conn = std::move(*acquired);
    Conn& c = *out.conn;
    c.lowest().expires_at(deadline);
    boost::system::error_code ec;
    if (c.tls) {
      ec = co_await WriteAll(*c.tls, *head, body_after_head);
    } else {
      ec = co_await WriteAll(*c.plain, *head, body_after_head);
    }
    if (ec) {
      c.Close();
      if (c.reused && RetryableOnReused(ec)) continue;
      co_return MapError("sending request", ec);
    }
    out.parser = std::make_unique<bhttp::response_parser<Body>>();
    out.parser->header_limit(kMaxResponseHeader);
    if (body_limit) {
      out.parser->body_limit(*body_limit);
    } else {
      out.parser->body_limit(boost::none);
    }
    if (r.method == "HEAD") out.parser->skip(true);
    if (!r.long_running) {
      if (c.buffer.capacity() < kResponseReadBuffer) c.buffer.reserve(kResponseReadBuffer);
    } else if (c.buffer.size() == 0 && c.buffer.capacity() > kStreamChunkMin) {
      c.buffer.shrink_to_fit();  // a watch (by the thousand) holds no 16 KB buffer
    }
    if (whole_message) {
      if (c.tls) {
        ec = co_await ReadMessage(*c.tls, c.buffer, *out.parser);
      } else {
        ec = co_await ReadMessage(*c.plain, c.buffer, *out.parser);
      }
    } else if (c.tls) {
      ec = co_await ReadHeader(*c.tls, c.buffer, *out.parser);
    } else {
      ec = co_await ReadHeader(*c.plain, c.buffer, *out.parser);
    }
    if (ec) {
      c.Close();
      // A pooled connection the server closed just before our request arrived: nothing of a
      // response came back. A clean close is retried for every request (as before); a close
      // without TLS close_notify, EOF or a reset only for requests that are safe to replay, as
      // Go's http.Transport does (shouldRetryRequest).
      bool nothing_received = !out.parser->got_some();
      if (c.reused && nothing_received &&
          (ec == bhttp::error::end_of_stream || (IsReplayable(r.method) && RetryableOnReused(ec))))
        continue;
      co_return MapError("reading response", ec);
    }
    co_return std::move(out);
  }
  co_return Unreachable("sending request", asio::error::connection_reset);
}

asio::awaitable<Result<RestResponse>> RestClientImpl::Do(RestRequest r) {
  auto ex = co_await Exchange<bhttp::string_body>(r, kMaxBufferedBody, true);
  WipeSensitiveBody(r);
  if (!ex.ok()) co_return std::move(ex).error();
  auto& msg = ex->parser->get();
  RestResponse resp;
  resp.status = static_cast<int>(msg.result_int());
  CopyHeaders(msg, resp.headers);
  resp.body = std::move(msg.body());
  // Any complete response (4xx and 5xx included) leaves the connection reusable unless the
  // server said otherwise.
  if (msg.keep_alive()) {
    ex->conn->lowest().expires_never();
    Release(std::move(ex->conn));
  } else {
    ex->conn->Close();
  }
  co_return resp;
}

// ----- Stream ---------------------------------------------------------------------------------

class ResponseStreamImpl final : public ResponseStream {
 public:
  // `bulk`: a body read for throughput (a list), not a long-running trickle (a watch).
  ResponseStreamImpl(std::shared_ptr<RestClientImpl> client, std::unique_ptr<Conn> conn,
                     std::unique_ptr<bhttp::response_parser<bhttp::buffer_body>> parser, bool bulk)
      : client_(std::move(client)),
        conn_(std::move(conn)),
        parser_(std::move(parser)),
        bulk_(bulk) {
    status_ = static_cast<int>(parser_->get().result_int());
    CopyHeaders(parser_->get(), headers_);
    done_ = parser_->is_done();
    if (done_) Finish();
  }
  ~ResponseStreamImpl() override {
    if (conn_) conn_->Close();
  }

  int status() const override { return status_; }
  const http::Headers& headers() const override { return headers_; }

  asio::awaitable<Result<std::string_view>> Read() override {
    if (done_) co_return std::string_view();
    if (failed_ || !conn_)
      co_return client_->Unreachable("reading response body", asio::error::not_connected);
    if (!chunk_ || grow_) {
      if (grow_) chunk_size_ = std::min(chunk_size_ * 2, kStreamChunkMax);
      grow_ = false;
      chunk_ = std::make_unique<char[]>(chunk_size_);
      // Beast reads at most the read buffer's free capacity (>= 512 bytes) per read: left as the
      // headers sized it (~1 KB), a 20 MB list took ~40,000 reads, each a trip through the TLS
      // stream and the parser. A bulk body reads a chunk's worth at a time instead.
      if (bulk_ && conn_->buffer.capacity() < chunk_size_) conn_->buffer.reserve(chunk_size_);
    }
    while (true) {
      auto& body = parser_->get().body();
      body.data = chunk_.get();
      body.size = chunk_size_;
      boost::system::error_code ec;
      if (conn_->tls) {
        ec = co_await ReadSome(*conn_->tls, conn_->buffer, *parser_);
      } else {
        ec = co_await ReadSome(*conn_->plain, conn_->buffer, *parser_);
      }
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        failed_ = true;
        conn_->Close();
        if (ec == asio::error::operation_aborted) {
          Status st = NewServiceUnavailable("request to " + client_->display_ + " cancelled");
          st.details_token = "upstream_cancelled";
          co_return st;
        }
        co_return client_->MapError("reading response body", ec);
      }
      size_t n = chunk_size_ - parser_->get().body().size;
      if (n == chunk_size_ && chunk_size_ < kStreamChunkMax) grow_ = true;
      if (parser_->is_done()) Finish();
      if (n > 0) co_return std::string_view(chunk_.get(), n);
      if (done_) co_return std::string_view();
    }
  }

 private:
  void Finish() {
    done_ = true;
    // An idle pooled connection keeps no bulk-sized read buffer.
    if (conn_ && conn_->buffer.capacity() > kResponseReadBuffer && conn_->buffer.size() == 0)
      conn_->buffer.shrink_to_fit();
    if (conn_ && parser_->get().keep_alive()) {
      client_->Release(std::move(conn_));
    } else if (conn_) {
      conn_->Close();
      conn_.reset();
    }
  }

  std::shared_ptr<RestClientImpl> client_;
  std::unique_ptr<Conn> conn_;
  std::unique_ptr<bhttp::response_parser<bhttp::buffer_body>> parser_;
  const bool bulk_;
  std::unique_ptr<char[]> chunk_;
  size_t chunk_size_ = kStreamChunkMin;
  bool grow_ = false;
  int status_ = 0;
  http::Headers headers_;
  bool done_ = false;
  bool failed_ = false;
};

asio::awaitable<Result<std::unique_ptr<ResponseStream>>> RestClientImpl::Stream(RestRequest r) {
  auto ex = co_await Exchange<bhttp::buffer_body>(r, std::nullopt, false);
  WipeSensitiveBody(r);
  if (!ex.ok()) co_return std::move(ex).error();
  ex->conn->lowest().expires_never();  // the body streams for as long as it takes
  std::unique_ptr<ResponseStream> s = std::make_unique<ResponseStreamImpl>(
      shared_from_this(), std::move(ex->conn), std::move(ex->parser), !r.long_running);
  co_return std::move(s);
}

// ----- Watcher --------------------------------------------------------------------------------

class WatcherImpl final : public Watcher {
 public:
  explicit WatcherImpl(std::unique_ptr<ResponseStream> s) : stream_(std::move(s)) {}

  asio::awaitable<Result<std::optional<WatchEvent>>> Next() override {
    while (true) {
      if (auto text = decoder_.Next()) {
        auto doc = json::Parse(*text);
        if (!doc || !doc->IsObject()) {
          co_return NewInternalError("undecodable watch event");
        }
        WatchEvent ev;
        ev.type = std::string(json::GetString(*doc, "type"));
        json::Value* obj = json::Find(*doc, "object");
        if (obj == nullptr) co_return NewInternalError("watch event without object");
        // Re-root the document at its "object" member without copying.
        json::Value tmp;
        tmp.Swap(*obj);
        static_cast<json::Value&>(*doc).Swap(tmp);
        ev.object = std::move(*doc);
        co_return std::optional<WatchEvent>(std::move(ev));
      }
      if (decoder_.failed()) co_return *decoder_.error();
      if (ended_) {
        if (decoder_.pending_bytes() > 0) co_return NewInternalError("truncated watch event");
        co_return std::optional<WatchEvent>();
      }
      auto chunk = co_await stream_->Read();
      if (!chunk.ok()) co_return std::move(chunk).error();
      if (chunk->empty()) {
        ended_ = true;
      } else {
        decoder_.Feed(*chunk);
      }
    }
  }

 private:
  std::unique_ptr<ResponseStream> stream_;
  WatchDecoder decoder_;
  bool ended_ = false;
};

}  // namespace

// ----- public ---------------------------------------------------------------------------------

asio::awaitable<Result<std::string>> ResponseStream::ReadAll(size_t max_bytes) {
  std::string out;
  while (true) {
    auto chunk = co_await Read();
    if (!chunk.ok()) co_return std::move(chunk).error();
    if (chunk->empty()) co_return out;
    if (out.size() + chunk->size() > max_bytes) {
      co_return NewRequestEntityTooLarge("response body larger than " + std::to_string(max_bytes) +
                                         " bytes");
    }
    out.append(*chunk);
  }
}

Result<std::shared_ptr<RestClient>> RestClient::Create(asio::any_io_executor executor,
                                                       ClusterConfig config) {
  auto url = ParseServerURL(config.server);
  if (!url.ok()) return std::move(url).error();
  std::shared_ptr<ssl::context> ctx;
  if (url->tls) {
    tls::ClientTLSOptions o;
    o.ca_pem = config.ca_pem;
    o.insecure_skip_verify = config.insecure_skip_tls_verify;
    o.client_cert_pem = config.client_cert_pem;
    o.client_key_pem = config.client_key_pem;
    auto made = tls::MakeClientContext(o);
    if (!made.ok()) return std::move(made).error();
    ctx = std::move(*made);
  }
  std::shared_ptr<RestClient> c = std::make_shared<RestClientImpl>(
      std::move(executor), std::move(config), std::move(*url), std::move(ctx));
  return c;
}

void SetSensitiveBodyWipedHookForTesting(void (*hook)(std::string_view wiped_body)) {
  sensitive_body_wiped_hook.store(hook);
}

Status RestClient::ErrorFromResponse(int status, std::string_view body) {
  if (auto st = Status::FromJson(body)) {
    if (st->code == 0) st->code = status;
    return *st;
  }
  Status st;
  st.code = status;
  st.reason = std::string(ReasonForCode(status));
  st.message = "the server responded with the status code " + std::to_string(status) +
               " but did not return more information";
  st.details_token = "upstream_non_status_error";
  return st;
}

namespace {

Result<json::Document> ToDocument(Result<RestResponse> r) {
  if (!r.ok()) return std::move(r).error();
  if (r->status < 200 || r->status > 299) {
    return RestClient::ErrorFromResponse(r->status, r->body);
  }
  auto doc = json::Parse(r->body);
  if (!doc) return NewInternalError("the server returned a body that is not JSON");
  return std::move(*doc);
}

RestRequest JsonRequest(std::string method, std::string path, std::string body,
                        std::string content_type = "application/json") {
  RestRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.headers.Add("Accept", "application/json");
  if (!body.empty()) r.headers.Add("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

}  // namespace

asio::awaitable<Result<json::Document>> RestClient::Get(std::string path) {
  co_return ToDocument(co_await Do(JsonRequest("GET", std::move(path), {})));
}

asio::awaitable<Result<json::Document>> RestClient::Create(std::string path, std::string body) {
  co_return ToDocument(co_await Do(JsonRequest("POST", std::move(path), std::move(body))));
}

asio::awaitable<Result<json::Document>> RestClient::Update(std::string path, std::string body) {
  co_return ToDocument(co_await Do(JsonRequest("PUT", std::move(path), std::move(body))));
}

asio::awaitable<Result<json::Document>> RestClient::Patch(std::string path,
                                                          std::string content_type,
                                                          std::string body) {
  co_return ToDocument(
      co_await Do(JsonRequest("PATCH", std::move(path), std::move(body), std::move(content_type))));
}

asio::awaitable<Result<json::Document>> RestClient::Delete(std::string path, std::string body) {
  co_return ToDocument(co_await Do(JsonRequest("DELETE", std::move(path), std::move(body))));
}

asio::awaitable<Result<std::unique_ptr<Watcher>>> RestClient::Watch(std::string path) {
  path += path.find('?') == std::string::npos ? "?watch=1" : "&watch=1";
  RestRequest r = JsonRequest("GET", std::move(path), {});
  auto s = co_await Stream(std::move(r));
  if (!s.ok()) co_return std::move(s).error();
  if ((*s)->status() < 200 || (*s)->status() > 299) {
    int code = (*s)->status();
    auto body = co_await (*s)->ReadAll(1024 * 1024);
    co_return ErrorFromResponse(code, body.ok() ? std::string_view(*body) : std::string_view());
  }
  std::unique_ptr<Watcher> w = std::make_unique<WatcherImpl>(std::move(*s));
  co_return std::move(w);
}

}  // namespace kube

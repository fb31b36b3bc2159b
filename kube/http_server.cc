// HTTP/1.1 front end (Boost.Beast + C++20 coroutines). Everything HTTP/1.1-specific lives here:
// the parser limits, the hand-written response head, chunked framing, keep-alive and the
// "is the client still there" read while a response streams.
#include "kube/http_server.h"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <condition_variable>
#include <future>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_map>

#include <glog/logging.h>

#include "kube/status.h"
#include "kube/tls.h"
#include "kube/tls_stream.h"

namespace kube::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
// A connection's executor: its home io_context, run by one thread (serialised like a strand).
using StrandExecutor = asio::any_io_executor;
using TcpStream = beast::tcp_stream;
using TlsStream = tls::Stream;  // OpenSSL on the socket: no Asio copy buffers, no BIO pair
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

// g++ 12 mishandles array temporaries in co_await expressions: use pointers.
constexpr const char* kLastChunk = "0\r\n\r\n";
constexpr const char* kCrLf = "\r\n";
constexpr const char* kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr size_t kReadChunk = 16 * 1024;
// While a response streams the client sends (almost) nothing: the "still there?" read needs
// only a small buffer (thousands of open watches).
constexpr size_t kMonitorChunk = 512;
constexpr auto kNever = std::chrono::hours(24 * 365);

// A one-shot-or-repeated wake-up for coroutines on the same strand: Wait() suspends until
// Notify() (all waiters wake) or the awaiting operation is cancelled.
class Event {
 public:
  explicit Event(const StrandExecutor& ex) : timer_(ex) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  asio::awaitable<void> Wait() { co_await timer_.async_wait(kTuple); }
  void Notify() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

bool ValidHeaderName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c <= 32 || c >= 127 || c == ':') return false;
  }
  return true;
}

bool ValidHeaderValue(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, p);
}

bool IsCredentialHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "Authorization") || EqualsIgnoreCase(name, "Proxy-Authorization");
}

void WipeBytes(const char* p, size_t n) {
  // The storage is ours (a std::string or Beast's field buffer), only typed const by the API.
  if (n > 0) sodium_memzero(const_cast<char*>(p), n);
}

std::string EndpointString(const tcp::endpoint& ep) {
  auto addr = ep.address();
  std::string s = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  s += ':';
  AppendUint(s, ep.port());
  return s;
}

// Parses a request straight into a kube::http::Request: no beast::http::fields in between (one
// allocation per field, then a copy of each into Request::headers).
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  // What kube-aggregator sends (Accept, User-Agent, X-Remote-*, X-Forwarded-*, ...) fits: the
  // headers take one allocation instead of a doubling vector's four or five.
  static constexpr size_t kExpectedRequestFields = 16;

  explicit RequestParser(Request& req) : req_(req) {}

  bhttp::verb method() const { return method_; }
  int version() const { return version_; }
  bool expect_continue() const { return expect_continue_; }
  bool credentials() const { return credentials_; }  // Authorization or Proxy-Authorization

 private:
  void on_request_impl(bhttp::verb method, beast::string_view method_str, beast::string_view target,
                       int version, beast::error_code&) override {
    method_ = method;
    version_ = version;
    req_.method.assign(method_str.data(), method_str.size());
    req_.target.assign(target.data(), target.size());
    req_.headers.Reserve(kExpectedRequestFields);
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = bhttp::error::bad_method;  // not called when parsing requests
  }
  void on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    std::string_view n(name_string.data(), name_string.size());
    std::string_view v(value.data(), value.size());
    if (name == bhttp::field::expect && beast::iequals(value, "100-continue")) {
      expect_continue_ = true;
    }
    if (IsCredentialHeader(n)) credentials_ = true;
    req_.headers.Add(std::string(n), std::string(v));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>& length, beast::error_code&) override {
    if (length) req_.body.reserve(static_cast<size_t>(*length));  // within body_limit()
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  Request& req_;
  bhttp::verb method_ = bhttp::verb::unknown;
  int version_ = 11;
  bool expect_continue_ = false;
  bool credentials_ = false;
};

}  // namespace

// ------------------------------------------------------------------------------------------------

// The request deadlines (ResponseWriter::ArmDeadline) of one io thread, without a timer per
// request: armed entries form a list and one timer waits for the earliest. A deadline later than
// the one the timer waits for (the usual case: every request gets the same timeout) touches no
// timer, so a request costs a list insert and unlink instead of a timer wait, a timerfd update,
// a cancel and the cancelled wait's completion. The timer is not cancelled when the list
// empties: it fires once at the old deadline, finds nothing due and goes quiet. Used only from
// the io thread that runs the context.
class DeadlineQueue {
 public:
  struct Entry {
    Entry* prev = nullptr;
    Entry* next = nullptr;
    Clock::time_point at{};
    bool armed = false;
    void (*fire)(Entry*) = nullptr;  // called once when `at` has passed and still armed
  };

  explicit DeadlineQueue(asio::io_context& ioc) : timer_(ioc) {}

  void Arm(Entry* e, Clock::time_point at) {
    Disarm(e);
    e->at = at;
    e->armed = true;
    e->prev = tail_;
    e->next = nullptr;
    (tail_ ? tail_->next : head_) = e;
    tail_ = e;
    if (at < waiting_for_) Wait(at);
  }

  void Disarm(Entry* e) {
    if (!e->armed) return;
    e->armed = false;
    (e->prev ? e->prev->next : head_) = e->next;
    (e->next ? e->next->prev : tail_) = e->prev;
    e->prev = e->next = nullptr;
  }

 private:
  void Wait(Clock::time_point at) {
    waiting_for_ = at;
    timer_.expires_at(at);  // cancels an earlier wait: its completion is ignored below
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) OnTimer();
    });
  }

  void OnTimer() {
    waiting_for_ = Clock::time_point::max();
    const auto now = Clock::now();
    // One due entry at a time, from the head: firing (a cancellation) completes nothing inline,
    // but an entry is unlinked before its callback runs all the same.
    for (Entry* e = head_; e;) {
      if (e->at > now) {
        e = e->next;
        continue;
      }
      Disarm(e);
      e->fire(e);
      e = head_;
    }
    Clock::time_point earliest = Clock::time_point::max();
    for (Entry* e = head_; e; e = e->next) earliest = std::min(earliest, e->at);
    if (earliest != Clock::time_point::max()) Wait(earliest);
  }

  asio::steady_timer timer_;
  Clock::time_point waiting_for_ = Clock::time_point::max();
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
};

// An io thread's io_context. Shutdown() destroys the pending handlers (as the destructor does)
// while the context stays allocated, so the contexts can be emptied one by one before any is
// freed: a handler of one may still own a socket of another.
class IoContext : public asio::io_context {
 public:
  IoContext() : asio::io_context(1), deadlines(*this) {}
  void Shutdown() { shutdown(); }
  DeadlineQueue deadlines;
};

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void BeginShutdown() = 0;  // called on the session's strand
  // Closes the socket and cancels (terminal) whatever the session's coroutine awaits, handler
  // included: a proxy request awaiting the control plane unwinds at once.
  virtual void HardClose() = 0;  // called on the session's strand
  virtual StrandExecutor strand() = 0;
};

struct Server::Impl {
  ServerOptions opts;
  Handler handler;
  // One single-threaded io_context per io thread (the worker-per-thread model of nginx and
  // Envoy): a connection lives on one of them for its whole life, so its I/O completions never
  // hop threads. A shared multi-threaded io_context cost ~6 context switches per proxied GET
  // instead of ~2 (bench/README.md, workload 1). The acceptor lives on the first.
  std::vector<std::unique_ptr<IoContext>> iocs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  size_t next_ioc = 0;  // round robin; touched only by the accept loop
  std::optional<tcp::acceptor> acceptor;
  std::optional<StrandExecutor> accept_strand;

  std::atomic<size_t> open_connections{0};
  std::atomic<size_t> active_streams{0};
  std::atomic<uint64_t> total_connections{0};
  std::atomic<uint64_t> total_requests{0};
  std::atomic<uint64_t> next_connection_id{0};
  std::atomic<uint64_t> next_stream_id{0};
  std::atomic<bool> stopping{false};
  bool shut_down = false;

  std::mutex mu;
  std::condition_variable cv;  // notified when a session ends
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions;

  void Register(uint64_t id, std::weak_ptr<SessionBase> s) {
    std::lock_guard<std::mutex> lock(mu);
    sessions.emplace(id, std::move(s));
  }
  void Unregister(uint64_t id) {
    {
      std::lock_guard<std::mutex> lock(mu);
      sessions.erase(id);
      open_connections.fetch_sub(1);
    }
    cv.notify_all();
  }
  template <class F>
  void ForEachSession(F f) {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [id, w] : sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) f(s);
  }

  asio::awaitable<void> AcceptLoop();
};

namespace {

template <bool kTls>
class Session final : public SessionBase, public ResponseWriter {
 public:
  using Stream = std::conditional_t<kTls, TlsStream, TcpStream>;

  Session(Server::Impl* server, tcp::socket socket, std::shared_ptr<ssl::context> ctx, uint64_t id,
          DeadlineQueue* deadlines)
      : server_(server),
        ctx_(std::move(ctx)),
        stream_(MakeStream(std::move(socket), ctx_.get())),
        buffer_(server->opts.max_header_bytes + 64 * 1024),
        closed_(stream_.get_executor()),
        monitor_done_(stream_.get_executor()),
        id_(id),
        deadlines_(deadlines) {
    deadline_.self = this;
    deadline_.fire = [](DeadlineQueue::Entry* e) {
      static_cast<Deadline*>(e)->self->CancelHandler();
    };
  }
  ~Session() override { deadlines_->Disarm(&deadline_); }

  StrandExecutor strand() override { return stream_.get_executor(); }

  // Starts Run() on the session's strand with a cancellation slot HardClose() can signal. The
  // signal is owned by the completion handler too, so it outlives the coroutine.
  static void Spawn(std::shared_ptr<Session> s) {
    auto signal = std::make_shared<asio::cancellation_signal>();
    s->cancel_ = signal;
    auto slot = signal->slot();
    asio::co_spawn(s->strand(), s->Run(s),
                   asio::bind_cancellation_slot(slot, [signal](std::exception_ptr) {}));
  }

  asio::awaitable<void> Run(std::shared_ptr<SessionBase> self) {
    struct Guard {
      Server::Impl* s;
      uint64_t id;
      ~Guard() { s->Unregister(id); }
    } guard{server_, id_};
    try {
      co_await Serve();
    } catch (const std::exception& e) {
      if (hard_closed_) {
        VLOG(2) << "[C" << id_ << "] cut at the end of the shutdown grace period";
      } else {
        LOG(ERROR) << "[C" << id_ << "] connection failed: " << e.what();
      }
    } catch (...) {
      LOG(ERROR) << "[C" << id_ << "] connection failed";
    }
    run_done_ = true;  // from now on the cancellation slot must not be signalled
    Close();
  }

  void BeginShutdown() override {
    stopping_ = true;
    closed_.Notify();
    if (cancel_on_close_) CancelHandler();
    if (state_ == State::kIdle) Lowest().cancel();
  }

  void HardClose() override {
    stopping_ = true;
    hard_closed_ = true;
    closed_.Notify();
    Close();
    // Cut the handler too: every operation it awaits (upstream reads, timers, channels) completes
    // with operation_aborted, and every later co_await in the coroutine throws, so it unwinds to
    // Run() (the counters are released by guards on the way).
    if (!run_done_ && cancel_) cancel_->emit(asio::cancellation_type::terminal);
  }

  // --- ResponseWriter -------------------------------------------------------------------------

  bool ArmDeadline(Clock::time_point at) override {
    deadlines_->Arm(&deadline_, at);
    return true;
  }

  bool ArmCancelOnClose() override {
    cancel_on_close_ = true;
    if (!peer_closed_ && !stopping_ && !failed_) StartMonitor();
    if (peer_closed_ || stopping_ || failed_ || !monitor_active_) CancelHandler();  // closed
    return true;
  }

  bool Disarm() override {
    deadlines_->Disarm(&deadline_);
    cancel_on_close_ = false;
    return handler_cancelled_;
  }

  // The handler's deadline passed, or its client went away: cancel what it awaits, as
  // HardClose() does, but leave the connection alone (a handler past its deadline still answers
  // 504, and the connection may serve the next request).
  void CancelHandler() {
    Disarm();
    if (run_done_ || !cancel_ || state_ != State::kHandling) return;
    handler_cancelled_ = true;
    cancel_->emit(asio::cancellation_type::terminal);
  }

  asio::awaitable<bool> WriteHeader(int status, Headers headers,
                                    std::optional<uint64_t> content_length) override {
    if (header_sent_) {
      LOG(ERROR) << "[C" << id_ << "][S" << stream_id_ << "] WriteHeader called twice";
      co_return false;
    }
    header_sent_ = true;
    status_ = status;
    const bool no_body =
        head_request_ || status == 204 || status == 304 || (status >= 100 && status < 200);
    if (content_length) {
      remaining_ = *content_length;
    } else if (!no_body && http10_) {
      keep_alive_ = false;  // HTTP/1.0: the end of the body is the end of the connection
    } else if (!no_body) {
      chunked_ = true;
    }
    if (server_->stopping.load(std::memory_order_relaxed)) keep_alive_ = false;

    head_.clear();
    head_ += http10_ ? "HTTP/1.0 " : "HTTP/1.1 ";
    AppendUint(head_, static_cast<uint64_t>(status));
    head_ += ' ';
    auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
    head_.append(reason.data(), reason.size());
    head_ += "\r\n";
    for (const auto& [name, value] : headers) {
      if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
          EqualsIgnoreCase(name, "Connection")) {
        continue;
      }
      if (!ValidHeaderName(name) || !ValidHeaderValue(value)) {
        LOG(WARNING) << "[C" << id_ << "][S" << stream_id_ << "] dropping invalid header";
        continue;
      }
      head_ += name;
      head_ += ": ";
      head_ += value;
      head_ += "\r\n";
    }
    if (content_length && !(status == 204 || status == 304)) {
      head_ += "Content-Length: ";
      AppendUint(head_, *content_length);
      head_ += "\r\n";
    }
    if (chunked_) head_ += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive_) head_ += "Connection: close\r\n";
    head_ += "\r\n";
    head_pending_ = true;
    if (head_request_) remaining_ = 0;
    // A stream's head goes out at once (a watch client waits for it); a sized body's head
    // travels with the first Write.
    if (chunked_ || no_body || (content_length && *content_length == 0) || !content_length) {
      Buffers none{};
      co_return co_await Flush(none, 0);
    }
    co_return !failed_;
  }

  asio::awaitable<bool> Write(std::string_view data) override {
    if (failed_ || finished_) co_return false;
    if (!header_sent_) {
      bool ok = co_await WriteHeader(200, Headers(), std::nullopt);
      if (!ok) co_return false;
    }
    if (data.empty()) co_return !failed_;
    if (head_request_) co_return true;
    if (chunked_) {
      char size_line[24];
      auto [p, ec] = std::to_chars(size_line, size_line + 16, data.size(), 16);
      *p++ = '\r';
      *p++ = '\n';
      Buffers chunk{asio::buffer(size_line, static_cast<size_t>(p - size_line)),
                    asio::buffer(data.data(), data.size()), asio::const_buffer(kCrLf, 2)};
      co_return co_await Flush(chunk, 3);
    }
    if (remaining_) {
      if (data.size() > *remaining_) {
        LOG(ERROR) << "[C" << id_ << "][S" << stream_id_ << "] body longer than Content-Length";
        data = data.substr(0, *remaining_);
        keep_alive_ = false;
      }
      *remaining_ -= data.size();
    }
    Buffers one{asio::buffer(data.data(), data.size())};
    co_return co_await Flush(one, 1);
  }

  asio::awaitable<bool> WriteFramed(std::string& buf) override {
    const std::string_view data = FramedData(buf);
    if (!chunked_ || !header_sent_ || head_request_ || data.empty() || failed_ || finished_) {
      co_return co_await Write(data);
    }
    // The size line right before the data, the CRLF after it: one buffer.
    char size_line[24];
    auto [p, ec] = std::to_chars(size_line, size_line + 16, data.size(), 16);
    *p++ = '\r';
    *p++ = '\n';
    const auto line = static_cast<size_t>(p - size_line);  // <= 16 below 2^56 bytes
    if (line > kFrameHeadroom) co_return co_await Write(data);
    const size_t size = data.size();
    buf.append(kCrLf, 2);  // (may move `buf`: `data` is not used after this)
    char* begin = buf.data() + kFrameHeadroom - line;
    std::memcpy(begin, size_line, line);
    Buffers one{asio::buffer(begin, line + size + 2)};
    co_return co_await Flush(one, 1);
  }

  asio::awaitable<bool> Finish() override {
    if (finished_) co_return !failed_;
    if (!header_sent_) {
      bool ok = co_await WriteHeader(200, Headers(), 0);
      if (!ok) co_return false;
    }
    finished_ = true;
    if (failed_) co_return false;
    if (chunked_) {
      Buffers last{asio::const_buffer(kLastChunk, 5)};
      co_return co_await Flush(last, 1);
    }
    if (remaining_ && *remaining_ > 0) {
      LOG(ERROR) << "[C" << id_ << "][S" << stream_id_ << "] body shorter than Content-Length";
      keep_alive_ = false;
    }
    if (head_pending_) {
      Buffers none{};
      co_return co_await Flush(none, 0);
    }
    co_return true;
  }

  asio::awaitable<void> WaitClosed() override {
    if (peer_closed_ || stopping_ || failed_) co_return;
    StartMonitor();
    if (!monitor_active_) co_return;  // could not start: treat as closed
    co_await closed_.Wait();
  }

  bool header_sent() const override { return header_sent_; }

 private:
  enum class State { kHandshake, kIdle, kReadingRequest, kHandling };

  static Stream MakeStream(tcp::socket socket, ssl::context* ctx) {
    if constexpr (kTls) {
      return Stream(TcpStream(std::move(socket)), *ctx);
    } else {
      return Stream(std::move(socket));
    }
  }

  TcpStream& Lowest() { return beast::get_lowest_layer(stream_); }

  void Close() {
    beast::error_code ec;
    auto& sock = Lowest().socket();
    if (sock.is_open()) {
      sock.shutdown(tcp::socket::shutdown_both, ec);
      Lowest().close();
    }
  }

  // Writes the pending head (if any) followed by `body` and flushes it to the client.
  using Buffers = std::array<asio::const_buffer, 3>;
  // `body` is only read before the first suspension.
  asio::awaitable<bool> Flush(const Buffers& body, size_t count) {
    if (failed_) co_return false;
    std::array<asio::const_buffer, 4> bufs;
    size_t n = 0;
    if (head_pending_) {
      bufs[n++] = asio::buffer(head_);
      head_pending_ = false;
    }
    for (size_t i = 0; i < count; ++i) bufs[n++] = body[i];
    if (n == 0) co_return true;
    if (!monitor_active_) Lowest().expires_after(server_->opts.write_timeout);
    auto [ec, written] = co_await asio::async_write(stream_, std::span(bufs.data(), n), kTuple);
    if (ec) {
      VLOG(4) << "[C" << id_ << "][S" << stream_id_ << "] write failed: " << ec.message();
      failed_ = true;
      keep_alive_ = false;
      closed_.Notify();
      co_return false;
    }
    co_return true;
  }

  // While a response streams, a read on the socket tells us when the client goes away.
  void StartMonitor() {
    if (monitor_active_ || peer_closed_) return;
    if (buffer_.size() + kMonitorChunk > buffer_.max_size()) return;
    // Give back the request head's buffer for the stream's lifetime (it is reallocated for the
    // next request on this connection).
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    monitor_active_ = true;
    monitor_cancelled_ = false;
    Lowest().expires_after(kNever);  // only applies to the read: no write is pending here
    ArmMonitorRead();
  }

  void ArmMonitorRead() {
    auto self = std::static_pointer_cast<Session>(shared_from_this());
    stream_.async_read_some(buffer_.prepare(kMonitorChunk),
                            [self](beast::error_code ec, size_t n) { self->OnMonitorRead(ec, n); });
  }

  void OnMonitorRead(beast::error_code ec, size_t n) {
    if (!ec) {
      buffer_.commit(n);  // a pipelined request: keep it for later
      if (!monitor_cancelled_ && buffer_.size() + kMonitorChunk <= buffer_.max_size()) {
        ArmMonitorRead();
        return;
      }
    } else if (!monitor_cancelled_ || ec != asio::error::operation_aborted) {
      // The client closed (or the connection broke). Also when StopMonitor() has just cancelled
      // the read: a read that completed with the end of stream before the cancellation reached
      // it has consumed that end, and the next read is not guaranteed to see it again (with
      // asio's ssl::stream it did not): a connection put back to idle here waited for the idle
      // timeout with its client long gone (a connection "leaked" for 90 s after a watch the
      // server ended, when the client closed at once; LimitsTest/FaultsTest leak checks).
      peer_closed_ = true;
      keep_alive_ = false;
      closed_.Notify();
      if (cancel_on_close_) CancelHandler();
    }
    monitor_active_ = false;
    monitor_done_.Notify();
  }

  asio::awaitable<void> StopMonitor() {
    if (!monitor_active_) co_return;
    monitor_cancelled_ = true;
    Lowest().cancel();
    while (monitor_active_) co_await monitor_done_.Wait();
  }

  asio::awaitable<void> Serve() {
    const ServerOptions& o = server_->opts;
    try {
      remote_address_ = EndpointString(Lowest().socket().remote_endpoint());
    } catch (const std::exception&) {
      co_return;
    }
    if constexpr (kTls) {
      state_ = State::kHandshake;
      Lowest().expires_after(o.handshake_timeout);
      auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, kTuple);
      if (ec) {
        VLOG(4) << "[C" << id_ << "] TLS handshake failed: " << ec.message();
        co_return;
      }
      CapturePeerCertificates();
    }
    while (!stopping_ && !peer_closed_) {
      state_ = State::kIdle;
      // Give back memory a big request head left behind (thousands of idle connections).
      if (buffer_.size() == 0 && buffer_.capacity() > 4 * kReadChunk) buffer_.shrink_to_fit();
      if (buffer_.size() == 0) {
        Lowest().expires_after(o.idle_timeout);
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kTuple);
        if (ec) co_return;  // closed, idle timeout, or shutdown
        buffer_.commit(n);
      }
      state_ = State::kReadingRequest;
      bool more = co_await ServeOne();
      if (!more) co_return;
    }
  }

  // Reads and serves one request; false when the connection must end.
  asio::awaitable<bool> ServeOne() {
    const ServerOptions& o = server_->opts;
    Request req;
    RequestParser parser(req);
    // A bearer token (or basic credentials) is wiped from the request and, when nothing else is
    // buffered, from the read buffer once the request is over, on every path.
    struct CredentialWipe {
      Request& r;
      beast::flat_buffer& buffer;
      const RequestParser& parser;
      ~CredentialWipe() {
        if (!parser.credentials()) return;
        for (const auto& [name, value] : r.headers) {
          if (IsCredentialHeader(name)) WipeBytes(value.data(), value.size());
        }
        if (buffer.size() == 0 && buffer.capacity() > 0) {
          auto all = buffer.prepare(buffer.capacity());
          sodium_memzero(all.data(), all.size());
        }
      }
    } credential_wipe{req, buffer_, parser};
    parser.header_limit(o.max_header_bytes);
    parser.body_limit(o.max_body_bytes);
    Lowest().expires_after(o.header_timeout);
    {
      auto [ec, n] = co_await bhttp::async_read_header(stream_, buffer_, parser, kTuple);
      if (ec == bhttp::error::body_limit) {  // Content-Length over the limit
        co_await SendLocalError(
            NewRequestEntityTooLarge("limit is " + std::to_string(o.max_body_bytes)));
        co_return false;
      }
      if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        co_await SendLocalError(NewRequestHeaderFieldsTooLarge());
        co_return false;
      }
      if (ec == beast::error::timeout) {
        VLOG(2) << "[C" << id_ << "] request head not received in time; closing";
        co_return false;
      }
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::ssl::error::stream_truncated || ec == asio::error::operation_aborted ||
          ec == asio::error::connection_reset) {
        co_return false;
      }
      if (ec) {
        co_await SendLocalError(NewBadRequest("malformed HTTP request: " + ec.message()));
        co_return false;
      }
    }
    http10_ = parser.version() < 11;
    keep_alive_ = parser.keep_alive();
    if (auto len = parser.content_length(); len && *len > o.max_body_bytes) {
      co_await SendLocalError(
          NewRequestEntityTooLarge("limit is " + std::to_string(o.max_body_bytes)));
      co_return false;
    }
    if (!parser.is_done()) {
      if (parser.expect_continue()) {
        Lowest().expires_after(o.write_timeout);
        auto [ec, n] =
            co_await asio::async_write(stream_, asio::const_buffer(kContinue, 25), kTuple);
        if (ec) co_return false;
      }
      Lowest().expires_after(o.body_timeout);
      auto [ec, n] = co_await bhttp::async_read(stream_, buffer_, parser, kTuple);
      if (ec == bhttp::error::body_limit) {
        co_await SendLocalError(
            NewRequestEntityTooLarge("limit is " + std::to_string(o.max_body_bytes)));
        co_return false;
      }
      if (ec) {
        VLOG(4) << "[C" << id_ << "] reading request body failed: " << ec.message();
        co_return false;
      }
    }

    ParseTarget(req);
    // The connection's certificates are lent to its request (one at a time), not copied.
    struct LentCertificates {
      Request& r;
      std::vector<std::string>& der;
      std::string& digest;
      ~LentCertificates() {
        der = std::move(r.peer_certificates_der);
        digest = std::move(r.peer_certificates_digest);
      }
    } lent_certificates{req, peer_certificates_, peer_certificates_digest_};
    req.peer_certificates_der = std::move(peer_certificates_);
    req.peer_certificates_digest = std::move(peer_certificates_digest_);
    req.remote_address = remote_address_;
    req.connection_id = id_;
    stream_id_ = server_->next_stream_id.fetch_add(1) + 1;
    req.stream_id = stream_id_;
    req.received_at = Clock::now();
    head_request_ = parser.method() == bhttp::verb::head;

    // Handle.
    ResetResponse();
    state_ = State::kHandling;
    server_->total_requests.fetch_add(1, std::memory_order_relaxed);
    server_->active_streams.fetch_add(1);
    // Released on every path, including a cancelled handler unwinding by exception.
    struct StreamGuard {
      std::atomic<size_t>& n;
      ~StreamGuard() { n.fetch_sub(1); }
    } stream_guard{server_->active_streams};
    bool threw = false;
    bool aborted = false;
    try {
      co_await server_->handler(req, *this);
    } catch (const AbortResponse&) {
      if (hard_closed_) throw;
      threw = aborted = true;  // on purpose: cut without the final chunk, not an error
      VLOG(2) << "[C" << id_ << "][S" << stream_id_ << "] response aborted by its handler";
    } catch (const std::exception& e) {
      if (hard_closed_) throw;  // cut at the end of the grace period: unwind to Run()
      threw = true;
      LOG(ERROR) << "[C" << id_ << "][S" << stream_id_ << "] handler threw: " << e.what();
    } catch (...) {
      if (hard_closed_) throw;
      threw = true;
      LOG(ERROR) << "[C" << id_ << "][S" << stream_id_ << "] handler threw";
    }
    // The handler's cancellations end with it; one that reached it leaves the connection's
    // coroutine cancelled until reset (the last chunk, the next request).
    if (Disarm() && !hard_closed_) co_await asio::this_coro::reset_cancellation_state();
    if (threw) {
      if (!header_sent_ && !failed_ && !aborted) {
        keep_alive_ = false;
        Status st = NewInternalError(
            "an error on the server has prevented the request from "
            "succeeding");
        co_await Send(st.code, JsonHeaders(), st.ToJson());
      } else {
        keep_alive_ = false;
      }
    } else if (!finished_ && !failed_) {
      co_await Finish();
    }
    co_await StopMonitor();
    if (hard_closed_ || failed_ || peer_closed_) co_return false;
    if (!keep_alive_ || stopping_) co_return false;
    co_return true;
  }

  void ResetResponse() {
    handler_cancelled_ = false;
    cancel_on_close_ = false;
    header_sent_ = false;
    head_pending_ = false;
    finished_ = false;
    chunked_ = false;
    failed_ = false;
    remaining_.reset();
    status_ = 0;
  }

  static Headers JsonHeaders() {
    Headers h;
    h.Add("Content-Type", "application/json");
    return h;
  }

  // A locally generated error for a request the handler never saw; the connection closes after
  // it. The unread rest of the request is drained briefly so the client sees the answer rather
  // than a reset.
  asio::awaitable<void> SendLocalError(const Status& st) {
    VLOG(2) << "[C" << id_ << "] local reply " << st.code << " " << st.reason;
    ResetResponse();
    keep_alive_ = false;
    http10_ = false;
    head_request_ = false;
    Headers h = JsonHeaders();
    if (st.retry_after_seconds) h.Add("Retry-After", std::to_string(*st.retry_after_seconds));
    bool sent = co_await Send(st.code, std::move(h), st.ToJson());
    if (!sent) co_return;
    // Lingering close: stop sending, discard what the client still sends (bounded).
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    auto deadline = Clock::now() + std::chrono::seconds(2);
    size_t drained = 0;
    std::array<char, 16 * 1024> scratch;
    while (!ec && drained < 16 * 1024 * 1024 && Clock::now() < deadline) {
      Lowest().expires_at(deadline);
      auto [rec, n] = co_await Lowest().async_read_some(asio::buffer(scratch), kTuple);
      if (rec) break;
      drained += n;
    }
  }

  void CapturePeerCertificates() {
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      X509* leaf = SSL_get0_peer_certificate(ssl);
      if (leaf == nullptr) return;
      auto add = [this](X509* c) {
        int len = i2d_X509(c, nullptr);
        if (len <= 0) return;
        std::string der(static_cast<size_t>(len), '\0');
        auto* p = reinterpret_cast<unsigned char*>(der.data());
        i2d_X509(c, &p);
        peer_certificates_.push_back(std::move(der));
      };
      add(leaf);
      // On the server side the chain does not include the leaf.
      STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
      for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
        X509* c = sk_X509_value(chain, i);
        if (X509_cmp(c, leaf) != 0) add(c);
      }
      // Hashed once here, not by an authenticator on every request of the connection.
      peer_certificates_digest_ = tls::CertificateChainDigest(peer_certificates_);
    }
  }

  Server::Impl* server_;
  std::shared_ptr<ssl::context> ctx_;
  Stream stream_;
  beast::flat_buffer buffer_;
  Event closed_;
  Event monitor_done_;
  const uint64_t id_;
  uint64_t stream_id_ = 0;
  std::string remote_address_;
  std::vector<std::string> peer_certificates_;
  std::string peer_certificates_digest_;
  State state_ = State::kHandshake;
  std::shared_ptr<asio::cancellation_signal> cancel_;  // see Spawn()
  DeadlineQueue* deadlines_;                           // of the session's io_context
  struct Deadline : DeadlineQueue::Entry {
    Session* self = nullptr;
  } deadline_;
  bool run_done_ = false;
  bool stopping_ = false;
  bool hard_closed_ = false;
  bool peer_closed_ = false;
  bool monitor_active_ = false;
  bool monitor_cancelled_ = false;
  bool cancel_on_close_ = false;    // ArmCancelOnClose()
  bool handler_cancelled_ = false;  // by CancelHandler() during the current request
  // Current response.
  std::string head_;
  int status_ = 0;
  bool http10_ = false;
  bool head_request_ = false;
  bool keep_alive_ = true;
  bool header_sent_ = false;
  bool head_pending_ = false;
  bool finished_ = false;
  bool chunked_ = false;
  bool failed_ = false;
  std::optional<uint64_t> remaining_;
};

}  // namespace

asio::awaitable<void> Server::Impl::AcceptLoop() {
  while (true) {
    // The connection's home: its io_context serves it from one thread, so no strand is needed.
    IoContext& home_ioc = *iocs[next_ioc++ % iocs.size()];
    asio::any_io_executor home = home_ioc.get_executor();
    auto [ec, socket] = co_await acceptor->async_accept(home, kTuple);
    if (ec == asio::error::operation_aborted || stopping.load()) co_return;
    if (ec) {
      // Out of file descriptors (or similar): back off instead of spinning.
      LOG(WARNING) << "accept failed: " << ec.message();
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(100));
      co_await t.async_wait(kTuple);
      if (!acceptor->is_open()) co_return;
      continue;
    }
    if (open_connections.load() >= opts.max_connections) {
      LOG_EVERY_N(WARNING, 100) << "connection limit " << opts.max_connections
                                << " reached; refusing";
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    uint64_t id = next_connection_id.fetch_add(1) + 1;
    open_connections.fetch_add(1);
    total_connections.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<SessionBase> session;
    if (opts.tls) {
      auto ctx = opts.tls->Current();
      auto s = std::make_shared<Session<true>>(this, std::move(socket), std::move(ctx), id,
                                               &home_ioc.deadlines);
      session = s;
      Register(id, s);
      Session<true>::Spawn(std::move(s));
    } else {
      auto s = std::make_shared<Session<false>>(this, std::move(socket), nullptr, id,
                                                &home_ioc.deadlines);
      session = s;
      Register(id, s);
      Session<false>::Spawn(std::move(s));
    }
  }
}

// ------------------------------------------------------------------------------------------------

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_shared<Impl>()) {
  impl_->opts = std::move(options);
  impl_->handler = std::move(handler);
  int threads = std::max(1, impl_->opts.io_threads);
  for (int i = 0; i < threads; ++i) {
    impl_->iocs.push_back(std::make_unique<IoContext>());
    impl_->work.push_back(asio::make_work_guard(*impl_->iocs.back()));
  }
}

void Server::PostToEachIoThread(const std::function<void()>& fn) const {
  for (auto& ioc : impl_->iocs) asio::post(*ioc, fn);
}

Server::~Server() {
  if (!impl_->shut_down && impl_->acceptor) Shutdown(std::chrono::milliseconds(0));
  impl_->work.clear();
  for (auto& ioc : impl_->iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Destroy pending handlers (and coroutine frames) while Impl is still alive.
  impl_->acceptor.reset();
  impl_->accept_strand.reset();  // executors must not outlive their io_context
  // Pending handlers of one context may hold sockets of another (a pooled upstream connection):
  // every context is shut down (its handlers destroyed) before any is freed.
  for (auto& ioc : impl_->iocs) ioc->Shutdown();
  impl_->iocs.clear();
}

namespace {

// Like the Go runtime does at start: thousands of watches need thousands of descriptors.
void RaiseFileLimit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

Result<uint16_t> Server::Start() {
  if (impl_->acceptor) return NewInternalError("server already started");
  RaiseFileLimit();
  boost::system::error_code ec;
  auto address = asio::ip::make_address(impl_->opts.bind_address, ec);
  if (ec) return NewBadRequest("invalid bind address " + impl_->opts.bind_address);
  tcp::endpoint ep(address, impl_->opts.port);
  impl_->accept_strand.emplace(asio::make_strand(*impl_->iocs.front()));
  impl_->acceptor.emplace(*impl_->accept_strand);
  auto& acc = *impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    impl_->acceptor.reset();
    return NewInternalError("cannot listen on " + impl_->opts.bind_address + ":" +
                            std::to_string(impl_->opts.port) + ": " + ec.message());
  }
  port_ = acc.local_endpoint().port();
  Impl* impl = impl_.get();
  asio::co_spawn(*impl_->accept_strand, impl->AcceptLoop(), asio::detached);
  for (auto& ioc : impl_->iocs) {
    asio::io_context* c = ioc.get();
    impl_->threads.emplace_back([c] { c->run(); });
  }
  LOG(INFO) << "serving " << (impl_->opts.tls ? "HTTPS" : "HTTP") << " on "
            << impl_->opts.bind_address << ":" << port_;
  return port_;
}

void Server::Shutdown(std::chrono::milliseconds grace) {
  Impl* impl = impl_.get();
  if (impl->shut_down || !impl->acceptor) return;
  impl->shut_down = true;
  impl->stopping = true;
  // 1. Stop accepting.
  {
    std::promise<void> done;
    asio::dispatch(*impl->accept_strand, [impl, &done] {
      boost::system::error_code ec;
      impl->acceptor->close(ec);
      done.set_value();
    });
    done.get_future().wait();
  }
  // 2. Ask every connection to finish: idle ones close, streams see WaitClosed().
  impl->ForEachSession([](const std::shared_ptr<SessionBase>& s) {
    asio::dispatch(s->strand(), [s] { s->BeginShutdown(); });
  });
  auto wait_empty = [impl](std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(impl->mu);
    return impl->cv.wait_for(lock, d, [impl] { return impl->open_connections.load() == 0; });
  };
  if (wait_empty(grace)) return;
  // 3. Close what is left.
  LOG(WARNING) << "shutdown grace period over; closing " << impl->open_connections.load()
               << " connection(s)";
  impl->ForEachSession([](const std::shared_ptr<SessionBase>& s) {
    asio::dispatch(s->strand(), [s] { s->HardClose(); });
  });
  if (!wait_empty(std::chrono::seconds(5))) {
    LOG(ERROR) << impl->open_connections.load()
               << " connection(s) still open after shutdown (handler not returning)";
  }
}

size_t Server::open_connections() const { return impl_->open_connections.load(); }
size_t Server::active_streams() const { return impl_->active_streams.load(); }
uint64_t Server::total_connections() const { return impl_->total_connections.load(); }
uint64_t Server::total_requests() const { return impl_->total_requests.load(); }
asio::any_io_executor Server::executor() const { return impl_->iocs.front()->get_executor(); }

}  // namespace kube::http

// A TLS stream for Beast/Asio that drives OpenSSL straight on the socket: a minimal BIO reads
// and writes the non-blocking file descriptor (recv/send with MSG_DONTWAIT), so there is no
// BIO pair and no copy buffer (asio::ssl::stream holds four ~17 KB buffers per connection and
// copies every byte twice each way). Only when the socket would block does the stream wait, and
// it waits through the beast::tcp_stream underneath (an async_read_some/async_write_some of at
// most a few hundred bytes into/from a small buffer inside the stream), so expires_after()
// timeouts, socket cancel() and per-operation cancellation slots end a pending operation exactly
// as they do for asio::ssl::stream. Models AsyncReadStream and AsyncWriteStream; one read and one
// write may be pending at the same time (as for asio::ssl::stream), all on one strand.
//
// Errors as asio::ssl::stream reports them: a peer that closes without close_notify gives
// asio::ssl::error::stream_truncated, a close_notify gives asio::error::eof (Beast turns that
// into http::error::end_of_stream), OpenSSL failures an error in asio::error::get_ssl_category().
#pragma once

#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>

namespace kube::tls {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace detail {

// What an OpenSSL call needs before it can go on.
struct StepResult {
  enum Kind { kDone, kInput, kOutput };
  Kind kind = kDone;
  boost::system::error_code ec;
  size_t n = 0;
};

// The per-connection state, heap-allocated so that the stream can move while the BIO keeps a
// stable pointer to it.
class StreamCore {
 public:
  // Bytes read by a wait for readability: a whole typical record (a watch event, a GET's
  // response, a request head). When that read leaves the socket empty, the next read skips the
  // recv that would answer EAGAIN and waits at once (see skip_recv_).
  static constexpr size_t kInSize = 2048;
  static constexpr size_t kOutSize = 256;  // bytes held back by a wait for writability

  StreamCore(beast::tcp_stream next, SSL_CTX* ctx);
  ~StreamCore();
  StreamCore(const StreamCore&) = delete;
  StreamCore& operator=(const StreamCore&) = delete;

  // One step of an operation: calls OpenSSL until it completes or the socket would block.
  StepResult Read(void* data, size_t size);
  StepResult Write(const void* data, size_t size, size_t& written);  // `written` accumulates
  StepResult Handshake(asio::ssl::stream_base::handshake_type type);
  StepResult Shutdown();

  // Waits. An operation that needs input starts a read into in_ unless one is in flight (then
  // it waits for WaitOther); output held back in out_ is flushed the same way.
  bool read_in_flight() const { return read_in_flight_; }
  bool write_in_flight() const { return write_in_flight_; }
  bool output_pending() const { return out_len_ > 0; }
  asio::mutable_buffer BeginInput();
  void EndInput(const boost::system::error_code& ec, size_t n);
  asio::const_buffer BeginOutput();
  void EndOutput(const boost::system::error_code& ec, size_t n);
  asio::steady_timer& Other();  // cancelled (woken) whenever an input or output wait ends

  void SetVerifyCallback(std::function<bool(bool, asio::ssl::verify_context&)> cb);

  // The BIO's own recv calls, and how many of them answered EAGAIN (tests, benchmarks).
  struct Stats {
    uint64_t recv_calls = 0;
    uint64_t recv_would_block = 0;
  };
  const Stats& stats() const { return stats_; }

  beast::tcp_stream next;
  SSL* ssl = nullptr;

 private:
  enum class Retry : unsigned char { kNone, kRead, kWrite };
  static int BioRead(BIO* b, char* data, size_t size, size_t* read);
  static int BioWrite(BIO* b, const char* data, size_t size, size_t* written);
  static long BioCtrl(BIO* b, int cmd, long num, void* ptr);
  static int VerifyThunk(int preverified, X509_STORE_CTX* ctx);
  static BIO_METHOD* Method();
  StepResult Retried() const;
  boost::system::error_code Failure(int ssl_result);

  std::function<bool(bool, asio::ssl::verify_context&)> verify_;
  std::unique_ptr<asio::steady_timer> other_;
  int sys_error_ = 0;  // errno of a failed recv/send (sticky)
  bool eof_ = false;   // the peer closed the TCP connection
  bool read_in_flight_ = false;
  bool write_in_flight_ = false;
  bool handshake_started_ = false;
  // The last wait read took less than kInSize: the socket was empty then. Once in_ is used up,
  // the BIO asks OpenSSL to retry at once instead of calling recv (which would answer EAGAIN),
  // and the wait starts. That wait loses nothing that arrived since: Asio's read tries the
  // socket before it waits (Boost 1.81 skips that try only after a read that hit end of
  // stream, and a stream at its end has nothing more to lose).
  bool skip_recv_ = false;
  Stats stats_;
  Retry retry_ = Retry::kNone;  // what the BIO asked OpenSSL to retry during the last call
  unsigned short in_pos_ = 0, in_len_ = 0, out_len_ = 0;
  unsigned char in_[kInSize];
  unsigned char out_[kOutSize];
};

// The composed operation shared by read, write, handshake and shutdown: runs Step until it is
// done, waiting on the socket through the tcp_stream when OpenSSL needs to. Completes with
// (error_code, size_t) when kWithSize, else with (error_code).
template <class Step, bool kWithSize = true>
class IoOp {
 public:
  IoOp(StreamCore* core, Step step) : core_(core), step_(std::move(step)) {}

  template <class Self>
  void operator()(Self& self, boost::system::error_code ec = {}, size_t n = 0) {
    switch (state_) {
      case State::kStart:
        break;
      case State::kInput:
        core_->EndInput(ec, n);
        if (ec && ec != asio::error::eof) return Finish(self, ec, 0);
        break;
      case State::kOutput:
        core_->EndOutput(ec, n);
        if (ec) return Finish(self, ec, 0);
        break;
      case State::kOther:
        if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none) {
          return Finish(self, asio::error::operation_aborted, 0);
        }
        break;
      case State::kPosted:
        return Complete(self, result_.ec, result_.n);
    }
    if (!done_) {
      StepResult r = step_(*core_);
      if (r.kind == StepResult::kInput) return Input(self);
      if (r.kind == StepResult::kOutput) return Output(self);
      done_ = true;
      result_ = r;
    }
    // Output OpenSSL handed to the BIO but the socket did not take yet leaves before we report
    // (unless a flush is in flight already: the operation that started it finishes it).
    if (!result_.ec && core_->output_pending() && !core_->write_in_flight()) return Output(self);
    Finish(self, result_.ec, result_.n);
  }

 private:
  enum class State : unsigned char { kStart, kInput, kOutput, kOther, kPosted };

  template <class Self>
  void Input(Self& self) {
    // Our own output (a handshake message, close_notify) must leave before we wait for the
    // answer to it. Output another operation is flushing does not hold up a read: with both
    // sides writing into full socket buffers, that would deadlock.
    if (core_->output_pending() && !core_->write_in_flight()) return Output(self);
    if (core_->read_in_flight()) return WaitOther(self);
    state_ = State::kInput;
    waited_ = true;
    core_->next.async_read_some(core_->BeginInput(), std::move(self));
  }
  template <class Self>
  void Output(Self& self) {
    if (core_->write_in_flight()) return WaitOther(self);
    state_ = State::kOutput;
    waited_ = true;
    core_->next.async_write_some(core_->BeginOutput(), std::move(self));
  }
  template <class Self>
  void WaitOther(Self& self) {
    state_ = State::kOther;
    waited_ = true;
    core_->Other().async_wait(std::move(self));
  }
  template <class Self>
  void Finish(Self& self, boost::system::error_code ec, size_t n) {
    if (waited_) return Complete(self, ec, n);
    // Never complete inside the initiating call (callers would recurse without bound).
    result_.ec = ec;
    result_.n = n;
    state_ = State::kPosted;
    auto ex = core_->next.get_executor();
    asio::post(ex, std::move(self));
  }

  template <class Self>
  static void Complete(Self& self, boost::system::error_code ec, size_t n) {
    if constexpr (kWithSize) {
      self.complete(ec, n);
    } else {
      self.complete(ec);
    }
  }

  StreamCore* core_;
  Step step_;
  StepResult result_;
  State state_ = State::kStart;
  bool done_ = false;
  bool waited_ = false;
};

struct ReadStep {
  asio::mutable_buffer buffer;
  StepResult operator()(StreamCore& c) { return c.Read(buffer.data(), buffer.size()); }
};

// Several small buffers (an HTTP head, a chunk-size line, a body) go out as one record: up to
// one record's worth is gathered into a buffer the operation owns; a first buffer of at least a
// record, or a single buffer, is written in place.
struct WriteStep {
  static constexpr size_t kRecord = 16 * 1024;
  asio::const_buffer buffer;
  std::unique_ptr<char[]> gathered;
  size_t written = 0;

  template <class Buffers>
  explicit WriteStep(const Buffers& buffers) {
    auto it = asio::buffer_sequence_begin(buffers);
    auto end = asio::buffer_sequence_end(buffers);
    while (it != end && asio::const_buffer(*it).size() == 0) ++it;
    if (it == end) return;
    asio::const_buffer first(*it);
    size_t total = 0;
    for (auto j = it; j != end && total < kRecord; ++j) total += asio::const_buffer(*j).size();
    if (first.size() >= kRecord || first.size() == total) {
      buffer = first;
      return;
    }
    total = std::min(total, kRecord);
    gathered.reset(new char[total]);
    size_t at = 0;
    for (; it != end && at < total; ++it) {
      asio::const_buffer b(*it);
      size_t take = std::min(b.size(), total - at);
      std::memcpy(gathered.get() + at, b.data(), take);
      at += take;
    }
    buffer = asio::const_buffer(gathered.get(), total);
  }
  StepResult operator()(StreamCore& c) { return c.Write(buffer.data(), buffer.size(), written); }
};

struct HandshakeStep {
  asio::ssl::stream_base::handshake_type type;
  StepResult operator()(StreamCore& c) { return c.Handshake(type); }
};

struct ShutdownStep {
  StepResult operator()(StreamCore& c) { return c.Shutdown(); }
};

}  // namespace detail

class Stream {
 public:
  using next_layer_type = beast::tcp_stream;
  using lowest_layer_type = beast::tcp_stream;
  using executor_type = beast::tcp_stream::executor_type;
  using native_handle_type = SSL*;

  // The SSL object takes its configuration (certificates, verification, modes) from `ctx`,
  // which need not outlive the stream.
  Stream(beast::tcp_stream next, asio::ssl::context& ctx);
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;
  ~Stream() = default;

  executor_type get_executor() noexcept { return core_->next.get_executor(); }
  next_layer_type& next_layer() { return core_->next; }
  const next_layer_type& next_layer() const { return core_->next; }
  lowest_layer_type& lowest_layer() { return core_->next; }
  SSL* native_handle() { return core_->ssl; }
  const detail::StreamCore::Stats& stats() const { return core_->stats(); }

  // Like asio::ssl::stream::set_verify_callback (e.g. asio::ssl::host_name_verification).
  template <class VerifyCallback>
  void set_verify_callback(VerifyCallback cb) {
    core_->SetVerifyCallback(std::move(cb));
  }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    asio::mutable_buffer first;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      first = asio::mutable_buffer(*it);
      if (first.size() > 0) break;
    }
    return asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        detail::IoOp<detail::ReadStep>(core_.get(), detail::ReadStep{first}), token, core_->next);
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        detail::IoOp<detail::WriteStep>(core_.get(), detail::WriteStep(buffers)), token,
        core_->next);
  }

  template <class Token>
  auto async_handshake(asio::ssl::stream_base::handshake_type type, Token&& token) {
    return asio::async_compose<Token, void(boost::system::error_code)>(
        detail::IoOp<detail::HandshakeStep, false>(core_.get(), detail::HandshakeStep{type}), token,
        core_->next);
  }

  // Sends close_notify and waits for the peer's.
  template <class Token>
  auto async_shutdown(Token&& token) {
    return asio::async_compose<Token, void(boost::system::error_code)>(
        detail::IoOp<detail::ShutdownStep, false>(core_.get(), detail::ShutdownStep{}), token,
        core_->next);
  }

 private:
  std::unique_ptr<detail::StreamCore> core_;
};

}  // namespace kube::tls

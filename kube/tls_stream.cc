#include "kube/tls_stream.h"

#include <boost/asio/ssl/error.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cerrno>

namespace kube::tls {
namespace detail {

using boost::system::error_code;

StreamCore::StreamCore(beast::tcp_stream n, SSL_CTX* ctx) : next(std::move(n)) {
  ssl = SSL_new(ctx);
  if (ssl == nullptr) {
    error_code ec(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
    ERR_clear_error();
    throw boost::system::system_error(ec, "SSL_new");
  }
  // Partial writes: one record per SSL_write is enough for write_some. Moving buffers: OpenSSL
  // checks only the length of a retried write. Released buffers: idle connections hold no records.
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
  // Read as much as the socket has (one recv per record or better, not header then body).
  SSL_set_read_ahead(ssl, 1);
  BIO* bio = BIO_new(Method());
  if (bio == nullptr) {
    SSL_free(ssl);
    ssl = nullptr;
    throw boost::system::system_error(
        error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category()), "BIO_new");
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // the SSL owns the BIO
  SSL_set_app_data(ssl, this);
}

StreamCore::~StreamCore() {
  if (ssl != nullptr) SSL_free(ssl);
}

BIO_METHOD* StreamCore::Method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kube-tls-socket");
    BIO_meth_set_read_ex(m, &StreamCore::BioRead);
    BIO_meth_set_write_ex(m, &StreamCore::BioWrite);
    BIO_meth_set_ctrl(m, &StreamCore::BioCtrl);
    return m;
  }();
  return method;
}

int StreamCore::BioRead(BIO* b, char* data, size_t size, size_t* read) {
  auto* c = static_cast<StreamCore*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  *read = 0;
  if (size == 0) return 0;
  if (c->in_pos_ < c->in_len_) {  // bytes a wait for readability brought in
    size_t n = std::min<size_t>(size, c->in_len_ - c->in_pos_);
    std::memcpy(data, c->in_ + c->in_pos_, n);
    c->in_pos_ = static_cast<unsigned short>(c->in_pos_ + n);
    *read = n;
    return 1;
  }
  if (c->read_in_flight_) {  // that wait may be filling in_ right now: keep the byte order
    BIO_set_retry_read(b);
    c->retry_ = Retry::kRead;
    return 0;
  }
  if (c->sys_error_ != 0 || c->eof_) return 0;
  if (c->skip_recv_) {
    c->skip_recv_ = false;
    BIO_set_retry_read(b);
    c->retry_ = Retry::kRead;
    return 0;
  }
  int fd = c->next.socket().native_handle();
  for (;;) {
    ++c->stats_.recv_calls;
    ssize_t r = ::recv(fd, data, size, MSG_DONTWAIT);
    if (r > 0) {
      *read = static_cast<size_t>(r);
      return 1;
    }
    if (r == 0) {
      c->eof_ = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ++c->stats_.recv_would_block;
      BIO_set_retry_read(b);
      c->retry_ = Retry::kRead;
      return 0;
    }
    c->sys_error_ = errno;
    return 0;
  }
}

int StreamCore::BioWrite(BIO* b, const char* data, size_t size, size_t* written) {
  auto* c = static_cast<StreamCore*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  *written = 0;
  if (c->out_len_ > 0) {  // held-back bytes go first
    BIO_set_retry_write(b);
    c->retry_ = Retry::kWrite;
    return 0;
  }
  if (c->sys_error_ != 0) return 0;
  if (size == 0) return 1;
  int fd = c->next.socket().native_handle();
  for (;;) {
    ssize_t r = ::send(fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0) {
      *written = static_cast<size_t>(r);
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // Hold back a few bytes: writing them through the tcp_stream is how we wait for the
      // socket (with the stream's timeout and cancellation).
      size_t n = std::min(size, kOutSize);
      std::memcpy(c->out_, data, n);
      c->out_len_ = static_cast<unsigned short>(n);
      *written = n;
      return 1;
    }
    c->sys_error_ = errno;
    return 0;
  }
}

long StreamCore::BioCtrl(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
  auto* c = static_cast<StreamCore*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_EOF:
      return c != nullptr && c->eof_ ? 1 : 0;
    default:
      return 0;
  }
}

int StreamCore::VerifyThunk(int preverified, X509_STORE_CTX* ctx) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* c = ssl != nullptr ? static_cast<StreamCore*>(SSL_get_app_data(ssl)) : nullptr;
  if (c == nullptr || !c->verify_) return preverified;
  asio::ssl::verify_context vc(ctx);
  return c->verify_(preverified != 0, vc) ? 1 : 0;
}

void StreamCore::SetVerifyCallback(std::function<bool(bool, asio::ssl::verify_context&)> cb) {
  verify_ = std::move(cb);
  SSL_set_verify(ssl, SSL_get_verify_mode(ssl), &StreamCore::VerifyThunk);
}

StepResult StreamCore::Retried() const {
  StepResult r;
  r.kind = retry_ == Retry::kRead ? StepResult::kInput : StepResult::kOutput;
  return r;
}

// The error of a failed OpenSSL call that did not ask for a retry. The error queue is read and
// cleared only here: on the hot path (data, or "would block" seen by our own BIO) it is never
// touched, which saves an ERR_clear_error per call.
error_code StreamCore::Failure(int ssl_result) {
  error_code ec;
  if (sys_error_ != 0) {
    ec = error_code(sys_error_, boost::system::system_category());
  } else if ((SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0) {
    ec = asio::error::eof;  // close_notify
  } else if (eof_) {
    ec = asio::ssl::error::stream_truncated;  // TCP closed without close_notify
  } else {
    int kind = SSL_get_error(ssl, ssl_result);
    unsigned long e = ERR_get_error();
    if (e != 0) {
      ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
    } else if (kind == SSL_ERROR_ZERO_RETURN) {
      ec = asio::error::eof;
    } else {
      ec = asio::ssl::error::unspecified_system_error;
    }
  }
  ERR_clear_error();
  return ec;
}

StepResult StreamCore::Read(void* data, size_t size) {
  StepResult out;
  if (size == 0) return out;
  auto* p = static_cast<unsigned char*>(data);
  size_t total = 0;
  for (;;) {
    retry_ = Retry::kNone;
    size_t got = 0;
    int r = SSL_read_ex(ssl, p + total, size - total, &got);
    if (r == 1) {
      total += got;
      // More records already read ahead: take them too.
      if (total < size && SSL_has_pending(ssl) == 1) continue;
      out.n = total;
      return out;
    }
    if (retry_ != Retry::kNone) {
      if (total == 0) return Retried();
      out.n = total;
      return out;
    }
    if (total > 0) {  // report the data now; the error comes again on the next read
      ERR_clear_error();
      out.n = total;
      return out;
    }
    out.ec = Failure(r);
    return out;
  }
}

StepResult StreamCore::Write(const void* data, size_t size, size_t& written) {
  StepResult out;
  const auto* p = static_cast<const unsigned char*>(data);
  while (written < size) {
    retry_ = Retry::kNone;
    size_t n = 0;
    // After a retry, the same bytes (same pointer, same length) are offered again.
    int r = SSL_write_ex(ssl, p + written, size - written, &n);
    if (r == 1) {
      written += n;
      continue;
    }
    if (retry_ != Retry::kNone) return Retried();
    out.ec = Failure(r);
    return out;
  }
  out.n = written;
  return out;
}

StepResult StreamCore::Handshake(asio::ssl::stream_base::handshake_type type) {
  if (!handshake_started_) {
    handshake_started_ = true;
    if (type == asio::ssl::stream_base::client) {
      SSL_set_connect_state(ssl);
    } else {
      SSL_set_accept_state(ssl);
    }
  }
  StepResult out;
  retry_ = Retry::kNone;
  int r = SSL_do_handshake(ssl);
  if (r == 1) return out;
  if (retry_ != Retry::kNone) return Retried();
  out.ec = Failure(r);
  return out;
}

StepResult StreamCore::Shutdown() {
  StepResult out;
  retry_ = Retry::kNone;
  int r = SSL_shutdown(ssl);
  if (r == 0) {  // close_notify sent: now wait for the peer's
    retry_ = Retry::kNone;
    r = SSL_shutdown(ssl);
  }
  if (r == 1) return out;
  if (retry_ != Retry::kNone) return Retried();
  out.ec = Failure(r);
  return out;
}

asio::mutable_buffer StreamCore::BeginInput() {
  read_in_flight_ = true;
  return asio::buffer(in_, kInSize);
}

void StreamCore::EndInput(const error_code& ec, size_t n) {
  read_in_flight_ = false;
  in_pos_ = 0;
  in_len_ = static_cast<unsigned short>(n);
  skip_recv_ = !ec && n > 0 && n < kInSize;
  if (ec == asio::error::eof) eof_ = true;
  if (other_) other_->cancel();
}

asio::const_buffer StreamCore::BeginOutput() {
  write_in_flight_ = true;
  return asio::buffer(out_, out_len_);
}

void StreamCore::EndOutput(const error_code& ec, size_t n) {
  write_in_flight_ = false;
  if (!ec && n > 0) {
    std::memmove(out_, out_ + n, out_len_ - n);
    out_len_ = static_cast<unsigned short>(out_len_ - n);
  }
  if (other_) other_->cancel();
}

asio::steady_timer& StreamCore::Other() {
  if (!other_) {
    other_ = std::make_unique<asio::steady_timer>(next.get_executor());
    other_->expires_at(asio::steady_timer::time_point::max());
  }
  return *other_;
}

}  // namespace detail

Stream::Stream(beast::tcp_stream next, asio::ssl::context& ctx)
    : core_(std::make_unique<detail::StreamCore>(std::move(next), ctx.native_handle())) {}

}  // namespace kube::tls

#include "apiserver/handler_chain.h"

#include <glog/logging.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cctype>
#include <exception>
#include <system_error>

namespace apiserver {
namespace {

using kube::http::Headers;
using kube::http::Request;
using kube::http::ResponseWriter;

// Remembers the status code sent, for the access log and the timeout filter.
class RecordingWriter : public ResponseWriter {
 public:
  explicit RecordingWriter(ResponseWriter& inner) : inner_(inner) {}

  asio::awaitable<bool> WriteHeader(int status, Headers headers,
                                    std::optional<uint64_t> content_length) override {
    if (code_ == 0) code_ = status;
    return inner_.WriteHeader(status, std::move(headers), content_length);
  }
  asio::awaitable<bool> Write(std::string_view data) override { return inner_.Write(data); }
  asio::awaitable<bool> WriteFramed(std::string& buf) override { return inner_.WriteFramed(buf); }
  asio::awaitable<bool> Finish() override { return inner_.Finish(); }
  asio::awaitable<void> WaitClosed() override { return inner_.WaitClosed(); }
  bool header_sent() const override { return inner_.header_sent(); }
  bool ArmDeadline(std::chrono::steady_clock::time_point at) override {
    return inner_.ArmDeadline(at);
  }
  bool ArmCancelOnClose() override { return inner_.ArmCancelOnClose(); }
  bool Disarm() override { return inner_.Disarm(); }

  int code() const { return code_; }

 private:
  ResponseWriter& inner_;
  int code_ = 0;
};

// Decrements a counter when the request leaves the filter, whatever the path out.
struct CountGuard {
  std::atomic<int>& n;
  std::atomic<int64_t>& gauge;
  ~CountGuard() {
    n.fetch_sub(1);
    gauge.fetch_sub(1);
  }
};

// asio's cancellation error (operation_aborted), thrown by an await once the coroutine was
// cancelled; boost::system::system_error or std::system_error alike.
bool IsAbort(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const kube::http::AbortResponse&) {
    return true;
  } catch (...) {
  }
  return false;
}

bool IsCancellation(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& se) {
    return se.code() == asio::error::operation_aborted;
  } catch (const std::system_error& se) {
    return se.code() == std::errc::operation_canceled;
  } catch (...) {
  }
  return false;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool PathMatches(std::string_view path, const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    if (path == p || (path.size() > p.size() && path.starts_with(p) && path[p.size()] == '/')) {
      return true;
    }
  }
  return false;
}

std::string MetricVerb(const Request& req, const kube::RequestInfo& info) {
  if (!info.is_resource_request) return Upper(req.method);
  if (info.verb == "patch") {
    auto ct = req.headers.Get("Content-Type");
    if (ct && ct->starts_with("application/apply-patch")) return "APPLY";
    return "PATCH";
  }
  if (info.verb == "create") return "POST";
  if (info.verb == "update") return "PUT";
  return Upper(info.verb);
}

asio::awaitable<bool> WriteStatus(ResponseWriter& w, kube::Status status) {
  if (w.header_sent()) co_return false;
  Headers h;
  h.Set("Content-Type", "application/json");
  h.Set("X-Content-Type-Options", "nosniff");
  if (status.retry_after_seconds && *status.retry_after_seconds > 0) {
    h.Set("Retry-After", std::to_string(*status.retry_after_seconds));
  }
  std::string body = status.ToJson();
  co_return co_await w.Send(status.code, std::move(h), body);
}

asio::awaitable<bool> WriteStatus(RequestContext& ctx, kube::Status status) {
  if (ctx.details.empty()) ctx.details = status.details_token;
  return WriteStatus(ctx.w, std::move(status));
}

HandlerChain::HandlerChain(ChainOptions options, std::shared_ptr<Authenticator> authenticator,
                           std::shared_ptr<Authorizer> authorizer, std::shared_ptr<Metrics> metrics,
                           Route route)
    : options_(std::move(options)),
      authenticator_(std::move(authenticator)),
      authorizer_(std::move(authorizer)),
      metrics_(metrics ? std::move(metrics) : std::make_shared<Metrics>()),
      route_(std::move(route)) {}

kube::http::Handler HandlerChain::AsHandler() {
  return [this](Request& req, ResponseWriter& w) -> asio::awaitable<void> { return Serve(req, w); };
}

asio::awaitable<void> HandlerChain::Serve(Request& req, ResponseWriter& w) {
  auto start = std::chrono::steady_clock::now();
  RecordingWriter rw(w);
  RequestContext ctx{req, rw, {}, {}, false, {}};

  // Panic recovery: an exception anywhere below becomes a 500 Status (when the header is still
  // unsent; otherwise the stream is cut). A cancellation is not a panic: the connection is being
  // cut (the end of the shutdown grace period emits a terminal cancellation into the session's
  // coroutine, and every await below then throws operation_aborted). It ends the request quietly
  // and propagates, so the session unwinds; nothing is written and nothing counted.
  std::exception_ptr panic;
  bool aborted = false;
  try {
    co_await WithRequestInfo(ctx);
  } catch (...) {
    panic = std::current_exception();
  }
  if (panic) {
    auto cancellation = co_await asio::this_coro::cancellation_state;
    if (IsCancellation(panic) || cancellation.cancelled() != asio::cancellation_type::none) {
      VLOG(2) << "[C" << req.connection_id << "][S" << req.stream_id << "] " << req.method << " "
              << req.path << " cancelled (connection cut)";
      std::rethrow_exception(panic);
    }
    if (IsAbort(panic)) {
      // A response given up on purpose (kube::http::AbortResponse): counted, then rethrown so
      // the server cuts the connection without ending the body.
      aborted = true;
      ctx.details = "aborted";
    } else {
      std::string what = "unknown";
      try {
        std::rethrow_exception(panic);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      LOG(ERROR) << "[C" << req.connection_id << "][S" << req.stream_id << "] panic while serving "
                 << req.method << " " << req.path << ": " << what;
      ctx.details = "panic";
      if (!rw.header_sent()) {
        kube::Status s = kube::NewInternalError("an unexpected error occurred serving the request");
        s.details_token = "panic";
        co_await WriteStatus(rw, s);
      }
    }
  }

  auto elapsed = std::chrono::steady_clock::now() - start;
  double seconds = std::chrono::duration<double>(elapsed).count();
  int code = rw.code() == 0 ? 0 : rw.code();
  std::string verb = MetricVerb(req, ctx.info);
  std::string resource = ctx.info.resource;
  if (!ctx.info.subresource.empty()) resource += "/" + ctx.info.subresource;
  metrics_->ObserveRequest(verb, ctx.info.api_group, resource, code, seconds, ctx.long_running);
  if (ctx.details == "via_upstream" && (code == 502 || code == 503 || code == 504)) {
    metrics_->IncUpstreamError(code == 504 ? "timeout" : "unavailable");
  }
  VLOG(2) << "[C" << req.connection_id << "][S" << req.stream_id << "] " << verb << " "
          << (ctx.info.is_resource_request
                  ? (ctx.info.api_group.empty() ? resource : resource + "." + ctx.info.api_group)
                  : req.path)
          << (ctx.info.namespace_.empty() ? "" : " ns=" + ctx.info.namespace_)
          << (ctx.info.name.empty() ? "" : " name=" + ctx.info.name) << " code=" << code
          << " details=" << (ctx.details.empty() ? "-" : ctx.details)
          << " latency=" << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()
          << "us";
  if (aborted) std::rethrow_exception(panic);
}

asio::awaitable<void> HandlerChain::WithRequestInfo(RequestContext& ctx) {
  auto info = request_info_factory_.NewRequestInfo(ctx.req);
  if (!info.ok()) {
    kube::Status s = info.error();
    if (s.details_token.empty()) s.details_token = "request_info";
    co_await WriteStatus(ctx, s);
    co_return;
  }
  ctx.info = std::move(info).value();
  co_await WithInFlightLimit(ctx);
}

asio::awaitable<void> HandlerChain::WithInFlightLimit(RequestContext& ctx) {
  ctx.long_running = ctx.info.is_resource_request && ctx.info.verb == "watch";
  // Kubelet probes are never turned away.
  if (!ctx.info.is_resource_request && PathMatches(ctx.req.path, options_.health_paths)) {
    co_await WithTimeout(ctx);
    co_return;
  }
  std::atomic<int>& counter = ctx.long_running ? watches_ : inflight_;
  std::atomic<int64_t>& gauge = ctx.long_running ? metrics_->open_watches : metrics_->inflight;
  int limit = ctx.long_running ? options_.max_watches : options_.max_requests_inflight;
  int now = counter.fetch_add(1) + 1;
  gauge.fetch_add(1);
  CountGuard guard{counter, gauge};
  if (now > limit) {
    metrics_->IncRejected(ctx.long_running ? "watches" : "inflight");
    kube::Status s = kube::NewTooManyRequests("Too many requests, please try again later.", 1);
    s.details_token = ctx.long_running ? "too_many_watches" : "too_many_requests";
    co_await WriteStatus(ctx, s);
    co_return;
  }
  co_await WithTimeout(ctx);
}

asio::awaitable<void> HandlerChain::WithTimeout(RequestContext& ctx) {
  if (ctx.long_running || options_.request_timeout.count() <= 0) {
    co_await WithAuthentication(ctx);
    co_return;
  }
  // The front end keeps the deadline (no timer, no second coroutine per request): when it
  // passes, what the chain awaits is cancelled and the chain unwinds to here.
  // (The front end also disarms it when the handler returns, by any path.)
  if (ctx.w.ArmDeadline(std::chrono::steady_clock::now() + options_.request_timeout)) {
    std::exception_ptr inner_error;
    try {
      co_await WithAuthentication(ctx);
    } catch (...) {
      inner_error = std::current_exception();
    }
    // Not fired: the chain's own outcome. Fired: its error is the expected cancellation.
    if (!ctx.w.Disarm()) {
      if (inner_error) std::rethrow_exception(inner_error);
      co_return;
    }
    co_await asio::this_coro::reset_cancellation_state();
    co_await RespondTimedOut(ctx);
    co_return;
  }
  using namespace asio::experimental::awaitable_operators;
  // Otherwise the chain races a timer. The inner chain never throws into the race (a throw
  // there would not end it); the exception is carried out and rethrown for the panic filter.
  std::exception_ptr inner_error;
  auto inner = [](HandlerChain* self, RequestContext* c,
                  std::exception_ptr* err) -> asio::awaitable<void> {
    try {
      co_await self->WithAuthentication(*c);
    } catch (...) {
      *err = std::current_exception();
    }
  };
  // The timer is cancelled on almost every request (the chain finishes first): as_tuple turns
  // that into an error code instead of a thrown system_error (an exception per request cost
  // more CPU than the rest of the filter).
  auto deadline = [](asio::steady_timer* t, bool* fired) -> asio::awaitable<void> {
    auto [ec] = co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
    *fired = !ec;
  };
  asio::steady_timer timer(co_await asio::this_coro::executor, options_.request_timeout);
  bool fired = false;
  auto winner = co_await (inner(this, &ctx, &inner_error) || deadline(&timer, &fired));
  // When the deadline won, the inner chain ended by cancellation: its error is expected.
  if (inner_error && winner.index() == 0) std::rethrow_exception(inner_error);
  if (winner.index() == 1 && !fired) {
    // Both were cancelled from outside (the connection or the server is going away).
    if (inner_error) std::rethrow_exception(inner_error);
    co_return;
  }
  if (winner.index() == 1) co_await RespondTimedOut(ctx);
}

asio::awaitable<void> HandlerChain::RespondTimedOut(RequestContext& ctx) {
  metrics_->IncRejected("timeout");
  ctx.details = "request_timeout";
  if (!ctx.w.header_sent()) {
    kube::Status s = kube::NewTimeout(
        "request did not complete within requested timeout - context deadline exceeded", 0);
    s.details_token = "request_timeout";
    co_await WriteStatus(ctx.w, s);
  } else {
    // The body had started: no Status can be sent any more, and ending the body would make a
    // cut-off list look complete. The connection is cut instead (kube-apiserver's timeout filter
    // panics with http.ErrAbortHandler for the same reason).
    throw kube::http::AbortResponse();
  }
}

asio::awaitable<void> HandlerChain::WithAuthentication(RequestContext& ctx) {
  AuthenticationResult r;
  if (authenticator_) {
    r = co_await authenticator_->Authenticate(ctx.req);
  } else {
    r.error = "authentication is not configured";
  }
  if (!r.user) {
    bool health = !ctx.info.is_resource_request && PathMatches(ctx.req.path, options_.health_paths);
    if (health) {
      // Probes carry no identity; health paths are always allowed anyway.
      ctx.user = UserInfo{"system:anonymous", "", {"system:unauthenticated"}, {}};
      co_await route_(ctx);
      co_return;
    }
    metrics_->IncAuthenticationFailure(r.error == "no credentials" ? "no_credentials" : "invalid");
    VLOG(3) << "[C" << ctx.req.connection_id << "][S" << ctx.req.stream_id
            << "] authentication failed: " << r.error;
    kube::Status s = kube::NewUnauthorized("Unauthorized");
    s.details_token = "authn_failed";
    co_await WriteStatus(ctx, s);
    co_return;
  }
  ctx.user = std::move(*r.user);
  co_await WithAuthorization(ctx);
}

asio::awaitable<void> HandlerChain::WithAuthorization(RequestContext& ctx) {
  Attributes attrs;
  attrs.user = ctx.user;
  attrs.verb = ctx.info.verb;
  attrs.is_resource_request = ctx.info.is_resource_request;
  attrs.path = ctx.req.path;
  attrs.api_group = ctx.info.api_group;
  attrs.api_version = ctx.info.api_version;
  attrs.resource = ctx.info.resource;
  attrs.subresource = ctx.info.subresource;
  attrs.namespace_ = ctx.info.namespace_;
  attrs.name = ctx.info.name;
  if (!authorizer_) {
    kube::Status s = kube::NewServiceUnavailable("authorization is not configured");
    s.details_token = "authz_unavailable";
    co_await WriteStatus(ctx, s);
    co_return;
  }
  auto r = co_await authorizer_->Authorize(attrs);
  if (!r.ok()) {
    kube::Status s = r.error();
    if (s.details_token.empty()) s.details_token = "authz_unavailable";
    co_await WriteStatus(ctx, s);
    co_return;
  }
  if (r->decision != Decision::kAllow) {
    kube::Status forbidden = ForbiddenStatus(attrs, r->reason);
    co_await WriteStatus(ctx, std::move(forbidden));
    co_return;
  }
  co_await route_(ctx);
}

}  // namespace apiserver

#include "apiserver/handler_chain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <glog/logging.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <mutex>
#include <stdexcept>

#include "kube/json.h"
#include "tests/unit/apiserver/test_util.h"

namespace apiserver {
namespace {

using testing::FakeWriter;
using ::testing::HasSubstr;
using testing::MakeRequest;
using testing::RunCo;
using testing::Sleep;

// Tokens: "alice" (SAR decides), "root" (system:masters).
class Tokens : public TokenReviewer {
 public:
  asio::awaitable<kube::Result<std::optional<UserInfo>>> Review(std::string token) override {
    if (token == "alice") co_return std::optional<UserInfo>(UserInfo{"alice", "", {}, {}});
    if (token == "root") {
      co_return std::optional<UserInfo>(UserInfo{"root", "", {"system:masters"}, {}});
    }
    co_return std::optional<UserInfo>();
  }
};

class Policy : public AccessReviewer {
 public:
  asio::awaitable<kube::Result<AuthorizationResult>> Review(Attributes a) override {
    ++calls;
    if (unreachable) co_return kube::NewServiceUnavailable("dial tcp: connection refused");
    if (a.verb == "delete") co_return AuthorizationResult{Decision::kDeny, ""};
    co_return AuthorizationResult{Decision::kAllow, ""};
  }
  bool unreachable = false;
  int calls = 0;
};

struct Fixture {
  std::shared_ptr<Policy> policy = std::make_shared<Policy>();
  std::shared_ptr<Metrics> metrics = std::make_shared<Metrics>();
  std::function<asio::awaitable<void>(RequestContext&)> route =
      [](RequestContext& ctx) -> asio::awaitable<void> {
    kube::http::Headers h;
    h.Set("Content-Type", "text/plain");
    co_await ctx.w.Send(200, std::move(h), "routed " + ctx.info.verb + " as " + ctx.user.name);
  };
  std::unique_ptr<HandlerChain> chain;

  explicit Fixture(ChainOptions o = {}) {
    auto authn =
        std::make_shared<Authenticator>(std::make_shared<Tokens>(), std::chrono::seconds(10));
    authn->SetConfig({});
    auto authz = std::make_shared<Authorizer>(policy, AuthorizerOptions{});
    chain = std::make_unique<HandlerChain>(
        o, authn, authz, metrics,
        [this](RequestContext& ctx) -> asio::awaitable<void> { return route(ctx); });
  }

  FakeWriter Do(std::string method, std::string target, std::string token = "alice") {
    auto req = MakeRequest(std::move(method), std::move(target));
    if (!token.empty()) req.headers.Add("Authorization", "Bearer " + token);
    FakeWriter w;
    RunCo([&]() -> asio::awaitable<void> { co_await chain->Serve(req, w); });
    return w;
  }
};

std::string Reason(const FakeWriter& w) {
  auto doc = kube::json::Parse(w.body);
  return doc ? std::string(kube::json::GetString(*doc, "reason")) : "";
}

TEST(HandlerChain, AuthenticatedAndAllowedReachesTheRoute) {
  Fixture f;
  auto w = f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters/a");
  EXPECT_EQ(w.status, 200);
  EXPECT_EQ(w.body, "routed get as alice");
}

// The relays' framed writes reach the connection's writer as such (the chain wraps it to record
// the status): through Write instead, each would be gathered by copying.
TEST(HandlerChain, FramedWritesPassThroughToTheConnection) {
  Fixture f;
  f.route = [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.w.WriteHeader(200, {}, std::nullopt);
    std::string buf(kube::http::ResponseWriter::kFrameHeadroom, ' ');
    buf += "items";
    co_await ctx.w.WriteFramed(buf);
    co_await ctx.w.Finish();
  };
  auto w = f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters");
  EXPECT_EQ(w.status, 200);
  EXPECT_EQ(w.framed_writes, 1);
  EXPECT_EQ(w.body, "items");
}

TEST(HandlerChain, NoIdentityIs401Status) {
  Fixture f;
  auto w = f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters", "");
  EXPECT_EQ(w.status, 401);
  EXPECT_EQ(Reason(w), "Unauthorized");
  EXPECT_EQ(w.Header("Content-Type"), "application/json");
  auto bad = f.Do("GET", "/apis", "wrong-token");
  EXPECT_EQ(bad.status, 401);
  EXPECT_THAT(f.metrics->Render(), HasSubstr("mcp_connector_authentication_failures_total"));
}

TEST(HandlerChain, SpoofedRemoteUserWithoutCertificateIs401) {
  Fixture f;
  auto req = MakeRequest("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/default/x");
  req.headers.Add("X-Remote-User", "system:admin");
  req.headers.Add("X-Remote-Group", "system:masters");
  FakeWriter w;
  RunCo([&]() -> asio::awaitable<void> { co_await f.chain->Serve(req, w); });
  EXPECT_EQ(w.status, 401);
  EXPECT_EQ(f.policy->calls, 0);
}

TEST(HandlerChain, HealthNeedsNoIdentity) {
  Fixture f;
  for (std::string p : {"/healthz", "/livez", "/readyz", "/readyz?verbose"}) {
    auto w = f.Do("GET", p, "");
    EXPECT_EQ(w.status, 200) << p;
  }
  EXPECT_EQ(f.policy->calls, 0);
}

TEST(HandlerChain, DenyIs403WithKubeMessage) {
  Fixture f;
  auto w = f.Do("DELETE", "/apis/k8s.starter.org/v1alpha1/namespaces/team/kubernetesclusters/c1");
  EXPECT_EQ(w.status, 403);
  auto doc = kube::json::Parse(w.body);
  ASSERT_TRUE(doc);
  EXPECT_EQ(kube::json::GetString(*doc, "message"),
            "kubernetesclusters.k8s.starter.org \"c1\" is forbidden: User \"alice\" cannot delete "
            "resource \"kubernetesclusters\" in API group \"k8s.starter.org\" in the namespace "
            "\"team\"");
}

TEST(HandlerChain, UnreachableAuthorizerNeverAllows) {
  Fixture f;
  f.policy->unreachable = true;
  auto w = f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/team/kubernetesclusters/c1");
  EXPECT_EQ(w.status, 503);
  EXPECT_THAT(w.body, ::testing::Not(HasSubstr("routed")));
  // system:masters does not need the review.
  auto root =
      f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/team/kubernetesclusters/c1", "root");
  EXPECT_EQ(root.status, 200);
}

TEST(HandlerChain, PanicBecomes500Status) {
  Fixture f;
  f.route = [](RequestContext&) -> asio::awaitable<void> {
    throw std::runtime_error("boom");
    co_return;
  };
  auto w = f.Do("GET", "/apis");
  EXPECT_EQ(w.status, 500);
  EXPECT_EQ(Reason(w), "InternalError");
  // The server keeps serving.
  f.route = [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.w.Send(200, {}, "fine");
  };
  EXPECT_EQ(f.Do("GET", "/apis").status, 200);
}

// Collects ERROR (and worse) log lines while it lives.
class ErrorLogs : public google::LogSink {
 public:
  ErrorLogs() { google::AddLogSink(this); }
  ~ErrorLogs() override { google::RemoveLogSink(this); }
  void send(google::LogSeverity severity, const char*, const char*, int, const std::tm*,
            const char* message, size_t len) override {
    if (severity < google::GLOG_ERROR) return;
    std::lock_guard lock(mu_);
    lines_.emplace_back(message, len);
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// A handler unwinding because its connection is being cut (asio's operation_aborted) is not a
// panic: no ERROR, no 500 written, nothing counted; the error propagates to the session.
TEST(HandlerChain, CancellationErrorIsNotAPanic) {
  Fixture f;
  f.route = [](RequestContext&) -> asio::awaitable<void> {
    throw boost::system::system_error(asio::error::operation_aborted);
    co_return;
  };
  ErrorLogs logs;
  auto req = MakeRequest("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters");
  req.headers.Add("Authorization", "Bearer alice");
  FakeWriter w;
  EXPECT_THROW(RunCo([&]() -> asio::awaitable<void> { co_await f.chain->Serve(req, w); }),
               boost::system::system_error);
  EXPECT_FALSE(w.sent) << w.status << " " << w.body;
  EXPECT_THAT(logs.lines(), ::testing::IsEmpty());
  EXPECT_THAT(f.metrics->Render(), ::testing::Not(HasSubstr("code=\"500\"")));
  EXPECT_EQ(f.metrics->inflight.load(), 0);
}

// A handler that gives up on a response whose body has started (the control plane's list broke)
// throws kube::http::AbortResponse: no 500, no ERROR log, the request is counted, and the
// exception reaches the server, which cuts the connection without ending the body.
TEST(HandlerChain, AnAbortedResponseIsCountedAndRethrownNotAPanic) {
  Fixture f;
  f.route = [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.w.WriteHeader(200, {}, std::nullopt);
    co_await ctx.w.Write("{\"items\":[");
    throw kube::http::AbortResponse();
  };
  ErrorLogs logs;
  auto req = MakeRequest("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters");
  req.headers.Add("Authorization", "Bearer alice");
  FakeWriter w;
  EXPECT_THROW(RunCo([&]() -> asio::awaitable<void> { co_await f.chain->Serve(req, w); }),
               kube::http::AbortResponse);
  EXPECT_EQ(w.status, 200);
  EXPECT_EQ(w.body, "{\"items\":[");
  EXPECT_FALSE(w.finished);
  EXPECT_THAT(logs.lines(), ::testing::IsEmpty());
  EXPECT_THAT(f.metrics->Render(), HasSubstr("code=\"200\""));
  EXPECT_THAT(f.metrics->Render(), ::testing::Not(HasSubstr("code=\"500\"")));
  EXPECT_EQ(f.metrics->inflight.load(), 0);
}

// The request timeout after the body has started: a 504 can no longer be sent, and finishing the
// body would pass a cut-off list for a complete one, so the response is aborted.
TEST(HandlerChain, TimeoutAfterTheBodyStartedAbortsTheResponse) {
  ChainOptions o;
  o.request_timeout = std::chrono::milliseconds(50);
  Fixture f(o);
  f.route = [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.w.WriteHeader(200, {}, std::nullopt);
    co_await ctx.w.Write("{\"items\":[");
    co_await Sleep(std::chrono::seconds(5));
    co_await ctx.w.Write("]}");
  };
  auto req = MakeRequest("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters");
  req.headers.Add("Authorization", "Bearer alice");
  FakeWriter w;
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(RunCo([&]() -> asio::awaitable<void> { co_await f.chain->Serve(req, w); }),
               kube::http::AbortResponse);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(w.status, 200);
  EXPECT_EQ(w.body, "{\"items\":[");  // nothing after the deadline, no 504 body appended
  EXPECT_FALSE(w.finished);
}

// The end of the shutdown grace period: the session emits a terminal cancellation into the
// coroutine running the chain while the handler awaits (here a timer; in production the control
// plane). The request unwinds at once and quietly, for requests under the timeout filter and
// for watches (no timeout filter) alike.
TEST(HandlerChain, TerminalCancellationEndsTheRequestQuietly) {
  for (std::string target : {"/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters",
                             "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters"
                             "?watch=1"}) {
    SCOPED_TRACE(target);
    Fixture f;
    f.route = [](RequestContext& ctx) -> asio::awaitable<void> {
      co_await Sleep(std::chrono::seconds(10));
      co_await ctx.w.Send(200, {}, "late");
    };
    ErrorLogs logs;
    auto req = MakeRequest("GET", target);
    req.headers.Add("Authorization", "Bearer alice");
    FakeWriter w;
    asio::io_context ctx;
    asio::cancellation_signal cut;
    std::exception_ptr err;
    bool done = false;
    asio::co_spawn(ctx, f.chain->Serve(req, w),
                   asio::bind_cancellation_slot(cut.slot(), [&](std::exception_ptr e) {
                     err = e;
                     done = true;
                   }));
    asio::steady_timer t(ctx, std::chrono::milliseconds(50));
    t.async_wait([&](boost::system::error_code) { cut.emit(asio::cancellation_type::terminal); });
    auto start = std::chrono::steady_clock::now();
    ctx.run();
    EXPECT_TRUE(done);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_TRUE(err) << "the cancellation must reach the session";
    EXPECT_FALSE(w.sent) << w.status << " " << w.body;
    EXPECT_THAT(logs.lines(), ::testing::IsEmpty());
    EXPECT_THAT(f.metrics->Render(), ::testing::Not(HasSubstr("code=\"500\"")));
    EXPECT_EQ(f.metrics->inflight.load(), 0);
    EXPECT_EQ(f.metrics->open_watches.load(), 0);
  }
}

TEST(HandlerChain, TimeoutIs504ForNonLongRunning) {
  ChainOptions o;
  o.request_timeout = std::chrono::milliseconds(50);
  Fixture f(o);
  f.route = [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await Sleep(std::chrono::seconds(5));
    co_await ctx.w.Send(200, {}, "late");
  };
  auto start = std::chrono::steady_clock::now();
  auto w = f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(w.status, 504);
  EXPECT_EQ(Reason(w), "Timeout");
  auto doc = kube::json::Parse(w.body);
  EXPECT_EQ(kube::json::GetString(*doc, "message"),
            "Timeout: request did not complete within requested timeout - context deadline "
            "exceeded");

  // Watches are long-running: no deadline.
  f.route = [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await Sleep(std::chrono::milliseconds(150));
    co_await ctx.w.Send(200, {}, "watched");
  };
  auto watch =
      f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters?watch=1");
  EXPECT_EQ(watch.status, 200);
  EXPECT_EQ(watch.body, "watched");
}

TEST(HandlerChain, InFlightLimitIs429WithRetryAfter) {
  ChainOptions o;
  o.max_requests_inflight = 1;
  o.max_watches = 1;
  Fixture f(o);
  f.route = [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await Sleep(std::chrono::milliseconds(100));
    co_await ctx.w.Send(200, {}, "ok");
  };
  const std::string list = "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters";
  std::vector<kube::http::Request> reqs;
  for (std::string t : {list, list, list + "?watch=1", list + "?watch=1", std::string("/readyz")}) {
    reqs.push_back(MakeRequest("GET", t));
    reqs.back().headers.Add("Authorization", "Bearer alice");
  }
  std::vector<FakeWriter> ws(reqs.size());
  asio::io_context ctx;
  for (size_t i = 0; i < reqs.size(); ++i) {
    asio::co_spawn(ctx, f.chain->Serve(reqs[i], ws[i]), asio::detached);
  }
  ctx.run();
  EXPECT_EQ(ws[0].status, 200);
  EXPECT_EQ(ws[1].status, 429);
  EXPECT_EQ(ws[1].Header("Retry-After"), "1");
  EXPECT_EQ(Reason(ws[1]), "TooManyRequests");
  EXPECT_EQ(ws[2].status, 200);  // watches are counted separately
  EXPECT_EQ(ws[3].status, 429);
  EXPECT_EQ(ws[4].status, 200);  // probes are never turned away
  EXPECT_EQ(f.metrics->inflight.load(), 0);
  EXPECT_EQ(f.metrics->open_watches.load(), 0);
  std::string m = f.metrics->Render();
  EXPECT_THAT(m, HasSubstr("mcp_connector_rejected_requests_total{reason=\"inflight\"} 1"));
  EXPECT_THAT(m, HasSubstr("mcp_connector_rejected_requests_total{reason=\"watches\"} 1"));
}

TEST(HandlerChain, MetricsCountRequestsByVerbResourceCode) {
  Fixture f;
  f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters");
  f.Do("GET", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters");
  f.Do("DELETE", "/apis/k8s.starter.org/v1alpha1/namespaces/a/kubernetesclusters/x");
  std::string m = f.metrics->Render();
  EXPECT_THAT(m, HasSubstr("apiserver_request_total{verb=\"LIST\",group=\"k8s.starter.org\","
                           "resource=\"kubernetesclusters\",code=\"200\"} 2"));
  EXPECT_THAT(m, HasSubstr("apiserver_request_total{verb=\"DELETE\",group=\"k8s.starter.org\","
                           "resource=\"kubernetesclusters\",code=\"403\"} 1"));
  EXPECT_THAT(m, HasSubstr("apiserver_request_duration_seconds_count{verb=\"LIST\""));
}

}  // namespace
}  // namespace apiserver

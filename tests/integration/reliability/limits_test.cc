// Limits (max in-flight requests, max watches, idle and request-head timeouts) and graceful
// shutdown of the in-process connector: /readyz fails first, the listener closes, requests in
// flight finish, watches end with a clean end of stream, all within the grace period.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

#include "tests/integration/reliability/harness.h"

namespace reliability {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::string AllPath() { return "/apis/" + kGroupVersion + "/" + kResource; }

class LimitsTest : public ::testing::Test {
 protected:
  void Start(Env::Config config = {}) {
    env_ = std::make_unique<Env>(std::move(config));
    env_->Start();
  }
  void TearDown() override {
    if (env_ && env_->connector && !HasFailure()) {
      env_->cp->ClearFaults();
      EXPECT_TRUE(env_->NoLeaks());
    }
    env_.reset();
  }
  std::unique_ptr<Env> env_;
};

TEST_F(LimitsTest, MaxInflightGives429WithRetryAfter) {
  Start(Env::Tweaked([](apiserver::Options& o) { o.max_requests_inflight = 2; }));
  ASSERT_FALSE(HasFatalFailure());
  env_->cp->AddFault(DelayFault("GET", ControlPlaneClaimsPath(), 2s));
  auto a = std::async(std::launch::async, [&] { return env_->Do("GET", ClaimsPath("team-a")); });
  auto b = std::async(std::launch::async, [&] { return env_->Do("GET", ClaimsPath("team-b")); });
  ASSERT_TRUE(Eventually(
      [&] {
        return env_->cp
                   ->Requests([](const fakekube::RecordedRequest& q) {
                     return q.path == ControlPlaneClaimsPath();
                   })
                   .size() >= 2;
      },
      5s, "two requests held in the control plane"));
  auto r = env_->Do("GET", ClaimsPath("team-c"));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.Reason(), "TooManyRequests");
  EXPECT_EQ(r.Header("Retry-After"), "1");
  // Probes are never turned away.
  EXPECT_EQ(env_->Do("GET", "/readyz").status, 200);
  EXPECT_EQ(env_->Do("GET", "/livez").status, 200);
  // Watches have their own limit.
  auto w = env_->NewClient();
  ASSERT_TRUE(w->Connect());
  ASSERT_TRUE(
      w->SendRaw(w->BuildRequest("GET", AllPath() + "?watch=true&timeoutSeconds=1", "", {})));
  EXPECT_EQ(w->ReadHead(5s).status, 200);
  while (w->NextEvent(5s)) {
  }
  EXPECT_TRUE(w->stream_ended_cleanly());
  w.reset();
  EXPECT_EQ(a.get().status, 200);
  EXPECT_EQ(b.get().status, 200);
  env_->cp->ClearFaults();
  EXPECT_EQ(env_->Do("GET", ClaimsPath("team-c")).status, 200);
}

TEST_F(LimitsTest, MaxWatches) {
  Start(Env::Tweaked([](apiserver::Options& o) { o.max_watches = 2; }));
  ASSERT_FALSE(HasFatalFailure());
  std::vector<std::unique_ptr<Client>> watches;
  for (int i = 0; i < 2; ++i) {
    auto c = env_->NewClient();
    ASSERT_TRUE(c->Connect()) << c->error();
    ASSERT_TRUE(c->SendRaw(c->BuildRequest("GET", AllPath() + "?watch=true", "", {})));
    ASSERT_EQ(c->ReadHead(5s).status, 200);
    watches.push_back(std::move(c));
  }
  auto third = env_->Do("GET", AllPath() + "?watch=true");
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(third.Reason(), "TooManyRequests");
  EXPECT_EQ(third.Header("Retry-After"), "1");
  EXPECT_GE(env_->Metric("mcp_connector_rejected_requests_total{reason=\"watches\"}"), 1);
  // Ordinary requests are not counted against watches.
  EXPECT_EQ(env_->Do("GET", AllPath()).status, 200);
  // One closes (client gone): a new watch is admitted.
  watches.pop_back();
  EXPECT_TRUE(Eventually(
      [&] {
        auto c = env_->NewClient();
        if (!c->Connect()) return false;
        if (!c->SendRaw(c->BuildRequest("GET", AllPath() + "?watch=true&timeoutSeconds=1", "", {})))
          return false;
        bool ok = c->ReadHead(5s).status == 200;
        while (ok && c->NextEvent(5s)) {
        }
        return ok;
      },
      10s, "a watch admitted after one closed"));
  watches.clear();
}

TEST_F(LimitsTest, IdleAndHeaderTimeouts) {
  Start(Env::Tweaked([](apiserver::Options& o) {
    o.idle_connection_timeout = 1s;
    o.read_header_timeout = 1s;
  }));
  ASSERT_FALSE(HasFatalFailure());
  // Keep-alive connection after a request.
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect());
  EXPECT_EQ(c->Do("GET", "/healthz").status, 200);
  auto start = Clock::now();
  EXPECT_TRUE(c->WaitClosedByPeer(6s));
  EXPECT_GE(Clock::now() - start, 800ms);
  EXPECT_LT(Clock::now() - start, 4s);
  // A connection that never sends anything after the handshake.
  auto silent = env_->NewClient();
  ASSERT_TRUE(silent->Connect());
  start = Clock::now();
  EXPECT_TRUE(silent->WaitClosedByPeer(6s));
  EXPECT_LT(Clock::now() - start, 4s);
  // A request head trickling in forever.
  auto slow = env_->NewClient();
  ASSERT_TRUE(slow->Connect());
  start = Clock::now();
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    if (!slow->SendRaw(i == 0 ? "GET /healthz HTTP/1.1\r\n" : "X-A: b\r\n")) closed = true;
    if (!closed && slow->WaitClosedByPeer(200ms)) closed = true;
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - start, 5s);
  // A watch is not idle: it outlives the idle timeout.
  auto w = env_->NewClient();
  ASSERT_TRUE(w->Connect());
  ASSERT_TRUE(
      w->SendRaw(w->BuildRequest("GET", AllPath() + "?watch=true&timeoutSeconds=3", "", {})));
  ASSERT_EQ(w->ReadHead(5s).status, 200);
  start = Clock::now();
  while (w->NextEvent(8s)) {
  }
  EXPECT_TRUE(w->stream_ended_cleanly());
  EXPECT_GE(Clock::now() - start, 2500ms);
}

class ShutdownTest : public LimitsTest {};

TEST_F(ShutdownTest, ReadyzFailsFirstThenDrainsWithinTheGracePeriod) {
  Start(Env::Tweaked([](apiserver::Options& o) {
    // A delay long enough for three fresh TLS requests on a loaded machine (ASan, 2 cores).
    o.shutdown_delay = 2s;
    o.shutdown_grace_period = 5s;
  }));
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(env_->Do("POST", ClaimsPath("team-a"), ClaimJson("before", "team-a")).status, 201);
  // An open watch.
  auto w = env_->NewClient();
  ASSERT_TRUE(w->Connect());
  ASSERT_TRUE(w->SendRaw(w->BuildRequest("GET", AllPath() + "?watch=true", "", {})));
  ASSERT_EQ(w->ReadHead(5s).status, 200);
  ASSERT_TRUE(w->NextEvent(5s).has_value());  // ADDED before
  // An idle keep-alive connection, and a request that will be in flight (slow control plane).
  auto idle = env_->NewClient();
  ASSERT_TRUE(idle->Connect());
  ASSERT_EQ(idle->Do("GET", "/healthz").status, 200);
  env_->cp->AddFault(DelayFault("GET", ControlPlaneClaimsPath(), 2s));
  auto inflight =
      std::async(std::launch::async, [&] { return env_->Do("GET", ClaimsPath("team-a")); });
  ASSERT_TRUE(env_->cp->WaitForRequest(
      [](const fakekube::RecordedRequest& q) {
        return q.method == "GET" && q.path == ControlPlaneClaimsPath() &&
               q.raw_query.find("watch") == std::string::npos;
      },
      5s));

  auto start = Clock::now();
  auto shutdown = std::async(std::launch::async, [&] { env_->connector->Shutdown(); });
  std::this_thread::sleep_for(300ms);
  // During the delay: /readyz fails, everything else is still served.
  auto ready = env_->Do("GET", "/readyz?verbose");
  EXPECT_EQ(ready.status, 500) << ready.body;
  EXPECT_THAT(ready.body, HasSubstr("[-]shutdown failed"));
  EXPECT_EQ(env_->Do("GET", "/livez").status, 200);
  EXPECT_EQ(env_->Do("GET", "/apis/" + kGroupVersion).status, 200);

  // After the delay the listener closes: new connections are refused.
  EXPECT_TRUE(Eventually(
      [&] {
        Client c(env_->port, env_->ca_pem);
        return !c.Connect(1s);
      },
      3s, "the listener closed"));
  // The request in flight finishes normally.
  ASSERT_EQ(inflight.wait_for(6s), std::future_status::ready);
  auto r = inflight.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("\"name\":\"before\""));
  // The watch ends with a clean end of stream.
  while (w->NextEvent(8s)) {
  }
  EXPECT_FALSE(w->timed_out());
  EXPECT_TRUE(w->stream_ended_cleanly());
  // The idle connection is closed.
  EXPECT_TRUE(idle->WaitClosedByPeer(5s));
  ASSERT_EQ(shutdown.wait_for(8s), std::future_status::ready) << "Shutdown() hangs";
  auto took = Clock::now() - start;
  EXPECT_LT(took, 5s + 1s) << "longer than the grace period (which includes the delay)";
  // Nothing left upstream either.
  EXPECT_TRUE(
      Eventually([&] { return env_->cp->open_watches() == 0; }, 5s, "the upstream watch closed"));
  env_->connector.reset();
}

// A handler still running when the grace period ends (here a proxy request awaiting a control
// plane that answers after 20 s) is cancelled: Server::Shutdown closes its socket and emits a
// terminal cancellation into the session's coroutine, so the upstream read unwinds at once, the
// client is released, Shutdown returns within the grace period and nothing stays counted.
TEST_F(ShutdownTest, HungRequestsAreCutAtTheGracePeriod) {
  Start(Env::Tweaked([](apiserver::Options& o) {
    o.shutdown_grace_period = 1500ms;
    o.request_timeout = 30s;
  }));
  ASSERT_FALSE(HasFatalFailure());
  env_->cp->AddFault(DelayFault("GET", ControlPlaneClaimsPath(), 20s));
  auto hung = std::async(std::launch::async,
                         [&] { return env_->Do("GET", ClaimsPath("team-a"), "", {}, {}, 15s); });
  ASSERT_TRUE(env_->cp->WaitForRequest(
      [](const fakekube::RecordedRequest& q) { return q.path == ControlPlaneClaimsPath(); }, 5s));
  auto start = Clock::now();
  env_->connector->Shutdown();
  auto took = Clock::now() - start;
  EXPECT_GE(took, 1400ms) << "cut before the grace period was over";
  EXPECT_LT(took, 3s) << "not cut at the grace period";
  ASSERT_EQ(hung.wait_for(5s), std::future_status::ready) << "the client was never released";
  auto r = hung.get();
  EXPECT_EQ(r.status, 0) << "the connection is closed without an answer: " << r.body;
  env_->connector.reset();
}

}  // namespace
}  // namespace reliability

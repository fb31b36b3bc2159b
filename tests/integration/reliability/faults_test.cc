// Faults, injected with fakekube: the control plane down at start, down mid-request, down
// mid-watch, slow, failing with 5xx, expiring resourceVersions, presenting a certificate the
// connector does not trust; the connector's own serving certificate rotated; the app cluster
// unreachable for SubjectAccessReview/TokenReview. Each has a defined user-visible behaviour, no
// request hangs (every wait is bounded), and connections/streams/watches return to zero.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "kube/json.h"
#include "kube/kubeconfig.h"
#include "kube/tls.h"
#include "tests/integration/reliability/harness.h"

namespace reliability {
namespace {

namespace json = kube::json;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

std::string AllPath() { return "/apis/" + kGroupVersion + "/" + kResource; }

class FaultsTest : public ::testing::Test {
 protected:
  void Start(Env::Config config = {}) {
    env_ = std::make_unique<Env>(std::move(config));
    env_->Start();
  }
  void TearDown() override {
    if (env_ && env_->connector && !HasFailure()) {
      env_->cp->ClearFaults();
      (void)env_->cp->SetRefuseConnections(false);
      (void)env_->app->SetRefuseConnections(false);
      EXPECT_TRUE(env_->NoLeaks());
    }
    env_.reset();
  }
  std::unique_ptr<Env> env_;
};

TEST_F(FaultsTest, ControlPlaneDownAtStart) {
  Start(Env::WithoutConnector());
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(env_->cp->SetRefuseConnections(true).ok());
  env_->StartConnector(env_->BaseOptions());
  ASSERT_FALSE(HasFatalFailure());
  // Health and discovery answer from local state.
  EXPECT_EQ(env_->Do("GET", "/healthz").status, 200);
  EXPECT_EQ(env_->Do("GET", "/livez").status, 200);
  auto disc = env_->Do("GET", "/apis/" + kGroupVersion);
  EXPECT_EQ(disc.status, 200) << disc.body;
  EXPECT_THAT(disc.body, HasSubstr("\"kubernetesclusters\""));
  EXPECT_EQ(env_->Do("GET", "/apis").status, 200);
  // Resource requests: 503 with a clear message, quickly.
  auto start = Clock::now();
  auto list = env_->Do("GET", ClaimsPath("team-a"));
  EXPECT_EQ(list.status, 503) << list.body;
  EXPECT_EQ(list.Reason(), "ServiceUnavailable");
  EXPECT_THAT(list.Message(), HasSubstr("unreachable"));
  EXPECT_LT(Clock::now() - start, 5s);
  auto create = env_->Do("POST", ClaimsPath("team-a"), ClaimJson("while-down", "team-a"));
  EXPECT_EQ(create.status, 503) << create.body;
  // The control plane comes back: served again, without a restart.
  ASSERT_TRUE(env_->cp->SetRefuseConnections(false).ok());
  EXPECT_TRUE(Eventually([&] { return env_->Do("GET", ClaimsPath("team-a")).status == 200; }, 10s,
                         "list served after the control plane returns"));
}

TEST_F(FaultsTest, ControlPlaneDownMidRequest) {
  Start();
  ASSERT_FALSE(HasFatalFailure());
  env_->cp->AddFault(DelayFault("GET", ControlPlaneClaimsPath(), 2s));
  auto fut = std::async(std::launch::async, [&] { return env_->Do("GET", ClaimsPath("team-a")); });
  ASSERT_TRUE(env_->cp->WaitForRequest(
      [](const fakekube::RecordedRequest& q) { return q.path == ControlPlaneClaimsPath(); }, 5s));
  auto start = Clock::now();
  ASSERT_TRUE(env_->cp->SetRefuseConnections(true).ok());  // closes every connection
  ASSERT_EQ(fut.wait_for(8s), std::future_status::ready) << "the request hangs";
  auto r = fut.get();
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.Reason(), "ServiceUnavailable");
  EXPECT_FALSE(r.Message().empty());
}

TEST_F(FaultsTest, ControlPlaneDropsTheWatchClientRelists) {
  Start();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(env_->Do("POST", ClaimsPath("team-a"), ClaimJson("w1", "team-a")).status, 201);
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  ASSERT_TRUE(c->SendRaw(c->BuildRequest("GET", ClaimsPath("team-a") + "?watch=true", "", {})));
  auto head = c->ReadHead(10s);
  ASSERT_EQ(head.status, 200);
  auto first = c->NextEvent(10s);
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(*first, HasSubstr("\"name\":\"w1\""));
  ASSERT_TRUE(Eventually([&] { return env_->cp->open_watches() == 1; }, 5s, "upstream watch"));
  // The control plane cuts the stream: the client's watch ends cleanly (it will re-list).
  env_->cp->DropStreams();
  auto next = c->NextEvent(10s);
  EXPECT_FALSE(next.has_value()) << *next;
  EXPECT_FALSE(c->timed_out()) << "the watch did not end";
  EXPECT_TRUE(c->stream_ended_cleanly());
  // The re-list works, on the same keep-alive connection.
  auto relist = c->Do("GET", ClaimsPath("team-a"));
  EXPECT_EQ(relist.status, 200) << relist.body;
  EXPECT_THAT(relist.body, HasSubstr("\"name\":\"w1\""));
}

TEST_F(FaultsTest, ControlPlaneDownMidWatch) {
  Start();
  ASSERT_FALSE(HasFatalFailure());
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  ASSERT_TRUE(c->SendRaw(c->BuildRequest("GET", AllPath() + "?watch=true", "", {})));
  ASSERT_EQ(c->ReadHead(10s).status, 200);
  ASSERT_TRUE(Eventually([&] { return env_->cp->open_watches() == 1; }, 5s, "upstream watch"));
  ASSERT_TRUE(env_->cp->SetRefuseConnections(true).ok());
  auto next = c->NextEvent(10s);
  EXPECT_FALSE(next.has_value());
  EXPECT_FALSE(c->timed_out()) << "the watch did not end";
  EXPECT_TRUE(c->stream_ended_cleanly());
  // Re-list while down: 503; after: 200.
  auto relist = env_->Do("GET", AllPath());
  EXPECT_EQ(relist.status, 503) << relist.body;
  auto rewatch = env_->Do("GET", AllPath() + "?watch=true");
  EXPECT_EQ(rewatch.status, 503) << rewatch.body;
  ASSERT_TRUE(env_->cp->SetRefuseConnections(false).ok());
  EXPECT_TRUE(Eventually([&] { return env_->Do("GET", AllPath()).status == 200; }, 10s,
                         "re-list after the control plane returns"));
}

TEST_F(FaultsTest, SlowControlPlaneGives504WithinTheRequestTimeout) {
  Start(Env::Tweaked([](apiserver::Options& o) { o.request_timeout = 1500ms; }));
  ASSERT_FALSE(HasFatalFailure());
  env_->cp->AddFault(DelayFault("", ControlPlaneClaimsPath(), 8s));
  const std::vector<std::tuple<std::string, std::string, std::string>> requests = {
      {"GET", ClaimsPath("team-a"), ""},
      {"GET", ClaimsPath("team-a", "x"), ""},
      {"POST", ClaimsPath("team-a"), ClaimJson("slow", "team-a")}};
  for (const auto& [method, target, body] : requests) {
    auto start = Clock::now();
    auto r = env_->Do(method, target, body, {}, {}, 10s);
    auto took = Clock::now() - start;
    EXPECT_EQ(r.status, 504) << method << " " << target << ": " << r.body;
    EXPECT_EQ(r.Reason(), "Timeout");
    EXPECT_THAT(r.Message(), HasSubstr("Timeout"));
    EXPECT_GE(took, 1400ms);
    EXPECT_LT(took, 4s);
  }
  // Health is unaffected.
  EXPECT_EQ(env_->Do("GET", "/healthz").status, 200);
  env_->cp->ClearFaults();
}

// A watch is long-running: its start (connection and response head) has its own, longer budget,
// so a re-establishing herd slower than --request-timeout is not cut with 504; past that
// budget it is a 504 like any other request.
TEST_F(FaultsTest, SlowWatchStartHasItsOwnDeadline) {
  Start(Env::Tweaked([](apiserver::Options& o) {
    o.request_timeout = 1s;
    o.watch_start_timeout = 4s;
  }));
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(env_->Do("POST", ClaimsPath("team-a"), ClaimJson("w1", "team-a")).status, 201);
  fakekube::Fault slow_watch = DelayFault("GET", ControlPlaneClaimsPath(), 2500ms);
  slow_watch.verb = "watch";
  int id = env_->cp->AddFault(slow_watch);
  {
    auto c = env_->NewClient();
    ASSERT_TRUE(c->Connect()) << c->error();
    auto start = Clock::now();
    ASSERT_TRUE(c->SendRaw(c->BuildRequest("GET", ClaimsPath("team-a") + "?watch=true", "", {})));
    auto head = c->ReadHead(10s);
    EXPECT_EQ(head.status, 200) << "a watch slower to start than --request-timeout was cut";
    EXPECT_GE(Clock::now() - start, 2400ms);
    auto first = c->NextEvent(10s);
    ASSERT_TRUE(first.has_value());
    EXPECT_THAT(*first, HasSubstr("\"name\":\"w1\""));
  }
  // Ordinary requests keep the short deadline.
  env_->cp->RemoveFault(id);
  int get_id = env_->cp->AddFault(DelayFault("GET", ControlPlaneClaimsPath(), 2500ms));
  auto start = Clock::now();
  EXPECT_EQ(env_->Do("GET", ClaimsPath("team-a")).status, 504);
  EXPECT_LT(Clock::now() - start, 2s);
  env_->cp->RemoveFault(get_id);
  // Past the watch budget: 504 Timeout, within it.
  slow_watch.delay = 8s;
  env_->cp->AddFault(slow_watch);
  start = Clock::now();
  auto r = env_->Do("GET", ClaimsPath("team-a") + "?watch=true", "", {}, {}, 10s);
  auto took = Clock::now() - start;
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(r.Reason(), "Timeout");
  EXPECT_GE(took, 3900ms);
  EXPECT_LT(took, 6s);
  env_->cp->ClearFaults();
}

TEST_F(FaultsTest, ControlPlane5xxPassThrough) {
  Start();
  ASSERT_FALSE(HasFatalFailure());
  for (int code : {500, 503}) {
    int id = env_->cp->AddFault(StatusFault(ControlPlaneClaimsPath(), code));
    auto direct = env_->cp->Do("GET", ControlPlaneClaimsPath());
    auto r = env_->Do("GET", ClaimsPath("team-a"));
    EXPECT_EQ(r.status, code) << r.body;
    auto want = kube::json::Parse(direct.body);
    ASSERT_TRUE(want);
    EXPECT_EQ(r.Reason(), std::string(json::GetString(*want, "reason"))) << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr(kClaimNamespace + "/")));
    auto get = env_->Do("GET", ClaimsPath("team-a", "some-claim"));
    EXPECT_EQ(get.status, code) << get.body;
    EXPECT_THAT(get.body, Not(HasSubstr("claim-")));
    env_->cp->RemoveFault(id);
  }
  EXPECT_EQ(env_->Do("GET", ClaimsPath("team-a")).status, 200);
}

TEST_F(FaultsTest, ExpiredResourceVersionsAre410) {
  Start();
  ASSERT_FALSE(HasFatalFailure());
  for (const char* n : {"e1", "e2", "e3"}) {
    ASSERT_EQ(env_->Do("POST", ClaimsPath("team-a"), ClaimJson(n, "team-a")).status, 201);
  }
  auto page = env_->Do("GET", ClaimsPath("team-a") + "?limit=1");
  ASSERT_EQ(page.status, 200) << page.body;
  auto doc = json::Parse(page.body);
  ASSERT_TRUE(doc);
  std::string token(json::GetString(*json::FindPath(*doc, "metadata"), "continue"));
  std::string rv(json::GetString(*json::FindPath(*doc, "metadata"), "resourceVersion"));
  ASSERT_FALSE(token.empty());
  // One more write, then compaction: the token's and the list's resourceVersion are now older
  // than the compacted revision.
  ASSERT_EQ(env_->Do("POST", ClaimsPath("team-a"), ClaimJson("e4", "team-a")).status, 201);
  env_->cp->ExpireResourceVersions();
  // The continue token: 410 Expired.
  std::string enc;
  for (char ch : token) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      enc += ch;
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(ch));
      enc += b;
    }
  }
  auto next = env_->Do("GET", ClaimsPath("team-a") + "?limit=1&continue=" + enc);
  EXPECT_EQ(next.status, 410) << next.body;
  EXPECT_EQ(next.Reason(), "Expired");
  // A watch from the old resourceVersion: an ERROR event with the 410 Status, then a clean end.
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  ASSERT_TRUE(c->SendRaw(
      c->BuildRequest("GET", ClaimsPath("team-a") + "?watch=true&resourceVersion=" + rv, "", {})));
  auto head = c->ReadHead(10s);
  if (head.status == 410) {
    SUCCEED() << "410 as the response status";
  } else {
    ASSERT_EQ(head.status, 200);
    auto ev = c->NextEvent(10s);
    ASSERT_TRUE(ev.has_value());
    EXPECT_THAT(*ev, HasSubstr("\"type\":\"ERROR\""));
    EXPECT_THAT(*ev, HasSubstr("\"code\":410"));
    EXPECT_THAT(*ev, HasSubstr("\"reason\":\"Expired\""));
    auto end = c->NextEvent(10s);
    EXPECT_FALSE(end.has_value());
    EXPECT_FALSE(c->timed_out()) << "the watch did not end after the 410";
    EXPECT_TRUE(c->stream_ended_cleanly());
  }
  c.reset();
  // A fresh list works (the client's recovery).
  EXPECT_EQ(env_->Do("GET", ClaimsPath("team-a")).status, 200);
}

TEST_F(FaultsTest, UntrustedControlPlaneCertificateIs503) {
  Start(Env::WithoutConnector());
  ASSERT_FALSE(HasFatalFailure());
  // The control plane kubeconfig trusts the wrong CA (the app cluster's).
  auto cfg = kube::LoadKubeconfig(env_->dir + "/cp.kubeconfig");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  kube::KubeconfigSpec spec;
  spec.server = cfg->server;
  spec.ca_pem = env_->app->ca_pem();
  spec.tls_server_name = cfg->tls_server_name;
  spec.client_cert_pem = cfg->client_cert_pem;
  spec.client_key_pem = cfg->client_key_pem.RevealCopy();
  ASSERT_TRUE(kube::WriteKubeconfig(env_->dir + "/wrong-ca.kubeconfig", spec).ok());
  auto o = env_->BaseOptions();
  o.control_plane_kubeconfig = env_->dir + "/wrong-ca.kubeconfig";
  env_->StartConnector(o);
  ASSERT_FALSE(HasFatalFailure());
  env_->cp->ClearRequests();
  auto r = env_->Do("GET", ClaimsPath("team-a"));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.Reason(), "ServiceUnavailable");
  EXPECT_THAT(r.Message(), AnyOf(HasSubstr("certificate"), HasSubstr("TLS"), HasSubstr("tls")));
  auto create = env_->Do("POST", ClaimsPath("team-a"), ClaimJson("mitm", "team-a"));
  EXPECT_EQ(create.status, 503) << create.body;
  // Nothing was sent (no request completed the handshake).
  EXPECT_TRUE(env_->cp->Requests().empty());
  EXPECT_EQ(env_->Do("GET", "/healthz").status, 200);
  EXPECT_EQ(env_->Do("GET", "/apis/" + kGroupVersion).status, 200);
}

// The control plane's serving certificate rotates while the connector runs.
// (a) A new leaf from the same CA: the connection the connector has pooled keeps working (an
// established TLS session is not verified again) and new connections verify the new leaf.
// (b) A certificate from a new CA: connections opened before keep working; once they are gone a
// new connection fails verification and every request is a prompt 503 Status naming the
// certificate failure (never a hang, a 500, or a request sent unverified). The connector reads
// the control-plane kubeconfig's CA at start only (docs/security.md, "Trust anchors"): updating
// the file is not enough, a restart with the new CA recovers.
TEST_F(FaultsTest, ControlPlaneCertificateRotation) {
  Env::Config config;
  config.rotatable_control_plane_certificate = true;
  Start(config);
  ASSERT_FALSE(HasFatalFailure());
  const std::string handshakes = "mcp_connector_upstream_handshakes_total";
  ASSERT_EQ(env_->Do("GET", ClaimsPath("team-a")).status, 200);
  const double before = env_->Metric(handshakes);
  ASSERT_GE(before, 1);

  // (a) Same CA, new leaf.
  ASSERT_TRUE(env_->cp->RotateServingCertificate(false).ok());
  auto r = env_->Do("GET", ClaimsPath("team-a"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(env_->Metric(handshakes), before) << "the pooled connection is reused";
  // Three requests at once (held in the control plane) need new connections: they verify.
  env_->cp->AddFault(DelayFault("GET", ControlPlaneClaimsPath(), 500ms));
  std::vector<std::future<HttpResponse>> parallel;
  for (int i = 0; i < 3; ++i) {
    parallel.push_back(
        std::async(std::launch::async, [&] { return env_->Do("GET", ClaimsPath("team-a")); }));
  }
  for (auto& f : parallel) {
    auto p = f.get();
    EXPECT_EQ(p.status, 200) << p.body;
  }
  env_->cp->ClearFaults();
  EXPECT_GE(env_->Metric(handshakes), before + 2) << "new connections to the new certificate";

  // (b) A new CA.
  ASSERT_TRUE(env_->cp->RotateServingCertificate(true).ok());
  r = env_->Do("GET", ClaimsPath("team-a"));
  EXPECT_EQ(r.status, 200) << "a pooled connection still works: " << r.body;
  // The control plane drops every connection (as a restarting API server does).
  ASSERT_TRUE(env_->cp->SetRefuseConnections(true).ok());
  ASSERT_TRUE(env_->cp->SetRefuseConnections(false).ok());
  env_->cp->ClearRequests();
  auto start = Clock::now();
  r = env_->Do("GET", ClaimsPath("team-a"));
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.Reason(), "ServiceUnavailable");
  EXPECT_THAT(r.Message(), HasSubstr("certificate"));
  auto create = env_->Do("POST", ClaimsPath("team-a"), ClaimJson("rotated", "team-a"));
  EXPECT_EQ(create.status, 503) << create.body;
  EXPECT_TRUE(env_->cp->Requests().empty()) << "nothing reached an unverified control plane";
  // The kubeconfig now names the new CA: not reloaded while running...
  ASSERT_TRUE(env_->cp->WriteKubeconfig(env_->dir + "/cp.kubeconfig").ok());
  std::this_thread::sleep_for(1500ms);
  r = env_->Do("GET", ClaimsPath("team-a"));
  EXPECT_EQ(r.status, 503) << r.body;
  // ...a restart recovers.
  env_->StopConnector();
  env_->StartConnector(env_->BaseOptions());
  ASSERT_FALSE(HasFatalFailure());
  r = env_->Do("GET", ClaimsPath("team-a"));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(FaultsTest, ServingCertificateRotation) {
  Start(Env::WithoutConnector());
  ASSERT_FALSE(HasFatalFailure());
  auto ca = kube::tls::GenerateCA("rotation-ca");
  ASSERT_TRUE(ca.ok());
  auto issue = [&](const std::string& cn) {
    kube::tls::CertificateSpec spec;
    spec.common_name = cn;
    spec.dns_names = {"mcp-connector.kube-system.svc", "localhost"};
    spec.ip_addresses = {"127.0.0.1"};
    auto leaf = kube::tls::GenerateSigned(*ca, spec);
    EXPECT_TRUE(leaf.ok());
    return std::move(*leaf);
  };
  std::string crt = env_->dir + "/serving.crt", key = env_->dir + "/serving.key";
  auto write_pair = [&](const kube::tls::KeyPair& kp) {
    // Atomic replacement, as a Secret volume update does.
    ASSERT_TRUE(kube::tls::WriteFile(crt + ".tmp", kp.cert_pem, 0644).ok());
    ASSERT_TRUE(kube::tls::WriteFile(key + ".tmp", kp.key_pem.RevealCopy()).ok());
    std::filesystem::rename(key + ".tmp", key);
    std::filesystem::rename(crt + ".tmp", crt);
  };
  write_pair(issue("connector-one"));
  auto o = env_->BaseOptions();
  o.tls_cert_file = crt;
  o.tls_private_key_file = key;
  o.tls_ca_file = env_->dir + "/rotation-ca.crt";
  ASSERT_TRUE(kube::tls::WriteFile(o.tls_ca_file, ca->cert_pem, 0644).ok());
  env_->StartConnector(o);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(env_->ca_pem, ca->cert_pem);

  auto old_conn = env_->NewClient();
  ASSERT_TRUE(old_conn->Connect()) << old_conn->error();
  EXPECT_EQ(old_conn->PeerCommonName(), "connector-one");
  EXPECT_EQ(old_conn->Do("GET", "/healthz").status, 200);

  std::this_thread::sleep_for(1100ms);  // a different mtime for the new files
  write_pair(issue("connector-two"));
  std::string seen;
  EXPECT_TRUE(Eventually(
      [&] {
        auto c = env_->NewClient();
        if (!c->Connect()) return false;
        seen = c->PeerCommonName();
        return seen == "connector-two";
      },
      10s, "new connections get the new certificate"))
      << "last seen " << seen;
  // The established connection keeps working.
  EXPECT_EQ(old_conn->Do("GET", "/healthz").status, 200);
  auto c = env_->NewClient();
  ASSERT_TRUE(c->Connect()) << c->error();
  EXPECT_EQ(c->Do("GET", ClaimsPath("team-a")).status, 200);
}

TEST_F(FaultsTest, AppClusterUnreachableForReviewsDenies) {
  Start();
  ASSERT_FALSE(HasFatalFailure());
  Identity alice{true, "alice", {"devs"}};
  Identity mallory{true, "mallory", {"devs"}};
  // Reviews answered: alice allowed, mallory forbidden.
  auto ok = env_->Do("GET", ClaimsPath("team-a"), "", {}, alice);
  EXPECT_EQ(ok.status, 200) << ok.body;
  auto forbidden = env_->Do("GET", ClaimsPath("team-a"), "", {}, mallory);
  EXPECT_EQ(forbidden.status, 403) << forbidden.body;
  EXPECT_EQ(forbidden.Reason(), "Forbidden");

  std::string before = env_->ClaimNamespaceState();
  ASSERT_TRUE(env_->app->SetRefuseConnections(true).ok());
  env_->cp->ClearRequests();
  // No SubjectAccessReview answer (caches are off in this harness): 503, whoever asks.
  auto expect_unavailable = [](const HttpResponse& r, const std::string& what) {
    EXPECT_EQ(r.status, 503) << what << ": " << r.body;
    EXPECT_EQ(r.Reason(), "ServiceUnavailable") << what;
    EXPECT_THAT(r.Message(), HasSubstr("authorization check failed")) << what;
  };
  for (const Identity& who : {alice, mallory}) {
    auto start = Clock::now();
    auto list = env_->Do("GET", ClaimsPath("team-a"), "", {}, who, 20s);
    expect_unavailable(list, who.user + " list");
    EXPECT_LT(Clock::now() - start, 15s);
    auto create = env_->Do("POST", ClaimsPath("team-a"), ClaimJson("sneak-" + who.user, "team-a"),
                           {}, who, 20s);
    expect_unavailable(create, who.user + " create");
    auto del = env_->Do("DELETE", ClaimsPath("team-a"), "", {}, who, 20s);
    expect_unavailable(del, who.user + " deletecollection");
  }
  // A bearer token cannot be reviewed: never authenticated.
  Identity token_user{false, "", {}};
  auto tok = env_->Do("GET", ClaimsPath("team-a"), "", {{"Authorization", "Bearer some-token"}},
                      token_user, 20s);
  EXPECT_EQ(tok.status, 401) << tok.body;
  EXPECT_EQ(tok.Reason(), "Unauthorized");
  // Nothing reached the control plane.
  EXPECT_TRUE(env_->cp
                  ->Requests([](const fakekube::RecordedRequest& q) {
                    return q.path.find("/namespaces/claims/") != std::string::npos;
                  })
                  .empty())
      << "a request without an authorization answer reached the control plane";
  EXPECT_EQ(env_->ClaimNamespaceState(), before);
  // system:masters needs no review; health needs none either.
  EXPECT_EQ(env_->Do("GET", ClaimsPath("team-a")).status, 200);
  EXPECT_EQ(env_->Do("GET", "/healthz", "", {}, token_user).status, 200);
  ASSERT_TRUE(env_->app->SetRefuseConnections(false).ok());
  EXPECT_TRUE(
      Eventually([&] { return env_->Do("GET", ClaimsPath("team-a"), "", {}, alice).status == 200; },
                 15s, "alice served again once the app cluster answers"));
}

}  // namespace
}  // namespace reliability

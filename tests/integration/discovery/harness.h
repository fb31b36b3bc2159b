// Test harness: two in-process fakekubes (control plane, app cluster), an io_context thread, and
// discovery::Controllers between them.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "discovery/apiservice.h"
#include "discovery/controller.h"
#include "kube/rest_client.h"
#include "tests/fakekube/server.h"

namespace discovery::testing {

namespace asio = boost::asio;
namespace json = kube::json;
using namespace std::chrono_literals;

inline std::string TestData(const std::string& file) {
  std::ifstream in(std::string(DISCOVERY_TESTDATA) + "/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline const std::string kClusterID = "11111111-2222-3333-4444-555555555555";

// Polls `pred` until true or timeout.
inline ::testing::AssertionResult Eventually(const std::function<bool()>& pred,
                                             std::chrono::milliseconds timeout,
                                             const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(20ms);
  }
  if (pred()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "timed out after " << timeout.count() << "ms waiting for " << what;
}

template <class T>
asio::awaitable<void> Capture(asio::awaitable<T> a, std::optional<T>* out) {
  out->emplace(co_await std::move(a));
}

class Harness {
 public:
  Harness() : work_(asio::make_work_guard(ioc_)) {}
  ~Harness() {
    for (auto& c : controllers_) StopController(c.get());
    work_.reset();
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Starts both fakekubes; the control plane knows Crossplane's XRD CRD.
  void Start() {
    cp = std::make_unique<fakekube::FakeKube>(fakekube::FakeKubeOptions{});
    app = std::make_unique<fakekube::FakeKube>(fakekube::FakeKubeOptions{});
    ASSERT_TRUE(cp->Start().ok());
    ASSERT_TRUE(app->Start().ok());
    auto ok = cp->Apply(TestData("apiextensions.crossplane.io_compositeresourcedefinitions.yaml"));
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    ok = app->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: upbound-system}\n");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void ApplyCP(const std::string& yaml) {
    auto ok = cp->Apply(yaml);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
  }
  void ApplyCPFile(const std::string& file) { ApplyCP(TestData(file)); }
  void ApplyApp(const std::string& yaml) {
    auto ok = app->Apply(yaml);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
  }

  ControllerOptions Options() const {
    ControllerOptions o;
    o.cluster_id = kClusterID;
    o.claim_namespace = "mcp-claims";
    o.service_namespace = "upbound-system";
    o.service_name = "mcp-connector";
    o.ca_bundle_pem = "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n";
    o.leader_election = false;
    o.lease_duration = 2000ms;
    o.renew_deadline = 1500ms;
    o.retry_period = 200ms;
    o.backoff_initial = 50ms;
    o.backoff_max = 500ms;
    return o;
  }

  std::shared_ptr<kube::RestClient> Client(const fakekube::FakeKube& k) {
    auto c = kube::RestClient::Create(ioc_.get_executor(), k.AdminConfig());
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : nullptr;
  }

  Controller* StartController(ControllerOptions o) {
    auto c = std::make_unique<Controller>(ioc_.get_executor(), Client(*cp), Client(*app),
                                          std::move(o), std::make_shared<SnapshotPublisher>());
    c->Start();
    controllers_.push_back(std::move(c));
    return controllers_.back().get();
  }

  void StopController(Controller* c) {
    if (!c) return;
    auto f = asio::co_spawn(ioc_, c->Stop(), asio::use_future);
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready) << "Stop() hung";
  }

  template <class T>
  T Run(asio::awaitable<T> a) {
    std::optional<T> out;
    auto f = asio::co_spawn(ioc_, Capture(std::move(a), &out), asio::use_future);
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    f.get();
    return std::move(*out);
  }

  // The APIService in the app cluster, or null.
  fakekube::Object APIService(const std::string& name) const {
    auto r = app->Get("apiregistration.k8s.io", "apiservices", "", name);
    return r.ok() ? *r : nullptr;
  }
  ::testing::AssertionResult WaitAPIService(const std::string& name, bool present,
                                            std::chrono::milliseconds timeout = 5s) {
    return Eventually([&] { return (APIService(name) != nullptr) == present; }, timeout,
                      "APIService " + name + (present ? " to exist" : " to be gone"));
  }
  static ::testing::AssertionResult WaitLoaded(Controller* c,
                                               std::chrono::milliseconds timeout = 5s) {
    return Eventually([c] { return c->publisher()->Load()->readiness().loaded; }, timeout,
                      "snapshot loaded");
  }

  std::unique_ptr<fakekube::FakeKube> cp, app;

 private:
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::vector<std::unique_ptr<Controller>> controllers_;
};

}  // namespace discovery::testing

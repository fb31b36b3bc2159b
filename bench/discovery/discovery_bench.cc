// Issue 5's speed targets, measured in-process against two fakekubes (control plane, app cluster):
//   1. an XRD established in the control plane -> its APIService created in the app cluster
//      (target <= 2 s), repeated for --xrds-added distinct groups;
//   2. start with --xrds XRDs already in the control plane -> every APIService exists
//      (target <= 3 s from the controller's construction), repeated --reps times.
// Prints a table. Usage: discovery_bench [--reps N] [--xrds N] [--xrds-added N]
#include <glog/logging.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "discovery/apiservice.h"
#include "discovery/controller.h"
#include "kube/rest_client.h"
#include "tests/fakekube/server.h"

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SourceDir() { return MCP_SOURCE_DIR_DEFAULT; }

// A claim XRD + its claim CRD for group g<i>.bench.example.org.
std::string XRDAndCRD(int i) {
  std::string g = "g" + std::to_string(i) + ".bench.example.org";
  return "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
         "metadata: {name: widgets." +
         g +
         "}\n"
         "spec:\n  group: " +
         g +
         "\n"
         "  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget,"
         " categories: [claim]}\n"
         "  scope: Namespaced\n"
         "  versions:\n  - name: v1alpha1\n    served: true\n    storage: true\n"
         "    subresources: {status: {}}\n"
         "    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: "
         "true}}\n"
         "---\n"
         "apiVersion: apiextensions.crossplane.io/v1\nkind: CompositeResourceDefinition\n"
         "metadata: {name: xwidgets." +
         g +
         "}\n"
         "spec:\n  group: " +
         g +
         "\n"
         "  names: {kind: XWidget, plural: xwidgets}\n"
         "  claimNames: {kind: Widget, plural: widgets}\n"
         "  versions:\n  - name: v1alpha1\n    served: true\n    referenceable: true\n"
         "    schema: {openAPIV3Schema: {type: object}}\n";
}

struct Env {
  std::unique_ptr<fakekube::FakeKube> cp, app;
  asio::io_context ioc;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  bool Start() {
    cp = std::make_unique<fakekube::FakeKube>(fakekube::FakeKubeOptions{});
    app = std::make_unique<fakekube::FakeKube>(fakekube::FakeKubeOptions{});
    if (!cp->Start().ok() || !app->Start().ok()) return false;
    std::string xrd_crd = ReadFile(SourceDir() +
                                   "/tests/unit/discovery/testdata/"
                                   "apiextensions.crossplane.io_compositeresourcedefinitions.yaml");
    if (!cp->Apply(xrd_crd).ok()) return false;
    if (!cp->Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: mcp-claims}\n").ok()) {
      return false;
    }
    work = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        ioc.get_executor());
    thread = std::thread([this] { ioc.run(); });
    return true;
  }
  ~Env() {
    work.reset();
    ioc.stop();
    if (thread.joinable()) thread.join();
  }

  std::unique_ptr<discovery::Controller> NewController() {
    discovery::ControllerOptions o;
    o.cluster_id = "bench-cluster";
    o.claim_namespace = "mcp-claims";
    o.service_namespace = "upbound-system";
    o.service_name = "mcp-connector";
    o.ca_bundle_pem = "-----BEGIN CERTIFICATE-----\nBENCH\n-----END CERTIFICATE-----\n";
    o.leader_election = false;
    auto cpc = kube::RestClient::Create(ioc.get_executor(), cp->AdminConfig());
    auto appc = kube::RestClient::Create(ioc.get_executor(), app->AdminConfig());
    return std::make_unique<discovery::Controller>(
        ioc.get_executor(), *cpc, *appc, o, std::make_shared<discovery::SnapshotPublisher>());
  }
  void Stop(discovery::Controller& c) {
    asio::co_spawn(ioc, c.Stop(), asio::use_future).wait_for(10s);
  }
  bool HasAPIService(int i) {
    return app
        ->Get("apiregistration.k8s.io", "apiservices", "",
              "v1alpha1.g" + std::to_string(i) + ".bench.example.org")
        .ok();
  }
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Stats {
  double median, max, min;
};
Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.back(), v.front()};
}

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_minloglevel = 2;  // errors only: logging is not what we measure
  int reps = 3, xrds = 100, added = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--xrds")) xrds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--xrds-added")) added = std::atoi(argv[i + 1]);
  }

  // 1. XRD established -> APIService created.
  std::vector<double> add_ms;
  {
    Env env;
    if (!env.Start()) {
      std::fprintf(stderr, "fakekube failed to start\n");
      return 1;
    }
    auto c = env.NewController();
    c->Start();
    while (!c->publisher()->Load()->readiness().loaded) std::this_thread::sleep_for(5ms);
    for (int i = 0; i < added; ++i) {
      std::string yaml = XRDAndCRD(1000 + i);
      auto t0 = Clock::now();
      if (!env.cp->Apply(yaml).ok()) return 1;
      while (!env.HasAPIService(1000 + i)) {
        if (Clock::now() - t0 > 10s) {
          std::fprintf(stderr, "APIService %d never appeared\n", i);
          return 1;
        }
        std::this_thread::sleep_for(1ms);
      }
      add_ms.push_back(Ms(Clock::now() - t0));
    }
    env.Stop(*c);
  }

  // 2. Start with N XRDs -> all APIServices.
  std::vector<double> start_ms, loaded_ms;
  for (int r = 0; r < reps; ++r) {
    Env env;
    if (!env.Start()) return 1;
    std::string all;
    for (int i = 0; i < xrds; ++i) all += "---\n" + XRDAndCRD(i);
    if (!env.cp->Apply(all).ok()) return 1;
    auto t0 = Clock::now();
    auto c = env.NewController();
    c->Start();
    bool loaded = false;
    int next = 0;
    while (next < xrds) {
      if (!loaded && c->publisher()->Load()->readiness().loaded) {
        loaded = true;
        loaded_ms.push_back(Ms(Clock::now() - t0));
      }
      if (env.HasAPIService(next)) {
        ++next;
        continue;
      }
      if (Clock::now() - t0 > 30s) {
        std::fprintf(stderr, "only %d APIServices after 30 s\n", next);
        return 1;
      }
      std::this_thread::sleep_for(1ms);
    }
    start_ms.push_back(Ms(Clock::now() - t0));
    if (!loaded) loaded_ms.push_back(start_ms.back());
    // The last APIService is visible just before its create response is counted.
    for (int i = 0; i < 100 && c->counters().apiservice_creates < static_cast<uint64_t>(xrds);
         ++i) {
      std::this_thread::sleep_for(10ms);
    }
    if (c->counters().apiservice_creates != static_cast<uint64_t>(xrds)) {
      std::fprintf(stderr, "unexpected write count %llu\n",
                   static_cast<unsigned long long>(c->counters().apiservice_creates));
    }
    env.Stop(*c);
  }

  Stats a = Summarize(add_ms), s = Summarize(start_ms), l = Summarize(loaded_ms);
  std::printf("| measurement | runs | median | min | max | target |\n");
  std::printf("|---|---|---|---|---|---|\n");
  std::printf(
      "| XRD established -> APIService created | %zu | %.1f ms | %.1f ms | %.1f ms | <= 2000 ms "
      "|\n",
      add_ms.size(), a.median, a.min, a.max);
  std::printf("| start with %d XRDs -> snapshot loaded | %zu | %.1f ms | %.1f ms | %.1f ms | - |\n",
              xrds, loaded_ms.size(), l.median, l.min, l.max);
  std::printf(
      "| start with %d XRDs -> all %d APIServices | %zu | %.1f ms | %.1f ms | %.1f ms | <= 3000 ms "
      "|\n",
      xrds, xrds, start_ms.size(), s.median, s.min, s.max);
  bool ok = a.max <= 2000 && s.max <= 3000;
  return ok ? 0 : 3;
}

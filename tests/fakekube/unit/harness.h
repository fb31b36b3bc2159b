// Drives fakekube's ResourceHandler directly (no network): a store, a registry, the handler and
// helpers to send one request or start a watch on a background io_context.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "kube/json.h"
#include "kube/request_info.h"
#include "tests/fakekube/registry.h"
#include "tests/fakekube/resource_handler.h"
#include "tests/fakekube/store.h"
#include "tests/fakekube/testing/recording_writer.h"

namespace fakekube::testing {

struct Response {
  int code = 0;
  std::string body;
  std::string content_type;
  kube::json::Document doc;
  std::string Str(std::string_view dotted) const {
    const kube::json::Value* v = kube::json::FindPath(doc, dotted);
    if (!v) return "<missing>";
    if (v->IsString()) return std::string(kube::json::View(*v));
    return kube::json::Serialize(*v);
  }
};

// A running watch: the handler streams on its own thread until Stop() or the stream ends.
class WatchStream {
 public:
  WatchStream(ResourceHandler& h, kube::http::Request req, kube::RequestInfo info)
      : req_(std::move(req)), info_(std::move(info)), writer_(io_.get_executor()) {
    boost::asio::co_spawn(io_, h.ServeResource(req_, writer_, info_), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~WatchStream() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    writer_.Close();
    thread_.join();
  }
  // Waits until the stream holds at least `n` lines; returns them.
  std::vector<kube::json::Document> Lines(size_t n,
                                          std::chrono::milliseconds t = std::chrono::seconds(5)) {
    writer_.WaitFor(
        [&](const std::string& b) { return size_t(std::count(b.begin(), b.end(), '\n')) >= n; }, t);
    std::vector<kube::json::Document> out;
    std::istringstream in(writer_.body());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto d = kube::json::Parse(line);
      if (d) out.push_back(std::move(*d));
    }
    return out;
  }
  RecordingWriter& writer() { return writer_; }
  bool WaitFinished(std::chrono::milliseconds t = std::chrono::seconds(5)) {
    return writer_.WaitFinished(t);
  }

 private:
  boost::asio::io_context io_;
  kube::http::Request req_;
  kube::RequestInfo info_;
  RecordingWriter writer_;
  std::thread thread_;
};

class HandlerTest : public ::testing::Test {
 protected:
  HandlerTest() : HandlerTest(ResourceHandler::Options{}) {}
  explicit HandlerTest(ResourceHandler::Options o)
      : registry_(store_), handler_(store_, registry_, o) {
    SeedBuiltinObjects(store_);
  }

  static kube::http::Request MakeRequest(std::string method, std::string target, std::string body,
                                         std::vector<std::pair<std::string, std::string>> hdrs) {
    kube::http::Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    kube::http::ParseTarget(req);
    req.body = std::move(body);
    bool has_ct = false;
    for (auto& [k, v] : hdrs) {
      if (kube::http::EqualsIgnoreCase(k, "Content-Type")) has_ct = true;
      req.headers.Add(k, v);
    }
    if (!has_ct && !req.body.empty()) req.headers.Add("Content-Type", "application/json");
    return req;
  }

  Response Do(std::string method, std::string target, std::string body = "",
              std::vector<std::pair<std::string, std::string>> hdrs = {}) {
    kube::http::Request req =
        MakeRequest(std::move(method), std::move(target), std::move(body), std::move(hdrs));
    auto info = factory_.NewRequestInfo(req);
    EXPECT_TRUE(info.ok());
    boost::asio::io_context io;
    RecordingWriter w(io.get_executor());
    boost::asio::co_spawn(io, handler_.ServeResource(req, w, *info), boost::asio::detached);
    io.run();
    Response r;
    r.code = w.status();
    r.body = w.body();
    r.content_type = w.header("Content-Type").value_or("");
    if (auto d = kube::json::Parse(r.body)) r.doc = std::move(*d);
    return r;
  }

  std::unique_ptr<WatchStream> Watch(std::string target,
                                     std::vector<std::pair<std::string, std::string>> hdrs = {}) {
    kube::http::Request req = MakeRequest("GET", std::move(target), "", std::move(hdrs));
    auto info = factory_.NewRequestInfo(req);
    EXPECT_TRUE(info.ok());
    return std::make_unique<WatchStream>(handler_, std::move(req), *info);
  }

  static std::string Fixture(const std::string& name) {
    std::ifstream f("/work/shared/fixtures/crossplane/" + name);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  // Creates the Crossplane claim CRD (KubernetesCluster, k8s.starter.org/v1alpha1).
  void CreateClaimCRD() {
    auto r = Do("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                Fixture("12-crd-kubernetesclusters.yaml"), {{"Content-Type", "application/yaml"}});
    ASSERT_EQ(r.code, 201) << r.body;
  }

  static std::string Claim(std::string name, std::string extra_meta = "",
                           std::string version = "1.30") {
    return R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{"name":")" +
           name + "\"" + extra_meta + R"(},"spec":{"parameters":{"version":")" + version +
           R"("}}})";
  }
  static constexpr const char* kClaims =
      "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters";

  Store store_;
  Registry registry_;
  ResourceHandler handler_;
  kube::RequestInfoFactory factory_;
};

}  // namespace fakekube::testing

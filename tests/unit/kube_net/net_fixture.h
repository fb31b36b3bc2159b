// A TLS server on 127.0.0.1:0 with generated certificates and a RestClient pointing at it.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <memory>
#include <string>

#include "kube/http_server.h"
#include "kube/rest_client.h"
#include "tests/unit/kube_net/net_test_util.h"

namespace kube::testing {

inline asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

class NetFixture : public ::testing::Test {
 protected:
  ~NetFixture() override {
    if (server_) server_->Shutdown(std::chrono::seconds(1));
  }

  // Routes by exact path; unknown paths get 404.
  void Route(std::string path, http::Handler h) { routes_[std::move(path)] = std::move(h); }

  void StartServer(http::ServerOptions opts = {}) {
    opts.bind_address = "127.0.0.1";
    opts.port = 0;
    if (!opts.tls && !plain_) {
      const Pki& pki = TestPki();
      opts.tls = *tls::ServerCredential::FromPem(pki.server.cert_pem, pki.server.key_pem);
    }
    server_ = std::make_unique<http::Server>(
        opts, [this](http::Request& req, http::ResponseWriter& w) -> asio::awaitable<void> {
          auto it = routes_.find(req.path);
          if (it == routes_.end()) {
            Status st = NewNotFound({"", "things"}, req.path);
            http::Headers h;
            h.Add("Content-Type", "application/json");
            co_await w.Send(404, std::move(h), st.ToJson());
            co_return;
          }
          co_await it->second(req, w);
        });
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }

  ClusterConfig Config() {
    ClusterConfig c;
    c.server = std::string(plain_ ? "http" : "https") + "://127.0.0.1:" + std::to_string(port_);
    c.ca_pem = TestPki().ca.cert_pem;
    return c;
  }

  std::shared_ptr<RestClient> Client(ClusterConfig c) {
    auto client = RestClient::Create(io_.executor(), std::move(c));
    EXPECT_TRUE(client.ok()) << client.error().message;
    return client.ok() ? *client : nullptr;
  }
  std::shared_ptr<RestClient> Client() { return Client(Config()); }

  RestResponse MustDo(RestClient& c, RestRequest r) {
    auto res = io_.Run(c.Do(std::move(r)));
    EXPECT_TRUE(res.ok()) << res.error().message;
    return res.ok() ? std::move(*res) : RestResponse{};
  }

  static RestRequest Get(std::string path) {
    RestRequest r;
    r.path = std::move(path);
    return r;
  }

  IoThread io_;  // declared first: destroyed after the clients that use it
  bool plain_ = false;
  std::map<std::string, http::Handler> routes_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

}  // namespace kube::testing

// Helpers for apiserver unit tests: a recording ResponseWriter and a coroutine runner.
#pragma once

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <functional>
#include <string>

#include "kube/http.h"

namespace apiserver::testing {

namespace asio = boost::asio;

class FakeWriter : public kube::http::ResponseWriter {
 public:
  asio::awaitable<bool> WriteHeader(int s, kube::http::Headers h,
                                    std::optional<uint64_t>) override {
    status = s;
    headers = std::move(h);
    sent = true;
    co_return true;
  }
  asio::awaitable<bool> Write(std::string_view d) override {
    body.append(d);
    co_return true;
  }
  asio::awaitable<bool> WriteFramed(std::string& buf) override {
    ++framed_writes;
    body.append(FramedData(buf));
    co_return true;
  }
  asio::awaitable<bool> Finish() override {
    finished = true;
    co_return true;
  }
  asio::awaitable<void> WaitClosed() override { co_return; }
  bool header_sent() const override { return sent; }

  std::string Header(std::string_view name) const {
    auto v = headers.Get(name);
    return v ? std::string(*v) : std::string();
  }

  int status = 0;
  kube::http::Headers headers;
  std::string body;
  bool sent = false;
  bool finished = false;
  int framed_writes = 0;  // WriteFramed calls that reached this writer
};

// Runs the coroutine made by `make` to completion on a fresh io_context, rethrowing failures.
inline void RunCo(std::function<asio::awaitable<void>()> make) {
  asio::io_context ctx;
  std::exception_ptr err;
  asio::co_spawn(ctx, make(), [&](std::exception_ptr e) { err = e; });
  ctx.run();
  if (err) std::rethrow_exception(err);
}

inline asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

inline kube::http::Request MakeRequest(std::string method, std::string target) {
  kube::http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  kube::http::ParseTarget(r);
  return r;
}

}  // namespace apiserver::testing

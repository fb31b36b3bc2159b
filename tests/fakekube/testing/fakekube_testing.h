// gtest helpers for tests that run against fakekube::FakeKube: waits returning
// testing::AssertionResult (with what was seen on failure), and a kubectl runner.
//
//   EXPECT_TRUE(fakekube::testing::WaitForRequest(kube, [](auto& r) { return r.verb == "watch"; },
//                                                 "a watch"));
//   fakekube::testing::Kubectl kubectl(kubeconfig_path, cache_dir);
//   auto r = kubectl.Run("get claim -A");   // r.exit_code, r.output (stdout + stderr)
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <future>
#include <optional>
#include <thread>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "tests/fakekube/server.h"

namespace fakekube::testing {

::testing::AssertionResult WaitForRequest(
    const FakeKube& kube, const RequestPredicate& pred, std::string_view what,
    std::chrono::milliseconds timeout = std::chrono::seconds(10), RecordedRequest* out = nullptr);

// Waits until the stored object satisfies `pred` (null when absent).
::testing::AssertionResult WaitForObject(
    const FakeKube& kube, std::string_view group, std::string_view resource, std::string_view ns,
    std::string_view name, const std::function<bool(const kube::json::Value*)>& pred,
    std::string_view what, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Waits until the object has condition `type` with status `status`.
::testing::AssertionResult WaitForCondition(
    const FakeKube& kube, std::string_view group, std::string_view resource, std::string_view ns,
    std::string_view name, std::string_view type, std::string_view status,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};
// Runs `command` with /bin/sh; output captured.
CommandResult RunCommand(const std::string& command);

// A unique temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Kubectl {
 public:
  Kubectl(std::string kubeconfig, std::string cache_dir);
  // `kubectl --kubeconfig K --cache-dir C <args>`; args are passed to the shell as written.
  CommandResult Run(std::string_view args) const;

 private:
  std::string kubeconfig_;
  std::string cache_dir_;
};

// An io_context on its own thread, for client coroutines (kube::RestClient) in tests.
class IoThread {
 public:
  IoThread() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }
  // Runs the coroutine made by `make` on the thread and waits for its result.
  template <class F>
  auto Run(F make) -> typename decltype(make())::value_type {
    using T = typename decltype(make())::value_type;
    std::optional<T> out;
    std::promise<void> done;
    boost::asio::co_spawn(
        io_, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await make()); },
        [&](std::exception_ptr) { done.set_value(); });
    done.get_future().wait();
    return std::move(*out);
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

// The value of condition `type` in obj.status.conditions ("" when absent).
std::string ConditionStatus(const kube::json::Value& obj, std::string_view type);

}  // namespace fakekube::testing

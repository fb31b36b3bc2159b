// A kube::http::ResponseWriter that records what a handler writes, for driving handlers in tests
// without a network server. Thread-safe: a test thread may read the body while a watch is
// streaming on an io_context thread; Close() ends WaitClosed() like a client going away.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kube/http.h"

namespace fakekube::testing {

class RecordingWriter : public kube::http::ResponseWriter {
 public:
  explicit RecordingWriter(boost::asio::any_io_executor ex) : timer_(ex) {
    timer_.expires_at(std::chrono::steady_clock::time_point::max());
  }

  boost::asio::awaitable<bool> WriteHeader(int status, kube::http::Headers headers,
                                           std::optional<uint64_t> content_length) override {
    std::lock_guard lock(mu_);
    status_ = status;
    headers_ = std::move(headers);
    content_length_ = content_length;
    header_sent_ = true;
    cv_.notify_all();
    co_return !closed_;
  }
  boost::asio::awaitable<bool> Write(std::string_view data) override {
    std::lock_guard lock(mu_);
    body_.append(data);
    writes_.emplace_back(data);
    cv_.notify_all();
    co_return !closed_;
  }
  boost::asio::awaitable<bool> Finish() override {
    std::lock_guard lock(mu_);
    finished_ = true;
    cv_.notify_all();
    co_return !closed_;
  }
  boost::asio::awaitable<void> WaitClosed() override {
    {
      std::lock_guard lock(mu_);
      if (closed_) co_return;
    }
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  bool header_sent() const override {
    std::lock_guard lock(mu_);
    return header_sent_;
  }

  // Simulates the client going away (call from any thread).
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    boost::asio::post(timer_.get_executor(), [this] { timer_.cancel(); });
  }

  int status() const {
    std::lock_guard lock(mu_);
    return status_;
  }
  std::string body() const {
    std::lock_guard lock(mu_);
    return body_;
  }
  std::vector<std::string> writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }
  std::optional<std::string> header(std::string_view name) const {
    std::lock_guard lock(mu_);
    auto v = headers_.Get(name);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
  bool finished() const {
    std::lock_guard lock(mu_);
    return finished_;
  }
  std::optional<uint64_t> content_length() const {
    std::lock_guard lock(mu_);
    return content_length_;
  }

  // Waits until `pred(body)` holds or the timeout passes; returns whether it held.
  template <class Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(body_); });
  }
  bool WaitFinished(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return finished_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  boost::asio::steady_timer timer_;
  int status_ = 0;
  kube::http::Headers headers_;
  std::optional<uint64_t> content_length_;
  std::string body_;
  std::vector<std::string> writes_;
  bool header_sent_ = false;
  bool finished_ = false;
  bool closed_ = false;
};

}  // namespace fakekube::testing

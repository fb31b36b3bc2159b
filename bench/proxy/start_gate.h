// proxy_bench's start line: holds a run's workers until the last has connected, then releases
// them all at one start time, published before anyone is released.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace bench {

// Workers may run on several threads. The last to arrive runs `on_start` (e.g. it takes the CPU
// snapshot and returns the start time) and stores its result before it releases the others, so
// no worker can read the start time (or an end time derived from it) before it is written.
// (proxy_bench raised the count first and wrote the time after a /proc read until 2026-12-08:
// workers on the other client thread could see everyone arrived, read an unset end time and stop
// at once, so a "c=16" run had fewer than 16 workers; bench/README.md, "Session 9".)
class StartGate {
 public:
  using Clock = std::chrono::steady_clock;

  explicit StartGate(int workers) : workers_(workers) {}

  template <typename OnStart>
  boost::asio::awaitable<Clock::time_point> Arrive(OnStart on_start) {
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == workers_) {
      start_ = on_start();
      released_.store(true, std::memory_order_release);
    }
    while (!released_.load(std::memory_order_acquire)) {
      boost::asio::steady_timer tm(co_await boost::asio::this_coro::executor,
                                   std::chrono::microseconds(50));
      co_await tm.async_wait(boost::asio::use_awaitable);
    }
    co_return start_;
  }

 private:
  const int workers_;
  std::atomic<int> arrived_{0};
  std::atomic<bool> released_{false};
  Clock::time_point start_{};
};

}  // namespace bench

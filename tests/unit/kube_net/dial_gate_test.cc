#include "kube/dial_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace kube {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = DialGate::Clock;

// Runs Enter() in its own coroutine, recording the order in which waiters got their answer.
void Spawn(asio::io_context& io, DialGate& gate, bool long_running, Clock::time_point deadline,
           std::string name, std::vector<std::string>& order, asio::cancellation_slot slot = {}) {
  asio::co_spawn(
      io,
      [&gate, long_running, deadline, name, &order]() -> asio::awaitable<void> {
        const bool ok = co_await gate.Enter(long_running, deadline);
        order.push_back(name + (ok ? ":in" : ":timeout"));
      },
      asio::bind_cancellation_slot(slot, asio::detached));
}

TEST(DialGateTest, NoLimitNeverWaits) {
  asio::io_context io;
  DialGate gate(0);
  std::vector<std::string> order;
  for (int i = 0; i < 100; ++i) Spawn(io, gate, true, Clock::now() + 1s, "w", order);
  io.run();
  EXPECT_EQ(order.size(), 100u);
  EXPECT_EQ(gate.waiting(), 0u);
}

TEST(DialGateTest, OrdinaryRequestsGoBeforeQueuedWatches) {
  asio::io_context io;
  DialGate gate(1);
  std::vector<std::string> order;
  const auto later = Clock::now() + 10s;
  Spawn(io, gate, true, later, "watch-1", order);  // takes the only slot
  Spawn(io, gate, true, later, "watch-2", order);  // queued
  Spawn(io, gate, true, later, "watch-3", order);  // queued
  Spawn(io, gate, false, later, "get", order);     // queued, but first in line
  io.run_for(50ms);
  ASSERT_EQ(order, std::vector<std::string>({"watch-1:in"}));
  EXPECT_EQ(gate.active(), 1u);
  EXPECT_EQ(gate.waiting(), 3u);

  gate.Leave();  // watch-1's dial is over
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(order, std::vector<std::string>({"watch-1:in", "get:in"}));
  gate.Leave();
  io.restart();
  io.run_for(50ms);
  gate.Leave();
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(order, std::vector<std::string>({"watch-1:in", "get:in", "watch-2:in", "watch-3:in"}));
  gate.Leave();
  EXPECT_EQ(gate.active(), 0u);
  EXPECT_EQ(gate.waiting(), 0u);
}

TEST(DialGateTest, AFreeSlotIsNotTakenPastAWaiterOfTheSameClass) {
  asio::io_context io;
  DialGate gate(2);
  std::vector<std::string> order;
  const auto later = Clock::now() + 10s;
  Spawn(io, gate, false, later, "a", order);
  Spawn(io, gate, false, later, "b", order);
  Spawn(io, gate, false, later, "c", order);  // waits
  io.run_for(50ms);
  EXPECT_EQ(order.size(), 2u);
  EXPECT_EQ(gate.active(), 2u);
  gate.Leave();
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(order.back(), "c:in");
  EXPECT_EQ(gate.active(), 2u);
  gate.Leave();
  gate.Leave();
  EXPECT_EQ(gate.active(), 0u);
}

TEST(DialGateTest, TheDeadlineEndsTheWaitAndLeavesNothingQueued) {
  asio::io_context io;
  DialGate gate(1);
  std::vector<std::string> order;
  Spawn(io, gate, false, Clock::now() + 10s, "holder", order);
  Spawn(io, gate, false, Clock::now() + 30ms, "late", order);
  io.run_for(300ms);
  EXPECT_EQ(order, std::vector<std::string>({"holder:in", "late:timeout"}));
  EXPECT_EQ(gate.waiting(), 0u);
  gate.Leave();
  EXPECT_EQ(gate.active(), 0u);
  // The slot is free again for the next one.
  Spawn(io, gate, false, Clock::now() + 10s, "next", order);
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(order.back(), "next:in");
}

TEST(DialGateTest, ACancelledWaiterLeavesTheQueueAndTheSlotGoesToTheNext) {
  asio::io_context io;
  DialGate gate(1);
  std::vector<std::string> order;
  const auto later = Clock::now() + 10s;
  asio::cancellation_signal cancel;
  Spawn(io, gate, false, later, "holder", order);
  Spawn(io, gate, false, later, "cancelled", order, cancel.slot());
  Spawn(io, gate, true, later, "watch", order);
  io.run_for(50ms);
  EXPECT_EQ(gate.waiting(), 2u);
  cancel.emit(asio::cancellation_type::terminal);
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(gate.waiting(), 1u);
  gate.Leave();
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(order.back(), "watch:in");
  EXPECT_EQ(gate.active(), 1u);
  gate.Leave();
  EXPECT_EQ(gate.active(), 0u);
}

TEST(DialGateTest, ManyThreadsNeverExceedTheLimit) {
  asio::io_context io;
  DialGate gate(3);
  std::atomic<int> inside{0}, worst{0}, done{0};
  for (int i = 0; i < 200; ++i) {
    asio::co_spawn(
        asio::make_strand(io),
        [&, i]() -> asio::awaitable<void> {
          const bool ok = co_await gate.Enter(i % 2 == 0, Clock::now() + 20s);
          if (!ok) co_return;
          int now = ++inside;
          int w = worst.load();
          while (now > w && !worst.compare_exchange_weak(w, now)) {
          }
          asio::steady_timer t(co_await asio::this_coro::executor);
          t.expires_after(1ms);
          co_await t.async_wait(asio::use_awaitable);
          --inside;
          gate.Leave();
          ++done;
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&io] { io.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 200);
  EXPECT_LE(worst.load(), 3);
  EXPECT_EQ(gate.active(), 0u);
  EXPECT_EQ(gate.waiting(), 0u);
}

}  // namespace
}  // namespace kube

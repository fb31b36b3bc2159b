// bench::StartGate (bench/proxy/start_gate.h): proxy_bench's closed-loop and open-loop runs
// start all their workers together, and every worker sees the start time the last one wrote.
#include "bench/proxy/start_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using Clock = bench::StartGate::Clock;

// Runs `workers` coroutines on `threads` threads through one gate whose start callback is slow
// (as proxy_bench's /proc read is), and returns the start time each worker was released with.
std::vector<Clock::time_point> RunThroughGate(int workers, int threads,
                                              std::chrono::milliseconds slow_start) {
  asio::io_context io(threads);
  bench::StartGate gate(workers);
  const Clock::time_point start = Clock::now() + std::chrono::hours(1);  // unmistakable
  std::vector<Clock::time_point> seen(workers);
  for (int w = 0; w < workers; ++w) {
    asio::co_spawn(
        io,
        [&, w]() -> asio::awaitable<void> {
          seen[w] = co_await gate.Arrive([&] {
            std::this_thread::sleep_for(slow_start);
            return start;
          });
        },
        asio::detached);
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  for (auto& s : seen) EXPECT_EQ(s, start);
  return seen;
}

TEST(StartGate, EveryWorkerSeesTheStartTimeTheLastOneWrote) {
  // Raising the count before writing the time (what proxy_bench did) fails this: the workers
  // polling on the second thread see everyone arrived during the 20 ms and read an unset time.
  for (int round = 0; round < 5; ++round) {
    RunThroughGate(/*workers=*/16, /*threads=*/2, std::chrono::milliseconds(20));
  }
}

TEST(StartGate, NoWorkerIsReleasedBeforeTheLastArrives) {
  asio::io_context io(1);
  bench::StartGate gate(3);
  std::atomic<int> released{0};
  auto worker = [&]() -> asio::awaitable<void> {
    co_await gate.Arrive([] { return Clock::now(); });
    ++released;
  };
  asio::co_spawn(io, worker(), asio::detached);
  asio::co_spawn(io, worker(), asio::detached);
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(released.load(), 0);  // two of three arrived: both still held
  asio::co_spawn(io, worker(), asio::detached);
  io.restart();
  io.run();
  EXPECT_EQ(released.load(), 3);
}

TEST(StartGate, OneWorkerStartsAtOnce) {
  auto seen = RunThroughGate(/*workers=*/1, /*threads=*/1, std::chrono::milliseconds(0));
  EXPECT_EQ(seen.size(), 1u);
}

}  // namespace

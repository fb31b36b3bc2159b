// DialGate: bounds how many connections a client establishes at once, ordinary requests first.
//
// After a control plane drops its streams, every watch the connector relays reconnects within a
// second: 1,000 TCP connects and TLS handshakes in one burst, queued FIFO in the server's accept
// backlog. A GET or PATCH that needs a new connection then waits behind all of them, and times
// out when the server handshakes slower than 1,000 per request timeout (measured in the soak: a
// busy single-threaded control plane accepted ~60 connections per second). The gate admits at
// most `limit` dials at a time; when several wait, ordinary requests go before long-running ones
// (watches), which kube-apiserver's priority and fairness also treats as cheap to delay. HTTP/2
// multiplexing (what client-go uses) would remove the burst altogether.
//
// Thread-safe: callers may run on any executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

namespace kube {

class DialGate {
 public:
  using Clock = std::chrono::steady_clock;
  explicit DialGate(size_t limit) : limit_(limit) {}  // 0: no limit

  // Waits for a slot until `deadline`. True: the caller holds a slot and must Leave() once its
  // dial is over. False: the deadline passed (or the coroutine was cancelled) first.
  boost::asio::awaitable<bool> Enter(bool long_running, Clock::time_point deadline);
  void Leave();

  size_t active() const;
  size_t waiting() const;

 private:
  struct Waiter {
    explicit Waiter(boost::asio::any_io_executor ex) : timer(std::move(ex)) {}
    boost::asio::steady_timer timer;
    bool long_running = false;
    bool granted = false;  // guarded by mu_
  };
  void Abandon(const std::shared_ptr<Waiter>& w);
  void GrantLocked();  // hands free slots to waiters, ordinary ones first

  const size_t limit_;
  mutable std::mutex mu_;
  size_t active_ = 0;
  std::deque<std::shared_ptr<Waiter>> ordinary_, long_running_;
};

}  // namespace kube

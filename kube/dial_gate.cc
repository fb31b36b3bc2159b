#include "kube/dial_gate.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kube {

namespace asio = boost::asio;

asio::awaitable<bool> DialGate::Enter(bool long_running, Clock::time_point deadline) {
  if (limit_ == 0) co_return true;
  auto ex = co_await asio::this_coro::executor;
  auto w = std::make_shared<Waiter>(ex);
  w->long_running = long_running;
  {
    std::lock_guard lock(mu_);
    // Nobody of the same or a higher class queued ahead: take a free slot at once.
    const bool ahead = !ordinary_.empty() || (long_running && !long_running_.empty());
    if (active_ < limit_ && !ahead) {
      ++active_;
      co_return true;
    }
    w->timer.expires_at(deadline);
    (long_running ? long_running_ : ordinary_).push_back(w);
  }
  // Leaves the queue (or gives the slot back) if the wait ends by an exception: cancellation.
  struct Cleanup {
    DialGate* gate;
    std::shared_ptr<Waiter> w;
    bool armed = true;
    ~Cleanup() {
      if (armed) gate->Abandon(w);
    }
  } cleanup{this, w};
  auto [ec] = co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  (void)ec;  // granted or not is what counts, whatever woke us
  std::lock_guard lock(mu_);
  cleanup.armed = false;
  if (w->granted) co_return true;
  auto& q = long_running ? long_running_ : ordinary_;
  q.erase(std::remove(q.begin(), q.end(), w), q.end());
  co_return false;
}

void DialGate::Leave() {
  if (limit_ == 0) return;
  std::lock_guard lock(mu_);
  if (active_ > 0) --active_;
  GrantLocked();
}

void DialGate::Abandon(const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mu_);
  if (w->granted) {
    if (active_ > 0) --active_;
    GrantLocked();
    return;
  }
  auto& q = w->long_running ? long_running_ : ordinary_;
  q.erase(std::remove(q.begin(), q.end(), w), q.end());
}

void DialGate::GrantLocked() {
  while (active_ < limit_) {
    auto& q = !ordinary_.empty() ? ordinary_ : long_running_;
    if (q.empty()) return;
    std::shared_ptr<Waiter> next = std::move(q.front());
    q.pop_front();
    next->granted = true;
    ++active_;
    // The timer belongs to the waiter's executor: cancel it there.
    asio::post(next->timer.get_executor(), [next] { next->timer.cancel(); });
  }
}

size_t DialGate::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

size_t DialGate::waiting() const {
  std::lock_guard lock(mu_);
  return ordinary_.size() + long_running_.size();
}

}  // namespace kube

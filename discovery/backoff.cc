#include <algorithm>

#include "discovery/informer.h"

namespace discovery {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
    : initial_(initial), max_(max), rng_(seed ? seed : std::random_device{}()) {}

std::chrono::milliseconds Backoff::Next() {
  double base = static_cast<double>(initial_.count());
  for (int i = 0; i < attempt_ && base < static_cast<double>(max_.count()); ++i) base *= 2;
  base = std::min(base, static_cast<double>(max_.count()));
  ++attempt_;
  std::uniform_real_distribution<double> jitter(1.0, 1.5);
  auto d = static_cast<int64_t>(base * jitter(rng_));
  return std::chrono::milliseconds(std::max<int64_t>(d, 1));
}

}  // namespace discovery

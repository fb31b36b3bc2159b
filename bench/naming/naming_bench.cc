// Name mapping throughput: control-plane names per second (target >= 4M/s/core).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "naming/naming.h"

namespace {

constexpr std::string_view kCluster = "00000000-0000-0000-0000-000000000000";

std::vector<std::string> Names(size_t len) {
  std::vector<std::string> names;
  for (int i = 0; i < 1024; ++i) {
    std::string n = "claim-" + std::to_string(i) + "-";
    while (n.size() < len) n.push_back(static_cast<char>('a' + (n.size() + i) % 26));
    names.push_back(n.substr(0, len));
  }
  return names;
}

// The hot path: no allocation.
void BM_ControlPlaneNameFast(benchmark::State& state) {
  auto names = Names(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    auto n =
        naming::ControlPlaneNameFast(naming::Kind::kClaim, names[i++ & 1023], "team-a", kCluster);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ControlPlaneNameFast)->Arg(9)->Arg(63)->Arg(253);

// The std::string convenience.
void BM_ControlPlaneName(benchmark::State& state) {
  auto names = Names(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    std::string n =
        naming::ControlPlaneName(naming::Kind::kClaim, names[i++ & 1023], "team-a", kCluster);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ControlPlaneName)->Arg(9)->Arg(63);

void BM_OriginLabels(benchmark::State& state) {
  auto names = Names(9);
  size_t i = 0;
  for (auto _ : state) {
    auto labels = naming::OriginLabels(kCluster, "team-a", names[i++ & 1023]);
    benchmark::DoNotOptimize(labels);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OriginLabels);

}  // namespace

BENCHMARK_MAIN();

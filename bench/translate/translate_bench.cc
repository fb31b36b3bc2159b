// The response translator alone (issue 9, workloads 1-3): what one object costs to translate,
// on the objects `hack/bench.sh get|list` serve (a claim as fakekube returns it: labels,
// managedFields, 1.1 KB; and the LIST workload's 2.3 KB item with an annotation pad).
//
// Side by side, in one run:
//   BM_Floor*        RapidJSON parse + serialize of the same text, no translation: what any
//                    DOM-based proxy pays to touch the JSON at all;
//   BM_Dom*          Translator's DOM path (parse, translate, serialize), the reference;
//   BM_Fast*         proxy::fast, what the connector runs.
// Compare the bytes/s (SetBytesProcessed: input bytes) of each pair.
#include <benchmark/benchmark.h>

#include <string>

#include "kube/json.h"
#include "naming/naming.h"
#include "proxy/fast_translate.h"
#include "proxy/translator.h"
#include "tests/unit/proxy/test_util.h"

namespace {

// The claim API, cluster and claim namespace of the proxy's unit tests.
using proxy::testing::kClaimNs;
using proxy::testing::kCluster;
using proxy::testing::MakeTranslator;

// A claim as fakekube returns it to `hack/bench.sh get` (created by proxy_bench through the
// connector), with `pad` bytes of annotation (the LIST workload uses 1200).
std::string Claim(int i, size_t pad) {
  const std::string name = "bench-" + std::to_string(i);
  const std::string cp =
      naming::ControlPlaneName(naming::Kind::kClaim, name, "bench-get", kCluster);
  std::string annotations;
  std::string f_annotations;
  if (pad > 0) {
    annotations = R"("annotations":{"bench/pad":")" + std::string(pad, 'x') + R"("},)";
    f_annotations = R"("f:annotations":{".":{},"f:bench/pad":{}},)";
  }
  return R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{)" +
         annotations + R"("labels":{"mcp-connector.upbound.io/app-cluster":")" + kCluster +
         R"(","mcp-connector.upbound.io/app-namespace":"bench-get","mcp-connector.upbound.io/app-resource-name":")" +
         name + R"("},"name":")" + cp + R"(","namespace":")" + kClaimNs +
         R"(","generation":1,"managedFields":[{"manager":"mcp-connector","operation":"Update","apiVersion":"k8s.starter.org/v1alpha1","time":"2026-11-22T09:48:04Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{)" +
         f_annotations +
         R"("f:labels":{".":{},"f:mcp-connector.upbound.io/app-cluster":{},"f:mcp-connector.upbound.io/app-namespace":{},"f:mcp-connector.upbound.io/app-resource-name":{}}},"f:spec":{".":{},"f:id":{},"f:parameters":{".":{},"f:nodes":{".":{},"f:count":{},"f:size":{}},"f:services":{".":{},"f:operators":{".":{},"f:prometheus":{".":{},"f:version":{}}}}}}}}],"uid":"6123dc16-f529-4567-a6e2-87bac4d9d9ac","creationTimestamp":"2026-11-22T09:48:04Z","resourceVersion":"16"},"spec":{"id":")" +
         name +
         R"(","parameters":{"nodes":{"count":3,"size":"small"},"services":{"operators":{"prometheus":{"version":"34.5.1"}}}}}})";
}

// Parse, translate through the DOM (unless `translate` is false: the floor), serialize.
void ParseSerialize(benchmark::State& state, size_t pad, bool translate) {
  const proxy::Translator t = MakeTranslator();
  const std::string text = Claim(0, pad);
  std::string out;
  for (auto _ : state) {
    auto doc = kube::json::Parse(text);
    if (translate && !t.TranslateDocument(*doc)) state.SkipWithError("dropped");
    out.clear();
    kube::json::AppendTo(*doc, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void Floor(benchmark::State& state, size_t pad) { ParseSerialize(state, pad, false); }
void Dom(benchmark::State& state, size_t pad) { ParseSerialize(state, pad, true); }

void Fast(benchmark::State& state, size_t pad) {
  const proxy::Translator t = MakeTranslator();
  const std::string text = Claim(0, pad);
  std::string out;
  for (auto _ : state) {
    if (proxy::fast::TranslateObject(t, text, out) != proxy::fast::Outcome::kTranslated) {
      state.SkipWithError("not on the fast path");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// A LIST page as the relay sees it: items back to back, each translated and appended.
void FastListItems(benchmark::State& state) {
  const proxy::Translator t = MakeTranslator();
  std::string items;
  constexpr int kItems = 100;
  for (int i = 0; i < kItems; ++i) items += Claim(i, 1200) + ",";
  std::string out;
  for (auto _ : state) {
    out.clear();
    std::string_view rest = items;
    while (!rest.empty()) {
      size_t length = 0;
      if (proxy::fast::AppendItem(t, rest, out, &length) != proxy::fast::Outcome::kTranslated) {
        state.SkipWithError("not on the fast path");
        return;
      }
      out.push_back(',');
      rest.remove_prefix(length + 1);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * items.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kItems));
}

BENCHMARK_CAPTURE(Floor, get_claim_1_1kb, 0);
BENCHMARK_CAPTURE(Dom, get_claim_1_1kb, 0);
BENCHMARK_CAPTURE(Fast, get_claim_1_1kb, 0);
BENCHMARK_CAPTURE(Floor, list_item_2_3kb, 1200);
BENCHMARK_CAPTURE(Dom, list_item_2_3kb, 1200);
BENCHMARK_CAPTURE(Fast, list_item_2_3kb, 1200);
BENCHMARK(FastListItems);

}  // namespace

BENCHMARK_MAIN();

// Prometheus metrics of the connector (text exposition format 0.0.4), served on /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace apiserver {

class Metrics {
 public:
  Metrics();

  // One finished request. `verb` is kube's metric verb (GET, LIST, WATCH, POST, ...); latency is
  // observed for non-long-running requests only.
  void ObserveRequest(std::string_view verb, std::string_view group, std::string_view resource,
                      int code, double seconds, bool long_running);
  void IncAuthenticationFailure(std::string_view reason);  // "no_credentials", "invalid", ...
  void IncUpstreamError(std::string_view kind);            // "unavailable", "timeout", ...
  void IncRejected(std::string_view reason);               // "inflight", "watches", "timeout"

  std::atomic<int64_t> inflight{0};      // non-long-running requests being served
  std::atomic<int64_t> open_watches{0};  // long-running requests being served

  // A callback appending more families at render time (gauges owned elsewhere: connections,
  // streams, SAR cache, upstream client). It must write complete exposition lines.
  void AddCollector(std::function<void(std::string&)> collector);

  std::string Render() const;

  // Exposition helpers for collectors.
  static void AppendFamily(std::string& out, std::string_view name, std::string_view type,
                           std::string_view help);
  static void AppendSample(std::string& out, std::string_view name, std::string_view labels,
                           double value);  // labels: `a="b",c="d"` or empty
  static std::string EscapeLabel(std::string_view v);

  static const std::vector<double>& LatencyBuckets();

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative at render
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  // Transparent: a request looks its series up by string_views (no key strings built).
  std::map<std::tuple<std::string, std::string, std::string, int>, uint64_t, std::less<>> requests_;
  std::map<std::tuple<std::string, std::string, std::string>, Histogram, std::less<>> latency_;
  std::map<std::string, uint64_t> authn_failures_;
  std::map<std::string, uint64_t> upstream_errors_;
  std::map<std::string, uint64_t> rejected_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

}  // namespace apiserver

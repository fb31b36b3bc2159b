#include "apiserver/metrics.h"

#include <cmath>
#include <cstdio>

namespace apiserver {

Metrics::Metrics() = default;

const std::vector<double>& Metrics::LatencyBuckets() {
  static const std::vector<double> b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
  return b;
}

void Metrics::ObserveRequest(std::string_view verb, std::string_view group,
                             std::string_view resource, int code, double seconds,
                             bool long_running) {
  std::lock_guard lock(mu_);
  auto count = requests_.find(std::make_tuple(verb, group, resource, code));
  if (count == requests_.end()) {
    count =
        requests_.try_emplace({std::string(verb), std::string(group), std::string(resource), code})
            .first;
  }
  ++count->second;
  if (long_running) return;
  auto series = latency_.find(std::make_tuple(verb, group, resource));
  if (series == latency_.end()) {
    series =
        latency_.try_emplace({std::string(verb), std::string(group), std::string(resource)}).first;
  }
  Histogram& h = series->second;
  const auto& bounds = LatencyBuckets();
  if (h.buckets.empty()) h.buckets.assign(bounds.size(), 0);
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      ++h.buckets[i];
      break;
    }
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::IncAuthenticationFailure(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++authn_failures_[std::string(reason)];
}

void Metrics::IncUpstreamError(std::string_view kind) {
  std::lock_guard lock(mu_);
  ++upstream_errors_[std::string(kind)];
}

void Metrics::IncRejected(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++rejected_[std::string(reason)];
}

void Metrics::AddCollector(std::function<void(std::string&)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::EscapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Metrics::AppendFamily(std::string& out, std::string_view name, std::string_view type,
                           std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Metrics::AppendSample(std::string& out, std::string_view name, std::string_view labels,
                           double value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  char buf[64];
  if (std::isinf(value)) {
    std::snprintf(buf, sizeof buf, " %s\n", value > 0 ? "+Inf" : "-Inf");
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, " %.0f\n", value);
  } else {
    std::snprintf(buf, sizeof buf, " %.9g\n", value);
  }
  out.append(buf);
}

std::string Metrics::Render() const {
  std::string out;
  std::vector<std::function<void(std::string&)>> collectors;
  {
    std::lock_guard lock(mu_);
    AppendFamily(out, "apiserver_request_total", "counter",
                 "Requests served, by verb, API group, resource and HTTP code.");
    for (const auto& [k, n] : requests_) {
      const auto& [verb, group, resource, code] = k;
      std::string labels = "verb=\"" + EscapeLabel(verb) + "\",group=\"" + EscapeLabel(group) +
                           "\",resource=\"" + EscapeLabel(resource) + "\",code=\"" +
                           std::to_string(code) + "\"";
      AppendSample(out, "apiserver_request_total", labels, static_cast<double>(n));
    }
    AppendFamily(out, "apiserver_request_duration_seconds", "histogram",
                 "Latency of non-long-running requests, by verb, API group and resource.");
    const auto& bounds = LatencyBuckets();
    for (const auto& [k, h] : latency_) {
      const auto& [verb, group, resource] = k;
      std::string base = "verb=\"" + EscapeLabel(verb) + "\",group=\"" + EscapeLabel(group) +
                         "\",resource=\"" + EscapeLabel(resource) + "\"";
      uint64_t cumulative = 0;
      for (size_t i = 0; i < bounds.size(); ++i) {
        cumulative += h.buckets[i];
        char le[32];
        std::snprintf(le, sizeof le, "%g", bounds[i]);
        AppendSample(out, "apiserver_request_duration_seconds_bucket", base + ",le=\"" + le + "\"",
                     static_cast<double>(cumulative));
      }
      AppendSample(out, "apiserver_request_duration_seconds_bucket", base + ",le=\"+Inf\"",
                   static_cast<double>(h.count));
      AppendSample(out, "apiserver_request_duration_seconds_sum", base, h.sum);
      AppendSample(out, "apiserver_request_duration_seconds_count", base,
                   static_cast<double>(h.count));
    }
    AppendFamily(out, "mcp_connector_authentication_failures_total", "counter",
                 "Requests that carried no valid identity (401), by reason.");
    for (const auto& [r, n] : authn_failures_) {
      AppendSample(out, "mcp_connector_authentication_failures_total",
                   "reason=\"" + EscapeLabel(r) + "\"", static_cast<double>(n));
    }
    AppendFamily(out, "mcp_connector_upstream_errors_total", "counter",
                 "Requests the control plane could not answer (503/504), by kind.");
    for (const auto& [r, n] : upstream_errors_) {
      AppendSample(out, "mcp_connector_upstream_errors_total", "kind=\"" + EscapeLabel(r) + "\"",
                   static_cast<double>(n));
    }
    AppendFamily(out, "mcp_connector_rejected_requests_total", "counter",
                 "Requests refused by a limit (429) or timed out (504), by reason.");
    for (const auto& [r, n] : rejected_) {
      AppendSample(out, "mcp_connector_rejected_requests_total",
                   "reason=\"" + EscapeLabel(r) + "\"", static_cast<double>(n));
    }
    collectors = collectors_;
  }
  AppendFamily(out, "apiserver_current_inflight_requests", "gauge",
               "Non-long-running requests being served.");
  AppendSample(out, "apiserver_current_inflight_requests", "", static_cast<double>(inflight));
  AppendFamily(out, "apiserver_longrunning_requests", "gauge", "Open watches.");
  AppendSample(out, "apiserver_longrunning_requests", "verb=\"WATCH\"",
               static_cast<double>(open_watches));
  for (const auto& c : collectors) c(out);
  return out;
}

}  // namespace apiserver

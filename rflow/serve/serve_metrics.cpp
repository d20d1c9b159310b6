#include "rflow/serve/serve_metrics.h"

#include <fmt/format.h>

namespace rflow::serve {

void ServeMetrics::started() {
  std::lock_guard<std::mutex> lock(mu_);
  ++in_flight_;
}

void ServeMetrics::finished(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  --in_flight_;
  ++requests_[{endpoint, status}];
  Latency& l = latency_[endpoint];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++l.buckets[i];
  ++l.count;
  l.sum += seconds;
}

void ServeMetrics::sampled(const std::string& model, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  samples_[model] += n;
}

int64_t ServeMetrics::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

std::string ServeMetrics::prometheus_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s = "# HELP rflow_requests_total Requests answered, by endpoint and HTTP status.\n"
                  "# TYPE rflow_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    s += fmt::format("rflow_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  s += "# HELP rflow_request_seconds Time from a request's arrival to its answer.\n"
       "# TYPE rflow_request_seconds histogram\n";
  for (const auto& [endpoint, l] : latency_) {
    // Buckets are cumulative: each counts every request at most its bound.
    for (size_t i = 0; i < kBuckets.size(); ++i)
      s += fmt::format("rflow_request_seconds_bucket{{endpoint=\"{}\",le=\"{}\"}} {}\n", endpoint, kBuckets[i], l.buckets[i]);
    s += fmt::format("rflow_request_seconds_bucket{{endpoint=\"{}\",le=\"+Inf\"}} {}\n", endpoint, l.count);
    s += fmt::format("rflow_request_seconds_sum{{endpoint=\"{}\"}} {}\n", endpoint, l.sum);
    s += fmt::format("rflow_request_seconds_count{{endpoint=\"{}\"}} {}\n", endpoint, l.count);
  }
  s += "# HELP rflow_samples_total Samples (or actions) drawn, by model.\n# TYPE rflow_samples_total counter\n";
  for (const auto& [model, n] : samples_) s += fmt::format("rflow_samples_total{{model=\"{}\"}} {}\n", model, n);
  s += "# HELP rflow_requests_in_flight Requests being answered now.\n# TYPE rflow_requests_in_flight gauge\n";
  s += fmt::format("rflow_requests_in_flight {}\n", in_flight_);
  return s;
}

}  // namespace rflow::serve

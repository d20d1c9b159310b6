// What GET /metrics reports, in Prometheus' text format: requests by endpoint and status, their
// latency as a histogram, samples drawn per model and requests in flight. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace rflow::serve {

class ServeMetrics {
 public:
  // Latency buckets' upper bounds, seconds.
  static constexpr std::array<double, 10> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5};
  void started();
  void finished(const std::string& endpoint, int status, double seconds);
  void sampled(const std::string& model, int64_t n);
  std::string prometheus_text() const;
  int64_t in_flight() const;

 private:
  struct Latency {
    std::array<int64_t, kBuckets.size()> buckets{};
    int64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, Latency> latency_;
  std::map<std::string, int64_t> samples_;
  int64_t in_flight_ = 0;
};

}  // namespace rflow::serve

// Latency figures for the benches: the median, 99th percentile and minimum wall time of a call,
// after a warm-up, in milliseconds (JSON, as every bench prints).
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

#include <nlohmann/json.hpp>

namespace rflow::bench {

template <class F>
nlohmann::json timed(F&& fn, int repeats) {
  for (int i = 0; i < std::max(10, repeats / 20); ++i) fn();
  std::vector<double> ms(repeats);
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(ms.begin(), ms.end());
  return {{"median_ms", ms[repeats / 2]}, {"p99_ms", ms[repeats * 99 / 100]}, {"min_ms", ms.front()}};
}

}  // namespace rflow::bench

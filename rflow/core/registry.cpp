#include "rflow/core/registry.h"

#include <algorithm>

namespace rflow {

std::string closest_name(const std::vector<std::string>& names, const std::string& name) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& n : names) {
    std::vector<size_t> prev(n.size() + 1), cur(n.size() + 1);
    for (size_t j = 0; j <= n.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= name.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= n.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (name[i - 1] != n[j - 1])});
      std::swap(prev, cur);
    }
    if (prev[n.size()] < best_d) best_d = prev[n.size()], best = n;
  }
  return best_d <= std::max<size_t>(2, name.size() / 3) ? best : std::string();
}

}  // namespace rflow

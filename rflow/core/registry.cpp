#include "rflow/core/registry.h"

#include <algorithm>

namespace rflow {

size_t edit_distance(const std::string& a, const std::string& b) {
  // Three rows (the transposition case looks two rows back), on the stack for names and keys:
  // suggestions compare a word with every key, so this runs hundreds of times per typo.
  constexpr size_t kStack = 64;
  size_t stack[3][kStack + 1];
  std::vector<size_t> heap;
  size_t *back = stack[0], *prev = stack[1], *cur = stack[2];
  if (b.size() > kStack) {
    heap.resize(3 * (b.size() + 1));
    back = heap.data(), prev = back + b.size() + 1, cur = prev + b.size() + 1;
  }
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && a[i - 1] != b[j - 1])
        cur[j] = std::min(cur[j], back[j - 2] + 1);
    }
    std::swap(back, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_name(const std::vector<std::string>& names, const std::string& name) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& n : names) {
    size_t d = edit_distance(name, n);
    if (d < best_d) best_d = d, best = n;
  }
  return best_d <= std::max<size_t>(2, name.size() / 3) ? best : std::string();
}

}  // namespace rflow

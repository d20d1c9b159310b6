#include "tools/rflow/config_flags.h"

#include <algorithm>

namespace rflow::cli {

std::string flag_name(const std::string& key, const std::string& prefix) {
  std::string k = prefix + key;
  std::replace(k.begin(), k.end(), '.', '-');
  std::replace(k.begin(), k.end(), '_', '-');
  return "--" + k;
}

SolveOptions solve_from_flags(SolveOptions o) {
  if (o.shift != 1.0 && o.schedule == "uniform") o.schedule = "shift";
  return o;
}

}  // namespace rflow::cli

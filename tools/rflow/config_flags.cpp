#include "tools/rflow/config_flags.h"

#include <algorithm>

namespace rflow::cli {

std::string flag_name(const std::string& key, const std::string& prefix) {
  std::string k = prefix + key;
  std::replace(k.begin(), k.end(), '.', '-');
  std::replace(k.begin(), k.end(), '_', '-');
  return "--" + k;
}

}  // namespace rflow::cli

// What every image evaluation is measured against, built once per process and shared: the pinned
// FID network with the Fashion-MNIST test set's feature statistics, and the independent judge
// network with the test set's per-class feature spread (pinned_nets.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rflow/eval/fidnet.h"

namespace rflow::eval {

struct FidReference {
  std::string key;
  FidNetInfo info;
  std::shared_ptr<FidNet> net;
  std::shared_ptr<FeatureStats> test_stats;
  int64_t test_size = 0;
  FidNetInfo judge_info;
  std::shared_ptr<FidNet> judge;
  std::vector<double> judge_test_spread;
};

// fidnet_path "" = the cache; data_dir: the Fashion-MNIST IDX folder. Rebuilt when the network file
// changes (a file replaced in the same process is reloaded).
std::shared_ptr<const FidReference> fid_reference(const std::string& fidnet_path, const std::string& data_dir);

}  // namespace rflow::eval

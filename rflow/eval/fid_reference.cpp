#include "rflow/eval/fid_reference.h"

#include <filesystem>
#include <mutex>

#include <torch/torch.h>

#include "rflow/data/image_dataset.h"
#include "rflow/eval/class_diversity.h"
#include "rflow/eval/pinned_nets.h"

namespace fs = std::filesystem;

namespace rflow::eval {

std::shared_ptr<const FidReference> fid_reference(const std::string& fidnet_path, const std::string& data_dir) {
  static std::mutex mu;
  static std::shared_ptr<const FidReference> cache;
  std::lock_guard<std::mutex> lock(mu);
  const std::string file = fidnet_path.empty() ? default_fidnet_path() : fidnet_path;
  std::error_code ec;
  const auto stamp = fs::last_write_time(file, ec);
  const std::string key = file + "\n" + data_dir + "\n" +
                          (ec ? std::string("missing") : std::to_string(stamp.time_since_epoch().count()));
  if (!cache || cache->key != key) {
    auto r = std::make_shared<FidReference>();
    r->key = key;
    r->net = std::make_shared<FidNet>(cached_fidnet(fidnet_path, &r->info));
    auto test = load_fashion_mnist(data_dir, "test", false);
    r->test_stats = std::make_shared<FeatureStats>(feature_stats(fidnet_features(*r->net, test->all())));
    r->test_size = test->size();
    r->judge = std::make_shared<FidNet>(load_pinned_net("judge", &r->judge_info));
    r->judge_test_spread = class_spread(fidnet_features(*r->judge, test->all()), test->labels());
    cache = r;
  }
  return cache;
}

}  // namespace rflow::eval

// Reflow pairs on disk: (z0, z1, conditioning) in numbered safetensors shards plus a manifest, and a
// BatchSource that trains on them. Shards are written atomically one at a time, so a killed
// generation loses at most the shard in progress, and rerunning fills in only what is missing.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/data/batch_source.h"
#include "rflow/flow/cond.h"

namespace rflow {

struct Pairs {
  at::Tensor z0, z1;  // [N, ...] on the CPU
  Cond cond;          // what the teacher was solved with: labels, context, extras ([N, ...] each)
};

std::string pair_shard_path(const std::string& dir, int64_t index);
void write_pair_shard(const std::string& dir, int64_t index, const Pairs& pairs,
                      const std::map<std::string, std::string>& metadata = {});
Pairs read_pair_shard(const std::string& path);
// Shard files of a directory in index order (shard_00000.safetensors, ...).
std::vector<std::string> list_pair_shards(const std::string& dir);
// All shards concatenated; shapes and dtypes are checked to agree across shards.
Pairs load_pairs(const std::string& dir);
// The shards of each sample shape concatenated (pairs of data with several shapes), shapes in the
// order they first appear; one element for pairs of one shape.
std::vector<Pairs> load_pair_buckets(const std::string& dir);

// Training batches drawn uniformly (with replacement) from stored pairs: the coupling of k-RF.
class PairSource : public BatchSource {
 public:
  explicit PairSource(Pairs pairs);
  // Pairs of several shapes: each batch from one, chosen in proportion to its pairs.
  explicit PairSource(std::vector<Pairs> buckets);
  Batch next(int64_t batch_size, c10::Device device) override;
  std::vector<int64_t> sample_shape() const override;
  std::vector<std::vector<int64_t>> sample_shapes() const override;
  int64_t num_classes() const override { return num_classes_; }
  int64_t size() const { return size_; }
  // Batches without the stored labels (a model that is not class-conditional).
  void drop_labels();

 private:
  std::vector<Pairs> buckets_;
  int64_t size_ = 0;
  int64_t num_classes_ = 0;  // 1 + the largest stored label
};

}  // namespace rflow

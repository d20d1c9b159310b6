// Data-parallel shards of a batch and their random streams. A batch of B is S shards of B/S rows;
// shard s draws its data and its method's noise from a stream of its own, swapped into the default
// generators while it runs. Which rank computes a shard then changes nothing: 2 ranks of one shard
// each give what 1 rank of both gives, and a run resumes on any number of ranks dividing S.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace rflow {

namespace dist {
class World;
}

class ShardStreams {
 public:
  // Shard 0 continues the default generators' current stream; shard s > 0 starts from their seed
  // mixed with s. `device`: a CUDA device adds its generator to each stream.
  ShardStreams(int64_t shards, c10::Device device);
  int64_t shards() const { return static_cast<int64_t>(cpu_.size()); }
  // While a shard runs, its stream is the default generators' (enter … leave, strictly paired).
  void enter(int64_t s) const;
  void leave(int64_t s);
  // Every shard's stream in rng_state() format (for a checkpoint), and back.
  std::vector<std::string> states() const;
  void restore(const std::vector<std::string>& states, const std::string& where);
  // After a step: each rank holds only its shards' advanced streams; every rank gets all of them.
  void share(const dist::World& world, const std::vector<int64_t>& mine);

 private:
  class KeepDefaults;
  c10::Device device_;
  std::vector<at::Tensor> cpu_, gpu_;  // per shard: generator state tensors (gpu_ empty on a CPU)
};

// The shards a rank computes: rank, rank + size, ... below `shards`.
std::vector<int64_t> shards_of_rank(int64_t shards, int64_t rank, int64_t size);

}  // namespace rflow

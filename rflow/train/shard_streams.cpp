#include "rflow/train/shard_streams.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/dist/world.h"

namespace rflow {

namespace {

at::Generator cpu_generator() { return at::detail::getDefaultCPUGenerator(); }
at::Generator gpu_generator(c10::Device d) { return at::globalContext().defaultGenerator(d); }

// The generator's state after seeding it with `seed`, its own state left as it was.
at::Tensor seeded_state(at::Generator g, uint64_t seed) {
  std::lock_guard<std::mutex> lock(g.mutex());
  const at::Tensor before = g.get_state();
  g.set_current_seed(seed);
  at::Tensor out = g.get_state();
  g.set_state(before);
  return out;
}

void set_state(at::Generator g, const at::Tensor& st) {
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(st);
}

at::Tensor get_state(at::Generator g) {
  std::lock_guard<std::mutex> lock(g.mutex());
  return g.get_state();
}

// Every rank's rows summed: rows a rank does not own are zero on it.
void share_rows(std::vector<at::Tensor>& states, const dist::World& world, const std::vector<int64_t>& mine) {
  if (states.empty()) return;
  at::Tensor all = torch::zeros({static_cast<int64_t>(states.size()), states[0].numel()}, torch::kInt32);
  for (int64_t s : mine) all[s].copy_(states[static_cast<size_t>(s)].to(torch::kInt32));
  world.all_reduce_sum(all, "the shards' random streams");
  for (size_t s = 0; s < states.size(); ++s) states[s] = all[static_cast<int64_t>(s)].to(torch::kUInt8).contiguous();
}

}  // namespace

ShardStreams::ShardStreams(int64_t shards, c10::Device device) : device_(device) {
  RF_CHECK(shards >= 1, "a batch has at least one shard", "train.shards", "");
  const bool gpu = device.is_cuda();
  const uint64_t base = cpu_generator().current_seed();
  for (int64_t s = 0; s < shards; ++s) {
    // A fixed odd mix keeps the shards' seeds apart for any base seed.
    const uint64_t seed = base + static_cast<uint64_t>(s) * 0x9E3779B97F4A7C15ULL;
    cpu_.push_back(s == 0 ? get_state(cpu_generator()) : seeded_state(cpu_generator(), seed));
    if (gpu) gpu_.push_back(s == 0 ? get_state(gpu_generator(device)) : seeded_state(gpu_generator(device), seed));
  }
}

// The default generators' states, put back when it goes (reading or writing every shard's stream
// goes through them).
class ShardStreams::KeepDefaults {
 public:
  KeepDefaults(c10::Device device, bool gpu)
      : device_(device), cpu_(get_state(cpu_generator())), gpu_(gpu ? get_state(gpu_generator(device)) : at::Tensor()) {}
  ~KeepDefaults() {
    set_state(cpu_generator(), cpu_);
    if (gpu_.defined()) set_state(gpu_generator(device_), gpu_);
  }
  KeepDefaults(const KeepDefaults&) = delete;
  KeepDefaults& operator=(const KeepDefaults&) = delete;

 private:
  c10::Device device_;
  at::Tensor cpu_, gpu_;
};

void ShardStreams::enter(int64_t s) const {
  set_state(cpu_generator(), cpu_[static_cast<size_t>(s)]);
  if (!gpu_.empty()) set_state(gpu_generator(device_), gpu_[static_cast<size_t>(s)]);
}

void ShardStreams::leave(int64_t s) {
  cpu_[static_cast<size_t>(s)] = get_state(cpu_generator());
  if (!gpu_.empty()) gpu_[static_cast<size_t>(s)] = get_state(gpu_generator(device_));
}

std::vector<std::string> ShardStreams::states() const {
  const KeepDefaults keep(device_, !gpu_.empty());
  std::vector<std::string> out;
  for (int64_t s = 0; s < shards(); ++s) {
    enter(s);
    out.push_back(rng_state());
  }
  return out;
}

void ShardStreams::restore(const std::vector<std::string>& states, const std::string& where) {
  RF_CHECK(static_cast<int64_t>(states.size()) == shards(),
           "the checkpoint has " + std::to_string(states.size()) + " shard streams for " + std::to_string(shards()) + " shards",
           where, "the checkpoint is corrupt");
  const KeepDefaults keep(device_, !gpu_.empty());
  for (int64_t s = 0; s < shards(); ++s) {
    set_rng_state(states[static_cast<size_t>(s)], where);
    leave(s);
  }
}

void ShardStreams::share(const dist::World& world, const std::vector<int64_t>& mine) {
  if (world.alone()) return;
  share_rows(cpu_, world, mine);
  share_rows(gpu_, world, mine);
}

std::vector<int64_t> shards_of_rank(int64_t shards, int64_t rank, int64_t size) {
  std::vector<int64_t> out;
  for (int64_t s = rank; s < shards; s += size) out.push_back(s);
  return out;
}

}  // namespace rflow

// The ranks' gradients summed bucket by bucket while the backward pass still runs: the flat
// gradient buffer is cut into buckets from its end (the last layers, whose gradients come first),
// and a bucket's all-reduce starts as soon as autograd has finished every parameter in it, so the
// transfer of late layers overlaps the backward pass of early ones (what PyTorch's DDP does).
// Buckets start in the same order on every rank; one whose parameters got no gradient starts at
// the end. The sums are the single all-reduce's.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace rflow {

class FlatParameters;
namespace dist {
class World;
}

class GradientBuckets {
 public:
  // bucket_bytes: a bucket closes once it holds at least this much (a parameter is never split).
  GradientBuckets(const FlatParameters& flat, const dist::World& w, int64_t bucket_bytes);
  ~GradientBuckets();  // takes its hooks off the parameters
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // Before the step's last backward pass on this rank: from then on finished buckets start.
  void arm();
  // After it: starts the buckets not started yet and waits for all; the buffer then holds the sums.
  void finish();

  size_t buckets() const;
  // Buckets the last step started during its backward pass (the rest started in finish()).
  int64_t started_early() const { return started_early_; }

 private:
  struct State;
  void parameter_done(size_t param);
  void start_ready();
  std::unique_ptr<State> s_;
  int64_t started_early_ = 0;
};

}  // namespace rflow

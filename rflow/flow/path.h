// Probability paths between a source X0 (t = 0, noise) and data X1 (t = 1). `sample` returns the
// point on the path and the regression target for a velocity-predicting network. Affine paths
// X_t = α_t·X1 + σ_t·X0 (target α'_t·X1 + σ'_t·X0) are defined by a Scheduler; the linear
// (rectified-flow / CondOT) one, X_t = t·X1 + (1−t)·X0 with target X1 − X0, keeps its own class.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "rflow/flow/scheduler.h"

namespace rflow {

struct PathSample {
  at::Tensor xt;      // point on the path at t
  at::Tensor target;  // velocity target d/dt X_t
};

class Path {
 public:
  virtual ~Path() = default;
  virtual std::string name() const = 0;
  // x0, x1: [B, ...]; t: [B].
  virtual PathSample sample(const at::Tensor& x0, const at::Tensor& x1, const at::Tensor& t) const = 0;
  // The path's scheduler when it is affine (owned by the path), nullptr otherwise.
  virtual const Scheduler* scheduler() const { return nullptr; }
};

class AffinePath : public Path {
 public:
  explicit AffinePath(std::shared_ptr<const Scheduler> scheduler);
  std::string name() const override { return scheduler_->name(); }
  PathSample sample(const at::Tensor& x0, const at::Tensor& x1, const at::Tensor& t) const override;
  const Scheduler* scheduler() const override { return scheduler_.get(); }
  // For callers that must keep the scheduler alive beyond the path (retime_field).
  const std::shared_ptr<const Scheduler>& shared_scheduler() const { return scheduler_; }

 private:
  std::shared_ptr<const Scheduler> scheduler_;
};

// The linear scheduler's path, with its exact two-operation formula: its outputs are bit-identical
// to the library before schedulers existed, so linear checkpoints and golden values stay valid.
class LinearPath : public AffinePath {
 public:
  LinearPath();
  PathSample sample(const at::Tensor& x0, const at::Tensor& x1, const at::Tensor& t) const override;
};

// t [B] → [B, 1, 1, ...] so it broadcasts against a batch shaped like `like`.
at::Tensor expand_time(const at::Tensor& t, const at::Tensor& like);

// spec: any scheduler spec (linear, cosine, vp, polynomial:N); see make_scheduler.
std::unique_ptr<Path> make_path(const std::string& spec);

}  // namespace rflow

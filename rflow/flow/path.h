// Probability paths between a source X0 (t = 0, noise) and data X1 (t = 1). `sample` returns the
// point on the path and the regression target for a velocity-predicting network. The linear
// (rectified-flow / CondOT) path is X_t = t·X1 + (1−t)·X0 with target X1 − X0.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

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
};

class LinearPath : public Path {
 public:
  std::string name() const override { return "linear"; }
  PathSample sample(const at::Tensor& x0, const at::Tensor& x1, const at::Tensor& t) const override;
};

// t [B] → [B, 1, 1, ...] so it broadcasts against a batch shaped like `like`.
at::Tensor expand_time(const at::Tensor& t, const at::Tensor& like);

std::unique_ptr<Path> make_path(const std::string& name);

}  // namespace rflow

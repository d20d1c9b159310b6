// model.arch = "torchscript": a velocity network written in Python, saved with
// torch.jit.script(...) or torch.jit.trace(...) and .save(path), used as a backbone like the
// built-in ones: sampled, evaluated, reflowed, distilled, and fine-tuned (its parameters are
// rflow's parameters). Its forward takes (x [B, ...], t [B]) or, with labels = true,
// (x, t, labels [B] int64, −1 = none) and returns a velocity of x's shape.
#pragma once

#include <string>
#include <vector>

#include <torch/csrc/jit/api/module.h>
#include <torch/nn/cloneable.h>

#include "rflow/flow/velocity_field.h"
#include "rflow/nn/model_config.h"

namespace rflow {

struct TorchScriptOptions {
  std::string path;
  bool labels = false;

  template <class V>
  void visit(V& v) {
    v("path", path, "the TorchScript file (torch.jit.script or trace, then .save(path)); forward(x, t[, labels]) → velocity");
    v("labels", labels, "pass the class labels (int64, -1 = none) as forward's third argument");
  }
  void validate(const std::string& where) const;
};

class TorchScriptFieldImpl : public CloneableField<TorchScriptFieldImpl> {
 public:
  TorchScriptFieldImpl(TorchScriptOptions opt, std::vector<int64_t> sample_shape);
  // Loads the file afresh and registers its parameters and buffers as this module's (a '.' in a
  // TorchScript name becomes '__': torch::nn names cannot hold dots).
  void reset() override;
  void train(bool on = true) override;
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  std::vector<int64_t> sample_shape() const override { return shape_; }

 private:
  TorchScriptOptions opt_;
  std::vector<int64_t> shape_;
  torch::jit::Module module_;
};

ModelEntry torchscript_entry();

}  // namespace rflow

// One contiguous buffer for all of a module's parameters and one for their gradients; each
// parameter (and its .grad) becomes a view of its slice. Whole-model updates (Adam, clipping, EMA,
// zeroing) then cost a handful of large ops instead of a handful per tensor: on a small MLP that is
// most of a training step's non-GEMM time. Autograd accumulates into the existing .grad views.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

namespace rflow {

class FlatParameters {
 public:
  FlatParameters() = default;
  // Moves the parameters' values into the buffer (values unchanged). Without gradients for a
  // frozen copy (the EMA's average). Leaves the module untouched (defined() false) when its
  // parameters differ in dtype or device, or (with gradients) when some are frozen.
  explicit FlatParameters(torch::nn::Module& module, bool with_grad = true);

  bool defined() const { return data_.defined(); }
  const at::Tensor& data() const { return data_; }
  const at::Tensor& grad() const { return grad_; }
  const std::vector<at::Tensor>& parameters() const { return params_; }
  void zero_grad() { grad_.zero_(); }
  // False once something re-allocated a parameter or its gradient (a .to(device), a set_data, a
  // zero_grad(set_to_none)): updates through the buffer would then miss it.
  bool intact() const;
  // The slice of `buffer` (laid out like data()) that belongs to parameter i, shaped like it.
  at::Tensor slice(const at::Tensor& buffer, size_t i) const;

 private:
  at::Tensor data_, grad_;
  std::vector<at::Tensor> params_;
  std::vector<int64_t> offsets_;
};

}  // namespace rflow

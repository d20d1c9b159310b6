#include "rflow/nn/layers/pointwise.h"

#include <torch/torch.h>

namespace rflow {

namespace {

constexpr int64_t kGrain = 1 << 14;

at::Tensor run_forward(const at::Tensor& x, const PointwiseKernels& k) {
  at::Tensor y = at::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t a, int64_t b) { k.forward(xp + a, yp + a, b - a); });
  return y;
}

class PointwiseFn : public torch::autograd::Function<PointwiseFn> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const PointwiseKernels* k) {
    ctx->save_for_backward({x});
    ctx->saved_data["kernels"] = reinterpret_cast<int64_t>(k);
    return run_forward(x, *k);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto* k = reinterpret_cast<const PointwiseKernels*>(ctx->saved_data["kernels"].toInt());
    const at::Tensor x = ctx->get_saved_variables()[0];
    const at::Tensor g = grads[0].contiguous();
    at::Tensor dx = at::empty_like(x);
    const float* gp = g.data_ptr<float>();
    const float* xp = x.data_ptr<float>();
    float* dp = dx.data_ptr<float>();
    at::parallel_for(0, x.numel(), kGrain, [&](int64_t a, int64_t b) { k->backward(gp + a, xp + a, dp + a, b - a); });
    return {dx, at::Tensor()};
  }
};

}  // namespace

// `k` must outlive the graph: callers pass a static table.
at::Tensor pointwise(const at::Tensor& x, const PointwiseKernels& k) {
  if (!(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous() && x.numel() > 0))
    return k.fallback(x);
  if (at::GradMode::is_enabled() && x.requires_grad()) return PointwiseFn::apply(x, &k);
  return run_forward(x, k);
}

}  // namespace rflow

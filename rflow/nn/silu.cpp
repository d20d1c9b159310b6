#include "rflow/nn/silu.h"

#include <torch/torch.h>

#include "rflow/core/vector_kernels.h"

namespace rflow {

namespace {

constexpr int64_t kGrain = 1 << 14;

bool fast_path(const at::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous() && x.numel() > 0;
}

at::Tensor silu_forward(const at::Tensor& x) {
  at::Tensor y = at::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t a, int64_t b) { kernels::silu(xp + a, yp + a, b - a); });
  return y;
}

class SiluFn : public torch::autograd::Function<SiluFn> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    return silu_forward(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    const at::Tensor g = grads[0].contiguous();
    at::Tensor dx = at::empty_like(x);
    const float* gp = g.data_ptr<float>();
    const float* xp = x.data_ptr<float>();
    float* dp = dx.data_ptr<float>();
    at::parallel_for(0, x.numel(), kGrain,
                     [&](int64_t a, int64_t b) { kernels::silu_backward(gp + a, xp + a, dp + a, b - a); });
    return {dx};
  }
};

}  // namespace

at::Tensor silu(const at::Tensor& x) {
  if (!fast_path(x)) return torch::silu(x);
  if (at::GradMode::is_enabled() && x.requires_grad()) return SiluFn::apply(x);
  return silu_forward(x);
}

}  // namespace rflow

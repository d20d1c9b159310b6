#include "rflow/nn/layers/linear.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

namespace rflow {

namespace {

// dnnl_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): row-major
// C = alpha op(A) op(B) + beta C. Found by symbol: LibTorch builds that hide oneDNN fall back.
using Sgemm = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                      float, float*, int64_t);

Sgemm find_sgemm() {
  const char* env = std::getenv("RFLOW_ONEDNN_GEMM");
  if (env && std::strcmp(env, "0") == 0) return nullptr;
  return reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
}

Sgemm sgemm_fn() {
  static const Sgemm fn = find_sgemm();
  return fn;
}

std::atomic<int> g_override{-1};  // -1: as found, 0: off, 1: on where found

// Below this many rows oneDNN's per-call cost outweighs its kernels: a batch-1 sampling step of
// the 3 × 256 MLP takes ~50 µs through it against ~35 µs through OpenBLAS.
constexpr int64_t kMinRows = 32;

bool usable(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  auto cpu_float = [](const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; };
  // Under CPU autocast (train.precision = bf16) at::linear is what autocast re-types.
  return onednn_gemm_enabled() && !at::autocast::is_cpu_enabled() && cpu_float(x) && cpu_float(w) &&
         (!bias.defined() || cpu_float(bias)) && x.dim() >= 1 && w.dim() == 2 && x.size(-1) == w.size(1) &&
         x.numel() >= kMinRows * w.size(1);
}

// out[M, N] = op(a) op(b) (+ out when accumulate); a, b, out contiguous fp32.
void gemm(bool ta, bool tb, const at::Tensor& a, const at::Tensor& b, at::Tensor& out, bool accumulate) {
  const int64_t M = out.size(0), N = out.size(1);
  const int64_t K = ta ? a.size(0) : a.size(1);
  const int status = sgemm_fn()(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, a.data_ptr<float>(), a.size(1),
                                b.data_ptr<float>(), b.size(1), accumulate ? 1.0f : 0.0f, out.data_ptr<float>(), N);
  TORCH_CHECK(status == 0, "dnnl_sgemm failed with status ", status);
}

// [rows, in] × [out, in]ᵀ (+ bias) without autograd.
at::Tensor forward_2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  // A fresh output, then the bias copied in: for one row, bias.expand(...).contiguous() is the
  // bias itself (a [1, out] view is already contiguous), and the GEMM would write into it.
  at::Tensor y = at::empty({x.size(0), w.size(0)}, x.options());
  if (bias.defined()) y.copy_(bias.expand({x.size(0), w.size(0)}));
  gemm(false, true, x, w, y, bias.defined());
  return y;
}

at::Tensor backward_x(const at::Tensor& g, const at::Tensor& w) {
  at::Tensor gx = at::empty({g.size(0), w.size(1)}, g.options());
  gemm(false, false, g, w, gx, false);  // [rows, out] × [out, in]
  return gx;
}

at::Tensor backward_w(const at::Tensor& g, const at::Tensor& x) {
  at::Tensor gw = at::empty({g.size(1), x.size(1)}, g.options());
  gemm(true, false, g, x, gw, false);  // [rows, out]ᵀ × [rows, in]
  return gw;
}

thread_local bool t_direct_grads = false;

// The parameter's own gradient buffer when this backward may add into it (see DirectWeightGradients).
at::Tensor direct_target(const at::Tensor& param) {
  // A tensor hook on the parameter must see its gradient: those take autograd's route.
  if (!t_direct_grads || !param.is_leaf() || !torch::autograd::impl::hooks(param).empty()) return {};
  const at::Tensor& g = param.grad();
  if (!g.defined() || !g.is_contiguous() || g.scalar_type() != at::kFloat || !g.device().is_cpu() ||
      g.sizes() != param.sizes())
    return {};
  return g;
}

// bias_grad[out] += Σ_rows g[rows, out], as a [1, rows] × [rows, out] product with β = 1.
void add_column_sums(const at::Tensor& g, at::Tensor& bias_grad) {
  thread_local std::vector<float> ones;
  const int64_t rows = g.size(0), cols = g.size(1);
  if (static_cast<int64_t>(ones.size()) < rows) ones.assign(static_cast<size_t>(rows), 1.0f);
  const int status = sgemm_fn()('N', 'N', 1, cols, rows, 1.0f, ones.data(), rows, g.data_ptr<float>(), cols, 1.0f,
                                bias_grad.data_ptr<float>(), cols);
  TORCH_CHECK(status == 0, "dnnl_sgemm failed with status ", status);
}

// The gradients of x, W (and b) from the upstream gradient and the saved [x, W]; under
// DirectWeightGradients the ones for W and b go straight into their .grad (and autograd gets none).
torch::autograd::variable_list linear_backward(torch::autograd::AutogradContext* ctx,
                                               const torch::autograd::variable_list& grads, bool with_bias) {
  auto saved = ctx->get_saved_variables();
  at::Tensor g = grads[0].contiguous();
  torch::autograd::variable_list out{ctx->needs_input_grad(0) ? backward_x(g, saved[1]) : at::Tensor(), at::Tensor()};
  if (ctx->needs_input_grad(1)) {
    at::Tensor acc = direct_target(saved[1]);
    if (acc.defined())
      gemm(true, false, g, saved[0], acc, true);
    else
      out[1] = backward_w(g, saved[0]);
  }
  if (with_bias) {
    at::Tensor gb;
    if (ctx->needs_input_grad(2)) {
      at::Tensor acc = direct_target(saved[2]);
      if (acc.defined())
        add_column_sums(g, acc);
      else
        gb = g.sum(0);
    }
    out.push_back(gb);
  }
  return out;
}

// Autograd functions take no undefined inputs in LibTorch 1.13: one with a bias, one without.
class OneDnnLinear : public torch::autograd::Function<OneDnnLinear> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const at::Tensor& bias) {
    ctx->save_for_backward({x, w, bias});
    return forward_2d(x, w, bias);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return linear_backward(ctx, grads, true);
  }
};

class OneDnnLinearNoBias : public torch::autograd::Function<OneDnnLinearNoBias> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w) {
    ctx->save_for_backward({x, w});
    return forward_2d(x, w, at::Tensor());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return linear_backward(ctx, grads, false);
  }
};

}  // namespace

DirectWeightGradients::DirectWeightGradients() : previous_(t_direct_grads) { t_direct_grads = true; }
DirectWeightGradients::~DirectWeightGradients() { t_direct_grads = previous_; }

bool onednn_gemm_enabled() {
  const int o = g_override.load();
  return sgemm_fn() != nullptr && o != 0;
}

void set_onednn_gemm(bool enabled) { g_override = enabled ? 1 : 0; }

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!usable(x, weight, bias)) return at::linear(x, weight, bias);
  const auto in = weight.size(1);
  at::Tensor x2 = x.reshape({-1, in}).contiguous();
  at::Tensor w = weight.contiguous();
  at::Tensor y;
  const bool grad = at::GradMode::is_enabled() &&
                    (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (grad && bias.defined())
    y = OneDnnLinear::apply(x2, w, bias.contiguous());
  else if (grad)
    y = OneDnnLinearNoBias::apply(x2, w);
  else
    y = forward_2d(x2, w, bias.defined() ? bias.contiguous() : bias);
  if (x.dim() == 2) return y;
  auto shape = x.sizes().vec();
  shape.back() = weight.size(0);
  return y.view(shape);
}

}  // namespace rflow

#include "rflow/nn/layers/rope.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

at::Tensor rope_angles(const at::Tensor& positions, int64_t dim, double theta) {
  RF_CHECK(dim >= 2 && dim % 2 == 0, "a rotary embedding needs an even size, got " + std::to_string(dim), "rope", "");
  const auto opts = positions.options().dtype(positions.is_floating_point() ? positions.scalar_type() : at::kFloat);
  const at::Tensor j = torch::arange(dim / 2, opts);
  const at::Tensor omega = torch::exp(j * (-2.0 * std::log(theta) / double(dim)));
  return positions.to(opts.dtype()).unsqueeze(-1) * omega;
}

at::Tensor rope_angles_2d(const at::Tensor& col, const at::Tensor& row, int64_t dim, double theta) {
  RF_CHECK(dim >= 4 && dim % 4 == 0, "2-D rotary embeddings need a head size divisible by 4, got " + std::to_string(dim),
           "rope", "choose hidden / heads as a multiple of 4");
  return torch::cat({rope_angles(col, dim / 2, theta), rope_angles(row, dim / 2, theta)}, -1);
}

at::Tensor sincos_positions_2d(int64_t rows, int64_t cols, int64_t dim, double theta) {
  const auto [col, row] = patch_coordinates(rows, cols);
  const at::Tensor a = rope_angles_2d(col, row, dim, theta);
  return torch::cat({a.sin(), a.cos()}, -1);
}

std::pair<at::Tensor, at::Tensor> patch_coordinates(int64_t rows, int64_t cols, int64_t base) {
  RF_CHECK(rows >= 1 && cols >= 1 && base >= 0, "patch grid must be at least 1 × 1", "rope", "");
  const auto f = torch::TensorOptions().dtype(at::kFloat);
  auto axis = [&](int64_t n, double start, double extent) {
    return torch::arange(n, torch::TensorOptions().dtype(at::kDouble)).mul(extent / double(n)).add(start).to(at::kFloat);
  };
  at::Tensor r, c;
  if (base == 0) {
    r = torch::arange(rows, f);
    c = torch::arange(cols, f);
  } else {
    // The longer side spans the whole box; the shorter keeps the aspect ratio, centred.
    const double b = double(base);
    double rh, rw;
    if (rows > cols) {
      rh = b, rw = std::round(b * double(cols) / double(rows));
    } else {
      rh = std::round(b * double(rows) / double(cols)), rw = b;
    }
    r = axis(rows, std::round((b - rh) / 2), rh);
    c = axis(cols, std::round((b - rw) / 2), rw);
  }
  auto grid = torch::meshgrid({r, c}, "ij");
  return {grid[1].reshape({-1}), grid[0].reshape({-1})};
}

namespace {

// y = R(θ)·x per adjacent pair, over rows of `d` values whose row r uses angle row r % T.
void rotate_pairs(const float* x, float* y, const float* cos, const float* sin, int64_t rows, int64_t T, int64_t d,
                  float sign) {
  at::parallel_for(0, rows, 64, [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      const float* c = cos + (r % T) * (d / 2);
      const float* s = sin + (r % T) * (d / 2);
      for (int64_t j = 0; j < d / 2; ++j) {
        const float u = xr[2 * j], v = xr[2 * j + 1], sj = sign * s[j];
        yr[2 * j] = u * c[j] - v * sj;
        yr[2 * j + 1] = u * sj + v * c[j];
      }
    }
  });
}

// One pass forward (rotate by θ) and one backward (rotate the gradient by −θ) on fp32 CPU
// tensors: the pairwise form through ATen takes a dozen ops and copies each way.
class RopeFn : public torch::autograd::Function<RopeFn> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos,
                            const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return run(x.contiguous(), cos, sin, 1.0f);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {run(grads[0].contiguous(), saved[0], saved[1], -1.0f), at::Tensor(), at::Tensor()};
  }
  static at::Tensor run(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, float sign) {
    at::Tensor y = at::empty_like(x, at::MemoryFormat::Contiguous);
    const int64_t d = x.size(-1), T = x.size(-2);
    rotate_pairs(x.data_ptr<float>(), y.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(),
                 x.numel() / d, T, d, sign);
    return y;
  }
};

}  // namespace

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& angles) {
  const int64_t d = x.size(-1);
  RF_CHECK(angles.dim() == 2 && angles.size(-1) * 2 == d && angles.size(0) == x.size(-2),
           "rotary angles " + c10::str(angles.sizes()) + " do not fit " + c10::str(x.sizes()), "rope", "");
  if (x.device().is_cpu() && x.scalar_type() == at::kFloat && x.numel() > 0 && !angles.requires_grad()) {
    const at::Tensor cos = angles.to(at::kFloat).cos().contiguous(), sin = angles.to(at::kFloat).sin().contiguous();
    if (at::GradMode::is_enabled() && x.requires_grad()) return RopeFn::apply(x, cos, sin);
    return RopeFn::run(x.contiguous(), cos, sin, 1.0f);
  }
  const at::Tensor cos = angles.cos().to(x.scalar_type()), sin = angles.sin().to(x.scalar_type());
  auto shape = x.sizes().vec();
  shape.back() = d / 2;
  shape.push_back(2);
  const at::Tensor pairs = x.reshape(shape);
  const at::Tensor a = pairs.select(-1, 0), b = pairs.select(-1, 1);
  return torch::stack({a * cos - b * sin, a * sin + b * cos}, -1).reshape(x.sizes());
}

}  // namespace rflow

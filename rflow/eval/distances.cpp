#include "rflow/eval/distances.h"
#include "rflow/core/tensor_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "rflow/core/error.h"
#include "rflow/core/algorithms/assignment.h"

namespace rflow::eval {

namespace {

// Above this dimension pairwise squared distances come from one matrix product per row block
// (‖x‖² + ‖y‖² − 2x·y); below it a direct loop is faster and exact for identical points.
constexpr int64_t kDirectMaxDim = 32;
// Row blocks of the matrix-product path hold at most this many doubles (16 MiB).
constexpr int64_t kBlockElems = int64_t{1} << 21;

// A validated sample set: contiguous float64 on the CPU (the tensor keeps the data alive).
struct Samples {
  at::Tensor t;
  const double* p = nullptr;
  int64_t n = 0, d = 0;
  const double* row(int64_t i) const { return p + i * d; }
};

Samples prepare(const at::Tensor& x, const char* name, const std::string& where) {
  const std::string what = std::string("sample set '") + name + "' ";
  RF_CHECK(x.defined(), what + "is an undefined tensor", where, "pass a [N, D] tensor of samples");
  RF_CHECK(x.dim() == 2, what + "must be 2-D [N, D], got shape " + shape_str(x), where,
           "reshape to [num_samples, dim] (use unsqueeze(1) for 1-D data)");
  RF_CHECK(x.size(0) > 0 && x.size(1) > 0, what + "is empty (shape " + shape_str(x) + ")", where,
           "pass at least one sample with at least one feature");
  RF_CHECK(!x.is_complex(), what + "is complex (" + std::string(x.dtype().name()) + ")", where,
           "pass real-valued samples");
  Samples s;
  s.t = x.detach().to(at::kCPU, at::kDouble).contiguous();
  s.p = s.t.data_ptr<double>();
  s.n = s.t.size(0);
  s.d = s.t.size(1);
  for (int64_t k = 0, total = s.n * s.d; k < total; ++k) {
    RF_CHECK(std::isfinite(s.p[k]),
             what + "contains a non-finite value at row " + std::to_string(k / s.d) + ", column " +
                 std::to_string(k % s.d),
             where, "drop or fix NaN/Inf samples (a diverged model?) before computing distances");
  }
  return s;
}

void check_same_dim(const Samples& a, const Samples& b, const std::string& where) {
  RF_CHECK(a.d == b.d,
           "sample sets have different dimensions: a is [" + std::to_string(a.n) + ", " +
               std::to_string(a.d) + "], b is [" + std::to_string(b.n) + ", " +
               std::to_string(b.d) + "]",
           where, "compare samples of the same space (same number of columns)");
}

void check_same_size(const Samples& a, const Samples& b, const std::string& where) {
  RF_CHECK(a.n == b.n,
           "needs equal sample sizes, got N = " + std::to_string(a.n) + " and M = " +
               std::to_string(b.n),
           where, "pass equal sizes (subsample the larger set), or use energy_distance / mmd_rbf");
}

inline double sq_dist(const double* x, const double* y, int64_t d) {
  double s = 0.0;
  for (int64_t k = 0; k < d; ++k) {
    const double t = x[k] - y[k];
    s += t * t;
  }
  return s;
}

// Compile-time dimension for the common low-dimensional cases lets the compiler unroll the
// innermost loop, which dominates every metric here.
template <int kD>
inline double sq_dist_fixed(const double* x, const double* y, int64_t d) {
  if constexpr (kD > 0) {
    double s = 0.0;
    for (int k = 0; k < kD; ++k) {
      const double t = x[k] - y[k];
      s += t * t;
    }
    return s;
  } else {
    return sq_dist(x, y, d);
  }
}

// Kernel of the energy distance: the Euclidean distance.
struct DistanceKernel {
  double operator()(double sq) const { return std::sqrt(sq); }
  at::Tensor operator()(const at::Tensor& sq) const { return sq.sqrt(); }
  double at_zero() const { return 0.0; }
};

// Sum of RBF kernels. exp(−γ s) for a γ that is 2^k times the smallest γ equals
// exp(−γ_min s)^(2^k), reached by k squarings, so the default {0.5, 1, 2} × h set (γ ratios 1, 4,
// 16) costs one exp per pair instead of three. Other bandwidths take a plain exp each.
struct RbfKernel {
  std::vector<double> gammas;
  double gamma_min = 0.0;
  uint32_t square_mask = 0;  // bit k set: add exp(−γ_min s)^(2^k) (once per matching bandwidth)
  int square_levels = 0;
  std::vector<double> other_gammas;
  std::vector<double> square_counts;  // multiplicity of each bit (bandwidths may repeat)

  explicit RbfKernel(const std::vector<double>& bandwidths) {
    for (double h : bandwidths) gammas.push_back(1.0 / (2.0 * h * h));
    gamma_min = *std::min_element(gammas.begin(), gammas.end());
    square_counts.assign(32, 0.0);
    for (double g : gammas) {
      const double ratio = g / gamma_min;
      const int k = static_cast<int>(std::lround(std::log2(ratio)));
      if (k >= 0 && k < 31 && std::fabs(ratio - std::ldexp(1.0, k)) <= 1e-12 * ratio) {
        square_mask |= uint32_t{1} << k;
        square_counts[k] += 1.0;
        square_levels = std::max(square_levels, k + 1);
      } else {
        other_gammas.push_back(g);
      }
    }
  }
  double operator()(double sq) const {
    double out = 0.0;
    if (square_mask != 0) {
      double e = std::exp(-gamma_min * sq);
      for (int k = 0;; ++k) {
        if (square_mask >> k & 1u) out += square_counts[k] * e;
        if (k + 1 == square_levels) break;  // one more squaring could only go subnormal (slow)
        e *= e;
      }
    }
    for (double g : other_gammas) out += std::exp(-g * sq);
    return out;
  }
  at::Tensor operator()(const at::Tensor& sq) const {
    at::Tensor out = at::zeros_like(sq);
    for (double g : gammas) out.add_(at::exp(sq * (-g)));
    return out;
  }
  double at_zero() const { return static_cast<double>(gammas.size()); }
};

// Direct O(N·M·D) path. Each row's sum is computed sequentially and rows are added in order, so
// the result does not depend on the number of threads.
template <int kD, class Kernel>
double pair_sum_direct(const Samples& a, const Samples& b, bool same, const Kernel& f) {
  const int64_t d = a.d;
  std::vector<double> row_sums(a.n, 0.0);
  auto row_sum = [&](int64_t i, int64_t j0) {
    const double* x = a.row(i);
    double acc = 0.0;
    for (int64_t j = j0; j < b.n; ++j) acc += f(sq_dist_fixed<kD>(x, b.row(j), d));
    row_sums[i] = acc;
  };
  if (!same) {
    at::parallel_for(0, a.n, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) row_sum(i, 0);
    });
  } else {
    // Only pairs j > i; rows k and n−1−k are paired so every task does about n pair evaluations.
    const int64_t n = a.n;
    at::parallel_for(0, (n + 1) / 2, 8, [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) {
        row_sum(k, k + 1);
        if (n - 1 - k != k) row_sum(n - 1 - k, n - k);
      }
    });
  }
  double total = 0.0;
  for (double s : row_sums) total += s;
  return same ? 2.0 * total + static_cast<double>(a.n) * f.at_zero() : total;
}

// Matrix-product path for high dimensions, in row blocks of bounded size.
template <class Kernel>
double pair_sum_blocked(const Samples& a, const Samples& b, bool same, const Kernel& f) {
  const at::Tensor an = a.t.pow(2).sum(1);
  const at::Tensor bn = b.t.pow(2).sum(1);
  const at::Tensor bt = b.t.t();
  const int64_t block = std::max<int64_t>(1, kBlockElems / b.n);
  double total = 0.0;
  for (int64_t i0 = 0; i0 < a.n; i0 += block) {
    const int64_t i1 = std::min(a.n, i0 + block);
    at::Tensor sq = at::addmm(an.slice(0, i0, i1).unsqueeze(1) + bn.unsqueeze(0),
                              a.t.slice(0, i0, i1), bt, /*beta=*/1, /*alpha=*/-2);
    sq.clamp_min_(0.0);  // rounding can make tiny distances negative
    if (same) {
      // A point's distance to itself is exactly 0; the product formula only gets it approximately.
      sq.narrow(1, i0, i1 - i0).diagonal().zero_();
    }
    const at::Tensor vals = f(sq);
    total += vals.sum().item<double>();
  }
  return total;
}

template <class Kernel>
double pair_sum(const Samples& a, const Samples& b, bool same, const Kernel& f) {
  if (a.d > kDirectMaxDim) return pair_sum_blocked(a, b, same, f);
  switch (a.d) {
    case 1: return pair_sum_direct<1>(a, b, same, f);
    case 2: return pair_sum_direct<2>(a, b, same, f);
    case 3: return pair_sum_direct<3>(a, b, same, f);
    default: return pair_sum_direct<0>(a, b, same, f);
  }
}

// 2·mean k(a,b) − mean k(a,a) − mean k(b,b) for a distance-like (sign = −1) or similarity-like
// (sign = +1) kernel. Mathematically ≥ 0 for both kernels used here, so rounding noise is clipped.
template <class Kernel>
double two_sample_stat(const Samples& a, const Samples& b, const Kernel& f, double sign) {
  const double nn = static_cast<double>(a.n), mm = static_cast<double>(b.n);
  const double ab = pair_sum(a, b, false, f) / (nn * mm);
  const double aa = pair_sum(a, a, true, f) / (nn * nn);
  const double bb = pair_sum(b, b, true, f) / (mm * mm);
  return std::max(0.0, sign * (aa + bb - 2.0 * ab));
}

std::vector<double> median_bandwidths(const Samples& a, const Samples& b) {
  // Evenly spaced rows of the pooled sample keep this deterministic without a seed and keep the
  // proportion of a and b.
  const int64_t pooled = a.n + b.n;
  const int64_t m = std::min<int64_t>(pooled, 1000);
  std::vector<const double*> pts(m);
  for (int64_t k = 0; k < m; ++k) {
    const int64_t idx = m == pooled ? k : k * pooled / m;
    pts[k] = idx < a.n ? a.row(idx) : b.row(idx - a.n);
  }
  std::vector<double> dists;
  dists.reserve(static_cast<std::size_t>(m * (m - 1) / 2));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = i + 1; j < m; ++j) dists.push_back(std::sqrt(sq_dist(pts[i], pts[j], a.d)));
  double h = 0.0;
  if (!dists.empty()) {
    const std::size_t mid = dists.size() / 2;
    std::nth_element(dists.begin(), dists.begin() + mid, dists.end());
    h = dists[mid];
    if (dists.size() % 2 == 0) h = 0.5 * (h + *std::max_element(dists.begin(), dists.begin() + mid));
    if (h <= 0.0) {
      // Mostly duplicated points: fall back to the mean of the non-zero distances.
      double sum = 0.0;
      int64_t cnt = 0;
      for (double x : dists) {
        if (x > 0.0) {
          sum += x;
          ++cnt;
        }
      }
      if (cnt > 0) h = sum / static_cast<double>(cnt);
    }
  }
  if (!(h > 0.0)) h = 1.0;  // all points identical: any bandwidth gives the same (zero) MMD
  return {0.5 * h, h, 2.0 * h};
}

}  // namespace

double w2_exact(const at::Tensor& a_in, const at::Tensor& b_in) {
  const std::string where = "rflow::eval::w2_exact";
  const Samples a = prepare(a_in, "a", where);
  const Samples b = prepare(b_in, "b", where);
  check_same_dim(a, b, where);
  check_same_size(a, b, where);
  RF_CHECK(a.n <= kW2ExactMaxPoints,
           "too many points for the exact solver (N = " + std::to_string(a.n) + ", limit " +
               std::to_string(kW2ExactMaxPoints) + ")",
           where, "subsample both sets to at most 5000 points, or use sliced_w2");
  const int64_t n = a.n;
  std::vector<double> cost(static_cast<std::size_t>(n * n));
  if (a.d > kDirectMaxDim) {
    // Written straight into the cost buffer with in-place updates: no extra N×N temporaries.
    at::Tensor sq = at::from_blob(cost.data(), {n, n}, at::TensorOptions().dtype(at::kDouble));
    at::mm_out(sq, a.t, b.t.t());
    sq.mul_(-2.0).add_(a.t.pow(2).sum(1, /*keepdim=*/true)).add_(b.t.pow(2).sum(1).unsqueeze(0));
    sq.clamp_min_(0.0);
  } else {
    at::parallel_for(0, n, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t j = 0; j < n; ++j) cost[i * n + j] = sq_dist(a.row(i), b.row(j), a.d);
    });
  }
  const std::vector<int64_t> match = linear_assignment(cost.data(), n);
  // Recompute the matched distances directly so identical or shifted sets come out exact even
  // when the matrix came from the product formula.
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += sq_dist(a.row(i), b.row(match[i]), a.d);
  return std::sqrt(total / static_cast<double>(n));
}

double sliced_w2(const at::Tensor& a_in, const at::Tensor& b_in, int64_t projections,
                 uint64_t seed) {
  const std::string where = "rflow::eval::sliced_w2";
  RF_CHECK(projections > 0, "projections must be positive, got " + std::to_string(projections),
           where, "use e.g. 128 projections");
  const Samples a = prepare(a_in, "a", where);
  const Samples b = prepare(b_in, "b", where);
  check_same_dim(a, b, where);
  check_same_size(a, b, where);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor dirs = at::randn({projections, a.d}, gen, at::TensorOptions().dtype(at::kDouble));
  dirs = dirs / dirs.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-300);
  // Project in chunks so the [N, chunk] projections stay within the block budget.
  const int64_t chunk = std::max<int64_t>(1, kBlockElems / a.n);
  double total = 0.0;
  for (int64_t p0 = 0; p0 < projections; p0 += chunk) {
    const at::Tensor th = dirs.slice(0, p0, std::min(projections, p0 + chunk)).t();
    const at::Tensor pa = std::get<0>(at::mm(a.t, th).sort(0));
    const at::Tensor pb = std::get<0>(at::mm(b.t, th).sort(0));
    total += (pa - pb).pow(2).mean(0).sum().item<double>();
  }
  return std::sqrt(total / static_cast<double>(projections));
}

double energy_distance(const at::Tensor& a_in, const at::Tensor& b_in) {
  const std::string where = "rflow::eval::energy_distance";
  const Samples a = prepare(a_in, "a", where);
  const Samples b = prepare(b_in, "b", where);
  check_same_dim(a, b, where);
  return two_sample_stat(a, b, DistanceKernel{}, -1.0);
}

std::vector<double> median_heuristic_bandwidths(const at::Tensor& a_in, const at::Tensor& b_in) {
  const std::string where = "rflow::eval::median_heuristic_bandwidths";
  const Samples a = prepare(a_in, "a", where);
  const Samples b = prepare(b_in, "b", where);
  check_same_dim(a, b, where);
  return median_bandwidths(a, b);
}

double mmd_rbf(const at::Tensor& a_in, const at::Tensor& b_in,
               const std::vector<double>& bandwidths) {
  const std::string where = "rflow::eval::mmd_rbf";
  const Samples a = prepare(a_in, "a", where);
  const Samples b = prepare(b_in, "b", where);
  check_same_dim(a, b, where);
  for (double h : bandwidths) {
    RF_CHECK(std::isfinite(h) && h > 0.0, "bandwidth must be positive and finite, got " + std::to_string(h),
             where, "pass positive bandwidths, or none for the median heuristic");
  }
  const RbfKernel kernel(bandwidths.empty() ? median_bandwidths(a, b) : bandwidths);
  return two_sample_stat(a, b, kernel, 1.0);
}

}  // namespace rflow::eval

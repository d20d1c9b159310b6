// Distances between two empirical sample sets, used to score how well generated samples match a
// target distribution: exact and sliced 2-Wasserstein, energy distance and RBF MMD.
// Inputs are [N, D] / [M, D] tensors on any device and of any real dtype; everything is computed
// in float64 on the CPU, deterministically, with memory bounded for sets of ~10k points.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace rflow::eval {

// Largest N accepted by w2_exact: the dense N×N cost matrix and the O(N³)-worst-case assignment
// beyond this are not worth it for an evaluation metric.
inline constexpr int64_t kW2ExactMaxPoints = 5000;

// Exact 2-Wasserstein distance between the uniform empirical measures on the rows of a and b
// (requires N == M ≤ kW2ExactMaxPoints): sqrt of the mean squared distance under the optimal
// one-to-one matching.
double w2_exact(const at::Tensor& a, const at::Tensor& b);

// Sliced 2-Wasserstein distance (requires N == M): sqrt of the mean, over `projections` random
// unit directions drawn from a generator seeded with `seed`, of the exact 1-D W2² of the
// projected samples. Same seed, same result.
double sliced_w2(const at::Tensor& a, const at::Tensor& b, int64_t projections, uint64_t seed);

// Energy distance 2E|X−Y| − E|X−X'| − E|Y−Y'| (Euclidean norms, V-statistic: all pairs, self
// pairs included). Non-negative; 0 iff the empirical measures coincide. N and M may differ.
double energy_distance(const at::Tensor& a, const at::Tensor& b);

// Squared MMD (biased V-statistic) with the kernel sum_h exp(−‖x−y‖² / (2h²)). With empty
// `bandwidths`, h ∈ {0.5, 1, 2} × the median pairwise distance of the pooled sample (computed on
// at most 1000 evenly spaced points). N and M may differ.
double mmd_rbf(const at::Tensor& a, const at::Tensor& b, const std::vector<double>& bandwidths = {});

// The bandwidths mmd_rbf uses when none are given (exposed so reports can print them).
std::vector<double> median_heuristic_bandwidths(const at::Tensor& a, const at::Tensor& b);

}  // namespace rflow::eval

// Exact log-likelihoods of a flow by the instantaneous change of variables: integrating
// d/dt [x, ℓ] = [v(x, t), div v(x, t)] gives log p_{t1}(x(t1)) = log p_{t0}(x(t0)) − ℓ. Forward
// (noise → samples) it comes with the samples in the same solve; backward (data → noise) it scores
// given data. The divergence is exact (autograd, one pass per dimension) or Hutchinson's estimate.
#pragma once

#include <functional>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "rflow/solve/solver.h"

namespace rflow {

struct LikelihoodOptions {
  std::string divergence = "exact";  // exact | hutchinson
  std::string probe = "rademacher";  // hutchinson probes: rademacher | gaussian
  int64_t probes = 1;                // probes per sample, fixed for the whole solve (FFJORD)
  at::Generator generator;           // where the probes come from (undefined: the global generator)
  void validate(const std::string& where = "likelihood") const;
};

struct LikelihoodResult {
  at::Tensor x;         // the other end of the solve
  at::Tensor log_p;     // [B] float64: log density at the data end (t = 1)
  at::Tensor log_p0;    // [B] float64: source log density at the noise end
  at::Tensor div_integral;  // [B] float64: ∫_0^1 div v dt along each path
  SolveResult solve;    // NFE, status, ... of the augmented solve
};

using LogProbFn = std::function<at::Tensor(const at::Tensor&)>;

// x0 at t = opt.t0 (noise) → samples at opt.t1 with their log-density.
LikelihoodResult sample_with_log_prob(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt,
                                      const LikelihoodOptions& lo, const LogProbFn& source_log_prob);
// Data x1 → noise by the backward solve (opt.t0/t1 are swapped internally so that t runs 1 → 0).
LikelihoodResult log_prob(const FieldFn& f, const at::Tensor& x1, const SolveOptions& opt,
                          const LikelihoodOptions& lo, const LogProbFn& source_log_prob);

// −log p / (D ln 2): bits per dimension (add log2(256) per dim outside for 8-bit dequantised images).
at::Tensor bits_per_dim(const at::Tensor& log_p, int64_t dims);

// ∂·v at x: exact (autograd) or Hutchinson with the given probes [B, D, K] (flattened sample dims).
at::Tensor divergence(const FieldFn& f, const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows,
                      const at::Tensor& probes);

}  // namespace rflow

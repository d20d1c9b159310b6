// The draws an evaluation of one model makes — its noise, the reference target draw(s), the labels
// its samples are asked for — and the chunked solve from them. The eval stage and `rflow eval
// --checkpoint` both use these, so a checkpoint scored either way at the same n and seed gets the
// same figure.
#pragma once

#include <cstdint>
#include <functional>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "rflow/eval/scorer.h"
#include "rflow/solve/solver.h"

namespace rflow {

struct LoadedModel;

struct EvalDraws {
  at::Tensor x0;            // the noise, n draws (seed + 2)
  eval::ScorerSetup setup;  // reference draws (seed + 3), conditioning labels, seed, data set
};

// n draws of the model's own source and target, all in `shape` ({}: the target's sample_shape()).
// Fills setup's reference(2), labels, grid columns, seed and data set; dir, fidnet and the
// straightness/projection settings are the caller's.
EvalDraws eval_draws(const LoadedModel& m, const eval::ScorerEntry& entry, int64_t n, uint64_t seed,
                     const std::vector<int64_t>& shape = {});

struct ChunkedSolve {
  at::Tensor x, nfe;      // on the CPU
  int64_t accepted = 0;   // most accepted steps of any chunk
};

// Solves the draws in chunks of `chunk` on `device` (labels sliced alongside); on_chunk(done, all)
// after each. In a data-parallel run the chunks are dealt out over the ranks (dist/row_split.h)
// and every rank returns the whole result.
ChunkedSolve solve_in_chunks(VelocityFieldImpl& field, const EvalDraws& d, const SolveOptions& opt,
                             const FieldOptions& fo, int64_t chunk, c10::Device device,
                             const std::function<void(int64_t, int64_t)>& on_chunk = {});

}  // namespace rflow

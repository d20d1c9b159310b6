#include "rflow/pipeline/eval_draws.h"

#include <algorithm>

#include <torch/torch.h>

#include "rflow/core/rng.h"
#include "rflow/dist/row_split.h"
#include "rflow/dist/world.h"
#include "rflow/pipeline/run_context.h"

namespace rflow {

EvalDraws eval_draws(const LoadedModel& m, const eval::ScorerEntry& entry, int64_t n, uint64_t seed,
                     const std::vector<int64_t>& shape_asked) {
  Distribution& target = m.data->target();
  const bool labeled = m.cfg.data.labels;
  // Data of one shape are drawn as they always were; data of several in one shape, the first by default.
  const std::vector<int64_t> shape =
      !shape_asked.empty() || target.sample_shapes().size() == 1 ? shape_asked : target.sample_shape();
  EvalDraws d;
  // Fixed draws, independent of the order or subset of evaluations run.
  seed_all(seed + 2);
  d.x0 = m.data->source().sample(n, {}, shape).x;
  seed_all(seed + 3);
  eval::ScorerSetup& s = d.setup;
  const Draw first = target.sample(n, {}, shape);
  s.reference = first.x;
  if (labeled) s.reference_labels = first.cond.labels;
  if (entry.second_draw) {
    const Draw second = target.sample(n, {}, shape);
    s.reference2 = second.x;
    if (labeled) s.reference2_labels = second.cond.labels;
  }
  if (labeled) {
    // Balanced labels (class i mod C, one grid column per class), or the reference draw's labels
    // so that the label mix, and hence the marginal the samples should match, is the target's.
    s.cond.labels = entry.balanced_labels ? torch::arange(n, torch::kInt64).remainder(target.num_classes())
                                          : s.reference_labels;
    if (entry.balanced_labels) s.grid_cols = target.num_classes();
  }
  if (target.context_len() > 0) {
    // Captioned data: the samples are asked for the reference draw's captions.
    s.cond.context = first.cond.context, s.cond.mask = first.cond.mask;
    s.captions = target.decode_prompts(s.cond);
  }
  s.seed = seed;
  s.data_name = m.cfg.data.target.name;
  s.data_path = m.cfg.data.target.path;
  s.fid_reference = distributions().get(s.data_name, "data.target.name").fid_reference;
  return d;
}

ChunkedSolve solve_in_chunks(VelocityFieldImpl& field, const EvalDraws& d, const SolveOptions& opt,
                             const FieldOptions& fo, int64_t chunk, c10::Device device,
                             const std::function<void(int64_t, int64_t)>& on_chunk) {
  // In a data-parallel run each rank solves its share of the chunks and every rank gets them all.
  const dist::World& w = dist::world();
  const dist::RowSplit split = dist::split_rows(d.x0.size(0), chunk, w);
  std::vector<at::Tensor> xs, nfes;
  int64_t accepted = 0, done = 0;
  for (const auto& [a, b] : split.mine) {
    const Cond c = d.setup.cond.empty() ? Cond{} : d.setup.cond.slice(a, b).to(device);
    SolveResult r = solve(field, d.x0.slice(0, a, b).to(device), opt, c, fo);
    xs.push_back(r.x.cpu());
    nfes.push_back(r.nfe.cpu());
    accepted = std::max(accepted, r.accepted);
    // The ranks keep pace: this rank's count stands for every rank's.
    done += w.size();
    if (on_chunk) on_chunk(std::min(done, split.pieces), split.pieces);
  }
  ChunkedSolve out;
  out.x = dist::gather_rows(split, xs, d.x0, w, "the evaluation's samples");
  out.nfe = dist::gather_rows(split, nfes, torch::zeros({split.n}, torch::kInt64), w, "the evaluation's NFE");
  out.accepted = dist::max_over_ranks(accepted, w, "the evaluation's steps");
  return out;
}

}  // namespace rflow

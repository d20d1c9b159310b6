#include <filesystem>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/rng.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "rflow/pipeline/report/plots.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"
#include "rflow/solve/solve_progress.h"
#include "rflow/solve/solver.h"

namespace fs = std::filesystem;

namespace rflow {

void stage_sample(StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  LoadedModel m = load_model(ctx.run_dir, cfg.sample.use_ema, ctx.device);
  auto& coupling = m.data;  // built once by load_model (an npy target is read once)
  seed_all(static_cast<uint64_t>(cfg.seed) + 1);
  // Data of several shapes (mixed composite layouts) are sampled in the first; `rflow sample
  // --prompt` draws any of them.
  const std::vector<int64_t> shape = coupling->target().sample_shape();
  at::Tensor x0 = coupling->source().sample(cfg.sample.n, {}, shape).x.to(ctx.device);
  SolveOptions opt = cfg.sample.solve;
  const bool images = coupling->target().sample_shape().size() == 3;
  at::Tensor labels;  // class-conditional: labels drawn like the target's (images: balanced, one grid column per class)
  if (m.cfg.data.labels)
    labels = (images ? torch::arange(cfg.sample.n, torch::kInt64).remainder(coupling->target().num_classes())
                     : coupling->target().sample(cfg.sample.n).cond.labels)
                 .to(ctx.device);
  Cond cond{labels};
  // Captioned data: the captions of target draws, as the model was trained on them.
  if (coupling->target().context_len() > 0) {
    const Cond drawn = coupling->target().sample(cfg.sample.n, {}, shape).cond;
    cond.context = drawn.context.to(ctx.device), cond.mask = drawn.mask.to(ctx.device);
  }
  auto t_start = std::chrono::steady_clock::now();
  SolveResult r;
  {
    SolveProgress bar("sample", opt);
    r = solve(*m.model, x0, opt, cond, cfg.sample.field);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  const fs::path dir = fs::path(ctx.run_dir) / "samples";
  fs::create_directories(dir);
  io::write_npy((dir / "x0.npy").string(), x0.cpu());
  io::write_npy((dir / "samples.npy").string(), r.x.cpu());
  if (labels.defined()) io::write_npy((dir / "labels.npy").string(), labels.cpu());
  if (cond.context.defined()) {
    io::write_npy((dir / "context.npy").string(), cond.context.cpu());
    io::write_npy((dir / "mask.npy").string(), cond.mask.cpu());
  }
  std::string picture;
  if (images) {
    // The first 10 rows; for conditional models column k holds class k.
    const int64_t cols = labels.defined() ? coupling->target().num_classes() : 10;
    picture = (dir / "samples.png").string();
    io::write_image_grid(picture, r.x, cols);
  } else {
    seed_all(static_cast<uint64_t>(cfg.seed) + 3);
    at::Tensor ref = coupling->target().sample(std::min<int64_t>(cfg.sample.n, 4000)).x;
    picture = (dir / "samples.svg").string();
    io::write_file_atomic(picture, scatter_vs_reference(r.x.cpu(), ref, opt.method + ", " + std::to_string(r.calls) + " NFE"));
  }
  spdlog::info("sample: {} samples with {} × {} steps ({} NFE each) in {:.2f} s ({:.1f} samples/s) → {}, {}", cfg.sample.n,
               opt.method, opt.steps, r.calls, secs, double(cfg.sample.n) / std::max(secs, 1e-9),
               (dir / "samples.npy").string(), picture);
}

}  // namespace rflow

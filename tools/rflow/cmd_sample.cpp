// `rflow sample CHECKPOINT`: draw samples with any solver and step count, write .npy (and a plot),
// and print a JSON summary with NFE per sample.
#include <algorithm>
#include <filesystem>
#include <chrono>
#include <iostream>
#include <limits>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/tensor_util.h"
#include "rflow/core/rng.h"
#include "rflow/core/thread_policy.h"
#include "rflow/data/prompt_batch.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "rflow/pipeline/report/plots.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/flow/scheduler.h"
#include "rflow/solve/likelihood.h"
#include "rflow/solve/retime.h"
#include "rflow/solve/solve_progress.h"
#include "rflow/solve/solver.h"
#include "tools/rflow/commands.h"
#include "tools/rflow/config_flags.h"

namespace rflow::cli {

namespace {

struct SampleArgs {
  std::string checkpoint, out = "samples.npy", plot, x0, device = "cpu";
  SolveOptions solve;
  FieldOptions field;
  int64_t n = 1000, seed = 0, chunk = 0;
  int64_t label = -2;
  std::vector<std::string> prompts;
  std::string path = "linear";
  bool no_ema = false, batch_shared = false, likelihood = false;
};

void add_sample_flags(CLI::App& cmd, SampleArgs& a) {
  cmd.add_option("checkpoint", a.checkpoint, "run directory, checkpoints/, a step_* directory or one weight file (.safetensors)")->required();
  cmd.add_option("-o,--out", a.out, "output .npy (N × ...)")->capture_default_str();
  cmd.add_option("--plot", a.plot, "also write a picture: SVG scatter of the first two coordinates, or a PNG grid for images (a column per class)");
  cmd.add_option("-n,--num", a.n, "number of samples (ignored with --x0)")->capture_default_str();
  cmd.add_option("--chunk", a.chunk, "samples per solve, written as they finish (0 = about 1 GB of working memory each)")
      ->capture_default_str();
  add_seed_flag(cmd, a.seed, "the noise draw");
  cmd.add_option("--x0", a.x0, "start from these points (.npy) instead of fresh source draws");
  cmd.add_option("--device", a.device, "cpu | cuda[:N]")->capture_default_str();
  cmd.add_flag("--no-ema", a.no_ema, "use the raw weights instead of the EMA");
  cmd.add_option("--path", a.path,
                 "sample along another affine path (cosine, vp, polynomial:N) by re-timing the linear-path model")
      ->capture_default_str();
  cmd.add_flag("--batch-shared", a.batch_shared, "adaptive solvers: one step size for the whole batch (= --per-sample false)");
  add_flags_for(cmd, a.solve, "Solver");
  add_flags_for(cmd, a.field, "Solver");
  cmd.add_option("--label", a.label, "class label for conditional models (-1 = unconditional; default: cycle through classes)");
  cmd.add_option("--prompt", a.prompts, "text-conditioned models: a prompt (repeatable; samples cycle through them, one grid column each; \"\" = unconditional; their token ids go to <out>.context.npy and <out>.mask.npy)");
  cmd.add_flag("--likelihood", a.likelihood, "also compute log p of each sample during the solve (writes <out>.logp.npy)");
}

// <out>.logp.npy, <out>.labels.npy, <out>.context.npy next to <out>.npy.
std::string sibling(const std::string& out, const std::string& suffix) {
  return out.size() > 4 && out.substr(out.size() - 4) == ".npy" ? out.substr(0, out.size() - 4) + suffix : out + suffix;
}

// Labels of a class-conditional model: --label for all, or each class in turn; the token context
// of --prompt for a text-conditioned one (each prompt in turn). Samples offset … offset + n − 1.
Cond sample_cond(const SampleArgs& a, const LoadedModel& m, int64_t offset, int64_t n, c10::Device device) {
  Cond cond;
  const Distribution& target = m.data->target();
  if (!a.prompts.empty()) {
    cond = prompts_in_turn(target, a.prompts, offset, n, "--prompt").to(device);
  } else {
    RF_CHECK(target.context_len() == 0, "a text-conditioned model needs prompts", "rflow sample",
             "add --prompt \"...\" (repeatable; --prompt \"\" samples unconditionally)");
  }
  if (m.cfg.model.num_classes > 0) {
    cond.labels = a.label >= -1 ? torch::full({n}, a.label, torch::kInt64)
                                : torch::remainder(torch::arange(offset, offset + n, torch::kInt64), m.cfg.model.num_classes);
    cond.labels = cond.labels.to(device);
  }
  return cond;
}

// The solve: the model's own fast path where it has one; re-timed or with log p where asked.
SolveResult run_solve(const SampleArgs& a, LoadedModel& m, const at::Tensor& x0, const SolveOptions& opt,
                      const Cond& cond, c10::Device device, at::Tensor* log_p) {
  FieldFn field = wrap_field(*m.model, cond, a.field);
  if (a.path != "linear") {
    RF_CHECK(m.cfg.method.path == "linear", "re-timing needs a model trained on the linear path", "--path",
             "this model was trained on '" + m.cfg.method.path + "'");
    field = retime_field(field, std::shared_ptr<const Scheduler>(make_scheduler(a.path)));
  }
  if (a.likelihood) {
    auto& coupling = m.data;
    auto lr = sample_with_log_prob(field, x0.to(device), opt, LikelihoodOptions{},
                                   [&](const at::Tensor& z) { return coupling->source().log_prob(z); });
    *log_p = lr.log_p;
    return lr.solve;
  }
  if (a.path == "linear") return solve(*m.model, x0.to(device), opt, cond, a.field);
  return solve(field, x0.to(device), opt);
}

void write_plot(const SampleArgs& a, const LoadedModel& m, const SolveResult& r, const Cond& cond, const SolveOptions& opt) {
  if (a.plot.empty()) return;
  if (m.model->sample_shape().size() == 3) {
    // Conditional models cycle through the classes, so each column is one class.
    // ... and samples for prompts cycle through them, so each column is one prompt.
    int64_t cols = cond.labels.defined() && a.label < -1 ? m.cfg.model.num_classes : 10;
    if (!a.prompts.empty()) cols = static_cast<int64_t>(a.prompts.size());
    io::write_image_grid(a.plot, r.x, cols);
    return;
  }
  seed_all(static_cast<uint64_t>(a.seed) + 1);
  auto ref = m.data->target().sample(std::min<int64_t>(r.x.size(0), 4000)).x;
  io::write_file_atomic(a.plot, scatter_vs_reference(r.x.cpu(), ref, opt.method + ", " + std::to_string(r.calls) + " NFE"));
}

// What the solves of every chunk add up to, for the JSON line.
struct SampleTally {
  int64_t n = 0, nfe_min = std::numeric_limits<int64_t>::max(), nfe_max = 0, calls = 0, accepted = 0, rejected = 0, bad = 0;
  double nfe_sum = 0, t_reached_min = std::numeric_limits<double>::infinity();
  SolveStatus status = SolveStatus::kOk;
  void add(const SolveResult& r) {
    n += r.x.size(0);
    nfe_min = std::min(nfe_min, r.nfe.min().item<int64_t>()), nfe_max = std::max(nfe_max, r.nfe.max().item<int64_t>());
    nfe_sum += r.nfe.to(torch::kFloat64).sum().item<double>();
    calls += r.calls, accepted += r.accepted, rejected += r.rejected;
    t_reached_min = std::min(t_reached_min, r.t_reached.min().item<double>());
    if (r.status != SolveStatus::kOk) status = r.status;
    bad += torch::logical_not(torch::isfinite(r.x)).flatten(1).any(1).sum().item<int64_t>();
  }
};

nlohmann::json summary(const SampleArgs& a, const LoadedModel& m, const SampleTally& t, const SolveOptions& opt,
                       double secs) {
  return {{"out", a.out},
          {"checkpoint", m.checkpoint},
          {"step", m.step},
          {"n", t.n},
          {"solver", opt.method},
          {"status", to_string(t.status)},
          {"nfe_min", t.nfe_min},
          {"nfe_mean", t.nfe_sum / double(t.n)},
          {"nfe_max", t.nfe_max},
          {"field_calls", t.calls},
          // Summed over samples (per-sample adaptive solves step each sample on its own).
          {"steps_accepted_total", t.accepted},
          {"steps_rejected_total", t.rejected},
          {"t_reached_min", t.t_reached_min},
          {"seconds", secs}};
}

// Bytes of one float32 sample. A chunk is about 1 GB of working memory (a solve holds some 16
// copies of its batch): smaller sets are one solve, as they always were; larger ones are solved
// and written a chunk at a time, so -n is bounded by the disk, not by memory.
int64_t bytes_per_sample(const std::vector<int64_t>& shape) {
  int64_t bytes = 4;
  for (auto s : shape) bytes *= s;
  return bytes;
}

// The .npy files a sample set writes, each a block of rows per chunk.
struct SampleWriters {
  std::optional<io::NpyRowWriter> x, labels, context, mask, logp;
  void append(const SolveResult& r, const Cond& cond, const at::Tensor& log_p) {
    x->append(r.x);
    if (labels) labels->append(cond.labels);
    if (context) context->append(cond.context), mask->append(cond.mask);
    if (logp) logp->append(log_p);
  }
  void finish() {
    for (auto* w : {&x, &labels, &context, &mask, &logp})
      if (*w) (*w)->finish();
  }
  // Opened on the first chunk, whose results say which files there are and their dtypes.
  void open(const SampleArgs& a, int64_t n, const SolveResult& r, const Cond& first, const at::Tensor& log_p) {
    std::vector<int64_t> shape(r.x.sizes().begin(), r.x.sizes().end());
    shape[0] = n;
    x.emplace(a.out, r.x.scalar_type(), shape);
    if (first.labels.defined()) labels.emplace(sibling(a.out, ".labels.npy"), torch::kInt64, std::vector<int64_t>{n});
    if (!a.prompts.empty()) {  // the prompts' token ids, for drawing the same samples elsewhere (Python)
      context.emplace(sibling(a.out, ".context.npy"), torch::kInt64, std::vector<int64_t>{n, first.context.size(1)});
      mask.emplace(sibling(a.out, ".mask.npy"), first.mask.scalar_type(), std::vector<int64_t>{n, first.mask.size(1)});
    }
    if (log_p.defined()) logp.emplace(sibling(a.out, ".logp.npy"), log_p.scalar_type(), std::vector<int64_t>{n});
  }
};

void run_sample(const SampleArgs& a) {
  RunConfig dev_cfg;
  dev_cfg.device = a.device;
  c10::Device device = setup_device(dev_cfg);
  LoadedModel m = load_model(a.checkpoint, !a.no_ema, device);
  RF_CHECK(a.n >= 1, "--num must be >= 1", "rflow sample", "");
  // Outputs are checked before the solve: a link or a fifo refused now, not after minutes of work.
  for (const std::string& out : {a.out, a.plot})
    if (!out.empty()) io::check_output_path(out);
  // The prompts' shape (a model of several layouts draws each), else the model's own: one per call.
  const std::vector<int64_t> shape = shape_of_prompts(m.data->target(), a.prompts, m.model->sample_shape(), "--prompt");
  const at::Tensor given = a.x0.empty() ? at::Tensor() : io::read_npy_samples(a.x0, shape);
  RF_CHECK(a.chunk >= 0, "--chunk must be >= 0", "--chunk", "0 = automatic");
  const int64_t per_sample = bytes_per_sample(shape), n = given.defined() ? given.size(0) : a.n;
  const int64_t chunk = a.chunk > 0 ? a.chunk : std::max<int64_t>(1, (int64_t{1} << 30) / (16 * per_sample));
  // Memory bounds a chunk, not the set: the disk bounds the set, and is asked before the first solve.
  std::error_code ec;
  const auto dir = std::filesystem::absolute(a.out).parent_path();
  const double need = double(per_sample) * double(n), free_bytes = double(std::filesystem::space(dir, ec).available);
  RF_CHECK(ec || need <= free_bytes,
           fmt::format("{} samples make a {:.1f} GB file; {} has {:.1f} GB free", n, need / 1e9, dir.string(), free_bytes / 1e9),
           "--num", "fewer samples, or write them (-o) to a disk with room");
  SolveOptions opt = solve_from_flags(a.solve);
  if (a.batch_shared) opt.per_sample = false;
  opt.validate("rflow sample");
  a.field.validate("rflow sample");
  seed_all(static_cast<uint64_t>(a.seed));
  auto t_start = std::chrono::steady_clock::now();
  std::optional<SolveProgress> bar(std::in_place, a.likelihood ? "sample + log p" : "sample", opt);
  SampleTally tally;
  SampleWriters writers;
  for (int64_t offset = 0; offset < n; offset += chunk) {
    const int64_t k = std::min(chunk, n - offset);
    adapt_threads();  // threads follow the machine's load between chunks (a multi-chunk set takes minutes)
    const at::Tensor x0 = given.defined() ? given.narrow(0, offset, k) : m.data->source().sample(k, {}, shape).x;
    const Cond cond = sample_cond(a, m, offset, k, device);
    at::Tensor log_p;
    const SolveResult r = run_solve(a, m, x0, opt, cond, device, &log_p);
    if (offset == 0) writers.open(a, n, r, cond, log_p);
    writers.append(r, cond, log_p);
    if (offset == 0) write_plot(a, m, r, cond, opt);  // the first chunk: a picture, not millions of dots
    tally.add(r);
  }
  writers.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  bar.reset();  // its last line before the result
  nlohmann::json j = summary(a, m, tally, opt, secs);
  if (!a.prompts.empty()) j["prompts"] = a.prompts;
  // Samples with NaN/Inf are written (to look at) but are never "ok": the status says so and
  // the exit code is 1.
  if (tally.bad > 0) j["status"] = "non_finite", j["non_finite_samples"] = tally.bad;
  std::cout << j.dump() << std::endl;
  RF_CHECK(tally.bad == 0, std::to_string(tally.bad) + " of " + std::to_string(n) + " samples have NaN/Inf values",
           a.out, "the weights may be damaged or the solver unstable: try `rflow info` on the run, or another solver");
}

}  // namespace

void add_sample(CLI::App& app) {
  auto* cmd = app.add_subcommand("sample", "sample a trained model into an .npy file");
  cmd->footer("\nExamples:\n  rflow sample runs/demo_2d --solver heun --steps 4 -n 5000 -o s.npy --plot s.svg\n"
              "  rflow sample runs/demo_2d --solver dopri5 --rtol 1e-4 --likelihood -o s.npy\n"
              "  rflow sample runs/fmnist_cond/distill_2rf --steps 1 -n 100 --label 3 -o s.npy --plot s.png\n"
              "  rflow sample runs/t2i_fmnist --prompt \"a bag above a sneaker\" --prompt \"a coat above a sandal\" -n 16 --guidance 2 --plot grid.png");
  auto a = std::make_shared<SampleArgs>();
  add_sample_flags(*cmd, *a);
  cmd->callback([a] { run_sample(*a); });
}

}  // namespace rflow::cli

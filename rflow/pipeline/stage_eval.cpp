#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/data/image_dataset.h"
#include "rflow/eval/compare.h"
#include "rflow/eval/fidnet.h"
#include "rflow/eval/frechet.h"
#include "rflow/eval/label_accuracy.h"
#include "rflow/eval/straightness.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "rflow/pipeline/chain.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/train/checkpoint.h"
#include "rflow/pipeline/stages.h"
#include "rflow/core/error.h"
#include "rflow/solve/likelihood.h"
#include "rflow/solve/solver.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

// What the eval measures for one kind of data: points (exact W2 and friends against fresh target
// draws, 1-NN label accuracy) or images (FID-proxy against the test set, the FID network's class
// accuracy, PNG grids).
struct Scorer {
  nlohmann::json floor;
  std::function<nlohmann::json(const at::Tensor& xs)> score;
  std::function<void(const at::Tensor& xs, const std::string& tag)> save;
  std::function<std::string(const nlohmann::json& j)> headline;
};

Scorer point_scorer(const RunConfig& cfg, const fs::path& dir, const at::Tensor& ref, const at::Tensor& ref_labels,
                    const at::Tensor& ref2, const at::Tensor& ref2_labels) {
  const EvalConfig& ec = cfg.eval;
  const bool labeled = ref_labels.defined();
  Scorer s;
  // The floor: two independent finite target samples are this far apart under each metric.
  auto floor = eval::compare_samples(ref2, ref, ec.sliced_projections, cfg.seed);
  s.floor = nlohmann::json::parse(eval::to_json(floor));
  if (labeled) s.floor["label_accuracy"] = eval::nearest_label_accuracy(ref2, ref2_labels, ref, ref_labels);
  s.score = [=](const at::Tensor& xs) {
    nlohmann::json j = nlohmann::json::parse(eval::to_json(eval::compare_samples(xs, ref, ec.sliced_projections, cfg.seed)));
    if (labeled) j["label_accuracy"] = eval::nearest_label_accuracy(xs, ref_labels, ref, ref_labels);
    return j;
  };
  s.save = [dir](const at::Tensor& xs, const std::string& tag) {
    io::write_npy((dir / "samples" / (tag + ".npy")).string(), xs);
  };
  const double fw2 = floor.w2;
  s.headline = [fw2](const nlohmann::json& j) {
    return fmt::format("W2 {:.4f} (floor {:.4f}), energy {:.5f}", j["w2"].get<double>(), fw2, j["energy"].get<double>());
  };
  return s;
}

// The FID network and the test set's feature statistics: every model of a chain is scored against
// the same ones, so the eval stage builds them once.
struct FidReference {
  std::string data_dir;
  eval::FidNetInfo info;
  std::shared_ptr<eval::FidNet> net;
  std::shared_ptr<eval::FeatureStats> test_stats;
  int64_t test_size = 0;
};

const FidReference& fid_reference(std::optional<FidReference>& cache, const std::string& fidnet_path,
                                  const std::string& data_dir) {
  if (!cache || cache->data_dir != data_dir) {
    FidReference r;
    r.data_dir = data_dir;
    r.net = std::make_shared<eval::FidNet>(eval::cached_fidnet(fidnet_path, &r.info));
    auto test = load_fashion_mnist(data_dir, "test", false);
    r.test_stats = std::make_shared<eval::FeatureStats>(eval::feature_stats(eval::fidnet_features(*r.net, test->all())));
    r.test_size = test->size();
    cache = std::move(r);
  }
  return *cache;
}

Scorer image_scorer(const RunConfig& cfg, const RunConfig& model_cfg, const fs::path& dir, const at::Tensor& train_draw,
                    const at::Tensor& labels, int64_t grid_cols, nlohmann::json& about, std::optional<FidReference>& fid) {
  Scorer s;
  s.save = [dir, grid_cols](const at::Tensor& xs, const std::string& tag) {
    io::write_image_grid((dir / "samples" / (tag + ".png")).string(), xs, grid_cols);
  };
  const auto& tc = model_cfg.data.target;
  if (tc.name != "fashion_mnist") {
    spdlog::info("eval: no FID-proxy for {} (its feature network is Fashion-MNIST's); sample grids only", tc.name);
    s.score = [](const at::Tensor&) { return nlohmann::json::object(); };
    s.headline = [](const nlohmann::json&) { return std::string("grid written"); };
    return s;
  }
  const FidReference& ref = fid_reference(fid, cfg.eval.fidnet, tc.path.empty() ? kFashionMnistDir : tc.path);
  auto net = ref.net;
  auto test_stats = ref.test_stats;
  about["fidnet"] = {{"id", ref.info.id}, {"test_accuracy", ref.info.test_accuracy}, {"path", ref.info.path}};
  about["reference"] = "Fashion-MNIST test set (" + std::to_string(ref.test_size) + " images)";
  // The floor: as many real training images as samples, against the same test statistics.
  s.floor["fid_proxy"] = eval::fid_proxy(*net, train_draw, *test_stats);
  if (labels.defined()) s.floor["class_accuracy"] = ref.info.test_accuracy;
  s.score = [=](const at::Tensor& xs) {
    nlohmann::json j;
    j["fid_proxy"] = eval::fid_proxy(*net, xs, *test_stats);
    if (labels.defined()) j["class_accuracy"] = eval::class_accuracy(*net, xs, labels);
    return j;
  };
  const double floor_fid = s.floor["fid_proxy"].get<double>();
  s.headline = [floor_fid](const nlohmann::json& j) {
    return fmt::format("FID-proxy {:.3f} (floor {:.3f}){}", j["fid_proxy"].get<double>(), floor_fid,
                       j.contains("class_accuracy") ? fmt::format(", class accuracy {:.3f}", j["class_accuracy"].get<double>()) : "");
  };
  return s;
}

// Evaluates one model of the run (all with the same draws, so numbers compare across models).
void eval_model(StageContext& ctx, const ChainModel& cm, std::optional<FidReference>& fid) {
  const RunConfig& cfg = ctx.cfg;
  const EvalConfig& ec = cfg.eval;
  LoadedModel m = load_model(cm.dir, cfg.sample.use_ema, ctx.device);
  auto& coupling = m.data;  // built once by load_model (an npy target is read once)
  const fs::path dir = fs::path(cm.dir) / "eval";
  const bool labeled = m.cfg.data.labels;
  const bool images = coupling->target().sample_shape().size() == 3;
  // The 1-RF is evaluated at the run's eval.guidance (which may have changed since it was trained);
  // models trained on guided pairs at their own config's 1 (guiding them again would compound it).
  const double guidance = (cm.k == 1 && !cm.student) ? cfg.eval.guidance : m.cfg.eval.guidance;
  fs::create_directories(dir / "results");
  fs::create_directories(dir / "samples");

  // Fixed draws, independent of the order or subset of evaluations run.
  seed_all(static_cast<uint64_t>(cfg.seed) + 2);
  at::Tensor x0 = coupling->source().sample(ec.n);
  seed_all(static_cast<uint64_t>(cfg.seed) + 3);
  auto draw = [&] {
    return labeled ? coupling->target().sample_labeled(ec.n) : std::make_pair(coupling->target().sample(ec.n), at::Tensor());
  };
  const auto [ref, ref_labels] = draw();
  nlohmann::json out;
  Scorer scorer;
  at::Tensor cond_labels;  // what conditional samples are asked for
  int64_t grid_cols = 10;
  if (images) {
    // Balanced labels (class i % C): the test set is balanced, and grid columns are the classes.
    const int64_t classes = coupling->target().num_classes();
    if (labeled) cond_labels = torch::arange(ec.n, torch::kInt64).remainder(classes), grid_cols = classes;
    scorer = image_scorer(cfg, m.cfg, dir, ref, cond_labels, grid_cols, out, fid);
    io::write_image_grid((dir / "reference.png").string(), ref, grid_cols);
  } else {
    // Class-conditional models are sampled with the labels of the reference draw, so the label mix
    // (and hence the marginal they should match) is the target's.
    const auto [ref2, ref2_labels] = draw();
    cond_labels = ref_labels;
    scorer = point_scorer(cfg, dir, ref, ref_labels, ref2, ref2_labels);
    io::write_npy((dir / "reference.npy").string(), ref);
  }
  out["floor"] = scorer.floor;
  // The field for draws [a, b) (their labels), and solves in chunks: 10k images at once would hold
  // gigabytes of activations and run out of cache; points are solved in one batch as before.
  auto field_for = [&](int64_t a, int64_t b) {
    return guided_field(*m.model, Cond{labeled ? cond_labels.slice(0, a, b).to(ctx.device) : at::Tensor()}, guidance);
  };
  const int64_t chunk = images ? std::max<int64_t>(1, ec.batch) : ec.n;
  auto solve_all = [&](const SolveOptions& opt) {
    std::vector<at::Tensor> xs, nfes;
    int64_t accepted = 0;
    for (int64_t a = 0; a < ec.n; a += chunk) {
      const int64_t b = std::min(ec.n, a + chunk);
      SolveResult r = solve(field_for(a, b), x0.slice(0, a, b).to(ctx.device), opt);
      xs.push_back(r.x.cpu());
      nfes.push_back(r.nfe.cpu());
      accepted = std::max(accepted, r.accepted);
    }
    return std::make_tuple(torch::cat(xs), torch::cat(nfes), accepted);
  };

  std::vector<std::pair<std::string, int64_t>> jobs;
  for (const auto& s : ec.solvers) {
    if (solvers().get(s, "eval.solvers")()->nfe_per_step() == 0) {
      jobs.emplace_back(s, 0);  // adaptive: one solve at the eval tolerance, NFE measured
      continue;
    }
    for (auto k : ec.nfe) jobs.emplace_back(s, k);
  }
  const nlohmann::json common{{"checkpoint_step", m.step}, {"n", ec.n},
                               {"seed", cfg.seed},           {"guidance", guidance},
                               {"use_ema", cfg.sample.use_ema}, {"fidnet", out.contains("fidnet") ? out["fidnet"]["id"] : nlohmann::json()},
                               {"sliced_projections", images ? int64_t(0) : ec.sliced_projections}};
  Progress progress("eval", static_cast<int64_t>(jobs.size()));
  int64_t done = 0;
  out["results"] = nlohmann::json::array();
  for (const auto& [solver_name, nfe] : jobs) {
    const int per_step = solvers().get(solver_name)()->nfe_per_step();
    if (per_step > 0 && nfe % per_step != 0) {
      spdlog::info("eval: skipping {} at NFE {} (not a multiple of its {} evaluations per step)", solver_name, nfe, per_step);
      progress.update(++done);
      continue;
    }
    const std::string tag = per_step == 0 ? solver_name : solver_name + "_nfe" + std::to_string(nfe);
    const fs::path res_path = dir / "results" / (tag + ".json");
    nlohmann::json settings = common;
    if (per_step == 0) settings.update({{"rtol", ec.rtol}, {"atol", ec.atol}});
    // Results on disk are reused only if they were made from this checkpoint with these settings
    // (a retrained model or another n, scale or FID network invalidates them; adaptive results also
    // on the tolerances). Chunks do not matter: adaptive steps are chosen per sample.
    nlohmann::json j;
    if (fs::exists(res_path)) {  // a torn or hand-edited file is recomputed, not an error
      j = nlohmann::json::parse(io::read_file(res_path.string()), nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || j.value("settings", nlohmann::json()) != settings) j = nlohmann::json();
    }
    if (j.is_null()) {
      SolveOptions opt;
      opt.method = solver_name;
      opt.steps = per_step > 0 ? nfe / per_step : 1;
      opt.rtol = ec.rtol;
      opt.atol = ec.atol;
      auto t_start = std::chrono::steady_clock::now();
      auto [xs, nfe_each, accepted] = solve_all(opt);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      const double nfe_mean = nfe_each.to(torch::kFloat64).mean().item<double>();
      scorer.save(xs, tag);
      j = scorer.score(xs);
      j["solver"] = solver_name;
      j["nfe"] = per_step > 0 ? double(nfe) : nfe_mean;
      j["steps"] = per_step > 0 ? opt.steps : accepted;
      j["tag"] = tag;
      j["checkpoint_step"] = m.step;
      j["settings"] = settings;
      j["samples_per_second"] = double(ec.n) / std::max(secs, 1e-9);
      io::write_file_atomic(res_path.string(), j.dump(2));
      spdlog::info("eval: {}: {} NFE {:.1f}: {} ({:.0f} samples/s)", cm.label, solver_name, j["nfe"].get<double>(),
                   scorer.headline(j), j["samples_per_second"].get<double>());
    }
    out["results"].push_back(std::move(j));
    progress.update(++done);
  }
  progress.finish();

  // Straightness and transport cost from a fine Euler solve; trajectories kept for the report.
  // Images: on the first 256 draws (a 100-step trajectory of 10k images would need 3 GB).
  const int64_t n_paths = images ? std::min<int64_t>(ec.n, 256) : ec.n;
  SolveOptions opt;
  opt.method = "euler";
  // A student is a k-step map (trained at its k grid times only): its paths are its own k steps.
  opt.steps = cm.student ? m.cfg.method.distill.steps : ec.straightness_steps;
  opt.record_trajectory = true;
  SolveResult r = solve(field_for(0, n_paths), x0.slice(0, 0, n_paths).to(ctx.device), opt);
  auto st = eval::straightness(r.trajectory, r.times);
  out["straightness"] = {{"straightness", st.straightness},
                         {"normalized", st.normalized},
                         {"transport_cost", st.transport_cost},
                         {"steps", opt.steps},
                         {"paths", n_paths}};
  // Independent coupling's cost E‖X1 − X0‖², the upper bound the flow's transport cost must not exceed.
  out["independent_transport_cost"] =
      (ref.slice(0, 0, n_paths) - x0.slice(0, 0, n_paths)).flatten(1).pow(2).sum(1).mean().item<double>();
  const int64_t S = r.trajectory.size(0);
  if (images) {
    // One row per class (first draws), noise → image left to right at 9 times.
    const int64_t rows = std::min<int64_t>(grid_cols, n_paths), cols = std::min<int64_t>(9, S);
    auto ti = torch::linspace(0, double(S - 1), cols).round().to(torch::kInt64);
    at::Tensor strip = r.trajectory.cpu().index_select(0, ti).slice(1, 0, rows).transpose(0, 1).flatten(0, 1);
    io::write_png((dir / "trajectory.png").string(), io::image_grid(strip, cols));
  } else if (int64_t keep = std::min<int64_t>(ec.trajectories, ec.n); keep > 0) {
    // Every ⌈S/50⌉-th time point is plenty for a picture.
    int64_t stride = std::max<int64_t>(1, (S - 1) / 50);
    auto idx = torch::arange(0, S, stride, torch::kInt64);
    if (idx[-1].item<int64_t>() != S - 1) idx = torch::cat({idx, torch::tensor({S - 1}, torch::kInt64)});
    io::write_npy((dir / "trajectory.npy").string(),
                  r.trajectory.index_select(0, idx.to(r.trajectory.device())).slice(1, 0, keep).cpu().contiguous());
  }
  if (ec.likelihood && labeled) {
    spdlog::info("eval: no likelihood for a class-conditional model (log p(x | label), not the marginal)");
  } else if (ec.likelihood && images) {
    spdlog::info("eval: no likelihood for images (the exact divergence costs one backward pass per pixel)");
  } else if (ec.likelihood) {
    // Exact-divergence backward solve of the reference points: what the model's density says about
    // real data (and a number comparable across runs, unlike W2 at a fixed sample size).
    try {
      SolveOptions lopt;
      lopt.method = "dopri5";
      lopt.rtol = lopt.atol = 1e-5;
      auto lr = log_prob(bind_field(*m.model), ref.to(ctx.device), lopt, LikelihoodOptions{},
                         [&](const at::Tensor& z) { return coupling->source().log_prob(z); });
      const int64_t dims = ref[0].numel();
      out["likelihood"] = {{"mean_log_p", lr.log_p.mean().item<double>()},
                           {"bits_per_dim", bits_per_dim(lr.log_p, dims).mean().item<double>()},
                           {"nfe_mean", lr.solve.nfe.to(torch::kFloat64).mean().item<double>()}};
      spdlog::info("eval: mean log p of {} target points {:.4f} ({:.0f} NFE each)", ec.n,
                   out["likelihood"]["mean_log_p"].get<double>(), out["likelihood"]["nfe_mean"].get<double>());
    } catch (const Error& e) {
      spdlog::info("eval: no likelihood ({})", e.what());
    }
  }
  out["kind"] = images ? "images" : "points";
  out["n"] = ec.n;
  out["checkpoint_step"] = m.step;
  out["model"] = cm.label;
  out["guidance"] = guidance;
  io::write_file_atomic((dir / "metrics.json").string(), out.dump(2));
  spdlog::info("eval: {}: straightness {:.4f} (normalised {:.4f}), transport cost {:.3f} (independent coupling {:.3f})",
               cm.label, st.straightness, st.normalized, st.transport_cost, out["independent_transport_cost"].get<double>());
}

}  // namespace

void stage_eval(StageContext& ctx) {
  std::optional<FidReference> fid;
  for (const auto& cm : chain_models(ctx.cfg, ctx.run_dir)) {
    if (resolve_checkpoint(cm.dir).empty()) {
      spdlog::warn("eval: {} has no checkpoint yet ({}), skipped", cm.label, cm.dir);
      continue;
    }
    eval_model(ctx, cm, fid);
  }
}

}  // namespace rflow

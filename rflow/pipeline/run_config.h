// The whole-run configuration: one TOML file describes data, model, method, training, sampling and
// evaluation, and which pipeline stages to run. Fields are declared once (visit) and drive TOML,
// --set overrides, validation and the config.json stored in the run directory and checkpoints.
#pragma once

#include <string>
#include <vector>

#include "rflow/data/batch_source.h"
#include "rflow/methods/method_config.h"
#include "rflow/methods/reflow.h"
#include "rflow/nn/model_config.h"
#include "rflow/train/train_config.h"

namespace rflow {

struct SampleConfig {
  SolveOptions solve;  // sample.solver, sample.steps, ... (labels drawn like the target's)
  FieldOptions field;  // sample.guidance, sample.eta
  int64_t n = 10000;
  bool use_ema = true;

  template <class V>
  void visit(V& v) {
    solve.visit(v);
    field.visit(v);
    v("n", n, "number of samples");
    v("use_ema", use_ema, "sample with the EMA weights");
  }
  void validate(const std::string& where = "sample") const;
};

struct EvalConfig {
  std::vector<int64_t> nfe{1, 2, 4, 8, 100};
  std::vector<std::string> solvers{"euler"};
  SolveOptions solve;  // every other solver setting (tolerances, schedule, ...), shared by all jobs
  FieldOptions field;  // eval.guidance, eval.eta
  int64_t n = 2000;
  int64_t straightness_steps = 100;
  int64_t trajectories = 256;
  int64_t sliced_projections = 256;
  bool likelihood = true;
  int64_t likelihood_n = 1000;
  std::string fidnet;
  int64_t batch = 500;

  template <class V>
  void visit(V& v) {
    v("batch", batch, "images: samples solved per batch (bounds memory; points are solved in one batch)");
    v("fidnet", fidnet, "images: the FID-proxy network file (\"\" = the cache, trained once if missing; see `rflow fidnet`)");
    v("likelihood", likelihood, "report the model's mean log-likelihood of fresh target points (needs an analytic source)");
    v("likelihood_n", likelihood_n, "target points whose log-likelihood is computed (the first of the eval.n drawn; each costs an exact-divergence backward solve)");
    v("nfe", nfe, "velocity-evaluation budgets to evaluate (steps = nfe / stages of the solver); adaptive solvers run once at eval.rtol/atol");
    v("solvers", solvers, "solvers to evaluate at each NFE");
    // guidance: the 1-RF's CFG scale; k-RF and students are evaluated at 1 (their pairs carry it).
    solve.visit(v, /*with_solver=*/false);
    field.visit(v);
    v("n", n, "samples per evaluation: points are compared with as many fresh target samples (exact W2, at most 5000); images by FID-proxy against the test set (10000 in the protocol)");
    v("straightness_steps", straightness_steps, "Euler steps for straightness and transport cost");
    v("trajectories", trajectories, "trajectories drawn in the report");
    v("sliced_projections", sliced_projections, "random directions for sliced W2");
  }
  void validate(const std::string& where = "eval") const;
};

// Students distilled by the distill stage, one per teacher in `from` (1 = straight from the 1-RF,
// the InstaFlow ablation; k = from the k-RF of the reflow rounds). The loss is method.distill.
struct DistillRunConfig {
  std::vector<int64_t> from;
  TrainConfig train;

  DistillRunConfig() {
    train.steps = 4000;
    train.warmup = 100;
  }

  template <class V>
  void visit(V& v) {
    v("from", from, "teachers to distill: 1 = the 1-RF, k = the k-RF made by reflow.rounds (e.g. [1, 2])");
    v.section("train", train);
  }
  void validate(int64_t rounds, const std::string& where = "distill") const;
};

struct RunConfig {
  std::string name = "run";
  std::string out_dir = "runs";
  int64_t seed = 0;
  std::string device = "cpu";
  int64_t threads = 0;
  std::string log_level = "info";
  std::vector<std::string> stages{"train", "sample", "eval", "report"};
  DataConfig data;
  ModelConfig model;
  MethodConfig method;
  TrainConfig train;
  SampleConfig sample;
  EvalConfig eval;
  ReflowConfig reflow;
  DistillRunConfig distill;

  template <class V>
  void visit(V& v) {
    v("name", name, "run name: the run directory is out_dir/name");
    v("out_dir", out_dir, "parent directory of run directories");
    v("seed", seed, "seed of every random draw in the run");
    v("device", device, "cpu | cuda | cuda:N");
    v("threads", threads, "intra-op CPU threads (0 = the cores other processes leave free, re-checked as the run goes; OMP_NUM_THREADS if set). Results equal to the last bit, across resumes too, need a fixed count");
    v("log_level", log_level, "trace | debug | info | warn | error");
    v("stages", stages, "pipeline stages in order: train (1-RF), reflow (pairs, then reflow.rounds k-RF fine-tunes), distill (students), sample, eval (every model), report");
    v.section("data", data);
    v.section("model", model);
    v.section("method", method);
    v.section("train", train);
    v.section("sample", sample);
    v.section("eval", eval);
    v.section("reflow", reflow);
    v.section("distill", distill);
  }
  void validate() const;
  std::string run_dir() const;
};

// Fills the tables that lower layers own but higher ones provide (the FID network's feature
// distance for distillation); idempotent, called by RunConfig::validate.
void register_builtin_extensions();

// defaults < TOML file, or a run directory's config.json (if path non-empty) < overrides
// ("key=value"); validated.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides);
RunConfig run_config_from_json(const std::string& json, const std::string& where);
std::string to_json(RunConfig& cfg);

}  // namespace rflow

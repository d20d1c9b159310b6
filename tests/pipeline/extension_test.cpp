// The extension points are real: a backbone, methods, a data set, a coupling, a policy task and a
// solver defined here, in test code only, are registered with one line each, configured through
// their own keys (model.toy_mlp.*, method.toy_fm.*, data.coupling, ...) and trained, saved,
// reloaded, sampled and evaluated by the same library calls `rflow run` makes. Nothing in the
// library knows about them.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/coupling.h"
#include "rflow/methods/method_config.h"
#include "rflow/methods/perflow.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/pipeline/policy/policy_compare.h"
#include "rflow/pipeline/policy/policy_task.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/solve/rk_fixed.h"
#include "rflow/solve/solver.h"
#include "rflow/train/checkpoint.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {

// --- a backbone: [x, t] → tanh MLP → v, with its own options -----------------------------------
struct ToyMlpOptions {
  int64_t width = 16;
  template <class V>
  void visit(V& v) {
    v("width", width, "hidden width of the toy backbone");
  }
  void validate(const std::string& where) const {
    RF_CHECK(width >= 1, "width must be >= 1", where + ".width", "");
  }
};

class ToyMlpImpl : public CloneableField<ToyMlpImpl> {
 public:
  ToyMlpImpl(ToyMlpOptions o, std::vector<int64_t> shape) : o_(o), shape_(std::move(shape)) { reset(); }
  void reset() override {
    l1_ = register_module("l1", torch::nn::Linear(shape_[0] + 1, o_.width));
    l2_ = register_module("l2", torch::nn::Linear(o_.width, shape_[0]));
  }
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond&) override {
    return l2_(torch::tanh(l1_(torch::cat({x, t.unsqueeze(1).to(x.scalar_type())}, 1))));
  }
  std::vector<int64_t> sample_shape() const override { return shape_; }

 private:
  ToyMlpOptions o_;
  std::vector<int64_t> shape_;
  torch::nn::Linear l1_{nullptr}, l2_{nullptr};
};

// --- a method: flow matching through ctx.path, weighted, logging how far the EMA lags ----------
struct ToyFmOptions {
  double weight = 1.0;
  template <class V>
  void visit(V& v) {
    v("weight", weight, "loss weight");
  }
  void validate(const std::string& where) const {
    RF_CHECK(weight > 0, "weight must be > 0", where + ".weight", "");
  }
};

class ToyFm : public Method {
 public:
  explicit ToyFm(ToyFmOptions o) : o_(o) {}
  std::string name() const override { return "toy_fm"; }
  at::Tensor loss(const Batch& b, TrainContext& ctx) override {
    at::Tensor t = torch::rand({b.x0.size(0)});
    PathSample ps = ctx.path.sample(b.x0, b.x1, t);
    {
      torch::NoGradGuard ng;
      ctx.log("toy_weight", o_.weight);
      ctx.log("toy_ema_gap", (ctx.ema_model().forward(ps.xt, t) - ctx.model.forward(ps.xt, t)).abs().mean().item<double>());
    }
    return o_.weight * (ctx.model.forward(ps.xt, t, b.cond) - ps.target).pow(2).mean();
  }

 private:
  ToyFmOptions o_;
};

// --- a method that reads the frozen teacher: regress on its velocity (method.teacher) ----------
class ToyMimic : public Method {
 public:
  std::string name() const override { return "toy_mimic"; }
  bool needs_teacher() const override { return true; }
  at::Tensor loss(const Batch& b, TrainContext& ctx) override {
    at::Tensor t = torch::rand({b.x0.size(0)});
    at::Tensor xt = ctx.path.sample(b.x0, b.x1, t).xt;
    at::Tensor target;
    {
      torch::NoGradGuard ng;
      target = ctx.teacher_model().forward(xt, t);
    }
    return (ctx.model.forward(xt, t) - target).pow(2).mean();
  }
};

void register_toys() {
  if (!models().contains("toy_mlp"))
    models().add("toy_mlp", "test backbone",
                 {[] { return AnyOptions::of<ToyMlpOptions>(); },
                  [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
                    return std::make_shared<ToyMlpImpl>(c.get<ToyMlpOptions>("toy_mlp"), shape);
                  },
                  nullptr});
  if (!methods().contains("toy_mimic"))
    methods().add("toy_mimic", "test method with a teacher",
                  {[] { return AnyOptions::of<NoOptions>(); }, [](const MethodConfig&) { return std::make_unique<ToyMimic>(); }});
  if (!methods().contains("toy_fm"))
    methods().add("toy_fm", "test method",
                  {[] { return AnyOptions::of<ToyFmOptions>(); },
                   [](const MethodConfig& c) { return std::make_unique<ToyFm>(c.get<ToyFmOptions>("toy_fm")); }});
}

}  // namespace

TEST(Extension, ToyBackboneAndMethodTrainThroughTheLibraryLikeRflowRun) {
  register_toys();
  test::TempDir dir;
  RunConfig cfg = load_run_config("", {"name=toy", "out_dir=" + dir.path().string(), "model.arch=toy_mlp",
                                       "model.toy_mlp.width=24", "method.name=toy_fm", "method.toy_fm.weight=2.5",
                                       "data.target.name=gaussian", "data.target.gaussian.mean=[2.0, -1.0]",
                                       "data.target.gaussian.std=[0.5, 0.5]", "train.steps=600", "train.batch_size=256",
                                       "train.lr=1e-2", "train.warmup=20", "train.log_every=100", "train.ema_decay=0.9",
                                       "stages=[\"train\"]", "threads=1"});
  const std::string run = run_pipeline(cfg);
  // The method's own option reached it, and its EMA view is a real, lagging copy.
  std::ifstream metrics(run + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line))
    if (!line.empty()) last = line;
  auto j = nlohmann::json::parse(last);
  EXPECT_DOUBLE_EQ(j.at("toy_weight").get<double>(), 2.5);
  EXPECT_GT(j.at("toy_ema_gap").get<double>(), 0.0);
  EXPECT_LT(j.at("toy_ema_gap").get<double>(), 0.5);
  // The run directory alone rebuilds the toy backbone (its options are in config.json) ...
  LoadedModel m = load_model(run, /*use_ema=*/true, torch::kCPU);
  EXPECT_EQ(m.cfg.model.get<ToyMlpOptions>("toy_mlp").width, 24);
  EXPECT_EQ(count_parameters(*m.model), (2 + 1) * 24 + 24 + 24 * 2 + 2);
  // ... and it carries noise to the target: N(0, I) → N((2, −1), 0.25 I).
  torch::manual_seed(5);
  SolveOptions o;
  o.method = "heun";
  o.steps = 20;
  auto x = solve(*m.model, torch::randn({4000, 2}), o).x;
  auto mean = x.mean(0);
  EXPECT_NEAR(mean[0].item<double>(), 2.0, 0.15);
  EXPECT_NEAR(mean[1].item<double>(), -1.0, 0.15);
  EXPECT_NEAR(x.std(0).mean().item<double>(), 0.5, 0.15);
  // Their keys are checked like built-in ones.
  EXPECT_THROW(load_run_config("", {"model.toy_mlp.widht=3"}), Error);
  EXPECT_THROW(load_run_config("", {"method.toy_fm.weight=-1"}), Error);
}

TEST(Extension, AMethodGetsItsFrozenTeacherFromMethodTeacher) {
  register_toys();
  test::TempDir dir;
  const std::vector<std::string> common{"out_dir=" + dir.path().string(), "model.arch=toy_mlp", "data.target.name=moons",
                                        "train.batch_size=256", "train.lr=1e-2", "train.warmup=20",
                                        "stages=[\"train\"]", "threads=1"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), common.begin(), common.end());
    return load_run_config("", extra);
  };
  const std::string teacher = run_pipeline(with({"name=teacher", "train.steps=300"}));
  // Without a teacher the trainer refuses to start, naming the key.
  try {
    run_pipeline(with({"name=orphan", "method.name=toy_mimic", "train.steps=10"}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.where()).find("method.teacher"), std::string::npos) << e.what();
  }
  const std::string student = run_pipeline(with({"name=student", "method.name=toy_mimic", "method.teacher=" + teacher,
                                                 "model.toy_mlp.width=32", "train.steps=600"}));
  // The student learned the teacher's field (not the data's): close where it was trained, and the
  // teacher's weights did not move (its checkpoint is untouched, its copy frozen).
  LoadedModel t = load_model(teacher, true, torch::kCPU), s = load_model(student, true, torch::kCPU);
  torch::manual_seed(9);
  auto x = torch::randn({2000, 2}) * 1.5;
  auto tt = torch::rand({2000});
  torch::NoGradGuard ng;
  auto vt = t.model->forward(x, tt), vs = s.model->forward(x, tt);
  const double rel = ((vs - vt).pow(2).mean() / vt.pow(2).mean()).item<double>();
  EXPECT_LT(rel, 0.05) << "relative squared error to the teacher";
  EXPECT_EQ(read_checkpoint_state(resolve_checkpoint(teacher)).step, 300);
}

// --- a data set, a coupling, a policy task and a solver, each one registry line from test code --

namespace {

// Demonstrations of the policy a = 2·obs, obs ~ U[−1, 1]: a data set under the one sampling call.
class DoublingDemos : public Distribution {
 public:
  std::vector<int64_t> sample_shape() const override { return {1}; }
  std::string describe() const override { return "doubling demos"; }
  int64_t obs_dim() const override { return 1; }

 protected:
  Draw draw(int64_t n, const at::Generator& rng) override {
    const at::Tensor obs = torch::rand({n, 1}, rng) * 2 - 1;
    Draw d{obs * 2, {}};
    d.cond.extra["obs"] = obs;
    return d;
  }
};

// Pairs x0 and x1 by rank along the first coordinate (the 1-D optimal coupling) within a batch.
class RankCoupling : public BatchSource {
 public:
  explicit RankCoupling(std::unique_ptr<IndependentCoupling> inner) : inner_(std::move(inner)) {}
  Batch next(int64_t batch_size, c10::Device device) override {
    Batch b = inner_->next(batch_size, device);
    const at::Tensor i0 = b.x0.select(1, 0).argsort(), i1 = b.x1.select(1, 0).argsort();
    return {b.x0.index_select(0, i0), b.x1.index_select(0, i1), b.cond.select(i1)};
  }
  std::vector<int64_t> sample_shape() const override { return inner_->sample_shape(); }

 private:
  std::unique_ptr<IndependentCoupling> inner_;
};

// The task of the doubling policy: its error to 2·obs at five observations.
PolicyEvaluation doubling_eval(LoadedModel& m, const PolicyEvalOptions& opt) {
  const at::Tensor obs = torch::linspace(-0.8, 0.8, 5).repeat_interleave(opt.samples).unsqueeze(1);
  Cond c;
  c.extra["obs"] = obs;
  const SolveResult r = solve(*m.model, torch::randn({obs.size(0), 1}), opt.solve, c);
  PolicyEvaluation e;
  e.summary = {{"task", "doubling"}, {"abs_error", (r.x - 2 * obs).abs().mean().item<double>()}};
  return e;
}

void register_more_toys() {
  if (!distributions().contains("doubling"))
    distributions().add("doubling", "test demonstrations",
                        {"", nullptr, [](const DistributionConfig&, const std::vector<int64_t>&, const std::string&) {
                           return std::unique_ptr<Distribution>(std::make_unique<DoublingDemos>());
                         }});
  if (!couplings().contains("toy_rank")) {
    CouplingEntry e;
    e.validate = [](const DataConfig& c, const std::string& where) {
      RF_CHECK(!c.labels, "the rank coupling crosses labels", where + ".labels", "set data.labels=false");
    };
    e.make = [](const DataConfig&, std::unique_ptr<IndependentCoupling> both, const CouplingInputs&) {
      return std::unique_ptr<BatchSource>(std::make_unique<RankCoupling>(std::move(both)));
    };
    couplings().add("toy_rank", "test coupling", e);
  }
  if (!policy_tasks().contains("doubling")) {
    PolicyTaskEntry t;
    t.evaluate = doubling_eval;
    t.columns = {{"|error|", "abs_error"}};
    t.measured = [](const PolicyEvalOptions& o) { return std::to_string(o.samples) + " actions at 5 observations."; };
    policy_tasks().add("doubling", "test task", t);
  }
  // Ralston's second-order method: a tableau and one line, and every fixed-step user takes it.
  static const ButcherTableau ralston{"toy_ralston", 2, {{0, 0}, {2.0 / 3, 0}}, {0.25, 0.75}, {0, 2.0 / 3}};
  if (!solvers().contains("toy_ralston"))
    solvers().add("toy_ralston", "test solver", [] { return std::make_unique<FixedStepRK>(ralston); });
}

}  // namespace

TEST(Extension, ACouplingFromTestCodeTrainsThroughThePipeline) {
  register_toys();
  register_more_toys();
  DataConfig dc;
  dc.source.name = "gaussian";
  dc.target.name = "moons";
  dc.coupling = "toy_rank";
  seed_all(1);
  auto src = make_batch_source(dc);
  const Batch b = src->next(512, torch::kCPU);
  // Both ends come sorted along x: the coupling, not the independent draw, made the batch.
  EXPECT_TRUE((b.x0.select(1, 0).diff() >= 0).all().item<bool>());
  EXPECT_TRUE((b.x1.select(1, 0).diff() >= 0).all().item<bool>());
  // Its own check runs where every coupling's does, and names the key.
  dc.labels = true;
  try {
    dc.validate();
    FAIL() << "expected the coupling's own check";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.where()), "data.labels");
  }
  // A mistyped coupling gets the closest registered name.
  dc.labels = false;
  dc.coupling = "toy_rnak";
  try {
    dc.validate();
    FAIL() << "expected an unknown-coupling error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("toy_rank"), std::string::npos) << e.what();
  }
  test::TempDir dir;
  RunConfig cfg = load_run_config("", {"name=rank", "out_dir=" + dir.path().string(), "data.coupling=toy_rank",
                                       "data.target.name=moons", "train.steps=50", "train.batch_size=128",
                                       "stages=[\"train\"]", "threads=1"});
  EXPECT_EQ(read_checkpoint_state(resolve_checkpoint(run_pipeline(cfg))).step, 50);
}

TEST(Extension, APolicyTaskAndDataSetFromTestCodeAreEvaluatedAndCompared) {
  register_toys();
  register_more_toys();
  test::TempDir dir;
  RunConfig cfg = load_run_config("", {"name=doubling", "out_dir=" + dir.path().string(), "data.target.name=doubling",
                                       "model.mlp.obs_dim=1", "model.mlp.hidden=64", "train.steps=800",
                                       "train.batch_size=256", "train.lr=3e-3", "stages=[\"train\"]", "threads=1"});
  const std::string run = run_pipeline(cfg);
  LoadedModel m = load_model(run, true, torch::kCPU);
  PolicyEvalOptions opt;
  opt.samples = 50;
  opt.solve.method = "euler";
  opt.solve.steps = 10;
  const PolicyEvaluation e = evaluate_policy(m, opt);
  EXPECT_EQ(e.summary.at("task"), "doubling");  // the registered task ran, not the open-loop default
  EXPECT_LT(e.summary.at("abs_error").get<double>(), 0.2);
  const nlohmann::json rows = compare_policies({run}, parse_samplers("euler:1,euler:10", "test"), opt, "");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[1].contains("abs_error"));  // its own column
  EXPECT_EQ(rows[0].at("sampler"), "euler:1");
}

TEST(Extension, ASolverFromTestCodeIsAFixedStepMethodEverywhere) {
  register_more_toys();
  const auto solver = solvers().get("toy_ralston")();
  ASSERT_NE(solver->tableau(), nullptr);
  EXPECT_EQ(solver->nfe_per_step(), 2);
  // dx/dt = x from 1: two stages per step, second order (error ×¼ when the steps double).
  auto err = [](int64_t steps) {
    SolveOptions o;
    o.method = "toy_ralston";
    o.steps = steps;
    const at::Tensor x = solve([](const at::Tensor& x, const at::Tensor&) { return x; },
                               torch::ones({1, 1}, torch::kFloat64), o).x;
    return std::abs(x.item<double>() - std::exp(1.0));
  };
  EXPECT_NEAR(err(20) / err(40), 4.0, 0.2);
  // PeRFlow's window solve accepts it as a teacher solver (a capability, not a list of names).
  PerFlowOptions po;
  po.solver = "toy_ralston";
  EXPECT_NO_THROW(po.validate("method.perflow"));
  po.solver = "dopri5";
  EXPECT_THROW(po.validate("method.perflow"), Error);
}

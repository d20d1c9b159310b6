// The deterministic planner: the card's settings, threads and workers from the cores, the batch
// from the memory the probe measured, the training length from the seconds per step it measured
// and the budget, ASHA's rungs from that length, and the search space from the card's tunables
// plus the training settings every flow trains with.
#include <algorithm>
#include <cmath>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rflow/automl/planner.h"
#include "rflow/core/error.h"
#include "rflow/automl/trial_rules.h"
#include "rflow/automl/warm_start.h"

namespace rflow::automl {

namespace {

constexpr double kFullTrialsInBudget = 5;  // a full-length trial takes at most a fifth of the budget
constexpr int64_t kMinRung = 10, kMaxSteps = 54000, kEta = 3, kRungs = 3;

std::string setting_of(const std::vector<std::string>& settings, const std::string& key, const std::string& fallback) {
  std::string v = fallback;
  for (const auto& s : settings)
    if (s.compare(0, key.size() + 1, key + "=") == 0) v = s.substr(key.size() + 1);
  return v;
}

// What a search's rungs are scored by: the data card's metric at 4 Euler steps (none where rungs
// cannot score the data).
ObjectiveOptions objective_of(const PlanRequest& r) {
  const Modality& m = modality_of(r.data.modality, "data card " + r.data.name);
  ObjectiveOptions o;
  o.metric = m.searched ? r.data.metric : "";
  o.solver = "euler";
  o.nfe = 4;
  o.n = m.objective_n;
  return o;
}

// Settings every plan starts from; the data card's and then the model card's come after and win.
std::vector<std::string> base_settings(const PlanRequest& r, int64_t threads) {
  // Data the eval stage cannot score (policies: `rflow policy` judges them) is only trained.
  const ObjectiveOptions o = objective_of(r);
  std::vector<std::string> out{"name=\"" + r.data.name + "_" + r.model.name + "\"", "seed=0", fmt::format("threads={}", threads),
                               "data.source.name=\"gaussian\"", "method.name=\"rectified_flow\""};
  if (o.metric.empty()) out.push_back("stages=[\"train\"]");
  else out.insert(out.end(), {"stages=[\"train\", \"eval\", \"report\"]", "eval.solvers=[\"euler\"]", "eval.nfe=[1, 2, 4, 8]", fmt::format("eval.n={}", o.n)});
  return out;
}



// max_steps (27 rungs of r0 with η = 3) so that one full trial takes at most budget / 5.
int64_t fit_steps(const PlanRequest& r, const Plan& p) {
  const double budget_s = 60 * r.budget.minutes, per_trial_s = budget_s / kFullTrialsInBudget;
  const double evals = (kRungs + 1) * p.probe.eval_seconds;
  const double steps = (per_trial_s - evals) / p.probe.seconds_per_step;
  const int64_t r0 = std::min<int64_t>(kMaxSteps / 27, int64_t(std::floor(steps / 27)));
  RF_CHECK(r0 >= kMinRung,
           fmt::format("the budget affords {:.0f} training steps per trial ({:.3g} s per step measured); three rungs need {}",
                       std::max(0.0, steps), p.probe.seconds_per_step, 27 * kMinRung),
           "budget.minutes", fmt::format("give at least {:.1f} minutes", r.budget.minutes * 27 * kMinRung / std::max(1.0, steps)));
  return 27 * r0;
}

SearchSpace training_space(const PlanRequest& r, const Plan& p, int64_t batch, int64_t max_steps, bool double_fits) {
  const double lr = std::stod(setting_of(p.run_settings, "train.lr", "0.001"));
  SearchSpace s;
  s.params.push_back({"train.lr", "float", lr / 5, std::min(0.03, lr * 5), true, {}});
  std::vector<std::string> batches{std::to_string(std::max<int64_t>(8, batch / 2)), std::to_string(batch)};
  if (double_fits) batches.push_back(std::to_string(2 * batch));
  s.params.push_back({"train.batch_size", "categorical", 0, 0, false, batches});
  s.params.push_back({"train.ema_decay", "float", 0.99, 0.9999, false, {}});
  s.params.push_back({"train.warmup", "int", 0, double(std::max<int64_t>(1, max_steps / 9)), false, {}});
  s.params.push_back({"method.time.kind", "categorical", 0, 0, false, {"uniform", "logit_normal"}});
  for (const auto& t : r.model.tunable.params) s.params.push_back(t);
  return s;
}

// The card's batch, halved until the peak memory the probe measures fits the budget.
int64_t fit_batch(const PlanRequest& r, Plan& p) {
  int64_t batch = std::stoll(setting_of(p.run_settings, "train.batch_size", "256"));
  for (;;) {
    p.probe = r.probe(p.run_settings, r.model.probe_steps, objective_of(r));
    if (p.probe.peak_memory_gb <= r.budget.memory_gb) return batch;
    RF_CHECK(batch > 8, fmt::format("a batch of {} needs {:.2f} GiB, over the budget's {} GiB", batch, p.probe.peak_memory_gb, r.budget.memory_gb),
             "budget.memory_gb", "give more memory or a smaller model");
    batch /= 2;
    p.run_settings.push_back(fmt::format("train.batch_size={}", batch));
  }
}

// The search file's settings: minutes so that the last trial started still ends within the
// budget, trials enough for the minutes, ASHA's rungs, the data card's metric at 4 Euler steps.
void add_search(const PlanRequest& r, Plan& p, int64_t max_steps, double eval_s, int64_t n) {
  const int64_t r0 = max_steps / 27;
  const double full_trial_s = double(max_steps) * p.probe.seconds_per_step + (kRungs + 1) * eval_s;
  const double search_minutes = r.budget.minutes - full_trial_s / 60;
  p.estimated_minutes = search_minutes + full_trial_s / 60;
  const double trial_s = full_trial_s / 9 * 1.5;  // ASHA at η = 3 trains a trial max/9 steps on average; first arrivals more
  const int64_t trials = std::clamp<int64_t>(int64_t(60 * search_minutes * double(p.workers) / trial_s), 10, 1000);
  p.search_settings = {"config=\"run.toml\"", "name=\"study\"", "dir=\"" + r.out_dir + "\"", "sampler=\"tpe\"", "seed=0",
                       fmt::format("trials={}", trials), fmt::format("workers={}", p.workers),
                       fmt::format("minutes={:.2f}", search_minutes), fmt::format("asha.min_steps={}", r0),
                       fmt::format("asha.max_steps={}", max_steps), fmt::format("asha.eta={}", kEta),
                       "objective.metric=\"" + r.data.metric + "\"", "objective.solver=\"euler\"", "objective.nfe=4",
                       fmt::format("objective.n={}", n)};
  p.notes.push_back(fmt::format("length: {} steps ({:.1f} min with its evaluations) so that a full trial takes at most a fifth of the {} min; "
                                "ASHA rungs at {}, {}, {}; up to {} trials in {:.1f} min",
                                max_steps, full_trial_s / 60, r.budget.minutes, r0, 3 * r0, 9 * r0, trials, search_minutes));
}

// The nearest earlier study's best curve (steps as a fraction of its length) read at this plan's
// rows: a prior for the metric, marked as such, never a measurement.
void predict_metric(Plan& plan, const std::string& nearest) {
  const auto curve = best_curve(nearest);
  if (curve.empty()) return;
  const double max_steps = double(plan.predicted_log.back().steps);
  for (auto& row : plan.predicted_log) row.metric = predict_final(curve, double(row.steps) / max_steps);
  plan.metric_source = "a prior: the best trial of " + nearest + ", its curve read at the same fractions of training";
}

}  // namespace

Plan plan_by_rules(const PlanRequest& r) {
  const ModelCard& m = r.model;
  RF_CHECK(std::count(m.modalities.begin(), m.modalities.end(), r.data.modality) > 0,
           "the model card '" + m.name + "' does not model " + r.data.modality + " data", "rflow auto plan",
           "choose a model card whose modalities include " + r.data.modality);
  Plan p;
  p.prompt = compose_prompt(r.data, m, r.budget);
  p.cores = r.budget.cores > 0 ? r.budget.cores : std::max(1u, std::thread::hardware_concurrency());
  p.threads = std::min(m.threads_per_trial, p.cores);
  p.workers = std::max<int64_t>(1, p.cores / p.threads);
  p.run_settings = base_settings(r, p.threads);
  p.run_settings.insert(p.run_settings.end(), r.data.settings.begin(), r.data.settings.end());
  p.run_settings.insert(p.run_settings.end(), m.settings.begin(), m.settings.end());
  p.constraints = m.constraints;
  std::string why;
  RF_CHECK(keeps(p.constraints, resolved_config("", p.run_settings), &why), "the planned config breaks the model card's rule: " + why,
           "model card " + m.name, "fix the card's settings so that its defaults keep its constraints");
  std::string data_settings;
  for (const auto& d : r.data.settings) data_settings += (data_settings.empty() ? "" : ", ") + d;
  p.notes.push_back("data processing: the data card's settings (" + data_settings + "); noise N(0, I) of the data's shape");
  p.notes.push_back(fmt::format("architecture: {} with the card's defaults; {} thread(s) per trial, {} trial(s) at once on {} cores",
                                m.name, p.threads, p.workers, p.cores));
  const int64_t batch = fit_batch(r, p);
  p.notes.push_back(fmt::format("batch {}: {:.3g} s per step and {:.2f} GiB at its peak over {} steps, {:.2f} s per evaluation of {}, "
                                "measured on this machine", batch, p.probe.seconds_per_step, p.probe.peak_memory_gb, m.probe_steps,
                                p.probe.eval_seconds, r.data.metric));
  const int64_t n = objective_of(r).n, max_steps = fit_steps(r, p), r0 = max_steps / 27;
  p.run_settings.push_back(fmt::format("train.steps={}", max_steps));
  p.run_settings.push_back(fmt::format("train.ckpt_every={}", r0));
  p.run_settings.push_back(fmt::format("train.log_every={}", std::max<int64_t>(1, r0)));
  p.space = training_space(r, p, batch, max_steps, p.probe.peak_memory_gb + p.probe.growth_gb <= r.budget.memory_gb);
  add_search(r, p, max_steps, p.probe.eval_seconds, n);
  int evals = 0;  // the time at a rung: the steps so far and every rung's evaluation so far
  for (const int64_t s : {r0, 3 * r0, 9 * r0, max_steps})
    p.predicted_log.push_back({s, double(s) * p.probe.seconds_per_step + ++evals * p.probe.eval_seconds, NAN});
  if (!r.warm_start.empty()) predict_metric(p, r.warm_start.front());
  return p;
}

}  // namespace rflow::automl

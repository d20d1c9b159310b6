#include "rflow/automl/search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rflow/automl/learning_curve.h"
#include "rflow/automl/sampler.h"
#include "rflow/automl/trial.h"
#include "rflow/automl/trial_rules.h"
#include "rflow/automl/warm_start.h"
#include "rflow/core/error.h"

namespace fs = std::filesystem;

namespace rflow::automl {

namespace {

double epoch_seconds() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// What the sampler learns from: trials that ended (pruned at their last rung, or complete).
std::vector<Observation> history_of(const std::vector<TrialRecord>& trials) {
  std::vector<Observation> out;
  for (const auto& t : trials)
    if ((t.state == "complete" || t.state == "pruned") && std::isfinite(t.value)) out.push_back({t.x, t.steps, t.value});
  return out;
}

double best_complete_value(const std::vector<TrialRecord>& trials) {
  const TrialRecord* b = best_trial(trials);
  return b ? b->value : NAN;
}

std::string describe_point(const SearchOptions& s, const Point& x) {
  std::string out;
  for (const auto& kv : settings_of(s.space, x)) out += (out.empty() ? "" : ", ") + kv;
  return out;
}

// Trial n's point: the n-th warm start, else the sampler's from the seed and n (one worker replays
// the same study exactly), drawn again (another stream) while it breaks a rule of the search.
Point next_point(const SearchOptions& s, Sampler& sampler, const std::vector<Point>& warm, const std::vector<TrialRecord>& all) {
  const size_t n = all.size();
  std::string why;
  if (n < warm.size() && keeps_rules(s, warm[n], &why)) return warm[n];
  if (n < warm.size()) spdlog::warn("auto: warm start {} breaks a rule ({}); the sampler proposes instead", n, why);
  const auto history = history_of(all);
  const uint64_t seed = static_cast<uint64_t>(s.seed) * 1000003ULL + n;
  for (uint64_t attempt = 0; attempt < 200; ++attempt) {
    Point x = snap(s.space, sampler.suggest(s.space, history, attempt == 0 ? seed : seed ^ (attempt * 0x9E3779B97F4A7C15ULL)));
    if (keeps_rules(s, x, &why)) return x;
  }
  throw Error("200 points in a row broke the search's rules (last: " + why + ")", "constraint",
              "widen the [[space]] ranges the rules relate, or loosen the rules");
}

class TrialRun {
 public:
  TrialRun(const SearchOptions& s, Study& study, const Asha& asha, Point x, int64_t number, std::vector<Report> done)
      : s_(s), study_(study), asha_(asha), x_(std::move(x)), number_(number), reports_(std::move(done)) {}

  // Rung by rung from the first not yet reported; returns the trial's final state.
  std::string run() {
    // Taken over after its last decision was recorded but before the trial was closed.
    if (!reports_.empty() && reports_.back().decision != "continue") return close(reports_.back());
    std::vector<int64_t> steps = asha_.rungs();
    steps.push_back(s_.asha.max_steps);
    for (int64_t r : steps) {
      if (std::any_of(reports_.begin(), reports_.end(), [&](const Report& p) { return p.step == r; })) continue;
      const double value = train_and_score(s_, x_, number_, r), pred = predicted(value, r);
      const std::string decision = r == s_.asha.max_steps ? "complete" : decide(r, value, pred);
      study_.report(number_, reports_.emplace_back(Report{r, value, pred, decision}));
      spdlog::info("auto: trial {} step {}: {} {:.5g} (predicted final {:.5g}): {}", number_, r, s_.objective.metric, value,
                   reports_.back().predicted, decision);
      if (decision != "continue") return close(reports_.back());
    }
    return close(reports_.back());  // every rung was reported before it was taken over
  }

 private:
  std::string close(const Report& last) {
    const std::string state = last.decision == "complete" ? "complete" : "pruned";
    study_.finish(number_, state, last.value, last.step, last.decision);
    return state;
  }

  double predicted(double value, int64_t step) const {
    std::vector<CurvePoint> pts;
    for (const auto& p : reports_)
      if (std::isfinite(p.value)) pts.push_back({double(p.step), p.value});
    if (std::isfinite(value)) pts.push_back({double(step), value});
    return pts.size() >= 3 ? predict_final(pts, double(s_.asha.max_steps)) : NAN;
  }

  std::string decide(int64_t rung, double value, double pred) const {
    const auto all = study_.trials();
    std::vector<double> at_rung{value};
    for (const auto& t : all)
      if (t.number != number_)
        for (const auto& p : t.reports)
          if (p.step == rung) at_rung.push_back(p.value);
    if (!asha_.continues(value, at_rung)) return "prune";
    const double best = best_complete_value(all);
    // The curve's verdict only where it is far behind: a fit on a few rungs is a rough guess.
    if (s_.curve_pruning && std::isfinite(best) && std::isfinite(pred) && pred > best + 0.2 * std::abs(best))
      return "prune (curve)";
    return "continue";
  }

  const SearchOptions& s_;
  Study& study_;
  const Asha& asha_;
  Point x_;
  int64_t number_;
  std::vector<Report> reports_;
};

}  // namespace

std::string study_path(const SearchOptions& s) { return (fs::path(s.study_dir()) / "study.db").string(); }

const TrialRecord* best_trial(const std::vector<TrialRecord>& trials) {
  const TrialRecord* best = nullptr;
  for (const auto& t : trials)
    if (t.state == "complete" && std::isfinite(t.value) && (!best || t.value < best->value)) best = &t;
  return best;
}

int64_t work_on_study(const SearchOptions& s, double deadline) {
  fs::create_directories(s.study_dir());
  Study study(study_path(s), s.name, s.meta());
  const Asha asha(s.asha);
  auto sampler = samplers().get(s.sampler, "sampler")();
  const std::vector<Point> warm = warm_points(s);
  int64_t finished = 0;
  for (;;) {
    Point x;
    int64_t number = 0;
    std::vector<Report> done;
    if (auto t = study.take_over_abandoned()) {
      x = t->x, number = t->number, done = t->reports;
      spdlog::info("auto: taking over trial {} ({}), left at step {}", number, describe_point(s, x), t->steps);
    } else {
      const auto all = study.trials();
      if (int64_t(all.size()) >= s.trials || (deadline > 0 && epoch_seconds() > deadline)) break;
      x = next_point(s, *sampler, warm, all);
      number = study.start_trial(x);
      spdlog::info("auto: trial {} of {}: {}", number + 1, s.trials, describe_point(s, x));
    }
    try {
      TrialRun(s, study, asha, x, number, done).run();
    } catch (const TrialInterrupted&) {
      throw;  // left running: the next search takes it over
    } catch (const std::exception& e) {
      // A configuration that cannot train (diverged, too large) is a result, not the search's end.
      spdlog::warn("auto: trial {} failed: {}", number, e.what());
      study.finish(number, "failed", NAN, 0, e.what());
    }
    ++finished;
  }
  return finished;
}

}  // namespace rflow::automl

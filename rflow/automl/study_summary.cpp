// The study in numbers: trials ranked, the best so far against trials and time, how well each
// finished trial's learning curve predicted its end from a third of its steps, and which
// parameters mattered (|Spearman ρ| of a number with the value, η² of a choice).
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>

#include "rflow/automl/search.h"
#include "rflow/automl/sampler_parts.h"

namespace rflow::automl {

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {  // ties share their mean rank
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = (double(i) + double(j)) / 2;
    i = j + 1;
  }
  return r;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n, mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

// Between-choice share of the value's variance.
double eta_squared(const std::vector<double>& choice, const std::vector<double>& v) {
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  double total = 0, between = 0;
  for (double x : v) total += (x - mean) * (x - mean);
  std::map<double, std::pair<double, int>> groups;
  for (size_t i = 0; i < v.size(); ++i) groups[choice[i]].first += v[i], ++groups[choice[i]].second;
  for (const auto& [c, g] : groups) between += g.second * std::pow(g.first / g.second - mean, 2);
  return total > 0 ? between / total : 0.0;
}

// How well the curve predicted each complete trial's end from the rung nearest a third of it.
nlohmann::json prediction_errors(const SearchOptions& s, const std::vector<TrialRecord>& trials) {
  std::vector<double> errs;
  nlohmann::json per = nlohmann::json::array();
  const double third = double(s.asha.max_steps) / 3;
  for (const auto& t : trials) {
    if (t.state != "complete" || !std::isfinite(t.value) || t.value == 0) continue;
    const Report* at = nullptr;
    for (const auto& r : t.reports)
      if (std::isfinite(r.predicted) && (!at || std::abs(r.step - third) < std::abs(at->step - third))) at = &r;
    if (!at) continue;
    const double e = std::abs(at->predicted - t.value) / std::abs(t.value);
    errs.push_back(e);
    per.push_back({{"trial", t.number}, {"from_step", at->step}, {"predicted", at->predicted}, {"actual", t.value}, {"relative_error", e}});
  }
  nlohmann::json out{{"trials", per}};
  if (!errs.empty()) {
    std::sort(errs.begin(), errs.end());
    out["median_relative_error"] = errs[errs.size() / 2];
  }
  return out;
}

}  // namespace

nlohmann::json summarize(const SearchOptions& s, const std::vector<TrialRecord>& trials) {
  nlohmann::json board = nlohmann::json::array();
  std::vector<const TrialRecord*> sorted;
  for (const auto& t : trials) sorted.push_back(&t);
  // Complete first (by value), then pruned (further trained first), then the rest.
  const auto rank_of = [](const TrialRecord* t) { return t->state == "complete" ? 0 : t->state == "pruned" ? 1 : 2; };
  std::stable_sort(sorted.begin(), sorted.end(), [&](const TrialRecord* a, const TrialRecord* b) {
    if (rank_of(a) != rank_of(b)) return rank_of(a) < rank_of(b);
    if (a->steps != b->steps) return a->steps > b->steps;
    return (std::isnan(a->value) ? INFINITY : a->value) < (std::isnan(b->value) ? INFINITY : b->value);
  });
  for (const TrialRecord* t : sorted)
    board.push_back({{"trial", t->number}, {"state", t->state}, {"value", std::isfinite(t->value) ? nlohmann::json(t->value) : nlohmann::json()},
                     {"steps", t->steps}, {"settings", settings_of(s.space, t->x)}, {"seconds", t->finished > 0 ? t->finished - t->started : 0.0}});
  // Best so far, against trials started and wall time since the first trial.
  nlohmann::json best_by = nlohmann::json::array();
  double best = INFINITY;
  const double t0 = trials.empty() ? 0 : trials.front().started;
  std::vector<const TrialRecord*> by_end;
  for (const auto& t : trials)
    if (t.state == "complete" && std::isfinite(t.value)) by_end.push_back(&t);
  std::sort(by_end.begin(), by_end.end(), [](auto a, auto b) { return a->finished < b->finished; });
  for (const TrialRecord* t : by_end) {
    best = std::min(best, t->value);
    best_by.push_back({{"trial", t->number}, {"minutes", (t->finished - t0) / 60}, {"best", best}});
  }
  // Importance over trials with a value at the same length (the complete ones).
  nlohmann::json importance = nlohmann::json::object();
  if (by_end.size() >= 4) {
    std::vector<double> v;
    for (auto t : by_end) v.push_back(t->value);
    double total = 0;
    std::vector<double> raw;
    for (size_t p = 0; p < s.space.params.size(); ++p) {
      std::vector<double> col;
      for (auto t : by_end) col.push_back(s.space.params[p].categorical() ? t->x[p] : to_internal(s.space.params[p], t->x[p]));
      raw.push_back(s.space.params[p].categorical() ? eta_squared(col, v) : std::abs(correlation(ranks(col), ranks(v))));
      total += raw.back();
    }
    for (size_t p = 0; p < raw.size(); ++p) importance[s.space.params[p].key] = total > 0 ? raw[p] / total : 0.0;
  }
  const TrialRecord* b = best_trial(trials);
  int64_t steps = 0;
  for (const auto& t : trials) steps += t.steps;
  return {{"study", s.name},
          {"trials", trials.size()},
          {"training_steps", steps},
          {"best", b ? nlohmann::json{{"trial", b->number}, {"value", b->value}, {"settings", settings_of(s.space, b->x)}} : nlohmann::json()},
          {"leaderboard", board},
          {"best_so_far", best_by},
          {"prediction", prediction_errors(s, trials)},
          {"importance", importance}};
}

}  // namespace rflow::automl

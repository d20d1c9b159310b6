#include "rflow/eval/eval_result.h"

#include <filesystem>
#include <limits>
#include <set>

#include "rflow/core/error.h"
#include "rflow/core/json_int.h"
#include "rflow/io/atomic_file.h"

namespace rflow::eval {

namespace {
Scores scores_from(const nlohmann::json& j) {
  Scores out;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it->is_number()) out[it.key()] = it->get<double>();
    else if (it->is_null()) out[it.key()] = std::numeric_limits<double>::quiet_NaN();
  return out;
}
}  // namespace

void to_json(nlohmann::json& j, const SolverResult& r) {
  j = nlohmann::json{{"solver", r.solver},
                     {"tag", r.tag},
                     {"nfe", r.nfe},
                     {"steps", r.steps},
                     {"checkpoint_step", r.checkpoint_step},
                     {"samples_per_second", r.samples_per_second},
                     {"scores", r.scores},
                     {"settings", r.settings}};
}

void from_json(const nlohmann::json& j, SolverResult& r) {
  r = SolverResult{};
  r.solver = j.value("solver", std::string());
  r.tag = j.value("tag", std::string());
  r.nfe = j.value("nfe", 0.0);
  r.steps = json_int64_or(j, "steps", 0, "eval result");
  r.checkpoint_step = json_int64_or(j, "checkpoint_step", 0, "eval result");
  r.samples_per_second = j.value("samples_per_second", 0.0);
  r.settings = j.value("settings", nlohmann::json());
  if (j.contains("scores")) {
    r.scores = scores_from(j.at("scores"));
  } else {
    // Older files: the scores sat beside the bookkeeping fields.
    static const std::set<std::string> bookkeeping{"nfe", "steps", "checkpoint_step", "samples_per_second"};
    for (const auto& [k, v] : scores_from(j))
      if (!bookkeeping.count(k)) r.scores[k] = v;
  }
}

void to_json(nlohmann::json& j, const LikelihoodResult& r) {
  j = nlohmann::json{{"computed", r.computed}, {"mean_log_p", r.mean_log_p}, {"bits_per_dim", r.bits_per_dim},
                     {"nfe_mean", r.nfe_mean}};
}

void from_json(const nlohmann::json& j, LikelihoodResult& r) {
  r = LikelihoodResult{};
  if (!j.is_object() || !j.contains("mean_log_p")) return;
  r.computed = j.value("computed", true);  // older files wrote the entry only when computed
  r.mean_log_p = j.value("mean_log_p", 0.0);
  r.bits_per_dim = j.value("bits_per_dim", 0.0);
  r.nfe_mean = j.value("nfe_mean", 0.0);
}

double SolverResult::score(const std::string& key) const {
  auto it = scores.find(key);
  RF_CHECK(it != scores.end(), "result '" + tag + "' has no score '" + key + "'", "eval results",
           "rerun the eval stage (results from another scorer or an older rflow)");
  return it->second;
}

const SolverResult* ModelEval::find(const std::string& solver, double nfe) const {
  for (const auto& r : results)
    if (r.solver == solver && (nfe < 0 || r.nfe == nfe)) return &r;
  return nullptr;
}

double ModelEval::floor_score(const std::string& key) const {
  auto it = floor.find(key);
  RF_CHECK(it != floor.end(), "no floor for '" + key + "' in the eval of " + model, "eval/metrics.json",
           "rerun the eval stage");
  return it->second;
}

void write_json_file(const std::string& path, const nlohmann::json& j) { io::write_file_atomic(path, j.dump(2)); }

ModelEval read_model_eval(const std::string& path) {
  auto j = nlohmann::json::parse(io::read_file(path), nullptr, /*allow_exceptions=*/false);
  RF_CHECK(j.is_object(), "malformed eval metrics", path, "rerun the eval stage");
  try {
    return j.get<ModelEval>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("eval metrics do not parse: ") + e.what(), path, "rerun the eval stage");
  }
}

bool read_cached_result(const std::string& path, const nlohmann::json& settings, SolverResult& out) {
  if (!std::filesystem::exists(path)) return false;
  auto j = nlohmann::json::parse(io::read_file(path), nullptr, /*allow_exceptions=*/false);
  // A torn or hand-edited file is recomputed, not an error; older files (scores at the top level)
  // are read as they are.
  if (!j.is_object() || j.value("settings", nlohmann::json()) != settings) return false;
  try {
    out = j.get<SolverResult>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

}  // namespace rflow::eval

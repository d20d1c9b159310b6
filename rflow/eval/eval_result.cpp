#include "rflow/eval/eval_result.h"

#include <filesystem>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"

namespace rflow::eval {

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
  // A torn, hand-edited or older-format file is recomputed, not an error.
  if (!j.is_object() || j.value("settings", nlohmann::json()) != settings || !j.contains("scores")) return false;
  try {
    out = j.get<SolverResult>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

}  // namespace rflow::eval

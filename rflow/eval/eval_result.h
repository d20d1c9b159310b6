// Typed results of the eval stage, shared by the stage that writes them and the report that reads
// them: a SolverResult per solver × NFE (eval/results/<tag>.json, reused when its settings match)
// and a ModelEval per model (eval/metrics.json). Serialised with nlohmann's macros; scores are
// named by the scorer that made them (points: w2, sliced_w2, energy, mmd, label_accuracy; images:
// fid_proxy, class_accuracy).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rflow::eval {

using Scores = std::map<std::string, double>;

struct SolverResult {
  std::string solver, tag;
  double nfe = 0;              // per sample (adaptive solvers: the mean)
  int64_t steps = 0;           // fixed-step: steps; adaptive: most accepted steps of any sample
  int64_t checkpoint_step = 0;
  double samples_per_second = 0;
  Scores scores;
  nlohmann::json settings;  // what the result depends on (checkpoint, n, seed, tolerances, ...)

  bool has(const std::string& key) const { return scores.count(key) > 0; }
  double score(const std::string& key) const;  // throws rflow::Error naming the missing score
};

struct StraightnessResult {
  double straightness = 0, normalized = 0, transport_cost = 0;
  int64_t steps = 0, paths = 0;
};

struct LikelihoodResult {
  bool computed = false;
  double mean_log_p = 0, bits_per_dim = 0, nfe_mean = 0;
};

struct FidNetRecord {
  std::string id, path;  // id empty: no FID network was used
  double test_accuracy = 0;
};

struct ModelEval {
  std::string kind;   // the scorer that made it: points | images | ...
  std::string model;  // "1-RF", "2-RF + distill (1 step)", ...
  int64_t n = 0, checkpoint_step = 0;
  double guidance = 1.0;
  Scores floor;  // the same scores for real data against real data
  std::vector<SolverResult> results;
  StraightnessResult straightness;
  double independent_transport_cost = 0;
  LikelihoodResult likelihood;
  FidNetRecord fidnet;
  FidNetRecord judge;  // the independent judge network (images), if it scored
  std::string reference;  // what samples were compared with

  // The result of `solver` at `nfe` (any NFE when nfe < 0), or nullptr.
  const SolverResult* find(const std::string& solver, double nfe = -1) const;
  double floor_score(const std::string& key) const;
};

// Written by the macro's fields; read also from files of rflow before results were typed (scores
// at the top level of each result, a likelihood without `computed`). A non-finite score is
// written as null (JSON has no NaN) and read back as NaN.
void to_json(nlohmann::json& j, const SolverResult& r);
void from_json(const nlohmann::json& j, SolverResult& r);
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StraightnessResult, straightness, normalized, transport_cost, steps,
                                                paths)
void to_json(nlohmann::json& j, const LikelihoodResult& r);
void from_json(const nlohmann::json& j, LikelihoodResult& r);
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FidNetRecord, id, path, test_accuracy)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ModelEval, kind, model, n, checkpoint_step, guidance, floor, results,
                                                straightness, independent_transport_cost, likelihood, fidnet, judge,
                                                reference)

// Atomic write / validated read of the JSON files. read_* throw rflow::Error naming the file.
void write_json_file(const std::string& path, const nlohmann::json& j);
ModelEval read_model_eval(const std::string& path);
// A cached result, or false when the file is missing, torn or made with other settings.
bool read_cached_result(const std::string& path, const nlohmann::json& settings, SolverResult& out);

}  // namespace rflow::eval

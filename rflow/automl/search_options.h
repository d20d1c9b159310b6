// A search as the user writes it (one TOML file): the run config the trials start from, the study
// that records them, the sampler, ASHA's rungs, the objective the eval scores each rung by, the
// budget, and the [[space]] of parameters to tune. Declared once in visit()ed structs: the same
// declaration loads the file, takes `--set` overrides and lists the keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rflow/automl/asha.h"
#include "rflow/automl/card.h"
#include "rflow/automl/search_space.h"

namespace rflow::automl {

struct ObjectiveOptions {
  std::string metric = "w2";    // a score the data kind's scorer reports (w2, energy, fid_proxy, ...); lower is better
  std::string solver = "euler";
  int64_t nfe = 4;              // the few-step sampling the search optimises
  int64_t n = 2000;             // samples scored per rung
  template <class V>
  void visit(V& v) {
    v("metric", metric, "the eval score to minimise (points: w2, energy, mmd, sliced_w2; images: fid_proxy)");
    v("solver", solver, "solver the rungs are sampled with");
    v("nfe", nfe, "velocity evaluations per sample at each rung's evaluation");
    v("n", n, "samples scored at each rung (the same noise for every trial)");
  }
};

struct SearchOptions {
  std::string config;            // the run config every trial starts from
  std::string name;              // the study's name (default: the config's file name)
  std::string dir = "runs/auto"; // <dir>/<name>/: study.db and one run directory per trial
  std::string sampler = "tpe";
  int64_t seed = 0;
  int64_t trials = 30;           // trials in the study (finished or running), over all workers
  int64_t workers = 1;           // processes working on the study at once
  double minutes = 0;            // no new trial after this much wall time (0 = no limit)
  bool curve_pruning = true;     // also stop a trial whose predicted final value is far behind the best
  AshaOptions asha;
  ObjectiveOptions objective;
  std::vector<std::string> warm_start;  // run configs or earlier search files whose settings are the first trials
  SearchSpace space;             // [[space]] tables, not a visit()ed field
  std::vector<Constraint> constraints;  // [[constraint]] tables: points that break one are drawn again

  template <class V>
  void visit(V& v) {
    v("config", config, "the run config (TOML) every trial starts from");
    v("name", name, "the study's name (default: the config file's name)");
    v("dir", dir, "where the study lives: <dir>/<name>/study.db and trials/trial_<n>/");
    v("sampler", sampler, "random | tpe");
    v("seed", seed, "seeds the sampler (trial n draws from seed and n) and the noise every rung is scored from (trials train with their config's seed)");
    v("trials", trials, "trials in the study over all workers");
    v("workers", workers, "processes working on the study at once (threads per trial = cores / workers)");
    v("minutes", minutes, "start no trial after this many minutes of the search (0 = no limit)");
    v("warm_start", warm_start, "run configs (their settings) or earlier search files (their best trial) tried first, in order");
    v("curve_pruning", curve_pruning, "also stop a trial whose fitted learning curve predicts a final value worse than the best finished trial's by 20 % or more");
    v.section("asha", asha);
    v.section("objective", objective);
  }

  // The search file (its [[space]] included), then `key=value` overrides; validated.
  static SearchOptions load(const std::string& path, const std::vector<std::string>& overrides);
  void validate(const std::string& where) const;
  std::string study_dir() const;
  // What a study is made with and may not change when it is resumed.
  nlohmann::json meta() const;
};

}  // namespace rflow::automl

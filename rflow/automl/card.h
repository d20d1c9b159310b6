// Data and model cards (AutoML-GPT's inputs, as validated schemas): what a data set is and what a
// budget allows; what a backbone is, its known-good defaults, what may be tuned and the rules its
// settings must keep (d % heads). `rflow auto plan` turns a pair into a run config and a search.
// Cards are TOML files under cards/; every field is declared once in a visit()ed struct.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rflow/automl/search_space.h"

namespace rflow::automl {

struct Budget {
  int64_t cores = 0;       // 0: this machine's
  double minutes = 10;     // wall time of the whole search
  double memory_gb = 4;    // peak memory of one trial
  template <class V>
  void visit(V& v) {
    v("cores", cores, "cores the search may use (0 = this machine's)");
    v("minutes", minutes, "wall-clock minutes of the whole search");
    v("memory_gb", memory_gb, "memory one trial may use at its peak (GiB)");
  }
};

// What a plan needs to know of a kind of data: how many samples a rung scores, and whether rungs
// can score it at all (a policy is judged closed loop by `rflow policy`, not by the eval stage).
struct Modality {
  std::string name;
  int64_t objective_n = 0;
  bool searched = true;
};
// The modalities cards may name, in a fixed order (card features index it).
const std::vector<Modality>& modalities();
// Throws naming `where` and the known ones.
const Modality& modality_of(const std::string& name, const std::string& where);

struct DataCard {
  std::string name;
  std::string modality;              // points | images | composites | policy
  std::string description;
  std::vector<int64_t> shape;        // one example's shape ([2], [1, 28, 28])
  int64_t size = 0;                  // training examples (0: drawn on demand, unlimited)
  int64_t classes = 0;               // label classes (0: none)
  std::string metric;                // the score a search minimises (the data kind's scorer reports it)
  std::vector<std::string> settings; // run config settings that select the data (data.target.name=...)
  Budget budget;
  template <class V>
  void visit(V& v) {
    v("name", name, "the data set's name");
    v("modality", modality, "points | images | composites | policy");
    v("description", description, "what the data is, in a sentence or two (compared with other cards' for warm starts)");
    v("shape", shape, "one example's shape, e.g. [2] or [1, 28, 28]");
    v("size", size, "training examples (0 = drawn on demand)");
    v("classes", classes, "label classes (0 = unlabelled)");
    v("metric", metric, "the score to minimise (points: w2, energy; images: fid_proxy; composites: fid_proxy)");
    v("settings", settings, "run config settings that select this data, e.g. [\"data.target.name=moons\"]");
    v.section("budget", budget);
  }
  static DataCard load(const std::string& path);
  void validate(const std::string& where) const;
  // For the nearest earlier studies: modality, log size, log dimension, classes.
  std::vector<double> features() const;
};

// A rule a configuration keeps: `key`'s value is divisible by the product of `divisible_by`
// (config keys or whole numbers): hidden % heads, hidden % (heads · 4) for 2-D rotary positions.
struct Constraint {
  std::string key;
  std::vector<std::string> divisible_by;
  std::string why;
  // Checked against a resolved run config (JSON); on failure `detail` says what broke.
  bool holds(const nlohmann::json& resolved, std::string* detail = nullptr) const;
};

// [[constraint]] tables (as JSON), validated; errors name `where`[i].field.
std::vector<Constraint> constraints_from_json(const nlohmann::json& j, const std::string& where);

struct ModelCard {
  std::string name;
  std::string family;                  // mlp | unet | dit | policy | text
  std::string description;
  std::vector<std::string> modalities; // the data it models
  std::vector<std::string> settings;   // fixed settings (model.arch=...) and known-good defaults
  int64_t threads_per_trial = 1;       // threads one trial uses best (the rest of the cores run other trials)
  int64_t probe_steps = 20;            // training steps the planner times to measure seconds per step
  SearchSpace tunable;                 // [[tunable]]: the backbone's own parameters
  std::vector<Constraint> constraints; // [[constraint]]
  template <class V>
  void visit(V& v) {
    v("name", name, "the backbone's name");
    v("family", family, "mlp | unet | dit | policy | text");
    v("description", description, "what the backbone is");
    v("modalities", modalities, "the data modalities it models");
    v("settings", settings, "fixed settings and known-good defaults, e.g. [\"model.arch=dit\", \"model.dit.hidden=96\"]");
    v("threads_per_trial", threads_per_trial, "threads one trial uses best");
    v("probe_steps", probe_steps, "training steps timed to measure seconds per step on this machine");
  }
  static ModelCard load(const std::string& path);
  void validate(const std::string& where) const;
};

// The value at a dotted key of a resolved config (null when absent).
const nlohmann::json* resolved_value(const nlohmann::json& resolved, const std::string& key);

}  // namespace rflow::automl

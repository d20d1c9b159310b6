// Warm starts: the first trials of a search are settings known to be good — a run config's (the
// plan's default) or the best trial of an earlier study — mapped into this search's space. For a
// new plan, the earlier plans nearest to its data card (modality, size, dimension, classes, and
// the TF-IDF cosine of the descriptions) with the same model card are found under a folder.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "rflow/automl/card.h"
#include "rflow/automl/learning_curve.h"
#include "rflow/automl/search_options.h"

namespace rflow::automl {

// One point per warm_start entry, in order; an earlier study without a finished trial gives none.
std::vector<Point> warm_points(const SearchOptions& s);

struct EarlierPlan {
  std::string search_file;
  double distance = 0;
};
// Plans (folders with plan.json) under `root` made with the model card `model`, whose study has a
// finished trial, nearest first; at most k.
std::vector<EarlierPlan> nearest_plans(const DataCard& data, const std::string& model, const std::string& root, size_t k);
// The best finished trial's values of a search file's study, steps as a fraction of its max_steps.
std::vector<CurvePoint> best_curve(const std::string& search_file);
// The card-feature distance the plans are ranked by (0 for identical cards).
double card_distance(const DataCard& a, const DataCard& b, const std::vector<std::string>& corpus);

}  // namespace rflow::automl

// The models one run directory holds: its 1-RF, the k-RF fine-tunes made by reflow rounds and the
// distilled students, each a run directory of its own (checkpoints, config, eval) so that every
// command that takes a run works on it. Layout: <run>/ (1-RF), <run>/2rf, <run>/3rf …,
// <run>/distill_1rf …; pairs of the k-RF teacher live in <its dir>/pairs.
#pragma once

#include <string>
#include <vector>

#include "rflow/pipeline/run_config.h"

namespace rflow {

struct ChainModel {
  std::string label;  // "1-RF", "2-RF", "2-RF + distill (1 step)" …; a view: "1-RF · row2"
  std::string dir;
  int64_t k = 1;      // k of the k-RF it is (students: their teacher's k)
  bool student = false;
  // Where its evaluation lives: <dir>/eval, or for a view of data with several shapes
  // <dir>/eval/<shape name>, evaluated in `shape` ({}: the data's own).
  std::string eval_dir;
  std::string view;  // the shape's name ("row2"), "" for data of one shape
  std::vector<int64_t> shape;
};

std::string rf_dir(const std::string& run_dir, int64_t k);
std::string pairs_dir(const std::string& run_dir, int64_t k);
std::string student_dir(const std::string& run_dir, int64_t k);

// Every model the config asks for, in the order 1-RF, 2-RF … then students.
std::vector<ChainModel> chain_models(const RunConfig& cfg, const std::string& run_dir);
// What was evaluated of a model: itself, or for data of several shapes (one model across aspect
// ratios) one view per shape, as its eval stage listed them in <eval_dir>/views.json.
std::vector<ChainModel> eval_views(const ChainModel& cm);
// The view of `cm` in one shape of its data: label "1-RF · row2", results in <eval_dir>/<name>.
ChainModel eval_view(const ChainModel& cm, const std::string& name, const std::vector<int64_t>& shape);

// Config of the (k+1)-RF trained on the k-RF's pairs (or online from it), initialised from it.
RunConfig reflow_run_config(const RunConfig& cfg, const std::string& run_dir, int64_t k);
// Config of the student distilled from the k-RF.
RunConfig distill_run_config(const RunConfig& cfg, const std::string& run_dir, int64_t k);

}  // namespace rflow

// One HTML page that compares finished runs side by side (`rflow compare RUN...`): a table of
// every model of every run with its scores at each NFE, the error-vs-NFE curves of all of them
// overlaid on one plot per metric, and the training losses overlaid.
#pragma once

#include <string>
#include <vector>

namespace rflow {

// Reads each run directory's config.json and eval results; throws rflow::Error naming a directory
// that is not a run or has no evaluated model. Writes `out_html` atomically.
void write_run_comparison(const std::vector<std::string>& run_dirs, const std::string& out_html);

}  // namespace rflow

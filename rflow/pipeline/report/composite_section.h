// The report of a text-to-image run on captioned composites: compositional accuracy, cell accuracy
// and the cells' FID-proxy of every model at every solver and NFE against real composites, accuracy
// vs NFE curves, and sample grids beside the captions they were asked for.
#pragma once

#include <string>
#include <vector>

#include "rflow/io/html_report.h"
#include "rflow/pipeline/report/report_parts.h"
#include "rflow/pipeline/run_config.h"

namespace rflow {

// Returns false when no model of the run was scored as composites.
bool composite_sections(io::HtmlReport& rep, const RunConfig& cfg, const std::string& run_dir,
                        const std::vector<EvaluatedModel>& all);

}  // namespace rflow

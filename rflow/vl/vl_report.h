// report.html of a vision-language run: accuracy by layout and question kind for the tiled model
// and the resize baseline, training curves of both, how each layout is tiled (the global view and
// the local tiles as the encoder sees them), answers beside their images, and the decoder's numbers.
// For a JanusFlow run, understanding.html: the same for its understanding path, with the curves of
// both tasks' losses (its generation has the run's own report.html).
#pragma once

#include <string>

namespace rflow {

void write_vl_report(const std::string& run_dir);

}  // namespace rflow

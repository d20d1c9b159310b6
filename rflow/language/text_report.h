// report.html of a text run: one self-contained page with the headline numbers, the
// autoencoder's training curves and reconstructions, generated sentences per attribute value,
// edits before and after, and accuracy / content kept / fluency against NFE for every flow of the
// chain beside the many-step sampler and the latent offset.
#pragma once

#include <string>

namespace rflow {

// Reads eval.json and autoencoder/metrics.jsonl of the run; returns the report's path.
std::string write_text_report(const std::string& run_dir);

}  // namespace rflow

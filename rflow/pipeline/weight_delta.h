// PeRFlow's plug-in accelerator: the weight difference ΔW = W_student − W_teacher of a student
// trained from a teacher, added to another model of the teacher's architecture (a fine-tune of the
// same teacher) to give it the student's few-step sampling. The difference is kept in float64, so
// teacher + ΔW gives the student back bit for bit. What `rflow delta` writes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

namespace rflow {

using NamedDelta = std::vector<std::pair<std::string, at::Tensor>>;

// student − teacher per parameter (and buffer), float64; throws rflow::Error when the two differ in
// names or shapes (not the same architecture).
NamedDelta weight_delta(const torch::nn::Module& student, const torch::nn::Module& teacher);
// base ← base + scale·ΔW, computed in float64 and rounded once to base's type; names and shapes checked.
void add_weight_delta(torch::nn::Module& base, const NamedDelta& delta, double scale = 1.0);

// Loads the three runs (EMA weights), checks they share an architecture, and writes base + scale·ΔW
// as a self-describing weight file (rflow sample / eval / info read it). Returns a one-line summary.
std::string write_accelerated(const std::string& base, const std::string& student, const std::string& teacher,
                              double scale, const std::string& out);

}  // namespace rflow

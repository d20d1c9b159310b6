// Class fidelity of class-conditional samples without a trained classifier: each sample is
// classified by its nearest labelled reference point (1-NN), and the accuracy is the fraction whose
// predicted class is the label it was generated for. A second labelled target draw gives the ceiling.
#pragma once

#include <ATen/core/Tensor.h>

namespace rflow::eval {

// samples [N, ...] generated for labels [N]; reference [M, ...] with labels [M].
double nearest_label_accuracy(const at::Tensor& samples, const at::Tensor& labels, const at::Tensor& reference,
                              const at::Tensor& reference_labels);

}  // namespace rflow::eval

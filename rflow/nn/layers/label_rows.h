// The embedding row of each sample's class label in a class-conditional backbone: labels 0 … K−1
// pick their rows, −1 ("no label": classifier-free guidance's unconditional half) and a batch
// without labels pick the extra last row K. Every backbone's label embedding has K + 1 rows.
#pragma once

#include <ATen/core/Tensor.h>

namespace rflow {

// [B] int64 on x's device.
at::Tensor label_rows(const at::Tensor& labels, const at::Tensor& x, int64_t num_classes);

}  // namespace rflow

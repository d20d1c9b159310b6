// Label dropout for classifier-free guidance: during training a fraction p of the labels is
// replaced by −1 (the "no label" class), so one network learns both the conditional and the
// unconditional field that CFG mixes at sampling time.
#pragma once

#include <ATen/core/Tensor.h>

namespace rflow {

// Undefined labels or p = 0 pass through unchanged; otherwise a copy with ~p of them set to −1.
at::Tensor drop_labels(const at::Tensor& labels, double p);

}  // namespace rflow

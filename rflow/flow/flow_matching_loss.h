// The flow-matching regression loss shared by rectified flow, reflow and their variants:
// mean over batch and elements of ‖target − v_θ(x_t, t)‖² for a given path and coupling.
#pragma once

#include <ATen/core/Tensor.h>

#include "rflow/flow/path.h"
#include "rflow/flow/velocity_field.h"

namespace rflow {

at::Tensor flow_matching_loss(VelocityFieldImpl& field, const Path& path, const at::Tensor& x0,
                              const at::Tensor& x1, const at::Tensor& t, const Cond& cond = {});

}  // namespace rflow

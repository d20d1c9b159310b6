#include "rflow/flow/flow_matching_loss.h"

#include <torch/torch.h>

namespace rflow {

at::Tensor flow_matching_loss(VelocityFieldImpl& field, const Path& path, const at::Tensor& x0,
                              const at::Tensor& x1, const at::Tensor& t, const Cond& cond) {
  PathSample s = path.sample(x0, x1, t);
  return torch::mse_loss(field.forward(s.xt, t, cond), s.target);
}

}  // namespace rflow

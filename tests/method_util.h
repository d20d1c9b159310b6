// Test helper: one Method::loss call with a TrainContext on the linear path (no EMA, no teacher),
// for tests that check a loss against its closed form.
#pragma once

#include "rflow/flow/path.h"
#include "rflow/train/method.h"

namespace rflow::test {

template <class M>
at::Tensor method_loss(M&& method, const Batch& batch, VelocityFieldImpl& model, int64_t step = 0) {
  static const LinearPath path;
  TrainContext ctx{model, path};
  ctx.step = step;
  return method.loss(batch, ctx);
}

}  // namespace rflow::test

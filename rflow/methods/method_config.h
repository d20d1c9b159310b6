// Method selection and the settings methods share (path, training-time distribution), plus the
// name → factory table used by the pipeline and `rflow train --help`.
#pragma once

#include <memory>
#include <string>

#include "rflow/core/registry.h"
#include "rflow/flow/time_sampler.h"
#include "rflow/methods/distill.h"
#include "rflow/train/method.h"

namespace rflow {

struct MethodConfig {
  std::string name = "rectified_flow";
  std::string path = "linear";
  TimeSamplerConfig time;
  double label_dropout = 0.0;
  DistillConfig distill;

  template <class V>
  void visit(V& v) {
    v("name", name, "training method: rectified_flow | distill (few-step student on stored pairs, see method.distill)");
    v("path", path,
      "probability path X_t = alpha_t X1 + sigma_t X0: linear (X_t = t X1 + (1-t) X0) | cosine "
      "(alpha = sin(pi t/2)) | vp (variance preserving) | polynomial:N (alpha = t^N, e.g. polynomial:2)");
    v.section("time", time);
    v("label_dropout", label_dropout,
      "class-conditional models: fraction of labels replaced by 'no label' in training, for classifier-free guidance (0.1 is usual)");
    v.section("distill", distill);
  }
  void validate() const;
};

using MethodFactory = std::function<std::unique_ptr<Method>(const MethodConfig&)>;
const Registry<MethodFactory>& methods();
std::unique_ptr<Method> make_method(const MethodConfig& cfg);

}  // namespace rflow

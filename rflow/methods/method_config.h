// Method selection, the settings every method shares (path, training-time distribution, label
// dropout, teacher) and one options section per registered method (method.<name>.*), plus the
// registry that builds a Method by name. A new method is one file plus one methods().add line.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "rflow/core/options.h"
#include "rflow/core/registry.h"
#include "rflow/flow/time_sampler.h"
#include "rflow/train/method.h"

namespace rflow {

struct MethodConfig;

struct MethodEntry {
  std::function<AnyOptions()> options;  // default options (NoOptions when it has none)
  std::function<std::unique_ptr<Method>(const MethodConfig&)> make;
  // Optional: the velocity field to sample a network this method trained, when its raw output is
  // not a velocity (PeRFlow's jump parameterisation). Unset: the network itself.
  std::function<VelocityField(VelocityField, const MethodConfig&)> sampling_field;
  // What reports call the model it trains from scratch ("1-RF"); empty: the method's name.
  std::string label;
  // It distils a teacher with the method.distill settings (so a distillation loss on the
  // evaluator's own features concerns the runs that use it).
  bool distills = false;
  // Its network is a one-step map (behaviour cloning's mean action): sampled by one Euler step only.
  bool one_step_map = false;
  // The one backbone it trains ("" = any): a run pairing it with another is refused before training.
  std::string backbone;
};
// Mutable: programs and tests may register their own methods before building configs.
Registry<MethodEntry>& methods();

struct MethodConfig {
  std::string name = "rectified_flow";
  std::string path = "linear";
  TimeSamplerConfig time;
  double label_dropout = 0.0;
  std::string teacher;
  mutable OptionsMap options = default_options(methods());  // mutable: see ModelConfig::options

  template <class V>
  void visit(V& v) {
    v("name", name, "training method: " + methods().joined() + " (options under method.<name>.*)");
    v("path", path,
      "probability path X_t = alpha_t X1 + sigma_t X0: linear (X_t = t X1 + (1-t) X0) | cosine "
      "(alpha = sin(pi t/2)) | vp (variance preserving) | polynomial:N (alpha = t^N, e.g. polynomial:2)");
    v.section("time", time);
    v("label_dropout", label_dropout,
      "conditional models: fraction of samples whose label becomes 'no label' and whose prompt the empty one in training, for classifier-free guidance (0.1 is usual)");
    v("teacher", teacher,
      "frozen teacher field for methods that read one (a run directory or checkpoint; its EMA weights)");
    for (auto& [n, o] : options) v.section(n, o);
  }
  void validate(const std::string& where = "method") const;

  template <class T>
  T& get(const std::string& method) {
    return section(method).as<T>();
  }
  template <class T>
  const T& get(const std::string& method) const {
    return section(method).as<T>();
  }
  AnyOptions& section(const std::string& method) const;
};

std::unique_ptr<Method> make_method(const MethodConfig& cfg);

}  // namespace rflow

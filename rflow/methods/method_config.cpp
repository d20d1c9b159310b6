#include "rflow/methods/method_config.h"

#include "rflow/flow/path.h"
#include "rflow/methods/rectified_flow.h"

namespace rflow {

void MethodConfig::validate() const {
  methods().get(name, "method.name");
  make_path(path);
  time.validate();
}

const Registry<MethodFactory>& methods() {
  static const Registry<MethodFactory> reg = [] {
    Registry<MethodFactory> r("method");
    r.add("rectified_flow", "1-RF: flow matching on the independent coupling (Liu et al. 2022)",
          [](const MethodConfig& c) { return std::make_unique<RectifiedFlow>(c); });
    return r;
  }();
  return reg;
}

std::unique_ptr<Method> make_method(const MethodConfig& cfg) {
  cfg.validate();
  return methods().get(cfg.name, "method.name")(cfg);
}

}  // namespace rflow

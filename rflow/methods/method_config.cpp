#include "rflow/methods/method_config.h"

#include "rflow/core/error.h"
#include "rflow/flow/path.h"
#include "rflow/methods/rectified_flow.h"

namespace rflow {

void MethodConfig::validate() const {
  methods().get(name, "method.name");
  make_path(path);
  time.validate();
  RF_CHECK(label_dropout >= 0 && label_dropout < 1, "label_dropout must be in [0, 1)", "method.label_dropout", "");
  distill.validate();
  RF_CHECK(name != "distill" || path == "linear", "distillation is defined on the linear path", "method.path",
           "use method.path=linear (pairs are joined by straight lines)");
}

const Registry<MethodFactory>& methods() {
  static const Registry<MethodFactory> reg = [] {
    Registry<MethodFactory> r("method");
    r.add("rectified_flow", "1-RF: flow matching on the independent coupling (Liu et al. 2022)",
          [](const MethodConfig& c) { return std::make_unique<RectifiedFlow>(c); });
    r.add("distill", "one/k-step student on a teacher's stored pairs (L2, pseudo-Huber or feature loss)",
          [](const MethodConfig& c) { return std::make_unique<Distill>(c.distill, c.label_dropout); });
    return r;
  }();
  return reg;
}

std::unique_ptr<Method> make_method(const MethodConfig& cfg) {
  cfg.validate();
  return methods().get(cfg.name, "method.name")(cfg);
}

}  // namespace rflow

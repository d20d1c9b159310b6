#include "rflow/methods/method_config.h"

#include "rflow/core/error.h"
#include "rflow/flow/path.h"
#include "rflow/methods/adaflow.h"
#include "rflow/methods/behavior_cloning.h"
#include "rflow/methods/consistency_fm.h"
#include "rflow/methods/distill.h"
#include "rflow/methods/janusflow_method.h"
#include "rflow/methods/perflow.h"
#include "rflow/methods/rectified_flow.h"
#include "rflow/methods/slimflow.h"

namespace rflow {

Registry<MethodEntry>& methods() {
  static Registry<MethodEntry> reg = [] {
    Registry<MethodEntry> r("method");
    r.add("janusflow",
          "JanusFlow: rectified flow with prompt dropout and REPA for the janusflow backbone's generation, answers to "
          "questions about composites for its understanding, in one step",
          janusflow_method_entry());
    r.add("rectified_flow", "1-RF: flow matching on the independent coupling (Liu et al. 2022)", rectified_flow_entry());
    r.add("adaflow", "flow policy with a variance head for AdaFlow's adaptive solver (Hu et al. 2024)", adaflow_entry());
    r.add("bc", "behaviour cloning baseline for policies: the mean action as a one-step map (sample with euler, 1 step)",
          behavior_cloning_entry());
    r.add("distill", "one/k-step student on a teacher's stored pairs (L2, pseudo-Huber or feature loss)",
          distill_entry());
    r.add("perflow", "PeRFlow: K time windows, each taught as the straight segment of a frozen teacher's solve "
          "inside it (Yan et al. 2024); sample with K steps", perflow_entry());
    r.add("consistency_fm", "Consistency Flow Matching: K segments made straight by velocity consistency, no teacher "
          "(Yang et al. 2024); sample with K steps", consistency_fm_entry());
    r.add("slimflow", "SlimFlow: a small model from a big teacher's pairs by annealing reflow, then flow-guided "
          "distillation to one step (Zhu et al. 2024)", slimflow_entry());
    return r;
  }();
  return reg;
}

AnyOptions& MethodConfig::section(const std::string& method) const {
  auto it = options.find(method);
  if (it == options.end()) it = options.emplace(method, methods().get(method, "method.name").options()).first;
  return it->second;
}

void MethodConfig::validate(const std::string& where) const {
  methods().get(name, where + ".name");
  make_path(path);
  time.validate(where + ".time");
  RF_CHECK(label_dropout >= 0 && label_dropout < 1, "label_dropout must be in [0, 1)", where + ".label_dropout", "");
  // Every section is validated, not only the selected one: a typo in a section the chain uses
  // later (method.distill for the distill stage) fails before hours of training.
  for (const auto& [n, o] : options) o.validate(where + "." + n);
}

std::unique_ptr<Method> make_method(const MethodConfig& cfg) {
  cfg.validate();
  return methods().get(cfg.name, "method.name").make(cfg);
}

}  // namespace rflow

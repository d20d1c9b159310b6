#include "rflow/data/coupling.h"

namespace rflow {

Registry<CouplingEntry>& couplings() {
  static Registry<CouplingEntry> reg = [] {
    Registry<CouplingEntry> r("coupling");
    r.add("independent", "x0 from the source and x1 from the target, drawn independently (1-RF)",
          independent_coupling_entry());
    r.add("ot", "x0 and x1 re-paired within each batch by optimal transport (see data.ot)", ot_coupling_entry());
    r.add("pairs", "stored reflow pairs made by a teacher run's reflow stage (see data.pairs)", pairs_coupling_entry());
    r.add("online", "reflow pairs made each step by data.teacher (see reflow.online_steps)", online_coupling_entry());
    return r;
  }();
  return reg;
}

std::string coupling_names() { return couplings().joined(); }

std::unique_ptr<BatchSource> make_batch_source(const DataConfig& cfg, const CouplingInputs& in) {
  cfg.validate();
  const CouplingEntry& e = couplings().get(cfg.coupling, "data.coupling");
  return e.make(cfg, make_coupling(cfg), in);
}

}  // namespace rflow

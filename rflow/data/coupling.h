// Couplings: how a training batch pairs x0 with x1, selected by data.coupling. Each entry checks its
// own settings, builds its BatchSource around the independent draw of both ends, and says which
// stored input it reads (for the records that decide whether a finished stage is still valid).
// A new coupling is one file with its entry plus one line in couplings().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "rflow/core/registry.h"
#include "rflow/data/batch_source.h"
#include "rflow/flow/velocity_field.h"

namespace rflow {

// What a coupling may need beyond the data section: a teacher loaded by whoever can load models
// (the pipeline), and the settings of the teacher's solve.
struct CouplingInputs {
  std::function<VelocityField(const std::string& run)> load_teacher;  // data.teacher's EMA field
  int64_t online_steps = 1;     // Euler steps of an online teacher per batch (reflow.online_steps)
  double online_guidance = 1.0;  // its classifier-free guidance (reflow.guidance)
};

// The stored input a coupling trains from, beside the data itself.
enum class CouplingInput { kNone, kPairs, kTeacher };

struct CouplingEntry {
  std::function<void(const DataConfig&, const std::string& where)> validate;  // its own settings (unset: none)
  std::function<std::unique_ptr<BatchSource>(const DataConfig&, std::unique_ptr<IndependentCoupling> both_ends,
                                             const CouplingInputs&)>
      make;
  CouplingInput input = CouplingInput::kNone;
};

// Mutable: programs and tests may register their own couplings before building configs.
Registry<CouplingEntry>& couplings();

// The training batch source data.coupling asks for, validated first.
std::unique_ptr<BatchSource> make_batch_source(const DataConfig& cfg, const CouplingInputs& in = {});

// The shipped couplings, each beside the source it builds.
CouplingEntry independent_coupling_entry();  // batch_source.cpp
CouplingEntry ot_coupling_entry();           // ot_coupling.cpp
CouplingEntry pairs_coupling_entry();        // pair_shards.cpp
CouplingEntry online_coupling_entry();       // online_pairs.cpp

}  // namespace rflow

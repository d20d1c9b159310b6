// Conditioning dropout for classifier-free guidance: during training a fraction p of the samples
// lose their condition — the label becomes −1 ("no label") and the prompt the null one (all pad,
// empty mask) — so one network learns both the conditional and the unconditional field that CFG
// mixes at sampling time. Observations and other extras stay (guidance is over labels and text).
#pragma once

#include "rflow/flow/cond.h"

namespace rflow {

// p = 0 or nothing to drop: c unchanged; otherwise a copy with ~p of the rows nulled (labels and
// text of the same rows).
Cond drop_conditioning(const Cond& c, double p);

}  // namespace rflow

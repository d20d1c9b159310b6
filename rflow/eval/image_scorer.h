// Scorer for images: FID-proxy against the Fashion-MNIST test set through the pinned feature
// network (floor: as many real training images), the network's class accuracy for conditional
// models, and a second opinion from the independent judge network (its class accuracy, and the
// per-class diversity against the test set's); PNG sample grids and noise → image strips. Other
// image sets get grids only.
#pragma once

#include "rflow/eval/scorer.h"

namespace rflow::eval {

ScorerEntry image_scorer_entry();

}  // namespace rflow::eval

// Scorer for points (2-D toys, tabular data, any flat samples): exact W2, sliced W2, energy and MMD
// against a fresh target draw, with a second draw as the floor; 1-nearest-neighbour label accuracy
// for class-conditional models; samples and trajectories as .npy for the report's plots.
#pragma once

#include "rflow/eval/scorer.h"

namespace rflow::eval {

ScorerEntry point_scorer_entry();

}  // namespace rflow::eval

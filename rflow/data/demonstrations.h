// Demonstrations for flow policies: observations [N, O] and the actions (or action chunks) a
// demonstrator took there, drawn row by row with the observation as cond.extra["obs"]. From a
// pair of .npy files (data.target.path = actions, data.target.demos.obs = observations), or
// generated: fork1d, AdaFlow's 1-D toy (obs x ~ U[−10, 10]; action 0 where x ≤ 0 and ±x, half
// each, where x > 0: one answer left of zero, two to the right).
#pragma once

#include <string>

#include "rflow/data/distribution.h"

namespace rflow {

struct DemosOptions {
  std::string obs;  // observations .npy

  template <class V>
  void visit(V& v) {
    v("obs", obs, "demos: observations .npy [N, O] (or [N]), row i observed where action row i of data.target.path was taken");
  }
  void validate(const std::string& where) const {}
};

DistributionEntry demos_entry();
DistributionEntry fork1d_entry();

}  // namespace rflow

// Reflow (k-rectified flow, specs/methods.md §1): draw fresh noise, solve the k-RF teacher and store
// the (z0, z1) pairs; training the same flow-matching loss on those pairs (a PairSource coupling,
// initialised from the teacher) gives the (k+1)-RF. Generation is sharded and seeded per shard, so
// a killed run resumes shard by shard and reproduces an uninterrupted run exactly.
#pragma once

#include <map>
#include <string>

#include <c10/core/Device.h>

#include "rflow/data/distribution.h"
#include "rflow/solve/solver.h"

namespace rflow {

struct ReflowConfig {
  int64_t pairs = 20000;
  int64_t shard_size = 5000;
  std::string solver = "rk4";
  int64_t steps = 25;
  double rtol = 1e-5, atol = 1e-5;

  template <class V>
  void visit(V& v) {
    v("pairs", pairs, "number of (z0, z1) pairs to generate from the teacher");
    v("shard_size", shard_size, "pairs per shard file (a kill loses at most one shard)");
    v("solver", solver, "teacher solver (the reference code uses RK45: dopri5)");
    v("steps", steps, "steps of a fixed-step teacher solver");
    v("rtol", rtol, "dopri5 relative tolerance");
    v("atol", atol, "dopri5 absolute tolerance");
  }
  void validate() const;
};

struct PairGeneration {
  int64_t pairs = 0, shards_written = 0, shards_skipped = 0;
  double seconds = 0, solve_seconds = 0;  // solve = teacher evaluations + solver work
  double nfe_mean = 0;
};

// Writes ceil(pairs / shard_size) shards into dir (skipping shards already there) and a manifest.
PairGeneration generate_pairs(const FieldFn& teacher, Distribution& source, const ReflowConfig& cfg,
                              const std::string& dir, uint64_t seed, c10::Device device,
                              const std::map<std::string, std::string>& provenance = {});

}  // namespace rflow

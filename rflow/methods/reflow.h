// Reflow (k-rectified flow, docs/methods.md): draw fresh noise, solve the k-RF teacher and store
// the (z0, z1) pairs; training the same flow-matching loss on those pairs (a PairSource coupling,
// initialised from the teacher) gives the (k+1)-RF. Generation is sharded and seeded per shard, so
// a killed run resumes shard by shard and reproduces an uninterrupted run exactly.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <c10/core/Device.h>

#include "rflow/data/batch_source.h"
#include "rflow/data/distribution.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/solve/solver.h"
#include "rflow/train/train_config.h"

namespace rflow {

struct ReflowConfig {
  int64_t rounds = 0;
  bool online = false;
  int64_t online_steps = 20;
  TrainConfig train;
  int64_t pairs = 20000;
  int64_t shard_size = 5000;
  int64_t batch = 500;  // pairs solved at once: peak memory follows it, not the shard
  SolveOptions solve;  // the teacher solve: reflow.solver, reflow.steps, ...
  FieldOptions field;  // the teacher field: reflow.guidance (CFG, InstaFlow's recipe), reflow.eta

  ReflowConfig() {
    // Fine-tuning defaults (reference: reflow fine-tunes at the 1-RF's LR with a short warmup).
    train.steps = 4000;
    train.warmup = 100;
    solve.method = "rk4";  // the reference code uses RK45 (dopri5); rk4 × 25 is as accurate here and cheaper
    solve.steps = 25;
  }

  template <class V>
  void visit(V& v) {
    v("rounds", rounds, "reflow rounds run by the reflow stage: 1 makes 2-RF, 2 makes 2-RF and 3-RF (0 = only write the 1-RF's pairs)");
    v("online", online, "make pairs on the fly (online_steps Euler steps of the EMA teacher per batch) instead of storing them");
    v("online_steps", online_steps, "Euler steps of the online teacher solve (reference: 20)");
    v.section("train", train);
    v("pairs", pairs, "number of (z0, z1) pairs to generate from the teacher");
    v("shard_size", shard_size, "pairs per shard file (a kill loses at most one shard)");
    v("batch", batch, "pairs the teacher solves at once: peak memory follows it, not shard_size (28x28 image pairs with CFG: ~0.4 GB at 250, ~10 GB at 2000); fixed-step and per-sample solves do not depend on it");
    solve.visit(v);
    field.visit(v);
  }
  void validate(const std::string& where = "reflow") const;
};

struct PairGeneration {
  int64_t pairs = 0, shards_written = 0, shards_skipped = 0;
  double seconds = 0, solve_seconds = 0;  // solve = teacher evaluations + solver work
  double nfe_mean = 0;
};

// The teacher as pair generation sees it: the field to solve for a shard's conditioning (empty
// for unconditional teachers), e.g. a CFG-guided field.
using TeacherFn = std::function<FieldFn(const Cond& cond)>;
// Conditioning for n new pairs in a shape ({}: the data's own): labels drawn like the target's,
// contexts, observations, ...
using CondSampler = std::function<Cond(int64_t n, const std::vector<int64_t>& shape)>;

// Writes ceil(pairs / shard_size) shards into dir (skipping shards already there) and a manifest.
// With `cond_from`, each shard draws its conditioning from it, solves the teacher with it and
// stores it beside the pairs. Shards made by another teacher or other settings
// (dir/generation.json differs) are discarded first, so stale pairs never mix with new ones.
// Several `shapes` (the target's shape buckets): shard i holds pairs of shapes[i mod K].
PairGeneration generate_pairs(const TeacherFn& teacher, Distribution& source, const CondSampler& cond_from,
                              const ReflowConfig& cfg, const std::string& dir, uint64_t seed, c10::Device device,
                              const std::map<std::string, std::string>& provenance = {},
                              const std::vector<std::vector<int64_t>>& shapes = {});
// Conditions drawn like the target's, as a CondSampler: its labels (with `labels`; the target must
// have classes) and the token context of its captions (captioned data).
CondSampler conditions_from(Distribution& target, bool labels);
// Unconditional teacher.
PairGeneration generate_pairs(const FieldFn& teacher, Distribution& source, const ReflowConfig& cfg,
                              const std::string& dir, uint64_t seed, c10::Device device,
                              const std::map<std::string, std::string>& provenance = {});

}  // namespace rflow

// Conditioning that travels with a batch: class labels, a token context with its mask, and any
// other per-sample tensors (AdaFlow's observations, ...). Every member is [B, ...] or undefined,
// so couplings, stored pairs, per-sample solvers and guidance move it row by row without knowing
// what it means. A member with a null value (label −1, an all-masked context) can be guided.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace rflow {

struct Cond {
  at::Tensor labels;   // [B] int64, −1 = no label
  at::Tensor context;  // [B, T, D]
  at::Tensor mask;     // [B, T] (1 = token present); all zero = the null context
  std::map<std::string, at::Tensor> extra;  // [B, ...] each, e.g. "obs"

  bool empty() const { return !labels.defined() && !context.defined() && !mask.defined() && extra.empty(); }
  // Rows of the members (-1 when empty); throws if members disagree.
  int64_t batch_size() const;
  void check_batch(int64_t batch, const std::string& where) const;

  Cond select(const at::Tensor& rows) const;  // index_select(0, rows) on every member
  Cond slice(int64_t begin, int64_t end) const;
  Cond to(c10::Device device) const;
  static Cond cat(const std::vector<Cond>& parts);  // along the batch; parts must have the same members

  // Guidance: whether some member has a null value, and the conditioning with every such member
  // nulled (labels −1, context zeroed, its mask — when there is one — all zero). Extras have no
  // null and stay as they are: guidance is over labels / context given the rest (an observation).
  bool nullable() const { return labels.defined() || context.defined(); }
  Cond null_like() const;

  // Storage form (pair shards): "labels", "context", "mask", "extra.<name>".
  std::vector<std::pair<std::string, at::Tensor>> named() const;
  // Inverse of named(); names it does not know are ignored (the caller's other tensors).
  static Cond from_named(const std::map<std::string, at::Tensor>& tensors);
};

}  // namespace rflow

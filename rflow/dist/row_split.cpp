#include "rflow/dist/row_split.h"

#include <algorithm>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/dist/world.h"

namespace rflow::dist {

RowSplit split_rows(int64_t n, int64_t piece, const World& w) {
  RF_CHECK(n >= 0 && piece >= 1, "rows to split need n >= 0 and pieces of at least one row", "dist::split_rows",
           "this is a bug in the caller");
  RowSplit s;
  s.n = n;
  // Alone the pieces are the caller's (the chunking it always had); on N ranks no piece is larger
  // than n / N, so that every rank gets work while there are rows for it.
  const int64_t size = w.size();
  const int64_t p = size == 1 ? piece : std::max<int64_t>(1, std::min(piece, (n + size - 1) / size));
  s.pieces = (n + p - 1) / p;
  for (int64_t i = w.rank(); i < s.pieces; i += size) s.mine.emplace_back(i * p, std::min(n, (i + 1) * p));
  return s;
}

at::Tensor gather_rows(const RowSplit& split, const std::vector<at::Tensor>& mine, const at::Tensor& like,
                       const World& w, const std::string& what) {
  RF_CHECK(mine.size() == split.mine.size() && like.dim() >= 1 && like.size(0) == split.n,
           "the pieces to gather do not match their split", "dist::gather_rows(" + what + ")", "this is a bug in the caller");
  if (w.alone()) return mine.empty() ? like.new_empty(like.sizes()).cpu() : torch::cat(mine).cpu();
  // Each rank's rows in place, zeros elsewhere, summed over the ranks: x + 0 = x exactly, so every
  // row arrives as its rank computed it (NaN and Inf included). One collective; the volume is
  // the result's size, small beside the solves that made it.
  at::Tensor all = torch::zeros(like.sizes(), like.options().device(torch::kCPU));
  for (size_t i = 0; i < mine.size(); ++i) {
    const auto [a, b] = split.mine[i];
    all.slice(0, a, b).copy_(mine[i]);
  }
  w.all_reduce_sum(all, what);
  return all;
}

int64_t max_over_ranks(int64_t value, const World& w, const std::string& what) {
  if (w.alone()) return value;
  at::Tensor v = torch::zeros({w.size()}, torch::kInt64);
  v[w.rank()] = value;
  w.all_reduce_sum(v, what);
  return v.max().item<int64_t>();
}

}  // namespace rflow::dist

// Work on rows that do not depend on each other — the evaluation's solves and likelihoods — dealt
// out over the ranks and put back together on every rank. Piece i of the rows goes to rank
// i mod size; the gathered tensor holds each row exactly as the rank that computed it left it, so a
// job split this way gives one process's result up to the rounding of a smaller batch.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace rflow::dist {

class World;

struct RowSplit {
  int64_t n = 0;                                  // rows in all
  int64_t pieces = 0;                             // over all ranks
  std::vector<std::pair<int64_t, int64_t>> mine;  // [begin, end) of this rank's pieces, in order
};

// n rows in pieces of at most `piece` rows; on several ranks the pieces are made smaller where
// that keeps a rank from idling (n rows in one piece become one piece per rank).
RowSplit split_rows(int64_t n, int64_t piece, const World& w);

// The [n, ...] tensor whose rows are every rank's pieces, on every rank, on the CPU. `mine`: this
// rank's results in the order of split.mine; `like`: any tensor of the whole result's shape and
// dtype (what a rank without pieces contributes). Alone, the pieces are concatenated.
at::Tensor gather_rows(const RowSplit& split, const std::vector<at::Tensor>& mine, const at::Tensor& like,
                       const World& w, const std::string& what);

// The largest of every rank's value (e.g. the most accepted steps of any piece).
int64_t max_over_ranks(int64_t value, const World& w, const std::string& what);

}  // namespace rflow::dist

// Exact linear assignment (minimum-cost perfect matching) on a dense square cost matrix.
// Used by the exact 2-Wasserstein metric and by minibatch optimal-transport coupling, so it must be
// exact and fast for a few thousand points: Jonker–Volgenant shortest augmenting paths, warm-started
// by an ε-scaling auction when the matrix is hard. Torch-free so any layer can reuse it.
#pragma once

#include <cstdint>
#include <vector>

namespace rflow {

// cost is row-major n×n (cost[i * n + j] is the cost of giving column j to row i).
// Returns, for every row, the column it is assigned to; the result is a permutation of 0..n-1
// minimising the total cost. Throws rflow::Error on n < 0, a null pointer or a non-finite cost.
// n == 0 yields an empty vector.
std::vector<int64_t> linear_assignment(const double* cost, int64_t n);

namespace detail {
// Which solver route to force; kAuto is what linear_assignment uses. Exposed so tests can check
// both routes against brute force even on tiny matrices, where kAuto never reaches the auction.
enum class AssignmentRoute { kAuto, kJonkerVolgenantOnly, kAuction };
std::vector<int64_t> linear_assignment(const double* cost, int64_t n, AssignmentRoute route);
}  // namespace detail

// Total cost of an assignment as returned above (convenience for callers and tests).
double assignment_cost(const double* cost, int64_t n, const std::vector<int64_t>& row_to_col);

}  // namespace rflow

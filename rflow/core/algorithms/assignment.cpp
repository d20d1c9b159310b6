#include "rflow/core/algorithms/assignment.h"

#include <cmath>
#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "rflow/core/error.h"

namespace rflow {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr const char* kWhere = "rflow::linear_assignment";

// Jonker & Volgenant (1987), "A shortest augmenting path algorithm for dense and sparse linear
// assignment problems". The cheap initialisation phases (column reduction, reduction transfer,
// augmenting row reduction) assign most rows of "random" matrices, leaving a few O(n²) Dijkstra
// searches. On geometric costs (squared distances between point clouds — exactly what W2 and OT
// coupling produce) the remaining searches explore most of the graph and the solver degrades to
// its O(n³) worst case (n = 2000: seconds to tens of seconds). So the Dijkstra phase runs under a
// work budget; if that runs out, an ε-scaling auction (Bertsekas) computes near-optimal duals in
// O(n²)-ish time, and the exact Dijkstra phase then only repairs the rows that are not exactly
// tight, which takes a fraction of a row scan per row in practice. The result is exact either way.
// Only column duals v are stored: row duals are implied (u_i = min_j c_ij − v_j); every assigned
// row is kept tight (its column attains that minimum), which is all the Dijkstra phase needs.
class Solver {
 public:
  Solver(const double* cost, int n, double cost_range, detail::AssignmentRoute route)
      : c_(cost), n_(n), range_(cost_range), route_(route), x_(n, -1), y_(n, -1), v_(n, kInf),
        free_(n) {}

  std::vector<int64_t> solve() {
    int n_free = column_reduction();
    // JV recommend two passes of augmenting row reduction; more passes rarely pay off.
    for (int pass = 0; pass < 2 && n_free > 0; ++pass) n_free = augmenting_row_reduction(n_free);
    // Easy matrices need a few n row scans in total; past 8n the auction is the cheaper route.
    int64_t budget = 8 * static_cast<int64_t>(n_);
    if (route_ == detail::AssignmentRoute::kJonkerVolgenantOnly) budget = -1;
    if (route_ == detail::AssignmentRoute::kAuction) budget = 0;
    if (n_free > 0 && !augment(n_free, budget)) {
      auction();
      n_free = repair_tightness();
      if (n_free > 0) augment(n_free, -1);
    }
    std::vector<int64_t> out(n_);
    for (int i = 0; i < n_; ++i) out[i] = x_[i];
    return out;
  }

 private:
  const double* row(int i) const { return c_ + static_cast<std::size_t>(i) * n_; }

  // Column reduction + reduction transfer. Returns the number of rows left unassigned, which are
  // stored at the front of free_.
  int column_reduction() {
    // Row-major sweep (instead of per-column minima) keeps memory access sequential.
    for (int i = 0; i < n_; ++i) {
      const double* r = row(i);
      for (int j = 0; j < n_; ++j) {
        if (r[j] < v_[j]) {
          v_[j] = r[j];
          y_[j] = i;
        }
      }
    }
    std::vector<char> unique(n_, 1);
    // Reverse order follows the paper; it only decides which of several minima a row keeps.
    for (int j = n_ - 1; j >= 0; --j) {
      const int i = y_[j];
      if (x_[i] < 0) {
        x_[i] = j;
      } else {
        unique[i] = 0;
        y_[j] = -1;
      }
    }
    int n_free = 0;
    for (int i = 0; i < n_; ++i) {
      if (x_[i] < 0) {
        free_[n_free++] = i;
      } else if (unique[i]) {
        // Row i owns exactly one column: move slack from that column's dual to the row so the
        // row stays tight while the column becomes cheaper for rows still searching.
        const int j = x_[i];
        const double* r = row(i);
        double best = kInf;
        for (int k = 0; k < n_; ++k) {
          if (k == j) continue;
          const double red = r[k] - v_[k];
          if (red < best) best = red;
        }
        v_[j] -= best;
      }
    }
    return n_free;
  }

  // Augmenting row reduction: each free row grabs its cheapest column, lowering that column's dual
  // by the gap to the second cheapest; the displaced row becomes free. JV bound the work only by
  // current * n, which is O(n³) overall and on squared-distance costs costs more than it saves;
  // capping a pass at 2n row scans keeps it O(n²) while still freeing most easy rows.
  int augmenting_row_reduction(int n_free) {
    int64_t current = 0;
    int new_free = 0;
    int64_t rr_count = 0;
    const int64_t budget = 2 * static_cast<int64_t>(n_);
    while (current < n_free) {
      ++rr_count;
      const int free_i = free_[current++];
      const double* r = row(free_i);
      int j1 = 0, j2 = -1;
      double v1 = r[0] - v_[0], v2 = kInf;
      for (int j = 1; j < n_; ++j) {
        const double h = r[j] - v_[j];
        if (h < v2) {
          if (h >= v1) {
            v2 = h;
            j2 = j;
          } else {
            v2 = v1;
            v1 = h;
            j2 = j1;
            j1 = j;
          }
        }
      }
      int i0 = y_[j1];
      const double v1_new = v_[j1] - (v2 - v1);
      const bool v1_lowers = v1_new < v_[j1];
      if (rr_count < current * n_ && rr_count < budget) {
        if (v1_lowers) {
          v_[j1] = v1_new;
        } else if (i0 >= 0 && j2 >= 0) {
          // Tie between the two cheapest columns: take the second so the displaced row differs.
          j1 = j2;
          i0 = y_[j2];
        }
        if (i0 >= 0) {
          if (v1_lowers) {
            free_[--current] = i0;  // retry the displaced row immediately
          } else {
            free_[new_free++] = i0;
          }
        }
      } else if (i0 >= 0) {
        free_[new_free++] = i0;
      }
      x_[free_i] = j1;
      y_[j1] = free_i;
    }
    return new_free;
  }

  // Dijkstra on reduced costs from each remaining free row to the nearest unassigned column, then
  // flip the alternating path. With scan_budget >= 0, gives up (returning false, state still
  // consistent) once that many rows have been scanned; -1 means no limit.
  bool augment(int n_free, int64_t scan_budget) {
    dt_.resize(n_);
    vw_.resize(n_);
    pred_.resize(n_);
    list_.resize(n_);
    dl_.resize(n_);
    scans_ = 0;
    for (int f = 0; f < n_free; ++f) {
      if (scan_budget >= 0 && scans_ >= scan_budget) return false;
      const int start = free_[f];
      int j = find_path(start);
      for (int steps = 0;; ++steps) {
        RF_CHECK(steps <= n_, "internal error: augmenting path did not terminate", kWhere,
                 "please report this cost matrix as a bug");
        const int i = static_cast<int>(pred_[j]);
        y_[j] = i;
        std::swap(j, x_[i]);
        if (i == start) break;
      }
    }
    return true;
  }

  // ε-scaling Gauss–Seidel auction in the reduced-cost convention (a bid lowers v_j, making
  // column j dearer). Each phase reassigns every row and ends ε-optimal; ε shrinks 5× per phase
  // down to 1e-6 of the cost range, where the duals are close enough that the exact repair is
  // cheap. A bid cap per phase guards against pathological price wars: stopping early is safe
  // because the repair frees every row that is not exactly tight.
  void auction() {
    const int64_t bid_cap = 200 * static_cast<int64_t>(n_);
    // Unassigned rows waiting to bid; never more than n, so a ring buffer of n suffices.
    std::vector<int> ring(n_);
    for (double eps = range_ / 5;; eps /= 5) {
      std::fill(x_.begin(), x_.end(), -1);
      std::fill(y_.begin(), y_.end(), -1);
      for (int i = 0; i < n_; ++i) ring[i] = i;
      int head = 0, waiting = n_;
      int64_t bids = 0;
      while (waiting > 0) {
        if (++bids > bid_cap) return;
        const int i = ring[head];
        head = head + 1 == n_ ? 0 : head + 1;
        --waiting;
        const double* r = row(i);
        int j1 = 0;
        double w1 = r[0] - v_[0], w2 = kInf;
        for (int j = 1; j < n_; ++j) {
          const double h = r[j] - v_[j];
          if (h < w2) {
            if (h < w1) {
              w2 = w1;
              w1 = h;
              j1 = j;
            } else {
              w2 = h;
            }
          }
        }
        v_[j1] = r[j1] - w2 - eps;
        const int prev = y_[j1];
        y_[j1] = i;
        x_[i] = j1;
        if (prev >= 0) {
          x_[prev] = -1;
          int tail = head + waiting;
          if (tail >= n_) tail -= n_;
          ring[tail] = prev;
          ++waiting;
        }
      }
      if (eps <= range_ * 1e-6) return;
    }
  }

  // Turns the auction's ε-complementary slackness into exact tightness: raise each owned column's
  // dual by its owner's slack, then free every row that is still not tight (other columns got
  // cheaper) or unassigned. Returns the number of free rows, stored at the front of free_.
  int repair_tightness() {
    for (int i = 0; i < n_; ++i) {
      const int j = x_[i];
      if (j < 0) continue;
      const double* r = row(i);
      const double u = row_min(r);
      v_[j] += (r[j] - v_[j]) - u;
    }
    int n_free = 0;
    for (int i = 0; i < n_; ++i) {
      const int j = x_[i];
      if (j >= 0) {
        const double* r = row(i);
        if (r[j] - v_[j] <= row_min(r)) continue;
        y_[j] = -1;
        x_[i] = -1;
      }
      free_[n_free++] = i;
    }
    return n_free;
  }

  double row_min(const double* r) const {
    double u = kInf;
    for (int j = 0; j < n_; ++j) {
      const double h = r[j] - v_[j];
      u = h < u ? h : u;
    }
    return u;
  }

  // Columns are todo, in the scan list (at the current minimum distance) or ready (final distance).
  // Instead of JV's permuted column list, state lives in dense per-column arrays so the hot loop
  // reads the cost row sequentially and vectorises: non-todo columns get vw_ = -inf, which makes
  // their tentative distance +inf so they are never relaxed, and dt_ = +inf, so minimum searches
  // skip them. On squared-distance costs (long paths, rows streamed from memory) this is several
  // times faster than gathering through a permutation. list_ holds [ready | scan] in order.
  int find_path(int start) {
    const double* r0 = row(start);
    double m = kInf;
    for (int j = 0; j < n_; ++j) {
      pred_[j] = start;
      vw_[j] = v_[j];
      dt_[j] = r0[j] - v_[j];
      m = dt_[j] < m ? dt_[j] : m;
    }
    int lo = 0, hi = 0, n_ready = 0, final_j = -1;
    double mind = 0.0;
    while (final_j < 0) {
      if (lo == hi) {
        n_ready = lo;
        mind = m;
        final_j = collect(hi, mind);
        if (final_j >= 0) break;
      }
      final_j = scan(lo, hi, mind, m);
    }
    for (int k = 0; k < n_ready; ++k) {
      const int j = list_[k];
      v_[j] += dl_[k] - mind;
    }
    return final_j;
  }

  // Moves every todo column with tentative distance <= level into the scan list (at distance
  // level). Returns an unassigned one if among them (the path is then complete), else -1.
  int collect(int& hi, double level) {
    int found = -1;
    for (int j = 0; j < n_; ++j) {
      if (dt_[j] <= level) {
        dt_[j] = kInf;
        vw_[j] = -kInf;
        dl_[hi] = level;
        list_[hi++] = j;
        if (y_[j] < 0 && found < 0) found = j;
      }
    }
    return found;
  }

  // Relaxes todo columns through the rows owning scan-list columns. Returns an unassigned column
  // reached at the current minimum distance (path complete), or -1 with lo == hi and m set to the
  // smallest todo distance (the next level). Ties at the current level join the scan list at once,
  // as in JV: with integer-like costs that finds a free column without another full round.
  int scan(int& lo, int& hi, double mind, double& m) {
    while (lo != hi) {
      const int jc = list_[lo++];
      const int i = y_[jc];
      const double* r = row(i);
      ++scans_;
      m = relax(r, r[jc] - v_[jc] - mind, i);
      if (m <= mind) {
        const int found = collect(hi, mind);
        if (found >= 0) return found;
        m = kInf;  // the minimum just moved into the scan list; recompute the next level
        for (int j = 0; j < n_; ++j) m = dt_[j] < m ? dt_[j] : m;
      }
    }
    return -1;
  }

  // dt = min(dt, r - vw - shift), recording the row on improvement; returns min(dt).
  double relax(const double* r, double shift, int64_t row_index) {
    double* dt = dt_.data();
    const double* vw = vw_.data();
    int64_t* pred = pred_.data();
    int j = 0;
    double m = kInf;
#if defined(__SSE2__)
    // Explicit SSE2 (x86-64 baseline) because compilers will not vectorise the min-reduction
    // without -ffast-math. _mm_min_pd(a, b) is exactly a < b ? a : b, matching the scalar tail.
    const __m128d vshift = _mm_set1_pd(shift);
    const __m128i vrow = _mm_set1_epi64x(row_index);
    __m128d vm = _mm_set1_pd(kInf);
    for (; j + 2 <= n_; j += 2) {
      const __m128d red = _mm_sub_pd(_mm_sub_pd(_mm_loadu_pd(r + j), _mm_loadu_pd(vw + j)), vshift);
      const __m128d old = _mm_loadu_pd(dt + j);
      const __m128i better = _mm_castpd_si128(_mm_cmplt_pd(red, old));
      const __m128d nd = _mm_min_pd(red, old);
      _mm_storeu_pd(dt + j, nd);
      __m128i* pp = reinterpret_cast<__m128i*>(pred + j);
      const __m128i p = _mm_loadu_si128(pp);
      _mm_storeu_si128(pp, _mm_or_si128(_mm_and_si128(better, vrow), _mm_andnot_si128(better, p)));
      vm = _mm_min_pd(vm, nd);
    }
    alignas(16) double lanes[2];
    _mm_store_pd(lanes, vm);
    m = lanes[0] < lanes[1] ? lanes[0] : lanes[1];
#endif
    for (; j < n_; ++j) {
      const double red = r[j] - vw[j] - shift;
      if (red < dt[j]) {
        dt[j] = red;
        pred[j] = row_index;
      }
      m = dt[j] < m ? dt[j] : m;
    }
    return m;
  }

  const double* c_;
  int n_;
  double range_;  // max cost - min cost, sets the auction's ε scale
  detail::AssignmentRoute route_;
  int64_t scans_ = 0;
  std::vector<int> x_, y_;  // row -> column, column -> row (-1: unassigned)
  std::vector<double> v_;   // column duals
  std::vector<int> free_;
  std::vector<int> list_;
  std::vector<int64_t> pred_;  // 64-bit so it shares SIMD lanes with the double distances
  std::vector<double> dt_, vw_, dl_;  // dl_: distance of each list_ entry
};

}  // namespace

std::vector<int64_t> linear_assignment(const double* cost, int64_t n) {
  return detail::linear_assignment(cost, n, detail::AssignmentRoute::kAuto);
}

std::vector<int64_t> detail::linear_assignment(const double* cost, int64_t n,
                                               AssignmentRoute route) {
  RF_CHECK(n >= 0, "matrix size must be non-negative, got " + std::to_string(n), kWhere,
           "pass the number of rows of the square cost matrix");
  if (n == 0) return {};
  RF_CHECK(cost != nullptr, "cost pointer is null", kWhere, "pass a row-major n*n buffer");
  RF_CHECK(n <= std::numeric_limits<int>::max() / 2, "matrix too large (n = " + std::to_string(n) + ")",
           kWhere, "dense assignment is only practical for n up to a few thousand");
  const std::size_t total = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  double lo = kInf, hi = -kInf;
  for (std::size_t k = 0; k < total; ++k) {
    const double c = cost[k];
    RF_CHECK(std::isfinite(c),
             "cost matrix entry (" + std::to_string(k / n) + ", " + std::to_string(k % n) +
                 ") is not finite (" + std::to_string(c) + ")",
             kWhere, "replace NaN/Inf costs with large finite values or fix their source");
    lo = c < lo ? c : lo;
    hi = c > hi ? c : hi;
  }
  // Dual updates subtract costs from each other; beyond this they could overflow to infinity.
  RF_CHECK(std::fmax(-lo, hi) < 1e300,
           "cost magnitudes too large (max |cost| = " + std::to_string(std::fmax(-lo, hi)) + ")",
           kWhere, "rescale the cost matrix");
  std::vector<int64_t> identity(n);
  for (int64_t i = 0; i < n; ++i) identity[i] = i;
  // n == 1 would break reduction transfer (no second column); equal costs would give the auction
  // a zero ε. Any permutation is optimal in both cases.
  if (n == 1 || hi == lo) return identity;
  return Solver(cost, static_cast<int>(n), hi - lo, route).solve();
}

double assignment_cost(const double* cost, int64_t n, const std::vector<int64_t>& row_to_col) {
  RF_CHECK(static_cast<int64_t>(row_to_col.size()) == n,
           "assignment has " + std::to_string(row_to_col.size()) + " rows, expected " +
               std::to_string(n),
           "rflow::assignment_cost", "pass the vector returned by linear_assignment");
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = row_to_col[i];
    RF_CHECK(j >= 0 && j < n, "column index " + std::to_string(j) + " out of range",
             "rflow::assignment_cost", "pass the vector returned by linear_assignment");
    total += cost[i * n + j];
  }
  return total;
}

}  // namespace rflow

// Rows dealt over ranks and put back together: every row is computed by exactly one rank, pieces go
// round-robin, and the gathered tensor on every rank holds each row as its rank left it (NaN, Inf,
// -0 and an integer dtype included). Two ranks in two threads over loopback.
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/dist/launch.h"
#include "rflow/dist/row_split.h"
#include "rflow/dist/world.h"

using namespace rflow;

namespace {

dist::WorldOptions row_rank_of_two(int64_t rank, int port) {
  dist::WorldOptions o;
  o.rank = rank, o.size = 2, o.local_rank = rank, o.local_size = 2;
  o.master_port = port, o.timeout_s = 30;
  return o;
}

// What a rank "computes" for rows [a, b): values that identify the row, with the awkward ones.
at::Tensor rows(int64_t a, int64_t b) {
  at::Tensor x = torch::arange(a, b, torch::kFloat).unsqueeze(1).repeat({1, 3}) * 1.5f;
  if (a == 0) x[0][1] = std::numeric_limits<float>::quiet_NaN(), x[0][2] = -std::numeric_limits<float>::infinity();
  return x;
}

}  // namespace

TEST(RowSplit, AloneThePiecesAreTheCallersChunks) {
  const dist::World alone;
  const dist::RowSplit s = dist::split_rows(10, 4, alone);
  EXPECT_EQ(s.pieces, 3);
  ASSERT_EQ(s.mine.size(), 3u);
  EXPECT_EQ(s.mine[2], std::make_pair(int64_t{8}, int64_t{10}));
  const at::Tensor all = dist::gather_rows(s, {rows(0, 4), rows(4, 8), rows(8, 10)}, torch::empty({10, 3}), alone, "test");
  EXPECT_TRUE(torch::equal(all.slice(0, 1), rows(0, 10).slice(0, 1)));
  EXPECT_EQ(dist::max_over_ranks(7, alone, "test"), 7);
}

TEST(RowSplit, TwoRanksComputeEveryRowOnceAndBothGetThemAll) {
  for (const auto [n, piece] : {std::pair<int64_t, int64_t>{10, 4}, {7, 100}, {1, 5}}) {
    at::Tensor got[2], nfe[2];
    int64_t most[2] = {0, 0};
    std::vector<std::pair<int64_t, int64_t>> dealt[2];
    const int port = dist::free_port();
    auto rank = [&, n = n, piece = piece](int64_t r) {
      dist::World w(row_rank_of_two(r, port));
      const dist::RowSplit s = dist::split_rows(n, piece, w);
      dealt[r] = s.mine;
      std::vector<at::Tensor> xs, counts;
      for (const auto& [a, b] : s.mine) {
        xs.push_back(rows(a, b));
        counts.push_back(torch::full({b - a}, 10 * (r + 1), torch::kInt64));
      }
      got[r] = dist::gather_rows(s, xs, torch::empty({n, 3}), w, "test rows");
      nfe[r] = dist::gather_rows(s, counts, torch::zeros({n}, torch::kInt64), w, "test counts");
      most[r] = dist::max_over_ranks(r == 1 ? 42 : 3, w, "test max");
    };
    std::thread t0(rank, 0), t1(rank, 1);
    t0.join(), t1.join();
    // Every row exactly once over both ranks; one piece per rank where the caller asked for one.
    std::vector<int> seen(size_t(n), 0);
    for (const auto& d : dealt)
      for (const auto& [a, b] : d)
        for (int64_t i = a; i < b; ++i) ++seen[size_t(i)];
    EXPECT_EQ(seen, std::vector<int>(size_t(n), 1)) << "n " << n << " piece " << piece;
    if (n >= 2) EXPECT_FALSE(dealt[1].empty()) << "rank 1 idle for n " << n;
    const at::Tensor want = rows(0, n);
    for (int r = 0; r < 2; ++r) {
      EXPECT_TRUE(torch::equal(got[r].slice(1, 0, 1), want.slice(1, 0, 1))) << "n " << n;
      EXPECT_TRUE(std::isnan(got[r][0][1].item<float>()));
      EXPECT_EQ(got[r][0][2].item<float>(), -std::numeric_limits<float>::infinity());
      EXPECT_EQ(nfe[r].scalar_type(), torch::kInt64);
      for (const auto& [a, b] : dealt[1]) EXPECT_EQ(nfe[r][a].item<int64_t>(), 20);
      EXPECT_EQ(most[r], 42);
    }
  }
}

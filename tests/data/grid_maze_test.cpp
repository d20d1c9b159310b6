// The grid maze and its demonstrations: distances and route counts of the built-in layouts, the
// demonstrations following shortest paths with both branches, and layout errors.
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/grid_maze.h"

using namespace rflow;

TEST(GridMaze, LayoutsHaveTheirRoutesAndDistances) {
  const GridMaze ring = GridMaze::named("ring");
  EXPECT_EQ(ring.distance(ring.start()), 12);
  EXPECT_EQ(ring.shortest_routes(), 2);
  EXPECT_EQ(ring.best_moves(ring.start()).size(), 2u);  // up or down around the block
  EXPECT_EQ(ring.best_moves({1, 1}).size(), 1u);        // in a corridor: one way
  const GridMaze rooms = GridMaze::named("rooms");
  EXPECT_EQ(rooms.distance(rooms.start()), 16);
  EXPECT_GT(rooms.shortest_routes(), 10);
  const GridMaze line = GridMaze::named("#####/#S.G#/#####");
  EXPECT_EQ(line.distance(line.start()), 2);
  EXPECT_EQ(line.shortest_routes(), 1);
  EXPECT_EQ(GridMaze::move_of(0.9f, -0.2f), (GridMaze::Cell{1, 0}));
  EXPECT_EQ(GridMaze::move_of(0.1f, -0.7f), (GridMaze::Cell{0, -1}));
  EXPECT_EQ(GridMaze::move_of(0.1f, 0.2f), (GridMaze::Cell{0, 0}));
  for (const char* bad : {"nonsense", "###/#S#/###", "#####/#SxG#/#####", "#####/#S#G#/#####", "####/#S.G#"})
    EXPECT_THROW(GridMaze::named(bad), Error) << bad;
}

TEST(GridMaze, DemonstrationsFollowShortestPathsAndBranch) {
  DistributionConfig dc{"maze"};
  dc.get<MazeOptions>("maze").horizon = 3;
  auto demos = make_distribution(dc, {}, "data.target");
  ASSERT_EQ(demos->obs_dim(), 2);
  ASSERT_EQ(demos->sample_shape(), (std::vector<int64_t>{3, 2}));
  torch::manual_seed(0);
  const GridMaze maze = GridMaze::named("ring");
  auto [actions, cond] = demos->sample(4000);
  const at::Tensor obs = cond.extra.at("obs");
  std::set<int> first_moves_at_start;
  for (int64_t i = 0; i < 4000; ++i) {
    // Back from the observation to the cell.
    GridMaze::Cell c{static_cast<int>(std::lround((obs[i][0].item<float>() + 1) / 2 * (maze.width() - 1))),
                     static_cast<int>(std::lround((obs[i][1].item<float>() + 1) / 2 * (maze.height() - 1)))};
    ASSERT_TRUE(maze.free(c));
    const bool at_start = c == maze.start();
    for (int64_t h = 0; h < 3 && c != maze.goal(); ++h) {
      const GridMaze::Cell m{static_cast<int>(actions[i][h][0].item<float>()), static_cast<int>(actions[i][h][1].item<float>())};
      const GridMaze::Cell n{c.first + m.first, c.second + m.second};
      ASSERT_EQ(maze.distance(n), maze.distance(c) - 1) << "not a shortest step";
      if (at_start && h == 0) first_moves_at_start.insert(m.second);
      c = n;
    }
  }
  EXPECT_EQ(first_moves_at_start, (std::set<int>{-1, 1}));  // both ways around the block
}

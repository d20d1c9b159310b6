// The maze picture: the ring's two shortest routes are found, each keeps its colour whatever the
// order or mix of episodes (so panels side by side agree), and the legend counts every episode
// under its route, longer routes and episodes that never reached the goal.
#include <gtest/gtest.h>

#include "rflow/data/grid_maze.h"
#include "rflow/io/svg.h"
#include "rflow/pipeline/policy/maze_picture.h"

using namespace rflow;

namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// The colour of the polyline drawn for the episode whose points start the n-th <polyline>.
std::string nth_polyline_colour(const std::string& svg, std::size_t n) {
  std::size_t at = 0;
  for (std::size_t i = 0; i <= n; ++i) at = svg.find("<polyline", at + 1);
  const std::size_t c = svg.find("stroke=\"", at) + 8;
  return svg.substr(c, 7);
}

}  // namespace

TEST(MazePicture, EachShortestRouteKeepsItsColourAndTheLegendCountsEpisodes) {
  const GridMaze maze = GridMaze::named("ring");
  const auto routes = shortest_routes_of(maze);
  ASSERT_EQ(routes.size(), 2u);
  ASSERT_EQ(static_cast<int64_t>(routes.size()), maze.shortest_routes());
  for (const auto& r : routes) {
    EXPECT_EQ(r.front(), maze.start());
    EXPECT_EQ(r.back(), maze.goal());
    EXPECT_EQ(static_cast<int>(r.size()) - 1, maze.distance(maze.start()));
  }
  const auto stuck = std::vector<std::pair<int, int>>{maze.start()};
  // One panel takes route B more often, the other route A: the colours stay with the routes.
  const std::string one = maze_paths_svg(maze, {routes[1], routes[1], routes[0], stuck});
  const std::string two = maze_paths_svg(maze, {routes[0], routes[0], routes[1]});
  EXPECT_EQ(nth_polyline_colour(one, 0), io::palette(1));
  EXPECT_EQ(nth_polyline_colour(one, 2), io::palette(0));
  EXPECT_EQ(nth_polyline_colour(two, 0), io::palette(0));
  EXPECT_EQ(nth_polyline_colour(two, 2), io::palette(1));
  EXPECT_NE(one.find("route A (shortest): 1 episode<"), std::string::npos) << one;
  EXPECT_NE(one.find("route B (shortest): 2 episodes<"), std::string::npos);
  EXPECT_NE(one.find("did not reach G (× where it stopped): 1 episode<"), std::string::npos);
  EXPECT_EQ(count(one, "class=\"entry\""), 3u);
  EXPECT_EQ(count(one, "stroke-dasharray"), 2u);  // the stuck episode and its legend swatch
  EXPECT_EQ(count(two, "did not reach G"), 0u);
  // A detour that reaches the goal is a longer route.
  auto detour = routes[0];
  detour.insert(detour.begin() + 1, {detour[1], detour[0]});
  EXPECT_NE(maze_paths_svg(maze, {detour}).find("longer routes: 1 episode<"), std::string::npos);
}

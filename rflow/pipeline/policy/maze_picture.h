// The maze with every episode's path drawn over it and a legend of the routes taken. Each of the
// maze's shortest routes has a colour of its own that depends only on the maze, so pictures of
// several policies side by side colour the same route alike; longer routes are grey, and an
// episode that never reached the goal is dashed and ends in a cross where it stopped.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace rflow {

class GridMaze;

// The maze's shortest routes from start to goal (cells, start and goal included) in a fixed order,
// at most `limit` of them; route k is drawn in palette colour k.
std::vector<std::vector<std::pair<int, int>>> shortest_routes_of(const GridMaze& maze, std::size_t limit = 64);

// `paths`: each episode's cells in order (consecutive repeats removed, as rollouts record them).
std::string maze_paths_svg(const GridMaze& maze, const std::vector<std::vector<std::pair<int, int>>>& paths);

}  // namespace rflow

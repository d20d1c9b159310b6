#include "rflow/pipeline/policy/maze_picture.h"

#include <map>
#include <sstream>

#include "rflow/data/grid_maze.h"
#include "rflow/io/svg.h"
#include "rflow/pipeline/report/report_parts.h"

namespace rflow {

namespace {

using Route = std::vector<std::pair<int, int>>;

constexpr const char* kLonger = "#9a9a9a";
constexpr const char* kFailed = "#222222";
// Shortest routes named and coloured one by one (palette 0-7); the rest share a row and palette(8).
constexpr std::size_t kLegendRoutes = 8;

void collect_routes(const GridMaze& maze, Route& prefix, std::size_t limit, std::vector<Route>& out) {
  if (out.size() >= limit) return;
  if (prefix.back() == maze.goal()) {
    out.push_back(prefix);
    return;
  }
  for (const auto& next : maze.best_moves(prefix.back())) {
    prefix.push_back(next);
    collect_routes(maze, prefix, limit, out);
    prefix.pop_back();
  }
}

std::string route_name(std::size_t k) {
  std::string name;
  for (std::size_t n = k + 1; n > 0; n = (n - 1) / 26) name.insert(name.begin(), char('A' + (n - 1) % 26));
  return "route " + name;
}

// How one episode is drawn: its colour, whether dashed, its legend row.
struct Look {
  std::string color, row;
  bool failed = false;
  std::size_t order = 0;  // legend order: shortest routes by index, then longer, then failed
};

class RouteLooks {
 public:
  explicit RouteLooks(const GridMaze& maze) : maze_(maze) {
    const auto routes = shortest_routes_of(maze);
    for (std::size_t k = 0; k < routes.size(); ++k) index_[routes[k]] = k;
  }
  Look of(const Route& p) const {
    if (p.empty() || p.back() != maze_.goal())
      return {kFailed, "did not reach G (× where it stopped)", true, 1u << 20};
    const auto it = index_.find(p);
    if (it == index_.end()) return {kLonger, "longer routes", false, (1u << 20) - 1};
    const std::size_t k = it->second;
    if (k >= kLegendRoutes) return {io::palette(kLegendRoutes), "other shortest routes", false, kLegendRoutes};
    return {io::palette(k), route_name(k) + " (shortest)", false, k};
  }

 private:
  const GridMaze& maze_;
  std::map<Route, std::size_t> index_;
};

void draw_walls(std::ostringstream& s, const GridMaze& maze, int cell) {
  for (int r = 0; r < maze.height(); ++r)
    for (int c = 0; c < maze.width(); ++c)
      if (!maze.free({c, r}))
        s << "<rect x=\"" << c * cell << "\" y=\"" << r * cell << "\" width=\"" << cell << "\" height=\"" << cell
          << "\" fill=\"#444\"/>";
}

// Each episode slightly offset so overlapping episodes of one route show as a band.
void draw_paths(std::ostringstream& s, const std::vector<Route>& paths, const RouteLooks& looks, int cell) {
  for (std::size_t e = 0; e < paths.size(); ++e) {
    const Look look = looks.of(paths[e]);
    const double off = (double(e % 9) - 4.0) * 1.2;
    auto px = [&](int v) { return short_number((v + 0.5) * cell + off); };
    s << "<polyline fill=\"none\" stroke-width=\"1.5\" stroke-opacity=\"0.6\" stroke=\"" << look.color << "\""
      << (look.failed ? " stroke-dasharray=\"3 2\"" : "") << " points=\"";
    for (const auto& [c, r] : paths[e]) s << px(c) << "," << px(r) << " ";
    s << "\"/>";
    if (look.failed && !paths[e].empty()) {
      const auto [c, r] = paths[e].back();
      const double x = (c + 0.5) * cell + off, y = (r + 0.5) * cell + off;
      s << "<path d=\"M" << short_number(x - 3) << " " << short_number(y - 3) << "l6 6m0 -6l-6 6\" stroke=\"" << kFailed
        << "\" stroke-width=\"1.5\"/>";
    }
  }
}

void draw_marks(std::ostringstream& s, const GridMaze& maze, int cell) {
  auto mark = [&](std::pair<int, int> c, const char* label, const char* color) {
    s << "<circle cx=\"" << (c.first + 0.5) * cell << "\" cy=\"" << (c.second + 0.5) * cell << "\" r=\"9\" fill=\""
      << color << "\"/><text x=\"" << (c.first + 0.5) * cell << "\" y=\"" << (c.second + 0.5) * cell + 4
      << "\" text-anchor=\"middle\" fill=\"#fff\">" << label << "</text>";
  };
  mark(maze.start(), "S", "#2a7");
  mark(maze.goal(), "G", "#c33");
}

}  // namespace

std::vector<Route> shortest_routes_of(const GridMaze& maze, std::size_t limit) {
  std::vector<Route> out;
  if (maze.distance(maze.start()) < 0) return out;
  Route prefix{maze.start()};
  collect_routes(maze, prefix, limit, out);
  return out;
}

std::string maze_paths_svg(const GridMaze& maze, const std::vector<Route>& paths) {
  const RouteLooks looks(maze);
  // Legend rows in a fixed order, each with its episode count.
  std::map<std::size_t, std::pair<Look, int>> rows;
  for (const auto& p : paths) {
    const Look look = looks.of(p);
    auto& row = rows.try_emplace(look.order, look, 0).first->second;
    ++row.second;
  }
  const int cell = 28, w = std::max(maze.width() * cell, 340), maze_h = maze.height() * cell;
  const int line = 16, h = maze_h + 8 + line * static_cast<int>(rows.size());
  std::ostringstream s;
  s.imbue(std::locale::classic());
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w
    << " " << h << "\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"11\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>";
  draw_walls(s, maze, cell);
  draw_paths(s, paths, looks, cell);
  draw_marks(s, maze, cell);
  int y = maze_h + 8;
  s << "<g class=\"legend\">";
  for (const auto& [order, row] : rows) {
    const auto& [look, n] = row;
    s << "<g class=\"entry\" data-color=\"" << look.color << "\"><line x1=\"4\" y1=\"" << y + 6 << "\" x2=\"24\" y2=\"" << y + 6 << "\" stroke=\"" << look.color
      << "\" stroke-width=\"2\"" << (look.failed ? " stroke-dasharray=\"3 2\"" : "") << "/><text x=\"30\" y=\"" << y + 10
      << "\" fill=\"#333\">" << io::xml_escape(look.row) << ": " << n << (n == 1 ? " episode" : " episodes") << "</text></g>";
    y += line;
  }
  s << "</g></svg>\n";
  return s.str();
}

}  // namespace rflow

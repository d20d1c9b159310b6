// Self-contained SVG plots (scatter, trajectories, curves) returned as strings, for the HTML
// report and for standalone .svg files. No dependencies and no torch: callers pass plain vectors.
// Output is deterministic (locale-independent number formatting, no ids that vary between runs)
// and compact (1-decimal pixel coordinates), so thousands of points stay small.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace rflow::io {

struct PlotOptions {
  std::string title, xlabel, ylabel;
  int width = 420, height = 360;  // pixels
  bool logx = false, logy = false;
  bool equal_aspect = false;  // same data units per pixel on both (linear) axes
  std::optional<std::array<double, 4>> limits;  // xmin xmax ymin ymax; data outside is dropped
};

// A cloud of dots. An empty color picks palette(index of the set).
struct PointSet {
  std::string label;  // legend entry; empty: not in the legend
  std::vector<double> x, y;
  std::string color;
  double radius = 1.6;
  double opacity = 0.5;
};

// One <circle> per finite point, one <g> per set, sets drawn in order (later sets on top).
std::string svg_scatter(const std::vector<PointSet>& sets, const PlotOptions& options);

struct Polyline {
  std::vector<double> x, y;
};

// Thin grey semi-transparent paths (broken at non-finite vertices) with coloured start and end
// dots on top; empty start/end colours default to palette(0) / palette(1).
std::string svg_trajectories(const std::vector<Polyline>& paths, const PointSet& starts,
                             const PointSet& ends, const PlotOptions& options);

// Line series, e.g. loss or metric curves. Points that are non-finite, or non-positive on a log
// axis, are skipped and break the line. Log axes get ticks at decades.
struct Series {
  std::string label;
  std::vector<double> x, y;
  std::string color;
  bool markers = true;  // a small <circle> on every drawn point; without, only on points no line reaches
};

std::string svg_curves(const std::vector<Series>& series, const PlotOptions& options);

// Categorical colour palette (Tableau 10), cycling after 10 entries.
const std::string& palette(std::size_t i);

// Escapes &, <, >, " and ' for XML/HTML text and attributes, and drops control characters that
// XML forbids (everything below 0x20 except tab, newline and carriage return).
std::string xml_escape(const std::string& text);

}  // namespace rflow::io

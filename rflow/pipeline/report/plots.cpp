#include "rflow/pipeline/report/plots.h"

#include <torch/torch.h>

#include "rflow/io/svg.h"

namespace rflow {

namespace {
constexpr int64_t kMaxPoints = 2000;

io::PointSet to_points(const at::Tensor& t, const std::string& label, const std::string& color, double opacity) {
  auto p = t.detach().to(torch::kCPU, torch::kFloat64).flatten(1);
  int64_t n = std::min<int64_t>(p.size(0), kMaxPoints);
  io::PointSet s;
  s.label = label;
  s.color = color;
  s.opacity = opacity;
  auto a = p.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    s.x.push_back(a[i][0]);
    s.y.push_back(p.size(1) > 1 ? a[i][1] : 0.0);
  }
  return s;
}
}  // namespace

std::array<double, 4> plot_limits(const at::Tensor& points) {
  auto p = points.detach().to(torch::kCPU, torch::kFloat64).flatten(1);
  auto x = p.select(1, 0);
  auto y = p.size(1) > 1 ? p.select(1, 1) : torch::zeros_like(x);
  // Robust range: 0.5% / 99.5% quantiles, so one outlier does not shrink the picture.
  auto q = torch::tensor({0.005, 0.995}, torch::kFloat64);
  auto qx = torch::quantile(x, q), qy = torch::quantile(y, q);
  double x0 = qx[0].item<double>(), x1 = qx[1].item<double>(), y0 = qy[0].item<double>(), y1 = qy[1].item<double>();
  double m = 0.15 * std::max({x1 - x0, y1 - y0, 1e-3});
  return {x0 - m, x1 + m, y0 - m, y1 + m};
}

std::string scatter_vs_reference(const at::Tensor& samples, const at::Tensor& reference, const std::string& title,
                                 std::optional<std::array<double, 4>> limits) {
  io::PlotOptions o;
  o.title = title;
  o.xlabel = "x₁";
  o.ylabel = "x₂";
  o.equal_aspect = true;
  o.limits = limits ? limits : plot_limits(reference);
  return io::svg_scatter({to_points(reference, "target", "#9e9e9e", 0.35), to_points(samples, "samples", io::palette(0), 0.55)},
                         o);
}

std::string trajectory_plot(const at::Tensor& trajectory, const std::string& title, int64_t max_paths,
                            std::optional<std::array<double, 4>> limits) {
  auto tr = trajectory.detach().to(torch::kCPU, torch::kFloat64).flatten(2);  // [S+1, B, D]
  const int64_t S = tr.size(0), B = std::min<int64_t>(tr.size(1), max_paths);
  std::vector<io::Polyline> paths(B);
  auto a = tr.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      paths[b].x.push_back(a[s][b][0]);
      paths[b].y.push_back(tr.size(2) > 1 ? a[s][b][1] : 0.0);
    }
  io::PlotOptions o;
  o.title = title;
  o.xlabel = "x₁";
  o.ylabel = "x₂";
  o.equal_aspect = true;
  o.limits = limits ? limits : plot_limits(torch::cat({tr[0], tr[S - 1]}));
  auto starts = to_points(tr[0].slice(0, 0, B), "t = 0", "#616161", 0.7);
  auto ends = to_points(tr[S - 1].slice(0, 0, B), "t = 1", io::palette(1), 0.8);
  return io::svg_trajectories(paths, starts, ends, o);
}

}  // namespace rflow

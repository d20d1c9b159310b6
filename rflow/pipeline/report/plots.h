// Tensor → SVG glue for run reports and `rflow sample --plot`: scatter of samples over a reference
// set and trajectory fans, in the first two coordinates, on axes fitted to the reference so that
// plots of one run share a frame.
#pragma once

#include <array>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

namespace rflow {

// Axis limits covering the (first two coordinates of the) points with a margin.
std::array<double, 4> plot_limits(const at::Tensor& points);

std::string scatter_vs_reference(const at::Tensor& samples, const at::Tensor& reference, const std::string& title,
                                 std::optional<std::array<double, 4>> limits = std::nullopt);

// trajectory [S+1, B, D]: at most `max_paths` paths drawn.
std::string trajectory_plot(const at::Tensor& trajectory, const std::string& title, int64_t max_paths,
                            std::optional<std::array<double, 4>> limits = std::nullopt);

}  // namespace rflow

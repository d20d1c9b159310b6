// Scorer for captioned composites (fashion_composites): every generated image is cut into its
// 28×28 cells and each cell is read by the pinned independent judge network, so a model is judged
// on what its caption asked for and cannot grade itself. Scores: compositional accuracy (every
// garment right, in the right place), per-cell class accuracy, and the FID-proxy of the cells against
// the Fashion-MNIST test set; the floor is the same on real composites. Grids of samples with their
// captions as PNG.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/eval/scorer.h"

namespace rflow::eval {

// Images [N, C, 28·rows, 28·cols] → cells [N·rows·cols, C, 28, 28], each image's cells in reading order.
at::Tensor composite_cells(const at::Tensor& images);
// The classes each caption asks for, in reading order, flattened [N·cells] (parse_caption), and the
// cells per caption; throws if captions disagree on their layout.
std::pair<at::Tensor, int64_t> asked_classes(const std::vector<std::string>& captions);
// Fraction of images whose every cell is predicted as asked, from per-cell hits [N·cells].
double all_cells_right(const at::Tensor& hits, int64_t cells);

ScorerEntry composite_scorer_entry();

}  // namespace rflow::eval

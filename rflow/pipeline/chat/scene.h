// What a conversation about a composite is about: a grid of garments, each with the class a caption
// names and an identity that survives edits (moving, recolouring), so the renderer can keep the
// noise — and the pixels — of every garment an edit did not touch. Pure data: no tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rflow::chat {

struct Garment {
  int64_t cls = 0;  // Fashion-MNIST class (garment_names())
  int64_t id = 0;   // identity: its noise is drawn from (conversation seed, id)
  bool operator==(const Garment& o) const { return cls == o.cls && id == o.id; }
};

// rows × cols garments in reading order; 0 × 0 is the empty scene (nothing drawn yet).
struct Scene {
  int64_t rows = 0, cols = 0;
  std::vector<Garment> cells;

  bool empty() const { return cells.empty(); }
  const Garment& at(int64_t r, int64_t c) const { return cells[static_cast<size_t>(r * cols + c)]; }
  // The composite layout's name (single, row2, ..., grid); "" for an empty scene.
  std::string layout() const;
  // The canonical prompt: the caption grammar's sentence for these garments in reading order.
  std::string caption() const;
  std::vector<int64_t> classes() const;
  bool operator==(const Scene& o) const { return rows == o.rows && cols == o.cols && cells == o.cells; }
};

// A scene of a caption's garments with fresh ids next_id, next_id + 1, ... (advanced past them).
// Throws rflow::Error for text that is not a caption.
Scene scene_of_caption(const std::string& caption, int64_t& next_id);
// True when rows × cols is one of the composite layouts (1×1, 1×2, 2×1, 1×3, 3×1, 2×2).
bool is_layout(int64_t rows, int64_t cols);

}  // namespace rflow::chat

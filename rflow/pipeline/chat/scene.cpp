#include "rflow/pipeline/chat/scene.h"

#include "rflow/data/fashion_composites.h"

namespace rflow::chat {

bool is_layout(int64_t rows, int64_t cols) { return composite_layout_of(rows, cols) != nullptr; }

std::string Scene::layout() const {
  const CompositeLayout* l = composite_layout_of(rows, cols);
  return l ? l->name : "";
}

std::vector<int64_t> Scene::classes() const {
  std::vector<int64_t> out;
  for (const auto& g : cells) out.push_back(g.cls);
  return out;
}

std::string Scene::caption() const {
  if (empty()) return "";
  return composite_caption(classes(), *composite_layout_of(rows, cols));
}

Scene scene_of_caption(const std::string& caption, int64_t& next_id) {
  const ParsedCaption p = parse_caption(caption);
  Scene s;
  s.rows = p.layout.rows, s.cols = p.layout.cols;
  for (int64_t c : p.classes) s.cells.push_back({c, next_id++});
  return s;
}

}  // namespace rflow::chat

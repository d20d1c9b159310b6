#include "rflow/pipeline/chat/transcript_page.h"

#include <torch/torch.h>

#include "rflow/io/atomic_file.h"
#include "rflow/io/html_report.h"
#include "rflow/io/image_file.h"

namespace rflow::chat {

namespace {

std::string png_of(const at::Tensor& image) {
  return io::encode_png(io::image_grid(image.unsqueeze(0), 1, /*pad=*/0), "chat image");
}

// "cells drawn: 1 · kept: 2", cells numbered in reading order.
std::string cells_note(const Turn& t) {
  if (!t.drawn) return t.image.defined() ? "the image shown before" : "";
  std::string drawn, kept;
  for (size_t i = 0; i < t.redrawn.size(); ++i) {
    std::string& list = t.redrawn[i] ? drawn : kept;
    list += (list.empty() ? "" : ", ") + std::to_string(i + 1);
  }
  if (kept.empty()) return "every cell drawn";
  return "cells drawn: " + (drawn.empty() ? std::string("none") : drawn) + " · kept: " + kept;
}

}  // namespace

std::string transcript_html(const std::vector<Turn>& turns, const std::string& title) {
  io::HtmlReport page(title);
  for (size_t k = 0; k < turns.size(); ++k) {
    const Turn& t = turns[k];
    page.heading("Turn " + std::to_string(k + 1), 3);
    page.key_values({{"you", t.message}, {"rflow", t.reply}, {"prompt", t.prompt.empty() ? "(nothing drawn)" : t.prompt}});
    if (t.image.defined()) page.image_row({{cells_note(t), png_of(t.image)}}, 4);
  }
  return page.render();
}

void save_transcript(const std::string& path, const std::vector<Turn>& turns, const std::string& title) {
  io::write_file_atomic(path, transcript_html(turns, title));
}

}  // namespace rflow::chat

// A single self-contained HTML report (inline CSS and SVG, no scripts or external resources) that
// experiment runs write next to their checkpoints. Built block by block, rendered
// deterministically: the page adds nothing of its own (dates, machine, times come only from what
// the caller writes), and its figures flow into as many per row as the window holds, each at its
// drawn size (shrunk only to fit), so lettering is the same size in every figure.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace rflow::io {

class HtmlReport {
 public:
  explicit HtmlReport(std::string title);

  // level 1..6; text is escaped.
  void heading(const std::string& text, int level = 2);
  // Escaped text; blank lines split it into separate paragraphs.
  void paragraph(const std::string& text);
  // Escaped text in a <pre> block (logs, configs, command lines).
  void preformatted(const std::string& text);
  // A <pre> block folded under a one-line summary (the reader opens it with a click, no script).
  void collapsed(const std::string& summary, const std::string& text);
  // A highlighted box of "label: value" lines, for the summary at the top of a report.
  void key_values(const std::vector<std::pair<std::string, std::string>>& items);
  // All cells escaped. Rows shorter than the header are padded with empty cells; longer rows are
  // an error.
  void table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows);
  // A row of figures, each (caption, svg). The SVG markup is inlined as is (it must come from
  // the svg_* functions or another trusted source); captions are escaped.
  void figure_row(const std::vector<std::pair<std::string, std::string>>& captioned_svgs);

  // A row of raster images, each (caption, PNG file bytes), embedded as data: URIs and drawn
  // pixelated at `scale`× so small samples (28×28) stay crisp.
  void image_row(const std::vector<std::pair<std::string, std::string>>& captioned_pngs, int scale = 2);

  std::string render() const;
  // Writes render() atomically (temp file + rename) so a crash never leaves half a report.
  void save(const std::string& path) const;

 private:
  std::string title_;
  std::string body_;
};

}  // namespace rflow::io

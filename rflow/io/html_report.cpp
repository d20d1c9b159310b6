#include "rflow/io/html_report.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/base64.h"
#include "rflow/io/svg.h"

namespace rflow::io {

namespace {

constexpr const char* kStyle = R"css(
body{font-family:Helvetica,Arial,sans-serif;color:#222;max-width:min(98vw,2400px);margin:24px auto;padding:0 16px;line-height:1.45}
h1{font-size:1.6em;border-bottom:1px solid #ddd;padding-bottom:6px}
h2{font-size:1.3em;margin-top:1.6em}
h3,h4,h5,h6{font-size:1.05em}
pre{background:#f6f8fa;border:1px solid #e3e6ea;border-radius:4px;padding:8px 10px;overflow:auto;font-size:.85em}
table{border-collapse:collapse;margin:10px 0;font-size:.9em}
th,td{border:1px solid #d9d9d9;padding:4px 9px;text-align:left}
th{background:#f3f4f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
.figrow{display:flex;flex-wrap:wrap;align-items:flex-start;gap:14px;margin:10px 0}
figure{margin:0;border:1px solid #eee;border-radius:4px;padding:6px;background:#fff;max-width:100%;box-sizing:border-box}
figure svg,figure img{display:block;max-width:100%;height:auto}
table{display:block;overflow-x:auto;max-width:100%}
details{margin:10px 0}
summary{cursor:pointer;color:#1f5fa8}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;background:#f3f7fc;border:1px solid #cfe0f3;border-radius:4px;padding:10px 14px;margin:10px 0}
.kv dt{color:#555}
.kv dd{margin:0;font-variant-numeric:tabular-nums}
figcaption{font-size:.85em;color:#555;text-align:center;margin-top:4px;contain:inline-size}
)css";

// Cells that parse completely as a number are right-aligned so columns of metrics line up.
bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  std::size_t begin = s[0] == '+' ? 1 : 0;
  double v = 0.0;
  const auto res = std::from_chars(s.data() + begin, s.data() + s.size(), v);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

}  // namespace

HtmlReport::HtmlReport(std::string title) : title_(std::move(title)) {}

void HtmlReport::heading(const std::string& text, int level) {
  RF_CHECK(level >= 1 && level <= 6, "heading level must be 1..6, got " + std::to_string(level),
           "rflow::io::HtmlReport::heading", "use 2 for sections, 3 for subsections");
  const std::string tag = "h" + std::to_string(level);
  body_ += "<" + tag + ">" + xml_escape(text) + "</" + tag + ">\n";
}

void HtmlReport::paragraph(const std::string& text) {
  // Blank lines separate paragraphs, as in plain-text notes.
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string part = text.substr(pos, end - pos);
    if (part.find_first_not_of(" \t\r\n") != std::string::npos)
      body_ += "<p>" + xml_escape(part) + "</p>\n";
    pos = end + 2;
  }
}

void HtmlReport::preformatted(const std::string& text) {
  body_ += "<pre>" + xml_escape(text) + "</pre>\n";
}

void HtmlReport::collapsed(const std::string& summary, const std::string& text) {
  body_ += "<details><summary>" + xml_escape(summary) + "</summary><pre>" + xml_escape(text) + "</pre></details>\n";
}

void HtmlReport::key_values(const std::vector<std::pair<std::string, std::string>>& items) {
  body_ += "<dl class=\"kv\">";
  for (const auto& [k, v] : items) body_ += "<dt>" + xml_escape(k) + "</dt><dd>" + xml_escape(v) + "</dd>";
  body_ += "</dl>\n";
}

void HtmlReport::table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows) {
  const char* where = "rflow::io::HtmlReport::table";
  std::size_t width = header.size();
  if (header.empty())
    for (const auto& r : rows) width = std::max(width, r.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    RF_CHECK(rows[i].size() <= width,
             "row " + std::to_string(i) + " has " + std::to_string(rows[i].size()) +
                 " cells but the header has " + std::to_string(width),
             where, "add header columns or drop the extra cells");
  }
  body_ += "<table>\n";
  if (!header.empty()) {
    body_ += "<thead><tr>";
    for (const auto& h : header) body_ += "<th>" + xml_escape(h) + "</th>";
    body_ += "</tr></thead>\n";
  }
  body_ += "<tbody>\n";
  for (const auto& r : rows) {
    body_ += "<tr>";
    for (std::size_t c = 0; c < width; ++c) {
      const std::string cell = c < r.size() ? r[c] : std::string();
      body_ += looks_numeric(cell) ? "<td class=\"num\">" : "<td>";
      body_ += xml_escape(cell) + "</td>";
    }
    body_ += "</tr>\n";
  }
  body_ += "</tbody>\n</table>\n";
}

void HtmlReport::figure_row(const std::vector<std::pair<std::string, std::string>>& captioned_svgs) {
  const char* where = "rflow::io::HtmlReport::figure_row";
  body_ += "<div class=\"figrow\">\n";
  for (std::size_t i = 0; i < captioned_svgs.size(); ++i) {
    const auto& [caption, svg] = captioned_svgs[i];
    const std::size_t start = svg.find_first_not_of(" \t\r\n");
    RF_CHECK(start != std::string::npos && svg.compare(start, 4, "<svg") == 0,
             "figure " + std::to_string(i) + " is not SVG markup (it must start with <svg)", where,
             "pass the string returned by svg_scatter / svg_trajectories / svg_curves");
    body_ += "<figure>" + svg.substr(start);
    if (!caption.empty()) body_ += "<figcaption>" + xml_escape(caption) + "</figcaption>";
    body_ += "</figure>\n";
  }
  body_ += "</div>\n";
}

namespace {
// Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian).
std::pair<uint32_t, uint32_t> png_size(const std::string& png) {
  auto be32 = [&](std::size_t o) {
    return uint32_t(uint8_t(png[o])) << 24 | uint32_t(uint8_t(png[o + 1])) << 16 | uint32_t(uint8_t(png[o + 2])) << 8 |
           uint32_t(uint8_t(png[o + 3]));
  };
  return {be32(16), be32(20)};
}
}  // namespace

void HtmlReport::image_row(const std::vector<std::pair<std::string, std::string>>& captioned_pngs, int scale) {
  const char* where = "rflow::io::HtmlReport::image_row";
  body_ += "<div class=\"figrow\">\n";
  for (std::size_t i = 0; i < captioned_pngs.size(); ++i) {
    const auto& [caption, png] = captioned_pngs[i];
    RF_CHECK(png.size() > 24 && png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0,
             "image " + std::to_string(i) + " is not a PNG file", where, "pass io::encode_png's bytes");
    auto [w, h] = png_size(png);
    body_ += "<figure><img style=\"image-rendering:pixelated\" width=\"" + std::to_string(w * scale) + "\" height=\"" +
             std::to_string(h * scale) + "\" alt=\"" + xml_escape(caption) + "\" src=\"data:image/png;base64," + base64(png) +
             "\">";
    if (!caption.empty()) body_ += "<figcaption>" + xml_escape(caption) + "</figcaption>";
    body_ += "</figure>\n";
  }
  body_ += "</div>\n";
}

std::string HtmlReport::render() const {
  const std::string title = xml_escape(title_);
  std::string out;
  out.reserve(body_.size() + 2048);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + title + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  out += "<h1>" + title + "</h1>\n";
  out += body_;
  out += "</body>\n</html>\n";
  return out;
}

void HtmlReport::save(const std::string& path) const { write_file_atomic(path, render()); }

}  // namespace rflow::io

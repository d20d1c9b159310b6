// Checks the SVG plots (structure, escaping, one marker per drawable point, log-axis skipping,
// determinism) and the HTML report (escaping, inline SVG, atomic save).
#include "rflow/io/svg.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "rflow/core/error.h"
#include "rflow/io/html_report.h"
#include "rflow/io/image_file.h"
#include "tests/test_util.h"

namespace rflow::io {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size()))
    ++n;
  return n;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

PointSet ring(int n, double radius, const std::string& label) {
  PointSet s;
  s.label = label;
  for (int i = 0; i < n; ++i) {
    s.x.push_back(radius * std::cos(0.1 * i));
    s.y.push_back(radius * std::sin(0.1 * i));
  }
  return s;
}

TEST(SvgScatter, StructureEscapingAndOneMarkerPerPoint) {
  PointSet a = ring(50, 1.0, "data <real>");
  PointSet b = ring(30, 2.0, "model & co");
  b.x.push_back(kNaN);  // skipped
  b.y.push_back(0.0);
  PlotOptions o;
  o.title = "a<b";
  o.xlabel = "x \"1\"";
  o.ylabel = "y";
  const std::string svg = svg_scatter({a, b}, o);
  EXPECT_TRUE(starts_with(svg, "<svg")) << svg.substr(0, 40);
  EXPECT_TRUE(ends_with(svg, "</svg>"));
  EXPECT_NE(svg.find("a&lt;b"), std::string::npos);
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  EXPECT_NE(svg.find("data &lt;real&gt;"), std::string::npos);
  EXPECT_NE(svg.find("model &amp; co"), std::string::npos);
  EXPECT_NE(svg.find("x &quot;1&quot;"), std::string::npos);
  EXPECT_EQ(count(svg, "<circle"), 80u);
  EXPECT_NE(svg.find(palette(0)), std::string::npos);
  EXPECT_NE(svg.find(palette(1)), std::string::npos);
  EXPECT_EQ(svg, svg_scatter({a, b}, o));  // deterministic
}

TEST(SvgScatter, CompactForThousandsOfPoints) {
  PointSet s;
  for (int i = 0; i < 5000; ++i) {
    s.x.push_back(std::sin(0.37 * i) * 3.0);
    s.y.push_back(std::cos(0.91 * i) * 2.0);
  }
  const std::string svg = svg_scatter({s}, PlotOptions{});
  EXPECT_EQ(count(svg, "<circle"), 5000u);
  EXPECT_LT(svg.size(), 5000u * 45u);
}

TEST(SvgScatter, LimitsDropOutsidePointsAndEqualAspectRuns) {
  PointSet s;
  s.x = {0.0, 0.5, 1.0, 5.0};
  s.y = {0.0, 0.5, 1.0, 0.5};
  PlotOptions o;
  o.limits = std::array<double, 4>{-1.0, 2.0, -1.0, 2.0};
  EXPECT_EQ(count(svg_scatter({s}, o), "<circle"), 3u);
  PlotOptions eq;
  eq.equal_aspect = true;
  EXPECT_EQ(count(svg_scatter({s}, eq), "<circle"), 4u);
}

TEST(SvgCurves, LogAxesSkipNonPositiveAndNonFinite) {
  Series s;
  s.label = "loss";
  s.x = {1, 2, 3, 4, 5, 6};
  s.y = {100.0, 10.0, 0.0, -5.0, 1.0, kNaN};
  PlotOptions o;
  o.logy = true;
  const std::string svg = svg_curves({s}, o);
  EXPECT_EQ(count(svg, "<circle"), 3u);
  // Decade tick labels 1, 10, 100.
  EXPECT_NE(svg.find(">1</text>"), std::string::npos);
  EXPECT_NE(svg.find(">10</text>"), std::string::npos);
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);
  // The skipped points break the line: two subpaths.
  const std::size_t d = svg.find("<path d=\"");
  ASSERT_NE(d, std::string::npos);
  const std::string path = svg.substr(d, svg.find('"', d + 9) - d);
  EXPECT_EQ(count(path, "M"), 2u);

  Series t;
  t.x = {-1.0, 0.0, 1.0, 10.0, 1000.0};
  t.y = {1.0, 2.0, 3.0, 4.0, 5.0};
  PlotOptions lx;
  lx.logx = true;
  EXPECT_EQ(count(svg_curves({t}, lx), "<circle"), 3u);
  t.markers = false;
  EXPECT_EQ(count(svg_curves({t}, lx), "<circle"), 0u);
}

// A series the legend lists is drawn: a one-point series (a one-step student's score) and a point
// between two gaps get a dot even where lines go without markers.
TEST(SvgCurves, PointsNoLineReachesGetAMarker) {
  Series line{"teacher", {1, 2, 4}, {3, 2, 1}, "#111111", false};
  Series one{"student (1 step)", {1}, {0.5}, "#222222", false};
  Series gaps{"gappy", {1, 2, 3, 4, 5}, {1, kNaN, 2, kNaN, 3}, "#333333", false};
  const std::string svg = svg_curves({line, one, gaps}, PlotOptions{});
  EXPECT_EQ(count(svg, "<g fill=\"#111111\">"), 0u);  // a drawn line needs no dots
  EXPECT_EQ(count(svg, "<g fill=\"#222222\"><circle"), 1u);
  const std::size_t g = svg.find("<g fill=\"#333333\">");
  ASSERT_NE(g, std::string::npos);
  EXPECT_EQ(count(svg.substr(g, svg.find("</g>", g) - g), "<circle"), 3u);
  EXPECT_EQ(count(svg, "stroke=\"#222222\""), 0u);  // no empty path, no line swatch: a dot
  EXPECT_EQ(count(svg, "stroke=\"#111111\""), 2u);  // the line and its legend swatch
}

TEST(SvgTrajectories, PathsAndColouredEnds) {
  std::vector<Polyline> paths(3);
  PointSet starts, ends;
  starts.label = "noise";
  ends.label = "samples";
  for (int k = 0; k < 3; ++k) {
    for (int t = 0; t <= 10; ++t) {
      paths[k].x.push_back(k + 0.1 * t);
      paths[k].y.push_back(std::sin(0.3 * t + k));
    }
    starts.x.push_back(paths[k].x.front());
    starts.y.push_back(paths[k].y.front());
    ends.x.push_back(paths[k].x.back());
    ends.y.push_back(paths[k].y.back());
  }
  const std::string svg = svg_trajectories(paths, starts, ends, PlotOptions{});
  EXPECT_TRUE(starts_with(svg, "<svg"));
  EXPECT_TRUE(ends_with(svg, "</svg>"));
  EXPECT_EQ(count(svg, "<path d=\"M"), 3u);
  EXPECT_EQ(count(svg, "<circle"), 6u);
  EXPECT_NE(svg.find(palette(0)), std::string::npos);
  EXPECT_NE(svg.find(palette(1)), std::string::npos);
  EXPECT_NE(svg.find(">noise</text>"), std::string::npos);
}

TEST(Svg, RejectsBadInput) {
  PointSet s;
  s.x = {1.0, 2.0};
  s.y = {1.0};
  EXPECT_THROW(svg_scatter({s}, PlotOptions{}), rflow::Error);
  Series c;
  c.x = {1.0};
  c.y = {1.0, 2.0};
  EXPECT_THROW(svg_curves({c}, PlotOptions{}), rflow::Error);
  PlotOptions bad;
  bad.limits = std::array<double, 4>{1.0, 0.0, 0.0, 1.0};
  EXPECT_THROW(svg_scatter({}, bad), rflow::Error);
  PlotOptions tiny;
  tiny.width = 10;
  EXPECT_THROW(svg_scatter({}, tiny), rflow::Error);
  PointSet op;
  op.opacity = 2.0;
  EXPECT_THROW(svg_scatter({op}, PlotOptions{}), rflow::Error);
}

TEST(Svg, EmptyPlotAndHelpers) {
  const std::string svg = svg_scatter({}, PlotOptions{});
  EXPECT_TRUE(starts_with(svg, "<svg"));
  EXPECT_TRUE(ends_with(svg, "</svg>"));
  EXPECT_EQ(palette(0), palette(10));
  EXPECT_NE(palette(0), palette(1));
  EXPECT_EQ(xml_escape("&<>\"'ok\x01\n"), "&amp;&lt;&gt;&quot;&#39;ok\n");
}

TEST(HtmlReport, EscapesTextAndInlinesSvg) {
  Series s;
  s.x = {0, 1, 2};
  s.y = {3, 1, 2};
  const std::string svg = svg_curves({s}, PlotOptions{});
  HtmlReport report("Run <1> & friends");
  report.heading("Metrics");
  report.paragraph("first <p>\n\nsecond");
  report.table({"metric", "value"}, {{"w2<x>", "0.25"}, {"a&b", "1e-3"}, {"short"}});
  report.preformatted("cmd --flag=\"<v>\"");
  report.figure_row({{"curve <a>", svg}});
  const std::string html = report.render();

  EXPECT_TRUE(starts_with(html, "<!DOCTYPE html>"));
  EXPECT_NE(html.find("<title>Run &lt;1&gt; &amp; friends</title>"), std::string::npos);
  EXPECT_NE(html.find("<td>w2&lt;x&gt;</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>a&amp;b</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">0.25</td>"), std::string::npos);
  EXPECT_NE(html.find("<p>first &lt;p&gt;</p>"), std::string::npos);
  EXPECT_NE(html.find("<p>second</p>"), std::string::npos);
  EXPECT_NE(html.find("cmd --flag=&quot;&lt;v&gt;&quot;"), std::string::npos);
  EXPECT_NE(html.find(svg), std::string::npos);  // inlined verbatim
  EXPECT_NE(html.find("<figcaption>curve &lt;a&gt;</figcaption>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(count(html, "<tr>"), 4u);  // header + 3 rows, the short one padded

  HtmlReport again("Run <1> & friends");
  again.heading("Metrics");
  again.paragraph("first <p>\n\nsecond");
  again.table({"metric", "value"}, {{"w2<x>", "0.25"}, {"a&b", "1e-3"}, {"short"}});
  again.preformatted("cmd --flag=\"<v>\"");
  again.figure_row({{"curve <a>", svg}});
  EXPECT_EQ(again.render(), html);  // no timestamps
}

TEST(HtmlReport, SaveWritesRenderedFile) {
  rflow::test::TempDir dir;
  HtmlReport report("saved");
  report.paragraph("hello");
  const std::string path = dir.file("sub/report.html");
  report.save(path);
  EXPECT_EQ(rflow::test::read_text(path), report.render());
}

TEST(HtmlReport, RejectsBadInput) {
  HtmlReport report("r");
  EXPECT_THROW(report.heading("x", 7), rflow::Error);
  EXPECT_THROW(report.table({"a"}, {{"1", "2"}}), rflow::Error);
  EXPECT_THROW(report.figure_row({{"not svg", "<div>"}}), rflow::Error);
}

}  // namespace
}  // namespace rflow::io

TEST(HtmlReport, EmbedsPngImagesAsDataUris) {
  auto img = torch::arange(18, torch::kUInt8).view({2, 3, 3});
  const std::string png = rflow::io::encode_png(img);
  rflow::io::HtmlReport report("images");
  report.image_row({{"a <grid>", png}}, 4);
  const std::string html = report.render();
  // Every PNG starts with the signature 89 50 4E 47 0D 0A 1A 0A, base64 "iVBORw0KGgo".
  const auto at = html.find("src=\"data:image/png;base64,iVBORw0KGgo");
  ASSERT_NE(at, std::string::npos);
  const auto b64_start = html.find(',', at) + 1, b64_end = html.find('"', b64_start);
  EXPECT_EQ(b64_end - b64_start, (png.size() + 2) / 3 * 4);
  EXPECT_NE(html.find("width=\"12\" height=\"8\""), std::string::npos);  // 3×2 pixels at 4×
  EXPECT_NE(html.find("a &lt;grid&gt;"), std::string::npos);
  EXPECT_THROW(report.image_row({{"not a png", "<svg/>"}}), rflow::Error);
}

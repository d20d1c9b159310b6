#include "rflow/io/svg.h"

#include <algorithm>
#include <cstring>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

#include "rflow/core/error.h"

namespace rflow::io {

namespace {

// Width of 11px text for layout, from DejaVu Sans (what Debian's browsers draw Helvetica/Arial with;
// the widest of the three): narrow, wide, capital and other characters apart. Multi-byte UTF-8
// characters count once. Rounded up so boxes never clip their text.
double text_width(const std::string& text) {
  double w = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) == 0x80) continue;  // UTF-8 continuation byte
    if (c == 0) continue;
    if (std::strchr("iljt.,:;'|!()[] f", c)) w += 3.9;
    else if (std::strchr("mwMW", c)) w += 10.0;
    else if (c >= 'A' && c <= 'Z') w += 7.6;
    else w += 6.9;
  }
  return w;
}
constexpr const char* kGridColor = "#e6e6e6";
constexpr const char* kAxisColor = "#444";
constexpr const char* kTextColor = "#222";
constexpr const char* kTrajectoryColor = "#6b6b6b";

// Number formatting goes through std::to_chars (never printf) so a process-wide locale with a
// decimal comma cannot change the output.
std::string fmt_fixed(double v, int decimals) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  std::string s(buf, res.ptr);
  if (s.find_first_not_of("-0.") == std::string::npos) return "0";  // no "-0" / "0.00"
  return s;
}

std::string fmt_general(double v, int significant) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, significant);
  std::string s(buf, res.ptr);
  // Compact exponents: 1e+05 -> 1e5, 2.5e-07 -> 2.5e-7 (to_chars always writes a sign).
  const auto e = s.find('e');
  if (e != std::string::npos) {
    std::string digits = s.substr(e + 2);
    digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size() - 1));
    s = s.substr(0, e) + (s[e + 1] == '-' ? "e-" : "e") + digits;
  }
  return s;
}

// Pixel coordinate with one decimal, without a trailing ".0" (the bulk of a scatter plot's bytes).
void append_coord(std::string& out, double v) {
  // Far-outside vertices (clipped anyway) are clamped so the integer conversion cannot overflow.
  long long t = std::llround(std::clamp(v, -1e7, 1e7) * 10.0);
  if (t < 0) {
    out += '-';
    t = -t;
  }
  out += std::to_string(t / 10);
  if (t % 10 != 0) {
    out += '.';
    out += static_cast<char>('0' + t % 10);
  }
}

std::string coord(double v) {
  std::string s;
  append_coord(s, v);
  return s;
}

struct Axis {
  double lo = 0.0, hi = 1.0;
  bool log = false;
  double p0 = 0.0, p1 = 1.0;  // pixel positions of lo and hi
  std::vector<double> ticks;
  std::vector<std::string> labels;

  double map(double v) const {
    const double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                         : (v - lo) / (hi - lo);
    return p0 + t * (p1 - p0);
  }
  bool contains(double v) const {
    if (!std::isfinite(v) || (log && v <= 0.0)) return false;
    const double tol = 1e-9 * (hi - lo);
    return v >= lo - tol && v <= hi + tol;
  }
};

double nice_step(double raw) {
  const double e = std::floor(std::log10(raw));
  const double base = std::pow(10.0, e);
  const double f = raw / base;
  return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * base;
}

std::string decade_label(int k) {
  if (k >= -3 && k <= 4) return fmt_fixed(std::pow(10.0, k), std::max(0, -k));
  return "1e" + std::to_string(k);
}

void make_ticks(Axis& ax, int target) {
  ax.ticks.clear();
  ax.labels.clear();
  if (ax.log) {
    const int k0 = static_cast<int>(std::ceil(std::log10(ax.lo) - 1e-9));
    const int k1 = static_cast<int>(std::floor(std::log10(ax.hi) + 1e-9));
    const int every = std::max(1, (k1 - k0 + target - 1) / std::max(1, target));
    for (int k = k0; k <= k1; ++k) {
      if ((k - k0) % every != 0) continue;
      ax.ticks.push_back(std::pow(10.0, k));
      ax.labels.push_back(decade_label(k));
    }
    if (ax.ticks.size() < 3) {
      // Less than two decades visible: 2× and 5× ticks keep the axis readable.
      for (int k = k0 - 1; k <= k1; ++k) {
        for (double m : {2.0, 5.0}) {
          const double v = m * std::pow(10.0, k);
          if (ax.contains(v)) {
            ax.ticks.push_back(v);
            ax.labels.push_back(fmt_general(v, 6));
          }
        }
      }
    }
    return;
  }
  const double step = nice_step((ax.hi - ax.lo) / std::max(1, target));
  const long long i0 = static_cast<long long>(std::ceil(ax.lo / step - 1e-9));
  const long long i1 = static_cast<long long>(std::floor(ax.hi / step + 1e-9));
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  const double mag = std::max(std::fabs(ax.lo), std::fabs(ax.hi));
  const bool sci = mag >= 1e6 || decimals > 5;
  for (long long i = i0; i <= i1; ++i) {
    const double v = static_cast<double>(i) * step;
    ax.ticks.push_back(v);
    ax.labels.push_back(i == 0 ? "0" : sci ? fmt_general(v, 4) : fmt_fixed(v, decimals));
  }
}

// Data extent over the points that will actually be drawn.
struct Bounds {
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  void add(double x, double y) {
    xmin = std::min(xmin, x);
    xmax = std::max(xmax, x);
    ymin = std::min(ymin, y);
    ymax = std::max(ymax, y);
  }
  bool empty() const { return !(xmin <= xmax); }
};

bool drawable(double x, double y, const PlotOptions& o) {
  return std::isfinite(x) && std::isfinite(y) && (!o.logx || x > 0.0) && (!o.logy || y > 0.0);
}

void check_xy(const std::vector<double>& x, const std::vector<double>& y, const std::string& what,
              const char* where) {
  RF_CHECK(x.size() == y.size(),
           what + " has " + std::to_string(x.size()) + " x values but " + std::to_string(y.size()) +
               " y values",
           where, "pass x and y of equal length");
}

void add_bounds(Bounds& b, const std::vector<double>& x, const std::vector<double>& y,
                const PlotOptions& o) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (drawable(x[i], y[i], o)) b.add(x[i], y[i]);
}

void set_range(Axis& ax, double lo, double hi, bool log, double pad_frac) {
  ax.log = log;
  if (!(lo <= hi)) {  // nothing drawable
    lo = log ? 1.0 : 0.0;
    hi = log ? 10.0 : 1.0;
  }
  if (log) {
    // Whole decades: the ticks then sit on the frame and need no padding.
    double k0 = std::floor(std::log10(lo) + 1e-12), k1 = std::ceil(std::log10(hi) - 1e-12);
    if (k1 <= k0) k1 = k0 + 1;
    ax.lo = std::pow(10.0, k0);
    ax.hi = std::pow(10.0, k1);
    return;
  }
  if (hi == lo) {
    const double half = lo == 0.0 ? 1.0 : 0.1 * std::fabs(lo);
    lo -= half;
    hi += half;
  }
  const double pad = pad_frac * (hi - lo);
  ax.lo = lo - pad;
  ax.hi = hi + pad;
}

double label_width(const std::vector<std::string>& labels) {
  double w = 0;
  for (const auto& s : labels) w = std::max(w, text_width(s));
  return w;
}

// Axes, margins and pixel mapping for one plot.
struct Frame {
  const PlotOptions* opt = nullptr;
  Axis x, y;
  double left = 0, right = 0, top = 0, bottom = 0;  // plot-area edges in pixels
  std::string clip_id;
};

Frame make_frame(const PlotOptions& o, const Bounds& data, double pad_frac, const char* where) {
  RF_CHECK(o.width >= 120 && o.height >= 100 && o.width <= 20000 && o.height <= 20000,
           "plot size " + std::to_string(o.width) + "x" + std::to_string(o.height) +
               " is out of range",
           where, "use a width of 120..20000 and a height of 100..20000 pixels");
  Frame f;
  f.opt = &o;
  if (o.limits) {
    const auto& l = *o.limits;
    for (double v : l) {
      RF_CHECK(std::isfinite(v), "plot limits must be finite", where, "fix PlotOptions::limits");
    }
    RF_CHECK(l[0] < l[1] && l[2] < l[3], "plot limits must satisfy xmin < xmax and ymin < ymax",
             where, "fix PlotOptions::limits (order: xmin, xmax, ymin, ymax)");
    RF_CHECK((!o.logx || l[0] > 0.0) && (!o.logy || l[2] > 0.0),
             "log axis limits must be positive", where, "raise the lower limit above 0");
    f.x.lo = l[0], f.x.hi = l[1], f.x.log = o.logx;
    f.y.lo = l[2], f.y.hi = l[3], f.y.log = o.logy;
  } else {
    set_range(f.x, data.xmin, data.xmax, o.logx, pad_frac);
    set_range(f.y, data.ymin, data.ymax, o.logy, pad_frac);
  }
  const double w = o.width, h = o.height;
  f.top = o.title.empty() ? 12.0 : 30.0;
  f.bottom = h - (o.xlabel.empty() ? 24.0 : 38.0);
  f.right = w - 14.0;
  const int xtarget = std::max(2, o.width / 80), ytarget = std::max(2, o.height / 55);
  RF_CHECK(std::isfinite(f.x.hi - f.x.lo) && std::isfinite(f.y.hi - f.y.lo),
           "data range too large to plot", where, "rescale the data or set PlotOptions::limits");
  // Equal aspect changes the ranges, the ranges change the y labels, the labels change the left
  // margin; a few rounds settle it (the margin only ever grows, so it cannot oscillate).
  const bool equal = o.equal_aspect && !o.limits && !f.x.log && !f.y.log;
  for (int round = 0; round < 3; ++round) {
    make_ticks(f.y, ytarget);
    f.left = std::max(f.left, 10.0 + (o.ylabel.empty() ? 0.0 : 16.0) + label_width(f.y.labels));
    if (!equal) break;
    const double ux = (f.x.hi - f.x.lo) / (f.right - f.left);
    const double uy = (f.y.hi - f.y.lo) / (f.bottom - f.top);
    Axis& grow = ux < uy ? f.x : f.y;
    const double u = std::max(ux, uy);
    const double pixels = ux < uy ? f.right - f.left : f.bottom - f.top;
    const double mid = 0.5 * (grow.lo + grow.hi);
    grow.lo = mid - 0.5 * u * pixels;
    grow.hi = mid + 0.5 * u * pixels;
  }
  if (equal) make_ticks(f.y, ytarget);
  RF_CHECK(f.right - f.left >= 40.0 && f.bottom - f.top >= 40.0, "plot area too small for the labels",
           where, "increase PlotOptions::width/height");
  make_ticks(f.x, xtarget);
  f.x.p0 = f.left, f.x.p1 = f.right;
  f.y.p0 = f.bottom, f.y.p1 = f.top;
  // Identical clip rectangles get identical ids, so several plots inlined in one HTML page can
  // share an id harmlessly while differently sized plots never collide.
  f.clip_id = "rfclip-" + coord(f.left) + "-" + coord(f.top) + "-" + coord(f.right - f.left) + "-" +
              coord(f.bottom - f.top);
  for (char& c : f.clip_id)
    if (c == '.') c = '_';
  return f;
}

void open_svg(std::string& out, const Frame& f) {
  const PlotOptions& o = *f.opt;
  const std::string w = std::to_string(o.width), h = std::to_string(o.height);
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h +
         "\" viewBox=\"0 0 " + w + " " + h +
         "\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"11\">\n";
  out += "<rect width=\"" + w + "\" height=\"" + h + "\" fill=\"#fff\"/>\n";
  const std::string l = coord(f.left), r = coord(f.right), t = coord(f.top), b = coord(f.bottom);
  out += "<defs><clipPath id=\"" + f.clip_id + "\"><rect x=\"" + l + "\" y=\"" + t + "\" width=\"" +
         coord(f.right - f.left) + "\" height=\"" + coord(f.bottom - f.top) +
         "\"/></clipPath></defs>\n";
  // Grid and tick labels.
  out += "<g stroke=\"" + std::string(kGridColor) + "\" stroke-width=\"1\">";
  for (double v : f.x.ticks) {
    const std::string px = coord(f.x.map(v));
    out += "<line x1=\"" + px + "\" y1=\"" + t + "\" x2=\"" + px + "\" y2=\"" + b + "\"/>";
  }
  for (double v : f.y.ticks) {
    const std::string py = coord(f.y.map(v));
    out += "<line x1=\"" + l + "\" y1=\"" + py + "\" x2=\"" + r + "\" y2=\"" + py + "\"/>";
  }
  out += "</g>\n<g fill=\"" + std::string(kTextColor) + "\" text-anchor=\"middle\">";
  for (std::size_t i = 0; i < f.x.ticks.size(); ++i) {
    out += "<text x=\"" + coord(f.x.map(f.x.ticks[i])) + "\" y=\"" + coord(f.bottom + 14.0) + "\">" +
           xml_escape(f.x.labels[i]) + "</text>";
  }
  out += "</g>\n<g fill=\"" + std::string(kTextColor) + "\" text-anchor=\"end\">";
  for (std::size_t i = 0; i < f.y.ticks.size(); ++i) {
    out += "<text x=\"" + coord(f.left - 5.0) + "\" y=\"" + coord(f.y.map(f.y.ticks[i]) + 4.0) +
           "\">" + xml_escape(f.y.labels[i]) + "</text>";
  }
  out += "</g>\n<rect x=\"" + l + "\" y=\"" + t + "\" width=\"" + coord(f.right - f.left) +
         "\" height=\"" + coord(f.bottom - f.top) + "\" fill=\"none\" stroke=\"" + kAxisColor +
         "\"/>\n";
}

enum class Swatch { kDot, kLine, kLineDot };
struct LegendEntry {
  std::string label, color;
  Swatch swatch;
};

void close_svg(std::string& out, const Frame& f, const std::vector<LegendEntry>& legend) {
  const PlotOptions& o = *f.opt;
  std::vector<const LegendEntry*> shown;
  for (const auto& e : legend)
    if (!e.label.empty()) shown.push_back(&e);
  if (!shown.empty()) {
    double text = 0;
    for (const auto* e : shown) text = std::max(text, text_width(e->label));
    const double row = 15.0, bw = 36.0 + text;
    const double bh = 6.0 + row * static_cast<double>(shown.size());
    const double x0 = f.right - 6.0 - bw, y0 = f.top + 6.0;
    // class="legend" / "entry" let tests find each entry and the marks drawn in its colour.
    out += "<g class=\"legend\"><rect x=\"" + coord(x0) + "\" y=\"" + coord(y0) + "\" width=\"" + coord(bw) +
           "\" height=\"" + coord(bh) +
           "\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ccc\" rx=\"3\"/>";
    for (std::size_t i = 0; i < shown.size(); ++i) {
      const LegendEntry& e = *shown[i];
      const double cy = y0 + 3.0 + row * (static_cast<double>(i) + 0.5);
      const std::string color = xml_escape(e.color);
      out += "<g class=\"entry\" data-color=\"" + color + "\">";
      // Swatches are rects and lines, never circles, so circle counts equal drawn data points.
      if (e.swatch != Swatch::kDot) {
        out += "<line x1=\"" + coord(x0 + 6) + "\" y1=\"" + coord(cy) + "\" x2=\"" + coord(x0 + 24) +
               "\" y2=\"" + coord(cy) + "\" stroke=\"" + color + "\" stroke-width=\"2\"/>";
      }
      if (e.swatch != Swatch::kLine) {
        out += "<rect x=\"" + coord(x0 + 12) + "\" y=\"" + coord(cy - 3) +
               "\" width=\"6\" height=\"6\" rx=\"3\" fill=\"" + color + "\"/>";
      }
      out += "<text x=\"" + coord(x0 + 30) + "\" y=\"" + coord(cy + 4) + "\" fill=\"" + kTextColor +
             "\">" + xml_escape(e.label) + "</text></g>";
    }
    out += "</g>\n";
  }
  const double w = o.width, h = o.height;
  if (!o.title.empty()) {
    out += "<text x=\"" + coord(w / 2) + "\" y=\"19\" text-anchor=\"middle\" font-size=\"13\" "
           "font-weight=\"bold\" fill=\"" + std::string(kTextColor) + "\">" + xml_escape(o.title) +
           "</text>\n";
  }
  if (!o.xlabel.empty()) {
    out += "<text x=\"" + coord(0.5 * (f.left + f.right)) + "\" y=\"" + coord(h - 7) +
           "\" text-anchor=\"middle\" fill=\"" + kTextColor + "\">" + xml_escape(o.xlabel) +
           "</text>\n";
  }
  if (!o.ylabel.empty()) {
    out += "<text transform=\"translate(13," + coord(0.5 * (f.top + f.bottom)) +
           ") rotate(-90)\" text-anchor=\"middle\" fill=\"" + kTextColor + "\">" +
           xml_escape(o.ylabel) + "</text>\n";
  }
  out += "</svg>";
}

void check_style(const PointSet& s, const std::string& what, const char* where) {
  check_xy(s.x, s.y, what, where);
  RF_CHECK(std::isfinite(s.radius) && s.radius >= 0.0,
           what + " has an invalid radius " + fmt_general(s.radius, 6), where, "use a radius >= 0");
  RF_CHECK(std::isfinite(s.opacity) && s.opacity >= 0.0 && s.opacity <= 1.0,
           what + " has an invalid opacity " + fmt_general(s.opacity, 6), where,
           "use an opacity in [0, 1]");
}

// Points inside the axes as <circle>s in one group carrying the shared style.
void append_circles(std::string& out, const Frame& f, const std::vector<double>& x,
                    const std::vector<double>& y, const std::string& group_attrs, double radius) {
  out += "<g " + group_attrs + ">";
  const std::string r = "\" r=\"" + fmt_general(radius, 3) + "\"/>";
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!drawable(x[i], y[i], *f.opt) || !f.x.contains(x[i]) || !f.y.contains(y[i])) continue;
    out += "<circle cx=\"";
    append_coord(out, f.x.map(x[i]));
    out += "\" cy=\"";
    append_coord(out, f.y.map(y[i]));
    out += r;
  }
  out += "</g>\n";
}

void append_points(std::string& out, const Frame& f, const PointSet& s, const std::string& color) {
  append_circles(out, f, s.x, s.y,
                 "fill=\"" + xml_escape(color) + "\" fill-opacity=\"" + fmt_general(s.opacity, 3) + "\"",
                 s.radius);
}

// Path data for a polyline, restarting with M after every skipped vertex.
void append_path_data(std::string& out, const Frame& f, const std::vector<double>& x,
                      const std::vector<double>& y) {
  bool pen_down = false, in_line = false;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!drawable(x[i], y[i], *f.opt)) {
      pen_down = false;
      continue;
    }
    if (!pen_down) {
      out += 'M';
      in_line = false;
    } else {
      out += in_line ? ' ' : 'L';
      in_line = true;
    }
    append_coord(out, f.x.map(x[i]));
    out += ' ';
    append_coord(out, f.y.map(y[i]));
    pen_down = true;
  }
}

// Points of a series that no line reaches (a one-point series, a value between two gaps): without a
// marker they would be invisible while the legend lists the series.
void isolated_points(const Frame& f, const Series& s, std::vector<double>& x, std::vector<double>& y) {
  auto ok = [&](std::size_t i) { return drawable(s.x[i], s.y[i], *f.opt); };
  for (std::size_t i = 0; i < s.x.size(); ++i)
    if (ok(i) && (i == 0 || !ok(i - 1)) && (i + 1 == s.x.size() || !ok(i + 1)))
      x.push_back(s.x[i]), y.push_back(s.y[i]);
}

}  // namespace

const std::string& palette(std::size_t i) {
  static const std::string kColors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return kColors[i % (sizeof kColors / sizeof kColors[0])];
}

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

std::string svg_scatter(const std::vector<PointSet>& sets, const PlotOptions& options) {
  const char* where = "rflow::io::svg_scatter";
  Bounds b;
  for (std::size_t k = 0; k < sets.size(); ++k) {
    check_style(sets[k], "point set " + std::to_string(k), where);
    add_bounds(b, sets[k].x, sets[k].y, options);
  }
  const Frame f = make_frame(options, b, 0.04, where);
  std::string out;
  std::size_t total = 0;
  for (const auto& s : sets) total += s.x.size();
  out.reserve(2048 + 40 * total);
  open_svg(out, f);
  out += "<g clip-path=\"url(#" + f.clip_id + ")\">\n";
  std::vector<LegendEntry> legend;
  for (std::size_t k = 0; k < sets.size(); ++k) {
    const std::string& color = sets[k].color.empty() ? palette(k) : sets[k].color;
    append_points(out, f, sets[k], color);
    legend.push_back({sets[k].label, color, Swatch::kDot});
  }
  out += "</g>\n";
  close_svg(out, f, legend);
  return out;
}

std::string svg_trajectories(const std::vector<Polyline>& paths, const PointSet& starts,
                             const PointSet& ends, const PlotOptions& options) {
  const char* where = "rflow::io::svg_trajectories";
  Bounds b;
  for (std::size_t k = 0; k < paths.size(); ++k) {
    check_xy(paths[k].x, paths[k].y, "trajectory " + std::to_string(k), where);
    add_bounds(b, paths[k].x, paths[k].y, options);
  }
  check_style(starts, "start points", where);
  check_style(ends, "end points", where);
  add_bounds(b, starts.x, starts.y, options);
  add_bounds(b, ends.x, ends.y, options);
  const Frame f = make_frame(options, b, 0.04, where);
  std::string out;
  out.reserve(4096 + 40 * (starts.x.size() + ends.x.size()) + 20 * paths.size() * 16);
  open_svg(out, f);
  out += "<g clip-path=\"url(#" + f.clip_id + ")\">\n";
  out += "<g fill=\"none\" stroke=\"" + std::string(kTrajectoryColor) +
         "\" stroke-opacity=\"0.3\" stroke-width=\"0.7\" stroke-linejoin=\"round\">";
  for (const auto& p : paths) {
    std::string d;
    append_path_data(d, f, p.x, p.y);
    if (!d.empty()) out += "<path d=\"" + d + "\"/>";
  }
  out += "</g>\n";
  const std::string& cs = starts.color.empty() ? palette(0) : starts.color;
  const std::string& ce = ends.color.empty() ? palette(1) : ends.color;
  append_points(out, f, starts, cs);
  append_points(out, f, ends, ce);
  out += "</g>\n";
  close_svg(out, f, {{starts.label, cs, Swatch::kDot}, {ends.label, ce, Swatch::kDot}});
  return out;
}

std::string svg_curves(const std::vector<Series>& series, const PlotOptions& options) {
  const char* where = "rflow::io::svg_curves";
  Bounds b;
  for (std::size_t k = 0; k < series.size(); ++k) {
    check_xy(series[k].x, series[k].y, "series " + std::to_string(k), where);
    add_bounds(b, series[k].x, series[k].y, options);
  }
  const Frame f = make_frame(options, b, 0.03, where);
  std::string out;
  open_svg(out, f);
  out += "<g clip-path=\"url(#" + f.clip_id + ")\">\n";
  std::vector<LegendEntry> legend;
  std::string dots;  // after the clipped lines, unclipped: a point on the frame's edge shows whole
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const std::string color = xml_escape(s.color.empty() ? palette(k) : s.color);
    std::string d;
    append_path_data(d, f, s.x, s.y);
    const bool has_line = d.find('L') != std::string::npos;  // a lone "M x y" draws nothing
    if (has_line) {
      out += "<path d=\"" + d + "\" fill=\"none\" stroke=\"" + color +
             "\" stroke-width=\"1.6\" stroke-linejoin=\"round\"/>\n";
    }
    Swatch swatch = s.markers ? Swatch::kLineDot : Swatch::kLine;
    if (s.markers) {
      append_circles(dots, f, s.x, s.y, "fill=\"" + color + "\"", 2.4);
    } else {
      std::vector<double> ix, iy;
      isolated_points(f, s, ix, iy);
      if (!ix.empty()) append_circles(dots, f, ix, iy, "fill=\"" + color + "\"", 3.2);
      if (!ix.empty() && !has_line) swatch = Swatch::kDot;  // nothing but dots: the legend shows a dot
    }
    legend.push_back({s.label, s.color.empty() ? palette(k) : s.color, swatch});
  }
  out += "</g>\n" + dots;
  close_svg(out, f, legend);
  return out;
}

}  // namespace rflow::io

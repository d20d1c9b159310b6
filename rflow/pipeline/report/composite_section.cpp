#include "rflow/pipeline/report/composite_section.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "rflow/io/atomic_file.h"
#include "rflow/io/svg.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

std::string percent(double v) { return short_number(100 * v, 3) + "%"; }

void accuracy_curves(io::HtmlReport& rep, const std::vector<EvaluatedModel>& models, const std::string& view) {
  std::vector<io::Series> series = score_vs_nfe(models, "compositional_accuracy");
  if (series.empty()) return;
  double xmin = 1e30, xmax = 0;
  for (const auto& s : series)
    for (double x : s.x) xmin = std::min(xmin, x), xmax = std::max(xmax, x);
  const double ceiling = models.front().eval.floor_score("compositional_accuracy");
  series.push_back(io::Series{"real composites", {xmin, xmax}, {ceiling, ceiling}, "#9e9e9e", false});
  io::PlotOptions o;
  o.title = "compositional accuracy vs NFE" + (view.empty() ? "" : " (" + view + ")");
  o.xlabel = "NFE";
  o.ylabel = "compositional accuracy";
  o.logx = true;
  rep.figure_row({{"every model and solver", io::svg_curves(series, o)}});
}

void grids(io::HtmlReport& rep, const std::vector<EvaluatedModel>& models) {
  rep.heading("Samples and their captions");
  // Each shape's real composites and captions once, before the first model drawn in it (all models
  // of a shape are asked for the same captions).
  std::set<std::string> shown;
  for (const auto& [cm, met] : models) {
    const fs::path evd(cm.eval_dir);
    if (shown.insert(cm.view).second) {
      const std::string of = cm.view.empty() ? "" : " (" + cm.view + ")";
      if (fs::exists(evd / "captions.txt"))
        rep.collapsed("the captions of every grid" + of + ", row by row (8 to a row)", io::read_file((evd / "captions.txt").string()));
      if (fs::exists(evd / "reference.png"))
        rep.image_row({{"real composites" + of, io::read_file((evd / "reference.png").string())}});
    }
    std::vector<std::pair<std::string, std::string>> pngs;
    for (const auto& r : met.results) {
      const fs::path p = evd / "samples" / (r.tag + ".png");
      if (!fs::exists(p) || !(r.solver == "euler" || r.tag == r.solver)) continue;
      pngs.emplace_back(cm.label + ", " + r.solver + " NFE " + short_number(r.nfe, 3) + " — " +
                            percent(r.score("compositional_accuracy")),
                        io::read_file(p.string()));
    }
    if (!pngs.empty()) rep.image_row(pngs);
  }
}

}  // namespace

bool composite_sections(io::HtmlReport& rep, const RunConfig& cfg, const std::string&,
                        const std::vector<EvaluatedModel>& all) {
  // One table and figure per layout (a model of several layouts is judged in each, against real
  // composites of that layout), in the order the layouts were evaluated.
  std::vector<std::pair<std::string, std::vector<EvaluatedModel>>> views;
  for (const auto& m : all) {
    if (!m.eval.floor.count("compositional_accuracy")) continue;
    auto it = std::find_if(views.begin(), views.end(), [&](const auto& v) { return v.first == m.model.view; });
    if (it == views.end()) it = views.insert(views.end(), {m.model.view, {}});
    it->second.push_back(m);
  }
  if (views.empty()) return false;
  const auto& first = views.front().second.front().eval;
  rep.heading("Compositional accuracy");
  rep.paragraph("Every generated image is cut into its 28×28 cells and each cell is read by the independent judge "
                "network (" + first.judge.id + ", test accuracy " + percent(first.judge.test_accuracy) +
                "), which no model saw in training. Cells: compositional accuracy (every garment the caption names, in its "
                "place) / cell accuracy / FID-proxy of the cells against the " + first.reference +
                ". The last row is real composites of the same captions, judged the same way: the judge's own ceiling." +
                (views.size() > 1 ? " One model draws every layout; each is judged on its own captions." : ""));
  for (const auto& [view, models] : views) {
    if (!view.empty()) rep.heading(view + " composites", 3);
    const auto& floor = models.front().eval;
    score_table(
        rep, cfg, models,
        [](const eval::SolverResult& r) {
          return percent(r.score("compositional_accuracy")) + " / " + percent(r.score("cell_accuracy")) + " / " +
                 short_number(r.score("fid_proxy"), 3);
        },
        percent(floor.floor_score("compositional_accuracy")) + " / " + percent(floor.floor_score("cell_accuracy")) +
            " / " + short_number(floor.floor_score("fid_proxy"), 3),
        "(real composites)");
    accuracy_curves(rep, models, view);
  }
  std::vector<EvaluatedModel> judged;
  for (const auto& v : views) judged.insert(judged.end(), v.second.begin(), v.second.end());
  grids(rep, judged);
  return true;
}

}  // namespace rflow

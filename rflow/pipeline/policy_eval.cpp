#include "rflow/pipeline/policy_eval.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/grid_maze.h"
#include "rflow/eval/maze_rollout.h"
#include "rflow/io/html_report.h"
#include "rflow/io/svg.h"
#include "rflow/pipeline/report_parts.h"

namespace rflow {

namespace {


PolicyEvaluation maze_eval(LoadedModel& m, const PolicyEvalOptions& opt) {
  const auto& mo = m.cfg.data.target.get<MazeOptions>("maze");
  const GridMaze maze = GridMaze::named(mo.layout);
  eval::RolloutOptions ro;
  ro.episodes = opt.episodes, ro.execute = opt.execute, ro.solve = opt.solve;
  const eval::RolloutResult r = eval::rollout_maze(*m.model, maze, ro);
  PolicyEvaluation out;
  out.summary = {{"task", "maze"},
                 {"layout", mo.layout},
                 {"episodes", r.episodes},
                 {"success_rate", r.success_rate},
                 {"nfe_per_chunk", r.mean_nfe},
                 {"chunks_per_episode", r.chunks_per_episode},
                 {"distinct_routes", r.distinct_routes},
                 {"route_entropy_bits", r.route_entropy_bits},
                 {"shortest_routes_in_maze", maze.shortest_routes()},
                 {"collisions_per_episode", r.collisions_per_episode}};
  out.svg = maze_paths_svg(maze, r.paths);
  return out;
}

PolicyEvaluation fork_eval(LoadedModel& m, const PolicyEvalOptions& opt) {
  PolicyEvaluation out;
  io::PointSet one{"1 step", {}, {}, "", 1.6, 0.5}, more{"more steps", {}, {}, "", 1.6, 0.5};
  nlohmann::json rows = nlohmann::json::array();
  double nfe_left = 0, nfe_right = 0;
  int left = 0, right = 0;
  for (int i = 0; i <= 20; ++i) {
    const float obs = -10.0f + i;
    Cond c;
    c.extra["obs"] = torch::full({opt.samples, 1}, obs);
    const SolveResult r = solve(*m.model, torch::randn({opt.samples, 1}), opt.solve, c);
    const double nfe = r.nfe.to(torch::kFloat64).mean().item<double>();
    const at::Tensor y = r.x.view({-1});
    rows.push_back({{"obs", obs},
                    {"nfe_mean", nfe},
                    {"action_mean", y.mean().item<double>()},
                    {"action_abs_mean", y.abs().mean().item<double>()},
                    {"share_positive", (y > 0).to(torch::kFloat64).mean().item<double>()}});
    (obs <= 0 ? nfe_left : nfe_right) += nfe;
    ++(obs <= 0 ? left : right);
    for (int64_t j = 0; j < opt.samples; ++j) {
      auto& set = r.nfe[j].item<int64_t>() <= 1 ? one : more;
      set.x.push_back(obs + 0.3 * (double(j) / opt.samples - 0.5));
      set.y.push_back(y[j].item<double>());
    }
  }
  out.summary = {{"task", "fork1d"},
                 {"nfe_mean_obs_le_0", nfe_left / left},
                 {"nfe_mean_obs_gt_0", nfe_right / right},
                 {"per_obs", rows}};
  io::PlotOptions po;
  po.title = "actions by observation (" + opt.solve.method + ")";
  po.xlabel = "observation";
  po.ylabel = "action";
  out.svg = io::svg_scatter({more, one}, po);  // the one-step dots on top
  return out;
}

PolicyEvaluation demos_eval(LoadedModel& m, const PolicyEvalOptions& opt) {
  auto [actions, cond] = m.data->target().sample_conditioned(opt.samples);
  const SolveResult r = solve(*m.model, m.data->source().sample(opt.samples), opt.solve, cond);
  PolicyEvaluation out;
  out.summary = {{"task", "demos (open loop)"},
                 {"samples", opt.samples},
                 {"nfe_mean", r.nfe.to(torch::kFloat64).mean().item<double>()},
                 {"mse_to_demonstration", (r.x - actions).pow(2).mean().item<double>()}};
  return out;
}

}  // namespace

std::string maze_paths_svg(const GridMaze& maze, const std::vector<std::vector<std::pair<int, int>>>& paths) {
  const int cell = 28, w = maze.width() * cell, h = maze.height() * cell;
  std::ostringstream s;
  s.imbue(std::locale::classic());
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w
    << " " << h << "\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>";
  for (int r = 0; r < maze.height(); ++r)
    for (int c = 0; c < maze.width(); ++c)
      if (!maze.free({c, r}))
        s << "<rect x=\"" << c * cell << "\" y=\"" << r * cell << "\" width=\"" << cell << "\" height=\"" << cell
          << "\" fill=\"#444\"/>";
  // Routes ranked by how often they were taken; each episode slightly offset so overlaps show.
  std::map<std::vector<std::pair<int, int>>, int> count;
  for (const auto& p : paths) ++count[p];
  std::vector<std::pair<int, std::vector<std::pair<int, int>>>> ranked;
  for (const auto& [p, n] : count) ranked.push_back({n, p});
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::map<std::vector<std::pair<int, int>>, size_t> colour;
  for (size_t i = 0; i < ranked.size(); ++i) colour[ranked[i].second] = i;
  for (size_t e = 0; e < paths.size(); ++e) {
    const double off = (double(e % 9) - 4.0) * 1.2;
    s << "<polyline fill=\"none\" stroke-width=\"1.5\" stroke-opacity=\"0.5\" stroke=\""
      << io::palette(colour[paths[e]]) << "\" points=\"";
    for (const auto& [c, r] : paths[e]) s << short_number((c + 0.5) * cell + off) << "," << short_number((r + 0.5) * cell + off) << " ";
    s << "\"/>";
  }
  auto mark = [&](std::pair<int, int> c, const char* label, const char* color) {
    s << "<circle cx=\"" << (c.first + 0.5) * cell << "\" cy=\"" << (c.second + 0.5) * cell << "\" r=\"9\" fill=\""
      << color << "\"/><text x=\"" << (c.first + 0.5) * cell << "\" y=\"" << (c.second + 0.5) * cell + 4
      << "\" font-size=\"11\" font-family=\"sans-serif\" text-anchor=\"middle\" fill=\"#fff\">" << label << "</text>";
  };
  mark(maze.start(), "S", "#2a7");
  mark(maze.goal(), "G", "#c33");
  s << "</svg>\n";
  return s.str();
}

void write_policy_report(const LoadedModel& m, const PolicyEvaluation& e, const std::string& path) {
  namespace fs = std::filesystem;
  // The run directory: above checkpoints/step_*, else the checkpoint's own folder.
  fs::path run = fs::path(m.checkpoint);
  if (run.parent_path().filename() == "checkpoints") run = run.parent_path().parent_path();
  io::HtmlReport rep("rflow policy: " + m.cfg.name);
  rep.heading("Evaluation");
  std::vector<std::pair<std::string, std::string>> facts;
  for (const auto& [k, v] : e.summary.items())
    if (k != "per_obs") facts.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  rep.key_values(facts);
  if (e.summary.contains("per_obs")) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : e.summary.at("per_obs"))
      rows.push_back({short_number(r.at("obs").get<double>()), short_number(r.at("nfe_mean").get<double>()),
                      short_number(r.at("action_abs_mean").get<double>()), short_number(r.at("share_positive").get<double>())});
    rep.table({"observation", "mean NFE", "mean |action|", "share > 0"}, rows);
  }
  std::vector<std::pair<std::string, std::string>> figures;
  if (!e.svg.empty())
    figures.emplace_back(e.summary.value("task", "") == "maze" ? "every episode's path (one colour per route)"
                                                               : "actions by observation",
                         e.svg);
  for (auto& f : training_figures((run / "metrics.jsonl").string())) figures.push_back(std::move(f));
  // AdaFlow's loss adds the variance head's NLL, which goes below zero as σ shrinks: its two parts
  // apart (the flow's error on a log axis, the NLL and the mean σ on linear ones).
  io::Series flow{"flow loss", {}, {}, "", false}, nll{"variance NLL", {}, {}, "", false},
      sigma{"mean σ", {}, {}, "", false};
  if (std::ifstream in((run / "metrics.jsonl").string()); in) {
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("step") || !j.contains("variance_nll")) continue;
      const double step = j.at("step").get<double>();
      flow.x.push_back(step), flow.y.push_back(j.value("flow_loss", std::nan("")));
      nll.x.push_back(step), nll.y.push_back(j.at("variance_nll").get<double>());
      sigma.x.push_back(step), sigma.y.push_back(j.value("sigma_mean", std::nan("")));
    }
  }
  if (!nll.x.empty()) {
    io::PlotOptions po;
    po.xlabel = "step";
    po.title = "flow loss";
    po.logy = true;
    figures.emplace_back("the flow's share of the loss (flow matching)", io::svg_curves({flow}, po));
    po.title = "variance head";
    po.logy = false;
    figures.emplace_back("the variance head's NLL and its mean σ", io::svg_curves({nll, sigma}, po));
  }
  if (!figures.empty()) {
    rep.heading("Pictures");
    rep.figure_row(figures);
  }
  rep.heading("Run");
  rep.key_values(run_metadata(run.string()));
  rep.collapsed("config: keys that differ from the defaults", non_default_keys(m.cfg));
  rep.save(path);
}

PolicyEvaluation evaluate_policy(LoadedModel& m, const PolicyEvalOptions& opt) {
  RF_CHECK(m.data && m.data->target().obs_dim() > 0, "not a policy: its data draws no observations", m.checkpoint,
           "policies train on data.target.name = maze, fork1d or demos");
  opt.solve.validate("policy eval");
  RF_CHECK(opt.episodes >= 1 && opt.samples >= 1 && opt.execute >= 1, "episodes, samples and execute must be >= 1",
           "policy eval", "");
  torch::NoGradGuard ng;
  seed_all(opt.seed);
  const std::string& task = m.cfg.data.target.name;
  if (task == "maze") return maze_eval(m, opt);
  if (task == "fork1d") return fork_eval(m, opt);
  return demos_eval(m, opt);
}

}  // namespace rflow

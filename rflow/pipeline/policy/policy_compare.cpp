#include "rflow/pipeline/policy/policy_compare.h"

#include <sstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/html_report.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/policy/policy_task.h"
#include "rflow/pipeline/report/report_parts.h"

namespace rflow {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

double number(const std::string& text, const std::string& spec, const std::string& where) {
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  double v = 0;
  RF_CHECK(!text.empty() && (in >> v) && in.eof() && std::isfinite(v), "'" + spec + "': '" + text + "' is not a number",
           where, "e.g. adaflow:0.5,euler:1,euler:20");
  return v;
}

bool has_variance_head(LoadedModel& m) {
  std::vector<int64_t> shape{1};
  for (auto s : m.model->sample_shape()) shape.push_back(s);
  Cond c;
  c.extra["obs"] = torch::zeros({1, m.data->target().obs_dim()});
  torch::NoGradGuard ng;
  return m.model->variance(torch::zeros(shape), torch::zeros({1}), c).defined();
}

}  // namespace

std::vector<SamplerSpec> parse_samplers(const std::string& list, const std::string& where) {
  std::vector<SamplerSpec> out;
  for (const std::string& spec : split(list, ',')) {
    RF_CHECK(!spec.empty(), "an empty sampler in '" + list + "'", where, "e.g. adaflow:0.5,euler:1,euler:20");
    const auto parts = split(spec, ':');
    SamplerSpec s;
    s.label = spec;
    s.solve.method = parts[0];
    RF_CHECK(solvers().contains(parts[0]), "'" + spec + "': unknown solver '" + parts[0] + "'", where,
             "solvers: " + solvers().joined());
    if (solvers().get(parts[0])()->needs_variance()) {
      RF_CHECK(parts.size() == 2 || parts.size() == 3, "'" + spec + "': adaflow takes η and optionally the most steps",
               where, "adaflow:0.5 or adaflow:0.5:10");
      s.field.eta = number(parts[1], spec, where);
      s.solve.steps = parts.size() == 3 ? static_cast<int64_t>(number(parts[2], spec, where)) : 10;
    } else {
      RF_CHECK(parts.size() == 2 && solvers().get(parts[0])()->nfe_per_step() > 0,
               "'" + spec + "': give a fixed-step solver and its steps", where, "e.g. euler:20 or heun:5");
      s.solve.steps = static_cast<int64_t>(number(parts[1], spec, where));
    }
    s.solve.validate(where + " '" + spec + "'");
    s.field.validate(where + " '" + spec + "'");
    out.push_back(std::move(s));
  }
  RF_CHECK(!out.empty(), "no samplers", where, "e.g. adaflow:0.5,euler:1,euler:20");
  return out;
}

nlohmann::json compare_policies(const std::vector<std::string>& runs, const std::vector<SamplerSpec>& samplers,
                                const PolicyEvalOptions& base, const std::string& html) {
  RF_CHECK(!runs.empty(), "no runs to compare", "rflow policy compare", "give one or more policy run directories");
  nlohmann::json rows = nlohmann::json::array();
  std::string task;
  std::vector<std::vector<std::string>> table;
  std::vector<std::pair<std::string, std::string>> figures;
  for (const std::string& run : runs) {
    LoadedModel m = load_model(run, /*use_ema=*/true, c10::Device(c10::kCPU));
    RF_CHECK(m.data && m.data->target().obs_dim() > 0, "not a policy: its data draws no observations", run,
             "policies train on data.target.name = maze, fork1d or demos");
    const std::string this_task = m.cfg.data.target.name;
    if (task.empty()) task = this_task;
    RF_CHECK(this_task == task, "policies of different tasks (" + task + ", " + this_task + ")", run,
             "compare runs trained on the same data.target");
    const bool one_step = methods().get(m.cfg.method.name, "method.name").one_step_map;
    const bool head = has_variance_head(m);
    const std::string model = describe_model(m.cfg.model);
    // Behaviour cloning regresses the mean action: a one-step map, so one Euler step is its only sampler.
    std::vector<SamplerSpec> mine = samplers;
    if (one_step) mine = {SamplerSpec{"euler:1", SolveOptions{}, FieldOptions{}}}, mine[0].solve.steps = 1;
    for (const SamplerSpec& s : mine) {
      nlohmann::json row = {{"run", m.cfg.name}, {"method", m.cfg.method.name}, {"model", model},
                            {"training_steps", m.step}, {"sampler", s.label}};
      std::string skip;
      if (solvers().get(s.solve.method, "solver")()->needs_variance() && !head)
        skip = "no variance head";
      std::vector<std::string> cells{m.cfg.name, m.cfg.method.name, model, std::to_string(m.step), s.label};
      if (!skip.empty()) {
        row["skipped"] = skip;
        cells.push_back("— (" + skip + ")");
      } else {
        PolicyEvalOptions opt = base;
        opt.solve = s.solve, opt.field = s.field;
        spdlog::info("policy compare: {} with {}", m.cfg.name, s.label);
        const PolicyEvaluation e = evaluate_policy(m, opt);
        for (const auto& [column, key] : policy_task(task).columns) {
          row[key] = e.summary.at(key);
          cells.push_back(short_number(e.summary.at(key).get<double>()));
        }
        if (!e.svg.empty())
          figures.emplace_back(m.cfg.name + " (" + std::to_string(m.step) + " steps) · " + s.label, e.svg);
      }
      rows.push_back(row);
      table.push_back(std::move(cells));
    }
  }
  if (!html.empty()) {
    io::HtmlReport rep("rflow policy compare");
    rep.heading("Policies and samplers side by side");
    std::ostringstream what;
    what << "Task: " << policy_task_name(task) << " (" << task << "). ";
    what << policy_task(task).measured(base);
    rep.paragraph(what.str());
    std::vector<std::string> header{"run", "method", "model", "training steps", "sampler"};
    for (const auto& [column, key] : policy_task(task).columns) header.push_back(column);
    rep.table(header, table);
    if (!figures.empty()) {
      rep.heading("Pictures");
      rep.figure_row(figures);
    }
    rep.save(html);
  }
  return rows;
}

}  // namespace rflow

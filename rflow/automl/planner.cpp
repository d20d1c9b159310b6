#include "rflow/automl/planner.h"

#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "rflow/core/error.h"

namespace rflow::automl {

std::unique_ptr<Planner> make_llm_planner();

namespace {

// Floats in their shortest form (0.005, not 0.0050000000000000001).
constexpr auto kFormat = toml::toml_formatter::default_flags | toml::format_flags::relaxed_float_precision;

class RulesPlanner : public Planner {
 public:
  Plan plan(const PlanRequest& r) override { return plan_by_rules(r); }
};

std::string list_of(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// key=value settings (dotted keys) as one table; a later setting of a key wins.
toml::table table_of(const std::vector<std::string>& settings) {
  toml::table t;
  for (const auto& s : settings) {
    const auto eq = s.find('=');
    const std::string key = s.substr(0, eq), value = s.substr(eq + 1);
    // A TOML value, else plain text (as `--set` reads it: key=uniform is the text "uniform").
    toml::table parsed;
    try {
      parsed = toml::parse("v = " + value);
    } catch (const toml::parse_error&) {
      parsed.insert_or_assign("v", value);
    }
    toml::table* at = &t;
    std::istringstream parts(key);
    std::vector<std::string> path;
    for (std::string part; std::getline(parts, part, '.');) path.push_back(part);
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      if (!at->get(path[i]) || !at->get(path[i])->is_table()) at->insert_or_assign(path[i], toml::table{});
      at = at->get(path[i])->as_table();
    }
    parsed.get("v")->visit([&](auto&& node) { at->insert_or_assign(path.back(), node); });
  }
  return t;
}

}  // namespace

Registry<PlannerFactory>& planners() {
  static Registry<PlannerFactory> r = [] {
    Registry<PlannerFactory> r("planner");
    r.add("rules", "deterministic: the cards' defaults fitted to the budget by measuring this machine (no network)",
          [] { return std::unique_ptr<Planner>(new RulesPlanner); });
    r.add("llm", "the rules' plan, then a language model behind an OpenAI-compatible endpoint proposes the settings (checked against the card)",
          make_llm_planner);
    return r;
  }();
  return r;
}

std::string compose_prompt(const DataCard& d, const ModelCard& m, const Budget& b) {
  std::string shape;
  for (int64_t s : d.shape) shape += (shape.empty() ? "" : "×") + std::to_string(s);
  std::string tunable;
  for (const auto& p : m.tunable.params)
    tunable += (tunable.empty() ? "" : "; ") + p.key + (p.categorical() ? " in {" + list_of(p.choices) + "}" : fmt::format(" in [{}, {}]", p.low, p.high));
  std::string rules;
  for (const auto& c : m.constraints) rules += (rules.empty() ? "" : "; ") + c.key + " divisible by " + list_of(c.divisible_by);
  return fmt::format(
      "Assume we have a data card: name {}; modality {}; {}; examples {}; {}; {}. "
      "And a model card: name {}; family {}; {}; defaults {}; tunable {}; rules {}. "
      "Evaluation metric and requests: {}; "
      "use at most {} cores, {} minutes and {} GiB of memory. "
      "Give the data processing, the model architecture, the hyperparameters and a predicted training log.",
      d.name, d.modality, d.description, d.size == 0 ? std::string("unlimited (drawn on demand)") : std::to_string(d.size),
      "shape " + shape, d.classes > 0 ? std::to_string(d.classes) + " classes" : std::string("unlabelled"), m.name, m.family,
      m.description, list_of(m.settings), tunable.empty() ? std::string("none") : tunable, rules.empty() ? std::string("none") : rules,
      modality_of(d.modality, "data card " + d.name).searched ? "minimise " + d.metric + " of samples drawn with 4 Euler steps"
                                                               : d.metric + " of the policy run closed loop",
      b.cores > 0 ? std::to_string(b.cores) : std::string("this machine's"), b.minutes, b.memory_gb);
}

std::string run_config_toml(const Plan& plan, const std::string& header) {
  std::ostringstream out;
  out << header << "\n" << toml::toml_formatter(table_of(plan.run_settings), kFormat) << "\n";
  return out.str();
}

std::string search_file_toml(const Plan& plan, const std::string& header) {
  toml::table t = table_of(plan.search_settings);
  toml::array space, constraints;
  for (const auto& p : plan.space.params) {
    toml::table e{{"key", p.key}};
    if (p.categorical()) {
      toml::array c;
      for (const auto& v : p.choices) c.push_back(v);
      e.insert("choices", c);
    } else {
      if (p.integer()) e.insert("kind", "int"), e.insert("low", int64_t(p.low)), e.insert("high", int64_t(p.high));
      else e.insert("low", p.low), e.insert("high", p.high);
      if (p.log) e.insert("log", true);
    }
    space.push_back(e);
  }
  for (const auto& c : plan.constraints) {
    toml::array by;
    for (const auto& d : c.divisible_by) by.push_back(d);
    toml::table e{{"key", c.key}, {"divisible_by", by}};
    if (!c.why.empty()) e.insert("why", c.why);
    constraints.push_back(e);
  }
  t.insert("space", space);
  if (!constraints.empty()) t.insert("constraint", constraints);
  std::ostringstream out;
  out << header << "\n" << toml::toml_formatter(t, kFormat) << "\n";
  return out.str();
}

}  // namespace rflow::automl

// The language-model planner: the rules' plan (budget, batch, length, space: measured, not asked),
// then the prompt paragraph sent to an OpenAI-compatible chat endpoint the user names, which
// answers with settings for the tunable keys and its predicted training log. Each setting is
// checked against the search space (key, range, choices) and the card's rules; what fails is
// dropped and said. The predicted log is kept as the model's guess beside the measured times.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rflow/automl/planner.h"
#include "rflow/core/error.h"
#include "rflow/automl/trial_rules.h"

namespace rflow::automl {

namespace {

std::string instructions(const Plan& plan) {
  std::string keys;
  for (const auto& p : plan.space.params) {
    std::string choices;
    for (const auto& c : p.choices) choices += (choices.empty() ? "" : ", ") + c;
    keys += "\n- " + p.key + (p.categorical() ? ": one of " + choices : fmt::format(": {} in [{}, {}]", p.integer() ? "an integer" : "a number", p.low, p.high));
  }
  std::string steps;
  for (const auto& r : plan.predicted_log) steps += (steps.empty() ? "" : ", ") + std::to_string(r.steps);
  return "You plan the training of a rectified-flow generative model. Answer with one JSON object and nothing else: "
         "{\"settings\": {key: value}, \"predicted_log\": [{\"steps\": n, \"metric\": m}], \"notes\": \"one paragraph\"}. "
         "Settings may use only these keys:" + keys + "\nPredict the metric at steps " + steps + ".";
}

// The reply's JSON object (a model may wrap it in prose or a ``` fence).
nlohmann::json reply_object(const std::string& content) {
  const auto a = content.find('{'), b = content.rfind('}');
  RF_CHECK(a != std::string::npos && b != std::string::npos && b > a, "the language model's answer holds no JSON object",
           "llm planner", "use a model that follows instructions, or the rules planner");
  try {
    return nlohmann::json::parse(content.substr(a, b - a + 1));
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("the language model's answer is not valid JSON: ") + e.what(), "llm planner", "run it again or use the rules planner");
  }
}

std::string ask(const PlanRequest& r, const Plan& plan) {
  const auto scheme_end = r.llm_endpoint.find("://");
  RF_CHECK(scheme_end != std::string::npos, "the endpoint '" + r.llm_endpoint + "' is not a URL", "--llm-endpoint",
           "e.g. http://localhost:8080/v1 (the base URL an OpenAI client takes)");
  const auto path_at = r.llm_endpoint.find('/', scheme_end + 3);
  const std::string host = r.llm_endpoint.substr(0, path_at);
  std::string path = path_at == std::string::npos ? "" : r.llm_endpoint.substr(path_at);
  while (!path.empty() && path.back() == '/') path.pop_back();
  httplib::Client client(host);
  client.set_connection_timeout(10);
  client.set_read_timeout(300);
  httplib::Headers headers;
  if (!r.llm_key.empty()) headers.emplace("Authorization", "Bearer " + r.llm_key);
  nlohmann::json messages = nlohmann::json::array();
  messages.push_back({{"role", "system"}, {"content", instructions(plan)}});
  messages.push_back({{"role", "user"}, {"content", plan.prompt}});
  const nlohmann::json body{{"model", r.llm_model}, {"temperature", 0}, {"messages", messages}};
  const auto res = client.Post(path + "/chat/completions", headers, body.dump(), "application/json");
  RF_CHECK(static_cast<bool>(res), "cannot reach the language model: " + httplib::to_string(res.error()), r.llm_endpoint + path + "/chat/completions",
           "check the endpoint, or plan without --planner llm (the rules planner needs no network)");
  RF_CHECK(res->status == 200, fmt::format("the language model answered HTTP {}: {}", res->status, res->body.substr(0, 300)),
           r.llm_endpoint, "check --llm-model and the key (RFLOW_LLM_KEY)");
  try {
    return nlohmann::json::parse(res->body).at("choices").at(0).at("message").at("content").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("not an OpenAI chat completion: ") + e.what(), r.llm_endpoint, "the endpoint must speak /v1/chat/completions");
  }
}

// Why a proposed value does not fit the parameter ("" when it does).
std::string misfit(const ParamSpec& p, const nlohmann::json& v, std::string* text) {
  if (p.categorical()) {
    *text = v.is_string() ? v.get<std::string>() : v.dump();
    return std::count(p.choices.begin(), p.choices.end(), *text) ? "" : "not one of the choices";
  }
  if (!v.is_number()) return "not a number";
  const double x = v.get<double>();
  *text = p.integer() ? std::to_string(int64_t(std::llround(x))) : fmt::format("{:.6g}", x);
  return x >= p.low && x <= p.high ? "" : fmt::format("outside [{}, {}]", p.low, p.high);
}

void apply_answer(const nlohmann::json& answer, Plan& plan) {
  const nlohmann::json settings = answer.value("settings", nlohmann::json::object());
  std::vector<std::string> taken;
  for (const auto& [key, v] : settings.items()) {
    const auto it = std::find_if(plan.space.params.begin(), plan.space.params.end(), [&](const ParamSpec& p) { return p.key == key; });
    std::string text, why = it == plan.space.params.end() ? "not a tunable key" : misfit(*it, v, &text);
    if (!why.empty()) {
      plan.notes.push_back("language model: ignored " + key + " = " + v.dump() + " (" + why + ")");
      continue;
    }
    taken.push_back(key + "=" + text);
  }
  std::vector<std::string> trial = plan.run_settings;
  trial.insert(trial.end(), taken.begin(), taken.end());
  if (std::string why; !keeps(plan.constraints, resolved_config("", trial), &why)) {
    plan.notes.push_back("language model: its settings break the card's rule (" + why + "); the rules' settings are kept");
    return;
  }
  plan.run_settings = trial;
  for (const auto& t : taken) plan.notes.push_back("language model: " + t);
  for (const auto& row : answer.value("predicted_log", nlohmann::json::array()))
    for (auto& p : plan.predicted_log)
      if (row.is_object() && row.value("steps", int64_t(-1)) == p.steps && row.contains("metric") && row["metric"].is_number())
        p.metric = row["metric"].get<double>(), plan.metric_source = "the language model's guess";
  if (answer.contains("notes") && answer["notes"].is_string()) plan.notes.push_back("language model's notes: " + answer["notes"].get<std::string>());
}

class LlmPlanner : public Planner {
 public:
  Plan plan(const PlanRequest& r) override {
    RF_CHECK(!r.llm_endpoint.empty(), "the llm planner needs an endpoint", "--llm-endpoint",
             "give an OpenAI-compatible base URL (e.g. http://localhost:8080/v1) or RFLOW_LLM_ENDPOINT");
    Plan plan = plan_by_rules(r);
    for (auto& row : plan.predicted_log) row.metric = NAN;  // only the model's guesses from here on
    plan.metric_source.clear();
    spdlog::info("plan: asking {} ({})", r.llm_endpoint, r.llm_model);
    apply_answer(reply_object(ask(r, plan)), plan);
    return plan;
  }
};

}  // namespace

std::unique_ptr<Planner> make_llm_planner() { return std::make_unique<LlmPlanner>(); }

}  // namespace rflow::automl

// `rflow auto search | show | best SEARCH.toml`: automatic tuning of a run config — trials
// sampled (TPE or random), trained rung by rung and pruned by ASHA, recorded in a SQLite study
// that any number of workers share and that survives being killed.
#include <chrono>
#include <cmath>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rflow/automl/asha.h"
#include "rflow/automl/best_config.h"
#include "rflow/automl/search.h"
#include "rflow/automl/study_report.h"
#include "rflow/automl/trial.h"
#include "rflow/core/config.h"
#include "rflow/dist/launch.h"
#include "rflow/io/atomic_file.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

namespace {

struct AutoArgs {
  std::string file;
  std::vector<std::string> overrides;
  double deadline = 0;  // set by the parent for its workers: the same end for all
  bool json = false;
  std::string out = "best.toml";
  int64_t number = -1;     // auto trial: the trial's number (its directory)
  std::string params;      // auto trial: its point, as JSON
};

double now_s() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

void print_summary(const nlohmann::json& j) {
  std::cout << fmt::format("study {}: {} trials, {} training steps\n", j["study"].get<std::string>(), j["trials"].get<size_t>(),
                           j["training_steps"].get<int64_t>());
  std::cout << fmt::format("{:>6}  {:<9} {:>7} {:>12}  {}\n", "trial", "state", "steps", "value", "settings");
  for (const auto& t : j["leaderboard"]) {
    std::string set;
    for (const auto& kv : t["settings"]) set += (set.empty() ? "" : " ") + kv.get<std::string>();
    std::cout << fmt::format("{:>6}  {:<9} {:>7} {:>12}  {}\n", t["trial"].get<int64_t>(), t["state"].get<std::string>(),
                             t["steps"].get<int64_t>(), t["value"].is_null() ? "-" : fmt::format("{:.5g}", t["value"].get<double>()), set);
  }
  if (j["prediction"].contains("median_relative_error"))
    std::cout << fmt::format("learning curve: median relative error of the final value predicted from a third of the steps: {:.1f} % ({} trials)\n",
                             100 * j["prediction"]["median_relative_error"].get<double>(), j["prediction"]["trials"].size());
  if (!j["importance"].empty()) {
    std::cout << "importance:";
    for (const auto& [k, v] : j["importance"].items()) std::cout << fmt::format(" {} {:.2f}", k, v.get<double>());
    std::cout << "\n";
  }
}

void search(const AutoArgs& a) {
  automl::SearchOptions s = automl::SearchOptions::load(a.file, a.overrides);
  const double deadline = a.deadline > 0 ? a.deadline : s.minutes > 0 ? now_s() + 60 * s.minutes : 0;
  if (s.workers > 1 && a.deadline == 0) {
    // Workers share the study; each is this program again with the cores shared out.
    std::vector<std::string> argv{"/proc/self/exe", "auto", "search", a.file, "--deadline", fmt::format("{:.3f}", deadline)};
    for (const auto& o : a.overrides) argv.insert(argv.end(), {"--set", o});
    argv.insert(argv.end(), {"--set", "workers=1"});
    argv[0] = std::filesystem::read_symlink("/proc/self/exe").string();
    spdlog::info("auto: {} workers on {}", s.workers, automl::study_path(s));
    if (const int rc = dist::launch_local(s.workers, argv); rc != 0) throw Error("a worker failed (exit " + std::to_string(rc) + ")", "rflow auto search", "see its log above; run the search again to resume");
  } else {
    automl::work_on_study(s, deadline);
  }
  if (a.deadline == 0) {  // the parent (or a lone worker) sums up
    automl::Study study(automl::study_path(s), s.name, s.meta());
    const auto trials = study.trials();
    print_summary(automl::summarize(s, trials));
    io::write_file_atomic(automl::study_report_path(s), automl::study_report_html(s, trials));
    spdlog::info("auto: report {}", automl::study_report_path(s));
  }
}

void show(const AutoArgs& a) {
  const automl::SearchOptions s = automl::SearchOptions::load(a.file, a.overrides);
  RF_CHECK(std::filesystem::exists(automl::study_path(s)), "no study yet at " + automl::study_path(s), a.file,
           "run `rflow auto search " + a.file + "` first");
  automl::Study study(automl::study_path(s), s.name, s.meta());
  const nlohmann::json j = automl::summarize(s, study.trials());
  if (a.json) std::cout << j.dump(2) << std::endl;
  else print_summary(j);
}

void report(const AutoArgs& a) {
  const automl::SearchOptions s = automl::SearchOptions::load(a.file, a.overrides);
  RF_CHECK(std::filesystem::exists(automl::study_path(s)), "no study yet at " + automl::study_path(s), a.file,
           "run `rflow auto search " + a.file + "` first");
  automl::Study study(automl::study_path(s), s.name, s.meta());
  const std::string out = a.out.empty() ? automl::study_report_path(s) : a.out;
  io::write_file_atomic(out, automl::study_report_html(s, study.trials()));
  spdlog::info("auto: report {}", out);
}

void best(const AutoArgs& a) {
  const automl::SearchOptions s = automl::SearchOptions::load(a.file, a.overrides);
  RF_CHECK(std::filesystem::exists(automl::study_path(s)), "no study yet at " + automl::study_path(s), a.file,
           "run `rflow auto search " + a.file + "` first");
  automl::Study study(automl::study_path(s), s.name, s.meta());
  const auto trials = study.trials();
  const automl::TrialRecord* b = automl::best_trial(trials);
  RF_CHECK(b != nullptr, "no trial of the study has finished yet", automl::study_path(s), "let the search run longer");
  io::write_file_atomic(a.out, automl::best_config_toml(s, *b));
  spdlog::info("auto: trial {} ({} {:.5g}) → {}: `rflow run {}` trains it", b->number, s.objective.metric, b->value, a.out, a.out);
}

// One trial driven by another tuner (Optuna, a cluster scheduler): trained rung by rung, a JSON
// line per rung on stdout, and after each the caller's word on stdin — `continue`, or anything
// else (end of input included) to stop. The same trial directory, training and scoring as a
// search's own trials, so a comparison measures the tuners, not the plumbing.
void trial(const AutoArgs& a) {
  const automl::SearchOptions s = automl::SearchOptions::load(a.file, a.overrides);
  RF_CHECK(a.number >= 0, "a trial needs its number", "--number", "give --number N (it names trials/trial_N)");
  nlohmann::json values;
  try {
    values = nlohmann::json::parse(a.params);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("the parameters are not JSON: ") + e.what(), "--params", "e.g. --params '{\"train.lr\": 0.001}'");
  }
  const automl::Point x = automl::point_of(s.space, values, "--params");
  std::vector<int64_t> steps = automl::Asha(s.asha).rungs();
  steps.push_back(s.asha.max_steps);
  for (int64_t r : steps) {
    const double v = automl::train_and_score(s, x, a.number, r);
    std::cout << nlohmann::json{{"trial", a.number}, {"steps", r}, {"value", std::isfinite(v) ? nlohmann::json(v) : nlohmann::json()}}.dump()
              << std::endl;
    std::string word;
    if (r == s.asha.max_steps || !std::getline(std::cin, word) || word != "continue") break;
  }
}

}  // namespace

void add_auto(CLI::App& app) {
  auto* cmd = app.add_subcommand("auto", "automatic tuning: search a run config's settings (TPE + ASHA), show the study, write the best config");
  cmd->require_subcommand(1);
  cmd->footer("\nExamples:\n  rflow auto plan cards/data/checkerboard.toml cards/models/mlp.toml\n  rflow auto search configs/search/checkerboard_w2.toml\n"
              "  rflow auto show configs/search/checkerboard_w2.toml\n"
              "  rflow auto best configs/search/checkerboard_w2.toml -o best.toml");
  const auto common = [](CLI::App* sub, std::shared_ptr<AutoArgs> args) {
    sub->add_option("search", args->file, "the search file (TOML: config, sampler, trials, [asha], [objective], [[space]])")->required();
    sub->add_option("--set", args->overrides, "override a search setting, e.g. --set trials=10 (repeatable)");
  };
  auto sa = std::make_shared<AutoArgs>();
  auto* s = cmd->add_subcommand("search", "run (or resume) the search: trials until the study holds `trials`");
  common(s, sa);
  s->add_option("--deadline", sa->deadline, "(for its workers) seconds since the epoch after which no trial starts")->group("");
  s->callback([sa] { search(*sa); });
  auto ha = std::make_shared<AutoArgs>();
  auto* h = cmd->add_subcommand("show", "the study: leaderboard, learning-curve prediction error, parameter importance");
  common(h, ha);
  h->add_flag("--json", ha->json, "everything as JSON (best so far by trial and time, each prediction)");
  h->callback([ha] { show(*ha); });
  auto ra = std::make_shared<AutoArgs>();
  ra->out.clear();
  auto* rp = cmd->add_subcommand("report", "the study as a page: best so far, every trial's curve, predictions, importance, leaderboard");
  common(rp, ra);
  rp->add_option("-o,--out", ra->out, "the HTML page to write (default: report.html beside the study)");
  rp->callback([ra] { report(*ra); });
  auto ba = std::make_shared<AutoArgs>();
  auto* b = cmd->add_subcommand("best", "write the best finished trial's config as a runnable TOML");
  common(b, ba);
  b->add_option("-o,--out", ba->out, "the config file to write")->capture_default_str();
  b->callback([ba] { best(*ba); });
  add_auto_plan(*cmd);
  auto ta = std::make_shared<AutoArgs>();
  auto* tr = cmd->add_subcommand("trial", "train one trial for another tuner: a JSON line per rung, then `continue` (or stop) on stdin");
  common(tr, ta);
  tr->add_option("--number", ta->number, "the trial's number: its run directory is <dir>/<name>/trials/trial_<number>")->required();
  tr->add_option("--params", ta->params, "its settings as JSON, every [[space]] key: '{\"train.lr\": 0.001, ...}'")->required();
  tr->callback([ta] { trial(*ta); });
  cmd->add_subcommand("keys", "every key of a search file (and of --set), its default and meaning")->callback([] {
    automl::SearchOptions defaults;
    std::cout << config::describe(config::fields_of(defaults))
              << "\n[[space]] tables, one per parameter: key (a run config key), kind (float | int | categorical),\n"
                 "low, high, log (float and int), choices (categorical)\n"
                 "[[constraint]] tables, one per rule: key (an integer config key), divisible_by (keys or whole numbers\n"
                 "whose product must divide it), why\n";
  });
}

}  // namespace rflow::cli

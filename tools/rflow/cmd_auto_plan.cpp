// `rflow auto plan DATA_CARD MODEL_CARD`: AutoML-GPT's planning step — the prompt paragraph, a run
// config fitted to the budget on this machine, a search over it (warm-started from the nearest
// earlier plans) and a predicted training log, written to the plan's folder.
#include <iostream>

#include <spdlog/spdlog.h>

#include "rflow/automl/make_plan.h"
#include "tools/rflow/commands.h"
#include "tools/rflow/config_flags.h"

namespace rflow::cli {

namespace {

struct PlanArgs {
  std::string data_card, model_card;
  automl::PlanOptions opt;
};

}  // namespace

void add_auto_plan(CLI::App& auto_cmd) {
  auto a = std::make_shared<PlanArgs>();
  auto* cmd = auto_cmd.add_subcommand("plan", "from a data card and a model card: the prompt, a run config fitted to the budget, a search over it");
  cmd->add_option("data_card", a->data_card, "the data card (TOML; shipped ones in cards/data/)")->required();
  cmd->add_option("model_card", a->model_card, "the model card (TOML; shipped ones in cards/models/)")->required();
  add_flags_for(*cmd, a->opt, "Plan");
  cmd->footer("\nExample:\n  rflow auto plan cards/data/checkerboard.toml cards/models/mlp.toml --minutes 5\n"
              "  rflow auto search plans/checkerboard_mlp/search.toml");
  cmd->callback([a] {
    const automl::PlanOutcome p = automl::make_plan(a->data_card, a->model_card, a->opt);
    std::cout << automl::describe_plan(p);
    spdlog::info("plan: {} (run.toml, search.toml, prompt.txt, plan.json)", p.dir);
  });
}

}  // namespace rflow::cli

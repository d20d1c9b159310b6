// `rflow run CONFIG`: the whole pipeline (train → reflow → distill → sample → eval → report) in runs/<name>/.
#include <filesystem>

#include <spdlog/spdlog.h>

#include "rflow/core/log.h"
#include "rflow/pipeline/pipeline.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

void add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "run a pipeline config: train, reflow, distill, sample, eval, report (resumable)");
  cmd->footer(
      "\nExamples:\n  rflow run configs/demo_2d.toml\n  rflow run configs/demo_2d.toml --set data.target.name=moons --set name=moons\n"
      "  rflow run runs/moons --set eval.n=10000     re-evaluate a finished run from its stored config\n"
      "  rflow run configs/reflow_8gaussians.toml --stage train --stage reflow");
  struct Args {
    ConfigArgs cfg;
    bool fresh = false;
    std::vector<std::string> only;
  };
  auto args = std::make_shared<Args>();
  add_config_options(*cmd, args->cfg, true);
  cmd->add_flag("--fresh", args->fresh, "delete the run directory and start over");
  cmd->add_option("--stage", args->only, "run only these stages (repeatable)");
  cmd->callback([args] {
    if (maybe_list_keys(args->cfg)) return;
    RunConfig cfg = load_run_config(args->cfg.config, args->cfg.overrides);
    setup_logging(cfg.log_level);
    std::string dir = run_pipeline(cfg, PipelineOptions{args->fresh, args->only});
    // The report is announced only where one was made (a run without the report stage has none).
    if (std::filesystem::exists(std::filesystem::path(dir) / "stages" / "report.done"))
      spdlog::info("run directory: {} (report: {}/report.html)", dir, dir);
    else
      spdlog::info("run directory: {} (no report: add \"report\" to stages for one)", dir);
  });
}

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a model (the pipeline's train stage; resumes if interrupted)");
  cmd->footer("\nExamples:\n  rflow train -c configs/demo_2d.toml --set train.steps=2000\n"
              "  rflow train -c configs/demo_2d.toml --fresh");
  auto args = std::make_shared<ConfigArgs>();
  auto fresh = std::make_shared<bool>(false);
  add_config_options(*cmd, *args, false);
  cmd->add_flag("--fresh", *fresh, "delete the run directory and start over");
  cmd->callback([args, fresh] {
    if (maybe_list_keys(*args)) return;
    RunConfig cfg = load_run_config(args->config, args->overrides);
    setup_logging(cfg.log_level);
    std::string dir = run_pipeline(cfg, PipelineOptions{*fresh, {"train"}});
    spdlog::info("checkpoints: {}/checkpoints", dir);
  });
}

}  // namespace rflow::cli

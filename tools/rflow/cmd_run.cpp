// `rflow run CONFIG`: the whole pipeline (train → reflow → distill → sample → eval → report) in runs/<name>/.
#include <filesystem>

#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/core/log.h"
#include "rflow/dist/launch.h"
#include "rflow/dist/world.h"
#include "rflow/pipeline/pipeline.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

namespace {

// A worker started by a launcher (rflow run --nproc, torchrun, srun) joins its job; its log lines
// say which rank wrote them.
void join_job_if_worker() {
  const dist::WorldOptions wo = dist::WorldOptions::from_env();
  if (wo.size == 1) return;
  dist::join_world(wo);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(wo.rank) + "] [%^%l%$] %v");
  spdlog::info("joined a job of {} ranks through {}:{}", wo.size, wo.master_addr, wo.master_port);
}

// `--nproc N`: this command again as N local workers (without --nproc), waited for.
void run_as_workers(int64_t nproc, std::vector<std::string> argv) {
  RF_CHECK(dist::WorldOptions::from_env().size == 1, "--nproc inside a worker of a job", "rflow run --nproc",
           "a launcher (torchrun, srun) already started the workers: leave --nproc out");
  argv.insert(argv.begin(), std::filesystem::read_symlink("/proc/self/exe").string());
  const int code = dist::launch_local(nproc, argv);
  RF_CHECK(code == 0, "a worker failed (exit code " + std::to_string(code) + ")", "rflow run --nproc",
           "its log above says why; rerun the same command to resume from the last checkpoint");
}

// head: the command and how it takes the config ({"run"}, {"train", "-c"}).
std::vector<std::string> worker_args(std::vector<std::string> head, const ConfigArgs& c, bool fresh,
                                     const std::vector<std::string>& only) {
  std::vector<std::string> a = std::move(head);
  a.push_back(c.config);
  for (const auto& o : c.overrides) a.insert(a.end(), {"--set", o});
  for (const auto& s : only) a.insert(a.end(), {"--stage", s});
  if (fresh) a.push_back("--fresh");
  return a;
}

}  // namespace

void add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "run a pipeline config: train, reflow, distill, sample, eval, report (resumable)");
  cmd->footer(
      "\nExamples:\n  rflow run configs/demo_2d.toml\n  rflow run configs/demo_2d.toml --set data.target.name=moons --set name=moons\n"
      "  rflow run runs/moons --set eval.n=10000     re-evaluate a finished run from its stored config\n"
      "  rflow run configs/reflow_8gaussians.toml --stage train --stage reflow\n"
      "  rflow run configs/fmnist_uncond.toml --nproc 2          data-parallel training, two local ranks\n"
      "  torchrun --nproc-per-node 2 --no-python build/rflow run CONFIG   (or srun): workers from a launcher");
  struct Args {
    ConfigArgs cfg;
    bool fresh = false;
    std::vector<std::string> only;
    int64_t nproc = 1;
  };
  auto args = std::make_shared<Args>();
  add_config_options(*cmd, args->cfg, true);
  cmd->add_flag("--fresh", args->fresh, "delete the run directory and start over");
  cmd->add_option("--stage", args->only, "run only these stages (repeatable)");
  cmd->add_option("--nproc", args->nproc, "data-parallel workers on this machine (training and evaluation on all; rank 0 scores and reports)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->callback([args] {
    if (maybe_list_keys(args->cfg)) return;
    RunConfig cfg = load_run_config(args->cfg.config, args->cfg.overrides);
    setup_logging(cfg.log_level);
    if (args->nproc > 1) return run_as_workers(args->nproc, worker_args({"run"}, args->cfg, args->fresh, args->only));
    join_job_if_worker();
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
  auto nproc = std::make_shared<int64_t>(1);
  add_config_options(*cmd, *args, false);
  cmd->add_flag("--fresh", *fresh, "delete the run directory and start over");
  cmd->add_option("--nproc", *nproc, "data-parallel workers on this machine")->check(CLI::Range(1, 256))->capture_default_str();
  cmd->callback([args, fresh, nproc] {
    if (maybe_list_keys(*args)) return;
    RunConfig cfg = load_run_config(args->config, args->overrides);
    setup_logging(cfg.log_level);
    if (*nproc > 1) return run_as_workers(*nproc, worker_args({"train", "-c"}, *args, *fresh, {}));
    join_job_if_worker();
    std::string dir = run_pipeline(cfg, PipelineOptions{*fresh, {"train"}});
    spdlog::info("checkpoints: {}/checkpoints", dir);
  });
}

}  // namespace rflow::cli

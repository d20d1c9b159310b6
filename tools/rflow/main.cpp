// rflow command-line entry point: subcommands run | train | sample | eval | info. Every
// rflow::Error is printed as one line and turned into exit code 1.

#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/core/log.h"
#include "rflow/data/distribution.h"
#include "rflow/methods/method_config.h"
#include "rflow/core/malloc_tuning.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/solve/solver.h"
#include "rflow/eval/scorer.h"
#include "rflow/pipeline/stages.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

void add_config_options(CLI::App& cmd, ConfigArgs& args, bool positional) {
  if (positional)
    cmd.add_option("config", args.config, "run config (TOML), or a run directory / its config.json to rerun it")
        ->check(CLI::ExistingPath);
  else
    cmd.add_option("-c,--config", args.config, "run config (TOML)")->check(CLI::ExistingFile);
  cmd.add_option("-s,--set", args.overrides, "override a config key: --set train.lr=1e-3 (repeatable)");
  cmd.add_flag("--list-keys", args.list_keys, "list every config key with its default and help, then exit");
}

bool maybe_list_keys(const ConfigArgs& args) {
  if (!args.list_keys) return false;
  RunConfig cfg;
  auto fields = config::fields_of(cfg);
  if (!args.config.empty()) config::load_toml_file(fields, args.config);
  for (const auto& o : args.overrides) config::apply_override(fields, o);
  std::cout << "config keys (current values):\n" << config::describe(fields) << "\n" << registries_help();
  return true;
}

std::string registries_help() {
  auto list = [](const auto& reg) {
    std::string s;
    for (const auto& [name, help] : reg.list()) s += "    " + name + " — " + help + "\n";
    return s;
  };
  return "solvers:\n" + list(solvers()) + "methods (options: method.<name>.*):\n" + list(methods()) +
         "models (options: model.<arch>.*):\n" + list(models()) +
         "distributions (data.source.name / data.target.name):\n" + list(distributions()) +
         "stages:\n" + list(stages()) + "scorers (by the target's kind of data):\n" + list(eval::scorers());
}

}  // namespace rflow::cli

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  CLI::App app{"rflow — train, straighten, distil and sample rectified flows (t = 0 noise, t = 1 data)"};
  app.require_subcommand(1);
  app.footer("\n" + rflow::cli::registries_help());
  rflow::cli::add_run(app);
  rflow::cli::add_train(app);
  rflow::cli::add_sample(app);
  rflow::cli::add_eval(app);
  rflow::cli::add_info(app);
  rflow::cli::add_fidnet(app);
  try {
    rflow::setup_logging("info");
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rflow::Error& e) {
    std::cerr << "rflow: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "rflow: torch error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "rflow: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

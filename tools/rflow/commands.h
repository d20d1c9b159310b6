// The rflow CLI's subcommands. Each cmd_<name>.cpp registers one subcommand on the app; the
// callbacks only parse arguments and call the library.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace rflow::cli {

void add_run(CLI::App& app);
void add_auto_plan(CLI::App& auto_cmd);  // rflow auto plan
void add_train(CLI::App& app);
void add_sample(CLI::App& app);
void add_eval(CLI::App& app);
void add_info(CLI::App& app);
void add_fidnet(CLI::App& app);
void add_list(CLI::App& app);
void add_compare(CLI::App& app);
void add_export(CLI::App& app);
void add_delta(CLI::App& app);
void add_policy(CLI::App& app);
void add_tokenizer(CLI::App& app);
void add_chat(CLI::App& app);
void add_serve(CLI::App& app);
void add_auto(CLI::App& app);
void add_text(CLI::App& app);  // rflow text train | sample | edit | eval
void add_vl(CLI::App& app);    // rflow vl train | ask | eval

// Options shared by commands that take a run config: --config, --set (repeatable), --list-keys.
struct ConfigArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool list_keys = false;
};
void add_config_options(CLI::App& cmd, ConfigArgs& args, bool positional);
// Handles --list-keys (prints and returns true).
bool maybe_list_keys(const ConfigArgs& args);
std::string registries_help();

// `rflow text train`, `rflow vl train`: a run of keyed stages from a config (or a run directory),
// with --set, --list-keys, --fresh and --stage. list_keys prints the run's keys; run starts the
// stages (fresh, only these) and returns the run directory.
struct KeyedRunCommand {
  std::string help, footer, stages;
  std::function<std::string()> list_keys;
  std::function<std::string(const ConfigArgs& cfg, bool fresh, const std::vector<std::string>& only)> run;
};
void add_keyed_run_train(CLI::App& parent, KeyedRunCommand c);
// docs/config.md: every config key as Markdown.
std::string config_reference_markdown();

}  // namespace rflow::cli

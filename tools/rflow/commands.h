// The rflow CLI's subcommands. Each cmd_<name>.cpp registers one subcommand on the app; the
// callbacks only parse arguments and call the library.
#pragma once

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
// docs/config.md: every config key as Markdown.
std::string config_reference_markdown();

}  // namespace rflow::cli

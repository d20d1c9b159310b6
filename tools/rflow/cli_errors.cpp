#include "tools/rflow/cli_errors.h"

#include <filesystem>
#include <iostream>
#include <optional>

#include "rflow/core/registry.h"
#include "rflow/io/nearest_path.h"

namespace rflow::cli {

namespace {

std::vector<const CLI::App*> subcommands_of(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App*) { return true; });
}

// The subcommand the words name (the deepest one reached before the first option), its path, and
// the index of the first word after it.
const CLI::App* named_command(const CLI::App& app, int argc, char** argv, std::string& path, int* next_word = nullptr) {
  const CLI::App* at = &app;
  path = "rflow";
  int i = 1;
  for (; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') break;
    const CLI::App* next = nullptr;
    for (const auto* s : subcommands_of(*at))
      if (s->get_name() == word) next = s;
    if (!next) break;
    path += " " + word, at = next;
  }
  if (next_word) *next_word = i;
  return at;
}

std::vector<std::string> long_options(const CLI::App& cmd) {
  std::vector<std::string> out;
  for (const auto* o : cmd.get_options())
    for (const auto& n : o->get_lnames()) out.push_back("--" + n);
  return out;
}

// The first "--name" on the line that the command does not have, with its nearest real one.
std::optional<std::pair<std::string, std::string>> unknown_option(const CLI::App& cmd, int argc, char** argv) {
  const auto names = long_options(cmd);
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.size() < 3 || word.compare(0, 2, "--") != 0) continue;
    word = word.substr(0, word.find('='));
    if (std::find(names.begin(), names.end(), word) == names.end()) return std::make_pair(word, closest_name(names, word));
  }
  return std::nullopt;
}

// A missing path on the line (a word with '/' or '.', not an option) and the nearest existing one.
std::optional<std::pair<std::string, std::string>> missing_path(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-' || word.find_first_of("/.") == std::string::npos || word.find('=') != std::string::npos)
      continue;
    std::error_code ec;
    if (!std::filesystem::exists(word, ec)) return std::make_pair(word, io::nearest_existing_path(word));
  }
  return std::nullopt;
}

}  // namespace

void check_subcommand_names(const CLI::App& app, int argc, char** argv) {
  std::string path;
  int i = 0;
  const CLI::App& at = *named_command(app, argc, argv, path, &i);
  const auto subs = subcommands_of(at);
  // A command with subcommands, followed by a word that is none of them (not an option).
  if (subs.empty() || i >= argc || argv[i][0] == '\0' || argv[i][0] == '-') return;
  std::vector<std::string> names;
  for (const auto* s : subs) names.push_back(s->get_name());
  const std::string word = argv[i], near = closest_name(names, word);
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
  throw UsageError("unknown command '" + word + "'", path == "rflow" ? "" : path,
                   (near.empty() ? "" : "did you mean '" + path + " " + near + "'? ") + "commands: " + all);
}

int answer_parse_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
  std::string path;
  const CLI::App& cmd = *named_command(app, argc, argv, path);
  std::string what = e.what(), hint;
  if (const auto opt = unknown_option(cmd, argc, argv)) {
    what = "unknown option '" + opt->first + "'";
    if (!opt->second.empty()) hint = "did you mean '" + opt->second + "'? ";
  } else if (const auto p = missing_path(argc, argv); p && dynamic_cast<const CLI::ValidationError*>(&e)) {
    what = "no such file or folder: " + p->first;
    if (!p->second.empty()) hint = "did you mean '" + p->second + "'? ";
  } else if (dynamic_cast<const CLI::ExtrasError*>(&e) && what.find_first_of("0123456789") != std::string::npos) {
    hint = "lists take one comma-separated argument, e.g. --grid 0,0.5,1; ";  // numbers left over after a list flag
  }
  // The command is named by the hint (`rflow sample --help`), so the line starts with the mistake.
  std::cerr << "rflow: error: " << what << " (" << hint << "see `" << path << " --help`)\n";
  return kExitUsage;
}

}  // namespace rflow::cli

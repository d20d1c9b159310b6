// How the CLI answers a command line it cannot parse, in rflow's one error style — where, what, what
// to do — naming the nearest option, command or file. Exit codes: 0 success (and --help, --version),
// 1 an input or a run failed (rflow::Error), 2 the command line itself is wrong.
#pragma once

#include <CLI/CLI.hpp>

#include "rflow/core/error.h"

namespace rflow::cli {

inline constexpr int kExitFailed = 1, kExitUsage = 2;

// A mistake in the command line found by rflow itself (an unknown command): exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// CLI11 answers "rflow smaple" with "A subcommand is required"; this names the nearest one instead
// (throws UsageError). Only the words right after the program or a subcommand are checked.
void check_subcommand_names(const CLI::App& app, int argc, char** argv);

// Prints the answer to stderr (help and version to stdout, as CLI11 does) and returns the exit code.
int answer_parse_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv);

}  // namespace rflow::cli

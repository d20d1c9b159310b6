// CLI flags generated from config field declarations: every field a struct's visit() declares
// becomes --<key> (dots and underscores as dashes), with its help and default, bound to the
// struct itself. `rflow sample` and `rflow eval` take SolveOptions this way, so every solver
// setting is reachable from every entry point without a flag being written by hand.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "rflow/core/config.h"
#include "rflow/solve/solver.h"

namespace rflow::cli {

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

// "max_nfe" → "--max-nfe"; `prefix` is prepended to the key ("" for none).
std::string flag_name(const std::string& key, const std::string& prefix = "");

// Adds one option per field of cfg (aliases skipped). cfg must outlive the parse (hold it in the
// command's shared args). Returns the options added, keyed by field key.
template <class Cfg>
void add_flags_for(CLI::App& cmd, Cfg& cfg, const std::string& group, const std::string& prefix = "") {
  for (const auto& f : config::fields_of(cfg)) {
    if (!f.alias_of.empty()) continue;
    const std::string name = flag_name(f.key, prefix);
    std::visit(
        [&](auto* p) {
          CLI::Option* o = cmd.add_option(name, *p, f.help)->capture_default_str()->group(group);
          // Lists as one comma-separated argument (--grid 0,0.5,1), so a following positional
          // argument is never swallowed.
          if constexpr (is_vector<std::remove_pointer_t<decltype(p)>>::value)
            o->delimiter(',')->allow_extra_args(false);
        },
        f.ptr);
  }
}

// --seed, declared once for every command that draws: `what` says what it seeds.
template <class Int>
void add_seed_flag(CLI::App& cmd, Int& seed, const std::string& what) {
  cmd.add_option("--seed", seed, "seed of " + what + " (the same seed, the same numbers)")->capture_default_str();
}

// Solver flags as typed on a command line: `--shift S` alone means the shifted grid.
SolveOptions solve_from_flags(SolveOptions o);

}  // namespace rflow::cli

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
          using V = std::remove_pointer_t<decltype(p)>;
          if constexpr (is_vector<V>::value) {
            // Lists as one comma-separated argument (--grid 0,0.5,1), so a following positional
            // argument is never swallowed; the help shows that form ("FLOAT,...").
            using E = typename V::value_type;
            cmd.add_option_function<std::string>(
                   name,
                   [p, name](const std::string& text) {
                     V out;
                     std::size_t begin = 0;
                     while (!text.empty() && begin <= text.size()) {
                       const std::size_t end = std::min(text.find(',', begin), text.size());
                       E value{};
                       const std::string piece = text.substr(begin, end - begin);
                       if (!CLI::detail::lexical_cast(piece, value)) throw CLI::ConversionError(piece, name);
                       out.push_back(value);
                       begin = end + 1;
                     }
                     *p = out;
                   },
                   f.help)
                ->type_name(std::string(CLI::detail::type_name<E>()) + ",...")
                ->default_str(CLI::detail::join(*p, ","))
                ->group(group);
          } else {
            cmd.add_option(name, *p, f.help)->capture_default_str()->group(group);
          }
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

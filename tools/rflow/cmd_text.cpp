// `rflow text train | sample | edit | eval`: Language RF — a sentence autoencoder and rectified
// flows over its latents that generate sentences with chosen attributes and edit a sentence from
// one attribute value to another in a few ODE steps.
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/core/log.h"
#include "rflow/io/atomic_file.h"
#include "rflow/language/text_eval.h"
#include "rflow/language/text_model.h"
#include "rflow/language/text_report.h"
#include "rflow/language/text_run.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

namespace {

void add_solve_flags(CLI::App& cmd, SolveSpec& s) {
  cmd.add_option("--steps", s.steps, "Euler steps (velocity evaluations) per sentence")->capture_default_str();
  cmd.add_option("--model", s.model, "which flow of the chain: 1rf, 2rf (after reflow), distill_2rf, ...")->capture_default_str();
  cmd.add_option("--solver", s.solver, "ODE solver (rflow list solvers)")->capture_default_str();
}

// Sentences to a file through the shared output path, or to stdout.
void emit(const std::vector<std::string>& lines, const std::string& out) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  if (out.empty()) std::cout << text << std::flush;
  else io::write_file_atomic(out, text);
}

void add_text_train(CLI::App& parent) {
  add_keyed_run_train(
      parent,
      {"train a text run: autoencoder, latents, generation and edit flows, eval, report",
       "\nExamples:\n  rflow text train configs/text/grammar.toml\n  rflow text train configs/text/fortunes.toml --set train.steps=2000\n"
       "  rflow text train runs/text_grammar --stage eval --stage report",
       text_stages().joined(),
       [] {
         TextRunConfig cfg;
         return "text run keys (defaults):\n" + config::describe(config::fields_of(cfg));
       },
       [](const ConfigArgs& a, bool fresh, const std::vector<std::string>& only) {
         const TextRunConfig cfg = load_text_config(a.config, a.overrides);
         setup_logging(cfg.log_level);
         return run_text(cfg, TextRunOptions{fresh, only});
       }});
}

void add_text_sample(CLI::App& parent) {
  auto* cmd = parent.add_subcommand("sample", "generate sentences, optionally with attribute values");
  cmd->footer("\nExamples:\n  rflow text sample runs/text_grammar --attr sentiment=positive --attr tense=past -n 5\n"
              "  rflow text sample runs/text_grammar --model 1rf --steps 20 --guidance 2");
  struct Args {
    std::string run, out;
    std::vector<std::string> attrs;
    int64_t n = 10, seed = 0;
    SolveSpec s;
  };
  auto a = std::make_shared<Args>();
  a->s.steps = 1;
  cmd->add_option("run", a->run, "text run directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--attr", a->attrs, "name=value for a control attribute (repeatable; others are drawn at random)");
  cmd->add_option("-n,--num", a->n, "sentences")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--seed", a->seed, "noise seed")->capture_default_str();
  cmd->add_option("--guidance", a->s.guidance, "classifier-free guidance of the 1-RF (later models carry their teacher's)")->capture_default_str();
  cmd->add_option("-o,--out", a->out, "write the sentences to this file (default: standard output)");
  add_solve_flags(*cmd, a->s);
  cmd->callback([a] {
    TextModel m(a->run);
    std::vector<std::string> values(m.config().control.size());
    for (const auto& kv : a->attrs) {
      const size_t eq = kv.find('=');
      RF_CHECK(eq != std::string::npos, "malformed --attr '" + kv + "'", "rflow text sample --attr", "write name=value");
      const auto it = std::find(m.config().control.begin(), m.config().control.end(), kv.substr(0, eq));
      std::string names;
      for (const auto& c : m.config().control) names += (names.empty() ? "" : ", ") + c;
      RF_CHECK(it != m.config().control.end(), "'" + kv.substr(0, eq) + "' is not a control attribute of this run",
               "rflow text sample --attr", names.empty() ? "this run generates unconditionally" : "control attributes: " + names);
      values[size_t(it - m.config().control.begin())] = kv.substr(eq + 1);
    }
    emit(m.decode(m.sample_latents(a->n, values, a->s, uint64_t(a->seed))), a->out);
  });
}

void add_text_edit(CLI::App& parent) {
  auto* cmd = parent.add_subcommand("edit", "move sentences to another value of the edited attribute (one line each)");
  cmd->footer("\nExamples:\n  rflow text edit runs/text_grammar --to positive \"the food was cold and the staff seemed rude\"\n"
              "  rflow text edit runs/text_grammar --to present --file reviews.txt -o edited.txt");
  struct Args {
    std::string run, to, file, out;
    std::vector<std::string> sentences;
    SolveSpec s;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("run", a->run, "text run directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("sentences", a->sentences, "sentences to edit");
  cmd->add_option("--to", a->to, "the value to move them to")->required();
  cmd->add_option("--file", a->file, "edit every line of this file (one sentence per line)")->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", a->out, "write the edits to this file (default: standard output)");
  add_solve_flags(*cmd, a->s);
  cmd->callback([a] {
    std::vector<std::string> in = a->sentences;
    if (!a->file.empty()) {
      const text::Corpus c = text::read_sentence_file(a->file, 1 << 20);  // the run's own limit is checked next
      in.insert(in.end(), c.texts.begin(), c.texts.end());
    }
    RF_CHECK(!in.empty(), "no sentences to edit", "rflow text edit", "give sentences or --file");
    TextModel m(a->run);
    emit(m.edit(in, a->to, a->s), a->out);
  });
}

void add_text_eval(CLI::App& parent) {
  auto* cmd = parent.add_subcommand("eval", "evaluate a text run (eval.json) and redraw its report");
  cmd->footer("\nExample:\n  rflow text eval runs/text_grammar");
  auto run = std::make_shared<std::string>();
  cmd->add_option("run", *run, "text run directory")->required()->check(CLI::ExistingDirectory);
  cmd->callback([run] {
    const std::string file = evaluate_text_run(*run);
    const std::string report = write_text_report(*run);
    spdlog::info("eval: {} (report: {})", file, report);
  });
}

}  // namespace

void add_text(CLI::App& app) {
  auto* cmd = app.add_subcommand("text", "Language RF: sentences through an autoencoder's latents — generate with attributes, edit in a few steps");
  cmd->require_subcommand(1);
  add_text_train(*cmd);
  add_text_sample(*cmd);
  add_text_edit(*cmd);
  add_text_eval(*cmd);
}

}  // namespace rflow::cli

// rflow command-line entry point: subcommands run | train | sample | eval | info | export | fidnet | policy | compare | list.
// Every rflow::Error is printed as one line and turned into exit code 1; a mistyped subcommand is
// answered with the nearest one before CLI11 parses anything.

#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/automl/planner.h"
#include "rflow/automl/sampler.h"
#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/core/log.h"
#include "rflow/data/coupling.h"
#include "rflow/data/distribution.h"
#include "rflow/methods/method_config.h"
#include "rflow/core/malloc_tuning.h"
#include "rflow/core/registry.h"
#include "rflow/core/system_info.h"
#include "rflow/core/version.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/policy/policy_task.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/solve/solver.h"
#include "rflow/eval/scorer.h"
#include "rflow/pipeline/stages.h"
#include "rflow/pipeline/chat/rewriter.h"
#include "rflow/language/text_config.h"
#include "rflow/language/text_run.h"
#include "rflow/text/corpus.h"
#include "rflow/text/tokenizer.h"
#include "rflow/data/image_questions.h"
#include "rflow/vl/vl_run.h"
#include "tools/rflow/cli_errors.h"
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
  std::cout << "config keys (current values):\n"
            << config::describe(fields) << "\nsolvers, methods, models, distributions, couplings, policy tasks, stages and scorers: rflow list\n";
  return true;
}

void add_keyed_run_train(CLI::App& parent, KeyedRunCommand c) {
  auto* cmd = parent.add_subcommand("train", c.help);
  cmd->footer(c.footer);
  struct Args {
    ConfigArgs cfg;
    bool fresh = false;
    std::vector<std::string> only;
  };
  auto a = std::make_shared<Args>();
  add_config_options(*cmd, a->cfg, true);
  cmd->add_flag("--fresh", a->fresh, "delete the run directory and start over");
  cmd->add_option("--stage", a->only, "run only these stages (repeatable): " + c.stages);
  cmd->callback([a, c] {
    if (a->cfg.list_keys) {
      std::cout << c.list_keys();
      return;
    }
    const std::string dir = c.run(a->cfg, a->fresh, a->only);
    spdlog::info("run: {} (report: {}/report.html)", dir, dir);
  });
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
         "couplings (data.coupling):\n" + list(couplings()) +
         "policy tasks (by data.target.name; other policy data: demos):\n" + list(policy_tasks()) +
         "tokenizers (rflow tokenizer train --kind):\n" + list(text::tokenizers()) +
         "chat rewriters (rflow chat --rewriter):\n" + list(chat::rewriters()) +
         "stages:\n" + list(stages()) + "scorers (by the target's kind of data):\n" + list(eval::scorers()) +
         "search samplers (rflow auto, sampler = ...):\n" + list(automl::samplers()) +
         "planners (rflow auto plan --planner):\n" + list(automl::planners()) +
         "corpora (rflow text, corpus.name):\n" + list(text::corpora()) + "text stages (rflow text train, stages):\n" + list(text_stages()) +
         "question kinds (rflow vl, data.questions):\n" + list(question_kinds()) + "vl stages (rflow vl train, stages):\n" + list(vl_stages());
}

void add_list(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "list the solvers, methods, models, distributions, couplings, policy tasks, tokenizers, chat rewriters, stages, scorers, search samplers, planners, corpora, text stages, question kinds and vl stages");
  cmd->footer("\nExamples:\n  rflow list\n  rflow run --list-keys        every config key, its default and meaning\n"
              "  rflow list --config-reference > docs/config.md");
  auto reference = std::make_shared<bool>(false);
  cmd->add_flag("--config-reference", *reference, "print every config key as a Markdown reference instead");
  cmd->callback([reference] {
    if (*reference) {
      std::cout << config_reference_markdown();
      return;
    }
    std::cout << registries_help();
  });
}

std::string text_keys_markdown();

// The keys of a vision-language run (`rflow vl train`).
std::string vl_keys_markdown() {
  VlRunConfig cfg;
  return "\n# Vision-language run keys\n\nA vision-language run (`rflow vl train`, docs/vision_language.md) has these keys.\n" +
         config::describe_markdown(config::fields_of(cfg));
}

std::string config_reference_markdown() {
  RunConfig cfg;
  return "# Config reference\n\nEvery key of a run config with its type, default and meaning, generated from the "
         "declarations in the code by `rflow list --config-reference` (a test keeps this file equal to its output). "
         "Keys are set in a TOML file (`[train]` then `lr = 1e-3`), with `--set train.lr=1e-3`, or read back from "
         "a run's `config.json`. Each backbone, method and data set has its own section "
         "(`model.<arch>.*`, `method.<name>.*`, `data.target.<kind>.*`); only the selected one is read.\n" +
         config::describe_markdown(config::fields_of(cfg)) + text_keys_markdown() + vl_keys_markdown();
}

// The keys of a text run (`rflow text train`) but its two flows, which take every run key above.
std::string text_keys_markdown() {
  TextRunConfig cfg;
  std::vector<config::Field> fields;
  for (auto& f : config::fields_of(cfg))
    if (f.key.rfind("generate.", 0) != 0 && f.key.rfind("transfer.", 0) != 0) fields.push_back(f);
  return "\n# Text run keys\n\nA text run (`rflow text train`, docs/language.md) has these keys, and two run configs "
         "inside it: `generate.*` (the attribute-conditional flow) and `transfer.*` (the edit flows), each taking every "
         "key above (`generate.train.steps`, `transfer.reflow.pairs`, ...); their data keys are set by the text run.\n" +
         config::describe_markdown(fields);
}

std::string version_text() {
  const auto s = system_info_json();
  return version_line() + "\nLibTorch " + s["torch"].get<std::string>() + ", ATen CPU kernels " +
         s["aten_cpu_capability"].get<std::string>() + "\nBLAS " + s["blas"].get<std::string>() + ", core " +
         s["blas_core"].get<std::string>() + "\nCPU " + s["cpu"].get<std::string>();
}

}  // namespace rflow::cli

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  CLI::App app{"rflow — train, straighten, distil and sample rectified flows (t = 0 noise, t = 1 data)", "rflow"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return rflow::cli::version_text(); }, "print rflow's version, git revision, LibTorch and BLAS, then exit");
  rflow::cli::add_run(app);
  rflow::cli::add_train(app);
  rflow::cli::add_sample(app);
  rflow::cli::add_eval(app);
  rflow::cli::add_info(app);
  rflow::cli::add_export(app);
  rflow::cli::add_delta(app);
  rflow::cli::add_fidnet(app);
  rflow::cli::add_policy(app);
  rflow::cli::add_compare(app);
  rflow::cli::add_tokenizer(app);
  rflow::cli::add_chat(app);
  rflow::cli::add_serve(app);
  rflow::cli::add_auto(app);
  rflow::cli::add_text(app);
  rflow::cli::add_vl(app);
  rflow::cli::add_list(app);
  // After the subcommands: CLI11 copies a parent's footer into subcommands made after it.
  app.footer("\nExamples:\n  rflow run configs/demo_2d.toml         train, sample, evaluate → runs/demo_2d/report.html\n"
             "  rflow sample runs/demo_2d --steps 4 -o s.npy --plot s.svg\n"
             "  rflow list                             solvers, methods, models, data sets\n"
             "  rflow run --list-keys                  every config key\n"
             "Run `rflow COMMAND --help` for a command's options and examples.");
  try {
    rflow::setup_logging("info");
    if (argc == 1) {
      std::cout << app.help();
      return 1;
    }
    rflow::cli::check_subcommand_names(app, argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return rflow::cli::answer_parse_error(app, e, argc, argv);
  } catch (const rflow::cli::UsageError& e) {
    std::cerr << "rflow: error: " << e.what() << "\n";
    return rflow::cli::kExitUsage;
  } catch (const rflow::Error& e) {
    std::cerr << "rflow: error: " << e.what() << "\n";
    return rflow::cli::kExitFailed;
  } catch (const c10::Error& e) {
    std::cerr << "rflow: torch error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "rflow: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

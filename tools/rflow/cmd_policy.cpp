// `rflow policy train | eval | act`: flow policies. train is the pipeline's train stage; eval
// judges a trained policy on its task (closed loop for the maze); act is a control-loop step:
// observations in (one line each), action chunks out.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/log.h"
#include "rflow/core/rng.h"
#include "rflow/io/atomic_file.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/pipeline/policy/policy_compare.h"
#include "rflow/pipeline/policy/policy_eval.h"
#include "rflow/pipeline/run_context.h"
#include "tools/rflow/commands.h"
#include "tools/rflow/config_flags.h"

namespace rflow::cli {

namespace {

// The solver flags of `rflow sample`, defaulting to AdaFlow's evaluation setting (η 0.5, at most
// 10 steps).
void add_policy_solver(CLI::App& cmd, SolveOptions& s, FieldOptions& f) {
  s.method = "adaflow";
  s.steps = 10;
  f.eta = 0.5;
  add_flags_for(cmd, s, "Solver");
  add_flags_for(cmd, f, "Solver");
}

// How much of the task an evaluation covers (the solver is set apart).
void add_eval_options(CLI::App& cmd, PolicyEvalOptions& e) { add_flags_for(cmd, e, "Evaluation"); }

void add_policy_train(CLI::App& policy) {
  auto* cmd = policy.add_subcommand("train", "train a policy (the pipeline's train stage; resumes if interrupted)");
  cmd->footer("\nExamples:\n  rflow policy train configs/adaflow_maze.toml\n"
              "  rflow policy train configs/adaflow_maze.toml --set method.name=bc --set model.mlp.variance_hidden=0 --set name=bc_maze");
  auto args = std::make_shared<ConfigArgs>();
  add_config_options(*cmd, *args, true);
  cmd->callback([args] {
    if (maybe_list_keys(*args)) return;
    RunConfig cfg = load_run_config(args->config, args->overrides);
    setup_logging(cfg.log_level);
    const std::string dir = run_pipeline(cfg, PipelineOptions{false, {"train"}});
    spdlog::info("policy: {} (rflow policy eval {})", dir, dir);
  });
}

void add_policy_eval(CLI::App& policy) {
  auto* cmd = policy.add_subcommand("eval", "judge a trained policy on its task: success, routes and NFE in the maze, NFE by observation on fork1d");
  cmd->footer("\nExamples:\n  rflow policy eval runs/adaflow_maze --solver adaflow --eta 0.5 --steps 10 --plot paths.svg\n"
              "  rflow policy eval runs/adaflow_maze --solver euler --steps 20\n"
              "  rflow policy eval runs/adaflow_fork1d --solver adaflow --eta 0.1 --plot actions.svg");
  struct Args {
    std::string run, plot, report;
    PolicyEvalOptions eval;
    SolveOptions solve;
    FieldOptions field;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("run", a->run, "the policy's run directory (or a checkpoint)")->required();
  add_policy_solver(*cmd, a->solve, a->field);
  add_eval_options(*cmd, a->eval);
  cmd->add_option("--plot", a->plot, "also write a picture (.svg): the maze with every path, or actions by observation");
  cmd->add_option("--report", a->report, "also write an HTML page: the figures above, the picture, training curves, the run");
  cmd->callback([a] {
    LoadedModel m = load_model(a->run, /*use_ema=*/true, c10::Device(c10::kCPU));
    a->eval.solve = solve_from_flags(a->solve);
    a->eval.field = a->field;
    const PolicyEvaluation r = evaluate_policy(m, a->eval);
    nlohmann::json out = r.summary;
    out["checkpoint"] = m.checkpoint;
    out["step"] = m.step;
    out["solver"] = a->eval.solve.method;
    out["steps"] = a->eval.solve.steps;
    if (solvers().get(a->eval.solve.method, "--solver")()->needs_variance()) out["eta"] = a->eval.field.eta;
    if (!a->plot.empty()) {
      RF_CHECK(!r.svg.empty(), "this task has no picture", "--plot", "drop --plot");
      io::write_file_atomic(a->plot, r.svg);
      out["plot"] = a->plot;
    }
    if (!a->report.empty()) {
      write_policy_report(m, PolicyEvaluation{out, r.svg}, a->report);
      out["report"] = a->report;
    }
    std::cout << out.dump(2) << std::endl;
  });
}

void add_policy_compare(CLI::App& policy) {
  auto* cmd = policy.add_subcommand("compare", "policies and samplers side by side: every run with every sampler, one table and a picture each");
  cmd->footer("\nSamplers: adaflow:ETA[:MAX_STEPS] (at most 10 steps unless given) or SOLVER:STEPS for a fixed-step\n"
              "solver. A behaviour-cloning run is a one-step map: it gets one row, euler:1. adaflow needs a variance head.\n"
              "\nExamples:\n  rflow policy compare runs/adaflow_maze runs/bc_maze -o compare.html\n"
              "  rflow policy compare runs/adaflow_fork1d --samplers adaflow:0.1,euler:1,euler:10");
  struct Args {
    std::vector<std::string> runs;
    std::string samplers = "adaflow:0.5,euler:1,euler:2,euler:5,euler:20", html;
    PolicyEvalOptions eval;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("runs", a->runs, "policy run directories (or checkpoints), all on the same task")->required();
  cmd->add_option("--samplers", a->samplers, "comma-separated samplers")->capture_default_str();
  add_eval_options(*cmd, a->eval);
  cmd->add_option("-o,--report", a->html, "also write an HTML page: the table and every row's picture");
  cmd->callback([a] {
    const auto samplers = parse_samplers(a->samplers, "--samplers");
    nlohmann::json out = compare_policies(a->runs, samplers, a->eval, a->html);
    std::cout << out.dump(2) << std::endl;
  });
}

void add_policy_act(CLI::App& policy) {
  auto* cmd = policy.add_subcommand("act", "a control-loop step: read observations (one line of numbers each), print an action chunk for each");
  cmd->footer("\nReads observations from --input (default: standard input) until the end, one per line,\n"
              "and prints each action chunk as one line of numbers as soon as it is sampled.\n"
              "\nExamples:\n  echo \"-1 0\" | rflow policy act runs/adaflow_maze\n"
              "  rflow policy act runs/adaflow_maze --solver euler --steps 20 --input observations.txt --timing");
  struct Args {
    std::string run, input = "-";
    SolveOptions solve;
    FieldOptions field;
    uint64_t seed = 0;
    bool timing = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("run", a->run, "the policy's run directory (or a checkpoint)")->required();
  add_policy_solver(*cmd, a->solve, a->field);
  cmd->add_option("--input", a->input, "observations file ('-' = standard input)")->capture_default_str();
  add_seed_flag(*cmd, a->seed, "the noise");
  cmd->add_flag("--timing", a->timing, "print the time per action (median, 99th percentile) to standard error at the end");
  cmd->callback([a] {
    LoadedModel m = load_model(a->run, /*use_ema=*/true, c10::Device(c10::kCPU));
    const int64_t obs_dim = m.data->target().obs_dim();
    RF_CHECK(obs_dim > 0, "not a policy: its data draws no observations", m.checkpoint,
             "policies train on data.target.name = maze, fork1d or demos");
    const SolveOptions opt = solve_from_flags(a->solve);
    opt.validate("rflow policy act");
    a->field.validate("rflow policy act");
    seed_all(a->seed);
    std::ifstream file;
    if (a->input != "-") {
      io::check_readable_file(a->input, "write one observation per line to a file, or pipe them in");
      file.open(a->input);
      RF_CHECK(file.good(), "cannot read the observations", a->input, "");
    }
    std::istream& in = a->input == "-" ? std::cin : file;
    std::vector<int64_t> shape{1};
    for (auto s : m.model->sample_shape()) shape.push_back(s);
    torch::NoGradGuard ng;
    std::vector<double> ms;
    int64_t line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::istringstream words(line);
      words.imbue(std::locale::classic());
      std::vector<float> obs;
      for (double v; words >> v;) obs.push_back(static_cast<float>(v));
      RF_CHECK(words.eof() && static_cast<int64_t>(obs.size()) == obs_dim && std::all_of(obs.begin(), obs.end(), [](float v) { return std::isfinite(v); }),
               "line " + std::to_string(line_no) + ": expected " + std::to_string(obs_dim) + " finite numbers",
               a->input == "-" ? "standard input" : a->input, "one observation per line, numbers separated by spaces");
      const auto t0 = std::chrono::steady_clock::now();
      Cond c;
      c.extra["obs"] = torch::from_blob(obs.data(), {1, obs_dim}, torch::kFloat32).clone();
      const at::Tensor action = solve(*m.model, torch::randn(shape), opt, c, a->field).x.contiguous();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      const float* p = action.data_ptr<float>();
      std::ostringstream outl;
      outl.imbue(std::locale::classic());
      outl.precision(6);
      for (int64_t i = 0; i < action.numel(); ++i) outl << (i ? " " : "") << p[i];
      std::cout << outl.str() << "\n" << std::flush;
    }
    if (a->timing && !ms.empty()) {
      std::sort(ms.begin(), ms.end());
      std::cerr << "rflow policy act: " << ms.size() << " actions, median " << ms[ms.size() / 2] << " ms, p99 "
                << ms[ms.size() * 99 / 100] << " ms\n";
    }
  });
}

}  // namespace

void add_policy(CLI::App& app) {
  auto* policy = app.add_subcommand("policy", "flow policies (AdaFlow): train, evaluate in closed loop, act in a control loop");
  policy->require_subcommand(1);
  add_policy_train(*policy);
  add_policy_eval(*policy);
  add_policy_compare(*policy);
  add_policy_act(*policy);
}

}  // namespace rflow::cli

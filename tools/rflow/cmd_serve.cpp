// `rflow serve RUN|FILE…`: an HTTP service for trained models (rflow/serve): JSON in and out,
// loopback by default, limits on every request, SIGTERM drains the requests in flight.
#include <iostream>

#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/http_server.h"
#include "tools/rflow/commands.h"
#include "tools/rflow/config_flags.h"

namespace rflow::cli {

namespace {

struct ServeArgs {
  std::vector<std::string> models;
  std::string device = "cpu";
  serve::ServeOptions opt;
};

}  // namespace

void add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "serve trained models over HTTP (JSON): sample, act, list; health and metrics");
  std::string endpoints;
  for (const auto& [path, help] : serve::endpoints().list()) endpoints += "\n  " + path + "  " + help;
  cmd->footer("\nEndpoints:" + endpoints +
              "\nExamples:\n  rflow serve runs/demo_2d runs/adaflow_maze --port 8080\n"
              "  curl -s localhost:8080/v1/sample -d '{\"model\": \"demo_2d\", \"n\": 4, \"steps\": 8, \"seed\": 1}'\n"
              "  curl -s localhost:8080/v1/policy/act -d '{\"model\": \"adaflow_maze\", \"observations\": [[-1, 0]]}'");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("models", a->models, "runs, checkpoints or weight files to serve (each known by its folder's name)")->required();
  cmd->add_option("--device", a->device, "cpu | cuda[:N]")->capture_default_str();
  add_flags_for(*cmd, a->opt, "Server");
  cmd->callback([a] {
    a->opt.validate("rflow serve");
    serve::block_stop_signals();  // before loading starts any thread
    RunConfig dev_cfg;
    dev_cfg.device = a->device;
    serve::ServedModels models(a->models, setup_device(dev_cfg));
    serve::run_server(models, a->opt, [&](int port) {
      for (const auto& m : models.all()) spdlog::info("serve: {} ({}, step {})", m->name, m->kind, m->m.step);
      // One line on standard output a supervisor (or a test) can read the port from.
      std::cout << "rflow serve: listening on http://" << a->opt.host << ":" << port << std::endl;
    });
    spdlog::info("serve: stopped");
  });
}

}  // namespace rflow::cli

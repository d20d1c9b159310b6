// `rflow info CHECKPOINT`: what a checkpoint holds (step, model, parameters, data, metrics).
// `rflow info --system [--json]`: the CPU, BLAS kernels, LibTorch, oneDNN and threads figures depend on.
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/system_info.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/train/checkpoint.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "summarise a checkpoint, or this machine (--system)");
  cmd->footer("\nExamples:\n  rflow info runs/demo_2d\n  rflow info runs/demo_2d --tensors\n"
              "  rflow info runs/demo_2d/checkpoints/step_00006000/ema.safetensors\n  rflow info --system --json");
  auto path = std::make_shared<std::string>();
  auto tensors = std::make_shared<bool>(false);
  auto system = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("checkpoint", *path, "run directory, checkpoints/, a step_* directory, or one weight file (.safetensors)");
  cmd->add_flag("--tensors", *tensors, "list every tensor with its shape");
  cmd->add_flag("--system", *system, "print the CPU, its features, the BLAS library and kernels, LibTorch, oneDNN, threads");
  cmd->add_flag("--json", *json, "with --system: one JSON object");
  cmd->callback([path, tensors, system, json] {
    if (*system) {
      if (*json)
        std::cout << system_info_json().dump(2) << "\n";
      else
        std::cout << system_info_text();
      if (path->empty()) return;
    }
    RF_CHECK(!path->empty(), "no checkpoint given", "rflow info",
             "pass a run directory (rflow info runs/NAME) or --system for this machine");
    if (std::filesystem::is_regular_file(*path)) {  // one weight file, described by its own header
      LoadedField f = load_field_file(*path, c10::Device(c10::kCPU));
      std::string shape;
      for (auto s : f.sample_shape) shape += (shape.empty() ? "" : " × ") + std::to_string(s);
      std::cout << "weights      " << *path << "\n"
                << "written by   " << f.written_by << "\n"
                << "step         " << f.step << "\n"
                << "method       " << f.cfg.method.name << " (path " << f.cfg.method.path << ")\n"
                << "model        " << describe_model(f.cfg.model) << ", " << count_parameters(*f.model) << " parameters\n"
                << "samples      " << shape << " (" << f.cfg.data.source.name << " → " << f.cfg.data.target.name << ")\n";
      return;
    }
    LoadedModel m = load_model(*path, false, c10::Device(c10::kCPU));
    auto st = read_checkpoint_state(m.checkpoint);
    namespace fs = std::filesystem;
    std::cout << "checkpoint   " << m.checkpoint << "\n"
              << "step         " << m.step << " of " << m.cfg.train.steps << "\n"
              << "method       " << m.cfg.method.name << " (path " << m.cfg.method.path << ")\n"
              << "model        " << describe_model(m.cfg.model) << ", " << count_parameters(*m.model) << " parameters\n"
              << "data         " << m.cfg.data.source.name << " → " << m.cfg.data.target.name << "\n"
              << "ema          " << (fs::exists(fs::path(m.checkpoint) / "ema.safetensors") ? "yes" : "no")
              << " (decay " << m.cfg.train.ema_decay << ", " << st.ema_updates << " updates)\n"
              << "metrics      " << st.metrics_json << "\n";
    if (*tensors) {
      auto w = io::load_safetensors((fs::path(m.checkpoint) / "model.safetensors").string());
      for (const auto& [name, t] : w.tensors)
        std::cout << "  " << name << " " << t.sizes() << " " << t.scalar_type() << "\n";
    }
  });
}

}  // namespace rflow::cli

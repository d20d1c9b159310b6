// `rflow vl train | ask | eval`: a vision-language model in DeepSeek-VL2's manner — images of any
// aspect ratio cut into a global view and local tiles, read by a small ViT, and answered by a
// DeepSeek-style language model (MLA + MoE) decoding with its latent KV cache.
#include <iostream>

#include <spdlog/spdlog.h>

#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/core/log.h"
#include "rflow/io/atomic_file.h"
#include "rflow/vl/vl_eval.h"
#include "rflow/vl/vl_model.h"
#include "rflow/vl/vl_report.h"
#include "rflow/vl/vl_run.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

namespace {

void add_vl_train(CLI::App& parent) {
  add_keyed_run_train(
      parent,
      {"train a vision-language run: the tiled model, the resize baseline, eval, report",
       "\nExamples:\n  rflow vl train configs/vl/composites.toml\n  rflow vl train configs/vl/composites.toml --set train.steps=500\n"
       "  rflow vl train runs/vl_composites --stage eval --stage report",
       vl_stages().joined(),
       [] {
         VlRunConfig cfg;
         return "vl run keys (defaults):\n" + config::describe(config::fields_of(cfg));
       },
       [](const ConfigArgs& a, bool fresh, const std::vector<std::string>& only) {
         const VlRunConfig cfg = load_vl_config(a.config, a.overrides);
         setup_logging(cfg.log_level);
         return run_vl(cfg, VlRunOptions{fresh, only});
       }});
}

void add_vl_ask(CLI::App& parent) {
  auto* cmd = parent.add_subcommand("ask", "ask a question about an image (PNG, JPEG, … of any size)");
  cmd->footer("\nExamples:\n  rflow vl ask runs/vl_composites shoes.png \"describe this image\"\n"
              "  rflow vl ask runs/vl_composites shoes.png \"how many sneakers are there\" --temperature 0.7 --top-p 0.9");
  struct Args {
    std::string run, image, question, model = "model";
    SamplingOptions s;
    int64_t seed = 0;
    bool show_tiles = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("run", a->run, "vision-language run directory, or a JanusFlow run")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("image", a->image, "image file")->required();
  cmd->add_option("question", a->question, "the question")->required();
  cmd->add_option("--model", a->model, "model (dynamic tiling, or a JanusFlow run's) | baseline (resize)")->capture_default_str();
  cmd->add_option("--temperature", a->s.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", a->s.top_k, "sample among the k most likely tokens (0 = all)")->capture_default_str();
  cmd->add_option("--top-p", a->s.top_p, "nucleus sampling threshold (1 = all)")->capture_default_str();
  cmd->add_option("--max-tokens", a->s.max_new_tokens, "tokens generated at most")->capture_default_str();
  cmd->add_option("--seed", a->seed, "sampling seed")->capture_default_str();
  cmd->add_flag("--tiles", a->show_tiles, "also print the tile grid the image was cut into");
  cmd->callback([a] {
    a->s.validate("rflow vl ask");
    RF_CHECK(a->model == "model" || a->model == "baseline", "unknown model '" + a->model + "'", "--model", "model | baseline");
    io::check_readable_file(a->image);
    VlModel m(a->run, a->model);
    const at::Tensor img = VlModel::read_image(a->image);
    if (a->show_tiles) {
      const TileGrid g = grid_for(img.size(2), img.size(1), m.tiling());
      std::cout << "tiles: " << img.size(2) << "×" << img.size(1) << " → global view + " << g.cols << " × " << g.rows
                << " local tiles of " << m.tiling().tile << " pixels\n";
    }
    std::cout << m.answer({img}, {a->question}, a->s, uint64_t(a->seed))[0] << "\n" << std::flush;
  });
}

void add_vl_eval(CLI::App& parent) {
  auto* cmd = parent.add_subcommand("eval", "evaluate a vision-language run (eval.json, and its report) or a JanusFlow run's understanding (understanding.json)");
  cmd->footer("\nExamples:\n  rflow vl eval runs/vl_composites\n  rflow vl eval runs/janusflow_fmnist");
  auto run = std::make_shared<std::string>();
  cmd->add_option("run", *run, "vision-language run directory")->required()->check(CLI::ExistingDirectory);
  cmd->callback([run] {
    evaluate_vl_run(*run);
    write_vl_report(*run);
    const bool unified = is_janusflow_run(*run);
    spdlog::info("eval: {} (report: {}/{})", vl_eval_file(*run, unified), *run, unified ? "understanding.html" : "report.html");
  });
}

}  // namespace

void add_vl(CLI::App& app) {
  auto* cmd = app.add_subcommand("vl", "vision-language: answer questions about images of any aspect ratio (dynamic tiling, MLA + MoE decoder)");
  cmd->require_subcommand(1);
  add_vl_train(*cmd);
  add_vl_ask(*cmd);
  add_vl_eval(*cmd);
}

}  // namespace rflow::cli

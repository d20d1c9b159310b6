#include "rflow/pipeline/run_context.h"

#include <cstdlib>
#include <thread>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/methods/reflow.h"
#include "rflow/train/checkpoint.h"

namespace rflow {

c10::Device setup_device(const RunConfig& cfg) {
  // threads = 0: every core, unless OMP_NUM_THREADS says otherwise. Debian's LibTorch starts with
  // one intra-op thread here, which halves pair generation and sampling on 2 cores.
  if (cfg.threads > 0) torch::set_num_threads(static_cast<int>(cfg.threads));
  else if (!std::getenv("OMP_NUM_THREADS"))
    torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  c10::Device dev(c10::kCPU);
  try {
    dev = c10::Device(cfg.device);
  } catch (const c10::Error&) {
    throw Error("cannot parse device '" + cfg.device + "'", "device", "use cpu or cuda[:N]");
  }
  RF_CHECK(!dev.is_cuda() || torch::cuda::is_available(), "CUDA requested but not available", "device",
           "use device=cpu, or build against a CUDA LibTorch on a GPU machine");
  return dev;
}

LoadedModel load_model(const std::string& path, bool use_ema, c10::Device device) {
  LoadedModel out;
  out.checkpoint = resolve_checkpoint(path);
  RF_CHECK(!out.checkpoint.empty(), "no checkpoint found", path,
           "pass a run directory, its checkpoints/ folder or a step_* directory");
  out.cfg = run_config_from_json(read_checkpoint_config(out.checkpoint), out.checkpoint + "/config.json");
  out.step = read_checkpoint_state(out.checkpoint).step;
  out.data = make_coupling(out.cfg.data);
  out.model = make_model(out.cfg.model, out.data->sample_shape());
  load_weights(out.checkpoint, *out.model, use_ema);
  out.model->to(device);
  out.model->eval();
  return out;
}

std::unique_ptr<BatchSource> make_training_source(const RunConfig& cfg, c10::Device device) {
  if (cfg.data.coupling != "online") return make_batch_source(cfg.data);
  cfg.data.validate();
  LoadedModel teacher = load_model(cfg.data.teacher, /*use_ema=*/true, device);
  auto data = make_coupling(cfg.data);
  RF_CHECK(teacher.model->sample_shape() == data->sample_shape(), "the online teacher's samples have another shape",
           cfg.data.teacher, "use the data section of the teacher run");
  return std::make_unique<OnlinePairSource>(teacher.model, std::move(data), cfg.reflow.online_steps, cfg.reflow.solve.guidance);
}

}  // namespace rflow

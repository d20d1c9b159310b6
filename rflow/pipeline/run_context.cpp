#include "rflow/pipeline/run_context.h"

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/nearest_path.h"
#include "rflow/core/json_int.h"
#include "rflow/data/coupling.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/model_config.h"
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

namespace {
// The field a network is sampled as: its method's view of it, when the method has one.
VelocityField sampling_view(const VelocityField& network, const RunConfig& cfg) {
  const MethodEntry& m = methods().get(cfg.method.name, "method.name");
  if (!m.sampling_field) return network;
  VelocityField f = m.sampling_field(network, cfg.method);
  f->eval();
  return f;
}
}  // namespace

LoadedModel load_model(const std::string& path, bool use_ema, c10::Device device) {
  LoadedModel out;
  if (std::filesystem::is_regular_file(path)) {  // one self-describing weight file: it is what it is
    LoadedField f = load_field_file(path, device);
    out.cfg = f.cfg;
    out.checkpoint = path;
    out.step = f.step;
    out.data = make_coupling(out.cfg.data);
    RF_CHECK(out.data->sample_shape() == f.sample_shape, "the file's sample shape is not its data's", path,
             "the config in its header names other data than it was trained on");
    out.network = f.model;
    out.model = sampling_view(out.network, out.cfg);
    return out;
  }
  out.checkpoint = resolve_checkpoint(path);
  RF_CHECK(!out.checkpoint.empty(), std::filesystem::exists(path) ? "no checkpoint found" : "no such run or file", path,
           "pass a run directory, its checkpoints/ folder or a step_* directory" + io::did_you_mean_path(path));
  out.cfg = run_config_from_json(read_checkpoint_config(out.checkpoint), out.checkpoint + "/config.json");
  out.step = read_checkpoint_state(out.checkpoint).step;
  out.data = make_coupling(out.cfg.data);
  out.network = make_model(out.cfg.model, out.data->sample_shape());
  load_weights(out.checkpoint, *out.network, use_ema);
  out.network->to(device);
  out.network->eval();
  out.model = sampling_view(out.network, out.cfg);
  return out;
}

LoadedField load_field_file(const std::string& path, c10::Device device) {
  io::SafetensorsData d = io::load_safetensors(path);
  auto meta = [&](const char* key) -> const std::string& {
    auto it = d.metadata.find(key);
    RF_CHECK(it != d.metadata.end(), std::string("the file's header has no '") + key + "'", path,
             "only weight files written by a recent rflow describe themselves; load its run directory instead");
    return it->second;
  };
  RF_CHECK(meta("format") == "rflow", "not an rflow weight file", path, "pass a checkpoint's model.safetensors or ema.safetensors");
  LoadedField out;
  out.cfg = run_config_from_json(meta("config"), path + " (__metadata__.config)");
  const auto shape = nlohmann::json::parse(meta("sample_shape"), nullptr, false);
  RF_CHECK(shape.is_array() && !shape.empty(), "malformed sample_shape in the header", path, "the file may be damaged");
  for (const auto& s : shape) {
    RF_CHECK(s.is_number_integer() && s.get<int64_t>() >= 1 && s.get<int64_t>() <= (1 << 20), "malformed sample_shape in the header",
             path, "the file may be damaged");
    out.sample_shape.push_back(s.get<int64_t>());
  }
  out.step = json_int64(nlohmann::json::parse(meta("step"), nullptr, false), "step", path);
  out.written_by = d.metadata.count("rflow_version") ? d.metadata.at("rflow_version") : "";
  out.model = make_model(out.cfg.model, out.sample_shape);
  assign_module_tensors(*out.model, d.tensors, path);
  out.model->to(device);
  out.model->eval();
  return out;
}

std::unique_ptr<BatchSource> make_training_source(const RunConfig& cfg, c10::Device device) {
  CouplingInputs in;
  in.load_teacher = [device](const std::string& run) { return load_model(run, /*use_ema=*/true, device).model; };
  in.online_steps = cfg.reflow.online_steps;
  in.online_guidance = cfg.reflow.field.guidance;
  return make_batch_source(cfg.data, in);
}

}  // namespace rflow

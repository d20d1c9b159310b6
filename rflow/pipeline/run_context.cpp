#include "rflow/pipeline/run_context.h"

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/nearest_path.h"
#include "rflow/core/json_int.h"
#include "rflow/core/thread_policy.h"
#include "rflow/data/coupling.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/model_config.h"
#include "rflow/methods/reflow.h"
#include "rflow/train/checkpoint.h"

namespace rflow {

c10::Device setup_device(const RunConfig& cfg) {
  // threads = 0: the cores other processes leave (core/thread_policy.h), unless OMP_NUM_THREADS
  // says otherwise. Debian's LibTorch starts with one intra-op thread, which halves pair
  // generation and sampling on 2 idle cores.
  // Far more threads than cores only costs: every parallel region waits on descheduled threads.
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  RF_CHECK(cfg.threads <= 4 * static_cast<int64_t>(cores),
           "threads = " + std::to_string(cfg.threads) + " on a machine with " + std::to_string(cores) + " hardware threads",
           "threads", "use 0 (the cores other processes leave free) or at most " + std::to_string(cores));
  apply_thread_setting(cfg.threads);
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
// A checkpoint found inside a run (copied or linked in from another) must be of the run's model:
// `rflow run` refuses to resume from one, and what samples or exports it must not pass it off as
// the run's. A checkpoint named directly, or a run without config.json, is what it is.
void check_checkpoint_is_the_runs(const std::string& path, const std::string& checkpoint) {
  namespace fs = std::filesystem;
  fs::path run = fs::path(path).lexically_normal();
  while (!run.empty() && run.filename().empty()) run = run.parent_path();
  if (run.filename() == "checkpoints") run = run.parent_path();
  const fs::path run_config = run / "config.json";
  if (!fs::is_regular_file(run_config) || fs::equivalent(run, checkpoint)) return;
  const auto ours = nlohmann::json::parse(io::read_file(run_config.string(), 1 << 24), nullptr, false);
  const auto theirs = nlohmann::json::parse(read_checkpoint_config(checkpoint), nullptr, false);
  if (!ours.is_object() || !theirs.is_object() || !ours.contains("model") || !theirs.contains("model")) return;
  RF_CHECK(ours["model"] == theirs["model"], "the checkpoint " + checkpoint + " was written for another model than this run's",
           path, "remove the checkpoint that was copied or linked into the run, or pass that checkpoint itself");
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
  check_checkpoint_is_the_runs(path, out.checkpoint);
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
  // NaN weights sample NaN everywhere: refused as checkpoints with them are.
  for (const auto& [name, t] : d.tensors)
    RF_CHECK(!t.is_floating_point() || torch::isfinite(t).all().item<bool>(), "the weight " + name + " has NaN/Inf values",
             path, "the training that wrote it diverged or the file is damaged; use an earlier checkpoint");
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

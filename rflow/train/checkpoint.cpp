#include "rflow/train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/fingerprint.h"
#include "rflow/core/json_int.h"
#include "rflow/core/rng.h"
#include "rflow/core/tensor_util.h"
#include "rflow/core/version.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/ema.h"
#include "rflow/train/optimizer_state_key.h"
#include "rflow/io/remove_tree.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {
std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%08lld", (long long)step);
  return buf;
}

// step_ and eight digits: what save_checkpoint names its directories (not .tmp_ or .damaged ones).
bool is_step_name(const std::string& name) {
  if (name.size() != 13 || name.rfind("step_", 0) != 0) return false;
  return std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A zip archive (torch::save's format) ends with an end-of-central-directory record; a truncated
// or overwritten file does not.
bool looks_like_complete_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return false;
  const std::streamoff size = in.tellg();
  const std::streamoff tail = std::min<std::streamoff>(size, 65557);
  if (tail < 22) return false;
  std::string buf(static_cast<size_t>(tail), '\0');
  in.seekg(size - tail);
  in.read(buf.data(), tail);
  return buf.rfind(std::string("PK\x05\x06", 4)) != std::string::npos;
}

// Step directories of a checkpoints root, newest first.
std::vector<fs::path> step_dirs(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (is_step_name(e.path().filename().string()) && e.is_directory(ec)) out.push_back(e.path());
  std::sort(out.rbegin(), out.rend());
  return out;
}

// Warn once per process and checkpoint: resolve_checkpoint runs several times per command.
// The moments of every parameter have its shape: an optimizer.pt of another model loads without
// complaint and fails only at the first step, far from its cause.
void check_optimizer_matches(torch::optim::Optimizer& opt, const std::string& where) {
  auto& state = opt.state();
  for (auto& group : opt.param_groups())
    for (const auto& p : group.params()) {
      const auto it = state.find(optimizer_state_key(p));
      if (it == state.end()) continue;
      at::Tensor m;
      if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) m = a->exp_avg();
      else if (auto* w = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) m = w->exp_avg();
      RF_CHECK(!m.defined() || m.sizes() == p.sizes(),
               "the optimizer state has a moment of shape " + shape_str(m) + " for a parameter of shape " + shape_str(p),
               where, "the optimizer state belongs to another model");
    }
}

void warn_once(const std::string& key, const std::string& message) {
  static std::mutex mu;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(mu);
  if (said.insert(key).second) spdlog::warn("{}", message);
}
}  // namespace

std::string checkpoint_problem(const std::string& dir) {
  const fs::path d(dir);
  try {
    const CheckpointState st = read_checkpoint_state(dir);
    if (st.step < 0) return "state.json has a negative step (" + std::to_string(st.step) + ")";
    if (const std::string rng = rng_state_problem(st.rng); !rng.empty()) return "state.json: " + rng;
    const std::string folder = d.filename().string();
    if (is_step_name(folder) && folder != step_name(st.step))
      return "state.json says step " + std::to_string(st.step) + " but the folder is " + folder;
    const auto cfg = nlohmann::json::parse(read_checkpoint_config(dir), nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) return "config.json is not a JSON object";
    for (const char* f : {"model.safetensors", "ema.safetensors"}) {
      if (std::string(f) == "ema.safetensors" && !fs::exists(d / f)) continue;
      // NaN weights would sample NaN everywhere: such a checkpoint is as unusable as a torn one.
      for (const auto& [name, t] : io::load_safetensors((d / f).string()).tensors)
        if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
          return std::string(f) + " has NaN/Inf values in " + name;
    }
    if (fs::exists(d / "optimizer.pt") && !looks_like_complete_zip((d / "optimizer.pt").string()))
      return "optimizer.pt is truncated or not a torch archive";
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

std::vector<std::pair<std::string, at::Tensor>> module_tensors(const torch::nn::Module& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value().detach());
  for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value().detach());
  return out;
}

void assign_module_tensors(torch::nn::Module& model, const std::vector<std::pair<std::string, at::Tensor>>& named,
                           const std::string& where) {
  std::map<std::string, at::Tensor> have(named.begin(), named.end());
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  auto targets = module_tensors(model);
  for (auto& [name, t] : targets) {
    auto it = have.find(name);
    if (it == have.end()) {
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    if (it->second.sizes() != t.sizes() || it->second.scalar_type() != t.scalar_type())
      mismatched.push_back(name + " (file " + shape_str(it->second) + " " + c10::toString(it->second.scalar_type()) +
                           ", model " + shape_str(t) + " " + c10::toString(t.scalar_type()) + ")");
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : have)
    if (!used.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (size_t i = 0; i < v.size() && i < 6; ++i) s += (i ? ", " : "") + v[i];
      if (v.size() > 6) s += ", ... (" + std::to_string(v.size()) + " in all)";
      return s;
    };
    std::string what = "checkpoint does not match the model:";
    if (!missing.empty()) what += " missing [" + list(missing) + "]";
    if (!unexpected.empty()) what += " unexpected [" + list(unexpected) + "]";
    if (!mismatched.empty()) what += " shape/dtype differs [" + list(mismatched) + "]";
    throw Error(what, where, "build the model with the config stored in the checkpoint (config.json)");
  }
  torch::NoGradGuard ng;
  for (auto& [name, t] : targets) t.copy_(have.at(name));
}

std::map<std::string, std::string> field_file_metadata(const torch::nn::Module& model, const std::string& config_json,
                                                       int64_t step, const std::string& weights) {
  std::map<std::string, std::string> meta{{"format", "rflow"},
                                          {"rflow_version", version_line()},
                                          {"step", std::to_string(step)},
                                          {"weights", weights}};
  const auto cfg = nlohmann::json::parse(config_json, nullptr, false);
  meta["config"] = cfg.is_discarded() ? config_json : cfg.dump();
  if (const auto* field = dynamic_cast<const VelocityFieldImpl*>(&model))
    meta["sample_shape"] = nlohmann::json(field->sample_shape()).dump();
  return meta;
}

std::string save_checkpoint(const std::string& root, const torch::nn::Module& model, const Ema* ema,
                            const torch::optim::Optimizer* optimizer, const CheckpointState& state,
                            const std::string& config_json, int64_t keep) {
  fs::create_directories(root);
  const std::string name = step_name(state.step);
  const fs::path final_dir = fs::path(root) / name;
  // Never overwrite a step: a damaged one (training resumed from an older one) is moved aside for
  // inspection; an intact one means something else writes this run.
  if (fs::exists(final_dir)) {
    const std::string problem = checkpoint_problem(final_dir.string());
    RF_CHECK(!problem.empty(), "an intact checkpoint for step " + std::to_string(state.step) + " exists already",
             final_dir.string(), "another process may be training this run; stop it, or remove the checkpoint");
    set_aside(final_dir.string(), problem);
  }
  const fs::path tmp = fs::path(root) / (".tmp_" + name);
  io::remove_tree(tmp);
  fs::create_directories(tmp);
  try {
    // Self-describing weight files: each carries the run config (architecture and options), the
    // sample shape, its step and the rflow that wrote it, so the file alone rebuilds its field.
    auto with = [&](const char* weights) { return field_file_metadata(model, config_json, state.step, weights); };
    io::save_safetensors((tmp / "model.safetensors").string(), module_tensors(model), with("model"));
    if (ema) io::save_safetensors((tmp / "ema.safetensors").string(), ema->state(), with("ema"));
    if (optimizer) {
      // Serialised in memory and written by rflow: torch::save's own file writer aborts the process
      // (an exception from a destructor) when the disk fills up.
      std::ostringstream bytes;
      torch::save(*optimizer, bytes);
      io::write_file_atomic((tmp / "optimizer.pt").string(), bytes.str());
    }
    nlohmann::json st{{"step", state.step},
                      {"rng", state.rng},
                      {"ema_updates", state.ema_updates},
                      {"metrics", nlohmann::json::parse(state.metrics_json)},
                      {"format_version", 1}};
    if (!state.shard_rng.empty()) st["shard_rng"] = state.shard_rng;
    io::write_file_atomic((tmp / "state.json").string(), st.dump(2));
    io::write_file_atomic((tmp / "config.json").string(), config_json);
    fs::rename(tmp, final_dir);
    io::sync_path(root);
  } catch (const std::exception& e) {
    std::error_code ec;
    io::remove_tree(tmp, ec);
    throw Error(std::string("failed to write checkpoint: ") + e.what(), final_dir.string(),
                "check disk space and permissions; the previous checkpoint is intact");
  }
  io::write_file_atomic((fs::path(root) / "LATEST").string(), name + "\n");
  // Prune older checkpoints only after the new one is in place.
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && is_step_name(e.path().filename().string())) all.push_back(e.path());
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + keep < all.size(); ++i) io::remove_tree(all[i]);
  return final_dir.string();
}

void set_aside(const std::string& dir, const std::string& problem) {
  const fs::path d(dir);
  const fs::path aside = d.parent_path() / (d.filename().string() + ".damaged");
  io::remove_tree(aside);
  fs::rename(d, aside);
  spdlog::warn("checkpoints: moved the damaged {} aside to {} ({})", d.filename().string(), aside.filename().string(), problem);
}

std::vector<std::string> intact_checkpoints(const std::string& root) {
  std::vector<std::string> out;
  std::string skipped;
  for (const auto& dir : step_dirs(root)) {
    const std::string problem = checkpoint_problem(dir.string());
    if (problem.empty()) out.push_back(dir.string());
    else skipped += (skipped.empty() ? "" : "; ") + dir.filename().string() + " (" + problem + ")";
  }
  RF_CHECK(!out.empty() || skipped.empty(), "no intact checkpoint: " + skipped, root,
           "restore a checkpoint from a backup, or start the run over with --fresh");
  if (!skipped.empty()) warn_once(root + "#skip:" + skipped, "checkpoints: skipped damaged " + skipped);
  return out;
}

std::string resolve_checkpoint(const std::string& path) {
  const fs::path p(path);
  if (fs::exists(p / "state.json")) {  // one checkpoint, named by the user: used as it is or refused
    const std::string problem = checkpoint_problem(p.string());
    RF_CHECK(problem.empty(), "damaged checkpoint: " + problem, p.string(),
             "pass another checkpoint, or the run directory to use its newest intact one");
    return p.string();
  }
  fs::path root;
  for (const fs::path& r : {p, p / "checkpoints"})
    if (fs::exists(r / "LATEST") || !step_dirs(r).empty()) {
      root = r;
      break;
    }
  if (root.empty()) return {};
  // The newest checkpoint that validates. LATEST names the last one written, for people and other
  // tools; it is not followed (a damaged or hand-edited LATEST must not decide what is loaded).
  std::string skipped;
  for (const auto& dir : step_dirs(root)) {
    const std::string problem = checkpoint_problem(dir.string());
    if (problem.empty()) {
      if (!skipped.empty())
        warn_once(dir.string(), "checkpoints: using " + dir.filename().string() + "; skipped damaged " + skipped);
      return dir.string();
    }
    skipped += (skipped.empty() ? "" : "; ") + dir.filename().string() + " (" + problem + ")";
  }
  RF_CHECK(skipped.empty(), "no intact checkpoint: " + skipped, root.string(),
           "restore a checkpoint from a backup, or start the run over with --fresh");
  return {};
}

CheckpointState read_checkpoint_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / "state.json").string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(io::read_file(path, 1 << 26));
    CheckpointState s;
    s.step = json_int64(j.at("step"), "step", path);
    s.rng = j.at("rng").get<std::string>();
    s.ema_updates = json_int64_or(j, "ema_updates", 0, path);
    s.metrics_json = j.value("metrics", nlohmann::json::object()).dump();
    if (j.contains("shard_rng")) {
      s.shard_rng = j.at("shard_rng").get<std::vector<std::string>>();
      for (const auto& r : s.shard_rng)
        if (const std::string problem = rng_state_problem(r); !problem.empty())
          throw Error("a shard's " + problem, path, "the checkpoint is corrupt");
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed checkpoint state: ") + e.what(), path, "the checkpoint is corrupt");
  }
}

std::string checkpoint_fingerprint(const std::string& dir) {
  uint64_t h = kFingerprintSeed;
  for (const char* f : {"model.safetensors", "ema.safetensors"})
    if (fs::exists(fs::path(dir) / f)) h = fingerprint_file((fs::path(dir) / f).string(), h);
  return fingerprint_hex(h);
}

std::string read_checkpoint_config(const std::string& dir) {
  return io::read_file((fs::path(dir) / "config.json").string(), 1 << 24);
}

void load_checkpoint(const std::string& dir, torch::nn::Module& model, Ema* ema, torch::optim::Optimizer* optimizer) {
  const fs::path d(dir);
  auto weights = io::load_safetensors((d / "model.safetensors").string());
  assign_module_tensors(model, weights.tensors, (d / "model.safetensors").string());
  CheckpointState st = read_checkpoint_state(dir);
  if (ema) {
    RF_CHECK(fs::exists(d / "ema.safetensors"), "checkpoint has no EMA weights", dir, "");
    ema->load_state(io::load_safetensors((d / "ema.safetensors").string()).tensors, st.ema_updates,
                    (d / "ema.safetensors").string());
  }
  if (optimizer) {
    RF_CHECK(fs::exists(d / "optimizer.pt"), "checkpoint has no optimizer state", dir, "cannot resume exactly");
    try {
      torch::load(*optimizer, (d / "optimizer.pt").string());
    } catch (const c10::Error& e) {
      throw Error("cannot read optimizer state: " + std::string(e.what_without_backtrace()),
                  (d / "optimizer.pt").string(), "the optimizer setting may differ from the checkpoint's");
    }
    check_optimizer_matches(*optimizer, (d / "optimizer.pt").string());
  }
}

void load_weights(const std::string& dir, torch::nn::Module& model, bool use_ema) {
  const fs::path d(dir);
  const bool have_ema = fs::exists(d / "ema.safetensors");
  if (use_ema && !have_ema)
    warn_once(dir + "#ema", "checkpoint " + dir + " has no EMA weights (ema.safetensors); using the raw weights");
  fs::path file = use_ema && have_ema ? d / "ema.safetensors" : d / "model.safetensors";
  RF_CHECK(fs::exists(file), "no weights in checkpoint", dir, "pass a checkpoint directory or a run directory");
  assign_module_tensors(model, io::load_safetensors(file.string()).tensors, file.string());
}

}  // namespace rflow

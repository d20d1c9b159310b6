#include "rflow/train/trainer.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include <ATen/autocast_mode.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/kernels/cpu_features.h"
#include "rflow/core/error.h"
#include "rflow/core/json_int.h"
#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/core/thread_policy.h"
#include "rflow/dist/world.h"
#include "rflow/flow/training_hooks.h"
#include "rflow/io/atomic_file.h"
#include "rflow/nn/ema.h"
#include "rflow/nn/flat_parameters.h"
#include "rflow/nn/layers/linear.h"
#include "rflow/train/fused_adam.h"
#include "rflow/train/gradient_buckets.h"
#include "rflow/train/checkpoint.h"
#include "rflow/train/sigint_scope.h"
#include "rflow/train/shard_streams.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<at::Tensor> params) {
  if (c.optimizer == "adamw")
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.adam_eps).weight_decay(c.weight_decay));
  return std::make_unique<torch::optim::Adam>(
      params, torch::optim::AdamOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.adam_eps).weight_decay(c.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

// CPU autocast for the forward pass (train.precision = bf16), off again on every exit path.
// A caller's own autocast state is restored afterwards.
struct AutocastScope {
  bool on, was_enabled = false;
  at::ScalarType was_dtype = at::kBFloat16;
  explicit AutocastScope(bool enable) : on(enable) {
    if (!on) return;
    was_enabled = at::autocast::is_cpu_enabled();
    was_dtype = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  ~AutocastScope() {
    if (!on) return;
    at::autocast::set_cpu_enabled(was_enabled);
    at::autocast::set_autocast_cpu_dtype(was_dtype);
    if (!was_enabled) at::autocast::clear_cache();
  }
};

// Drops metric lines written after `step` (a resumed run rewrites them).
void truncate_metrics(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (json_int64_or(nlohmann::json::parse(line), "step", 0, path) > step) continue;
    } catch (const nlohmann::json::exception&) {
      continue;  // a torn last line from a crash
    } catch (const Error&) {
      continue;  // a damaged one
    }
    kept += line + "\n";
  }
  io::write_file_atomic(path, kept);
}

}  // namespace

void TrainContext::log(const std::string& key, double value) {
  metrics[key] = torch::scalar_tensor(value, torch::kDouble);
}

Trainer::Trainer(TrainConfig cfg, VelocityField model, Method& method, BatchSource& data, std::string run_dir,
                 std::string config_json, c10::Device device, std::shared_ptr<const Path> path, VelocityField teacher)
    : cfg_(std::move(cfg)),
      model_(std::move(model)),
      method_(method),
      data_(data),
      run_dir_(std::move(run_dir)),
      config_json_(std::move(config_json)),
      device_(device),
      path_(path ? std::move(path) : std::shared_ptr<const Path>(make_path("linear"))),
      teacher_(std::move(teacher)) {
  cfg_.validate();
  bool trainable = false;
  for (const auto& p : model_->parameters()) trainable = trainable || p.requires_grad();
  RF_CHECK(trainable, "the network (" + model_->name() + ") has no trainable parameters", "model",
           "a TorchScript field must keep its weights as parameters (torch.jit.script of an nn.Module does)");
  RF_CHECK(!method_.needs_teacher() || teacher_, "method '" + method_.name() + "' needs a teacher field",
           "method.teacher", "set method.teacher to a trained run directory or checkpoint");
  if (teacher_) {
    teacher_->to(device_);
    teacher_->eval();
    for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  }
}

namespace {

// One call of Trainer::run: the optimiser state, the metrics window and the named steps of the
// loop (resume, one optimisation step, read back, log, checkpoint).
class TrainRun {
 public:
  TrainRun(const TrainConfig& cfg, VelocityField model, Method& method, BatchSource& data, const std::string& run_dir,
           const std::string& config_json, c10::Device device, const Path& path, VelocityFieldImpl* teacher)
      : cfg_(cfg), model_(std::move(model)), method_(method), data_(data), config_json_(config_json), device_(device),
        ckpt_root_((fs::path(run_dir) / "checkpoints").string()),
        metrics_path_((fs::path(run_dir) / "metrics.jsonl").string()),
        flat_(prepare(*model_, device, run_dir)),
        optimizer_(make_optimizer(cfg_, model_->parameters())),
        ema_(*model_, cfg_.ema_decay, cfg_.ema_warmup),
        ctx_{*model_, path},
        bf16_(cfg_.precision == "bf16"),
        world_(dist::world()) {
    // One buffer for all parameters and one for their gradients (after the move to the device):
    // the optimizer, clipping and EMA then run as a few whole-model ops.
    if (flat_.defined()) fused_ = std::make_unique<FusedAdam>(*optimizer_, flat_, cfg_);
    ctx_.ema = ema_.model();
    ctx_.teacher = teacher;
    // Backbones with a loss of their own or work after each step (MoE routing balance).
    hooks_ = dynamic_cast<TrainingHooks*>(model_.get());
    RF_CHECK(!bf16_ || device_.is_cpu(), "train.precision = bf16 is the CPU autocast path", "train.precision",
             "use fp32 on a GPU");
    if (bf16_ && !cpu_features().avx512_bf16 && !cpu_features().amx_bf16)
      spdlog::warn("train.precision = bf16 on a CPU without AVX-512 BF16 or AMX: bfloat16 is emulated there and slower than fp32");
  }

  TrainResult run(int64_t end) {
    int64_t step = resume();
    split_shards();
    same_on_every_rank(step);
    if (world_.leader()) {
      truncate_metrics(metrics_path_, step);
      metrics_.open(metrics_path_, std::ios::app);
    }
    SigintScope sigint;
    progress_ = std::make_unique<Progress>("train", end, step, /*enabled=*/world_.leader());
    pending_from_ = step;
    t_window_ = std::chrono::steady_clock::now();
    const auto t_start = t_window_;
    const int64_t start = step;
    while (step < end) {
      const double lr = learning_rate(cfg_, step);
      optimise(step, lr);
      ++step;
      const bool log_due = step % cfg_.log_every == 0 || step == end;
      if (log_due || pending_loss_.size() >= kReadBack) read_back();
      if (log_due) log_line(step, end, lr);
      progress_->update(step, status_);
      const bool due = (cfg_.ckpt_every > 0 && step % cfg_.ckpt_every == 0) || step == end;
      if (due) checkpoint(step);
      if (interrupted_) {
        if (!due) checkpoint(step);
        progress_->finish();
        throw Error("interrupted at step " + std::to_string(step), "train",
                    "checkpoint saved at " + res_.checkpoint + "; rerun the same command to resume");
      }
    }
    progress_->finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    res_.step = step;
    res_.steps_per_s = secs > 0 ? (step - start) / secs : 0.0;
    return res_;
  }

 private:
  static FlatParameters prepare(VelocityFieldImpl& model, c10::Device device, const std::string& run_dir) {
    fs::create_directories(run_dir);
    model.to(device);
    model.train();
    return FlatParameters(model);
  }

  // How the batch is split: train.shards (0: one per rank), or the count a resumed run started
  // with; this rank computes shards rank, rank + size, ... Several shards draw from streams of
  // their own (one shard alone keeps the plain generators, as a run without shards always has).
  void split_shards() {
    const int64_t W = world_.size();
    int64_t S = cfg_.shards > 0 ? cfg_.shards : W;
    if (!resumed_shard_rng_.empty()) {
      const int64_t had = static_cast<int64_t>(resumed_shard_rng_.size());
      RF_CHECK(cfg_.shards == 0 || cfg_.shards == had,
               "the run was started with " + std::to_string(had) + " shards and train.shards is " + std::to_string(cfg_.shards),
               "train.shards", "leave it at 0 (or " + std::to_string(had) + ") to resume; a new count needs a fresh run");
      S = had;
    }
    RF_CHECK(S % W == 0, std::to_string(S) + " data shards do not split over " + std::to_string(W) + " ranks", "train.shards",
             "run on a number of ranks that divides the shards (the run keeps the count it started with)");
    RF_CHECK(cfg_.batch_size % S == 0,
             "batch_size " + std::to_string(cfg_.batch_size) + " does not split into " + std::to_string(S) + " shards",
             "train.batch_size", "choose a batch size that the number of ranks (or train.shards) divides");
    shards_ = S;
    mine_ = shards_of_rank(S, world_.rank(), W);
    if (S > 1) {
      streams_ = std::make_unique<ShardStreams>(S, device_);
      if (!resumed_shard_rng_.empty()) streams_->restore(resumed_shard_rng_, resumed_from_);
    }
    if (W > 1)
      spdlog::info("train: rank {} of {}: shards {} of {} ({} samples each)", world_.rank(), W,
                   fmt::join(mine_, ","), S, cfg_.batch_size / S);
    if (W > 1 && flat_.defined() && cfg_.bucket_mb > 0)
      buckets_ = std::make_unique<GradientBuckets>(flat_, world_, static_cast<int64_t>(cfg_.bucket_mb * (1 << 20)));
  }

  // Every rank must hold the same weights (the same seed built them; resumes read one checkpoint):
  // a rank whose weights differ from rank 0's stops here, naming itself, instead of training a
  // different model in silence.
  void same_on_every_rank(int64_t step) {
    if (world_.alone()) return;
    double mine = 0;
    for (const auto& p : model_->parameters()) mine += p.detach().to(torch::kDouble).abs().sum().item<double>();
    at::Tensor theirs = torch::scalar_tensor(mine, torch::kDouble);
    world_.broadcast(theirs, 0, "rank 0's weights fingerprint");
    RF_CHECK(std::abs(theirs.item<double>() - mine) <= 1e-9 * std::max(1.0, std::abs(mine)),
             "rank " + std::to_string(world_.rank()) + "'s weights differ from rank 0's at step " + std::to_string(step), "train",
             "every rank must build the model from the same config and seed and resume from the same checkpoint");
  }

  // The step to continue from: the newest checkpoint that loads whole (model, EMA, optimizer, RNG,
  // the metrics window), or 0. One that validates on disk but does not fit this model (a part
  // missing, an EMA or optimizer state of another model) is set aside and the one before it tried.
  int64_t resume() {
    if (!fs::exists(ckpt_root_)) return 0;
    RF_CHECK(fs::is_directory(ckpt_root_), "the checkpoints folder is not a folder", ckpt_root_,
             "move the file out of the way; the run keeps its checkpoints there");
    io::remove_stale_temporaries(ckpt_root_);  // LATEST.tmp.* of a writer killed mid-write
    const std::vector<std::string> candidates = intact_checkpoints(ckpt_root_);
    if (candidates.empty()) return 0;
    for (const std::string& ckpt : candidates) {
      check_same_model(ckpt);
      try {
        return resume_from(ckpt);
      } catch (const Error& e) {
        set_aside(ckpt, e.what());
      } catch (const c10::Error& e) {
        set_aside(ckpt, e.what_without_backtrace());
      }
    }
    throw Error("no checkpoint could be resumed from (each was set aside as <step>.damaged, see above)", ckpt_root_,
                "start the run over with --fresh, or restore a checkpoint from a backup");
  }

  void restore_window(const std::string& metrics_json) {
    const auto m = nlohmann::json::parse(metrics_json, nullptr, false);
    if (!m.is_object() || !m.contains("window") || !m["window"].is_object()) return;  // written before windows were kept
    const auto& w = m["window"];
    window_loss_ = w.value("loss_sum", 0.0), window_gnorm_ = w.value("grad_norm_sum", 0.0);
    window_ = w.value("steps", int64_t{0});
    res_.last_loss = m.value("loss", res_.last_loss);
  }

  // A checkpoint copied in from another run can match every tensor shape and still be another
  // model (its time embedding, its activation): the model sections must agree. A mistake to fix,
  // not damage to step over.
  void check_same_model(const std::string& ckpt) const {
    const auto theirs = nlohmann::json::parse(read_checkpoint_config(ckpt), nullptr, false);
    const auto ours = nlohmann::json::parse(config_json_, nullptr, false);
    if (theirs.is_object() && ours.is_object() && theirs.contains("model") && ours.contains("model"))
      RF_CHECK(theirs["model"] == ours["model"], "the checkpoint was written for another model than this run's",
               ckpt + "/config.json", "resume it with the config it was made with, or start this run over (--fresh)");
  }

  int64_t resume_from(const std::string& ckpt) {
    load_checkpoint(ckpt, *model_, &ema_, optimizer_.get());
    if (fused_) fused_->adopt_state();
    const CheckpointState st = read_checkpoint_state(ckpt);
    set_rng_state(st.rng, ckpt + "/state.json");
    resumed_shard_rng_ = st.shard_rng;
    resumed_from_ = ckpt + "/state.json";
    restore_window(st.metrics_json);
    res_.resumed_from = st.step;
    res_.checkpoint = ckpt;
    spdlog::info("resuming from {} (step {})", ckpt, st.step);
    return st.step;
  }

  // The shards of the batch (a batch alone where there is one), a shard's loss
  // at a time into the gradients, the sum over ranks, and the update (fused on the flat buffers
  // where possible).
  void optimise(int64_t step, double lr) {
    set_lr(*optimizer_, lr);
    ctx_.step = step;
    if (fused_) flat_.zero_grad();
    else optimizer_->zero_grad();
    at::Tensor loss;
    for (int64_t s : mine_) {
      if (buckets_ && s == mine_.back()) buckets_->arm();  // this backward pass completes the gradients
      if (streams_) streams_->enter(s);
      const at::Tensor l = shard_loss();
      if (streams_) streams_->leave(s);
      loss = loss.defined() ? loss + l : l;
    }
    if (shards_ > 1) loss = loss / double(shards_);
    if (world_.alone()) interrupted_ = SigintScope::requested();
    else loss = sum_over_ranks(loss);
    if (flat_.defined())
      RF_CHECK(flat_.intact(), "the model's parameters were re-allocated during a step", "train",
               "a method must not replace parameters or set their gradients to None");
    pending_gnorm_.push_back(fused_ ? fused_update(lr) : plain_update());
    pending_loss_.push_back(loss);
  }

  // One shard's batch, its loss (with the backbone's own) and its backward pass (scaled by 1/S,
  // so that the gradients add up to the batch's mean); the loss, detached.
  at::Tensor shard_loss() {
    const Batch batch = data_.next(cfg_.batch_size / shards_, device_);
    at::Tensor loss;
    {
      AutocastScope autocast(bf16_);
      loss = method_.loss(batch, ctx_);
      if (bf16_) loss = loss.to(at::kFloat);
    }
    if (hooks_) {
      if (at::Tensor aux = hooks_->auxiliary_loss(); aux.defined()) {
        ctx_.log("aux_loss", aux);
        loss = loss + aux.to(loss.scalar_type());
      }
    }
    std::optional<DirectWeightGradients> direct;  // the fused path writes weight gradients in place
    if (fused_) direct.emplace();
    (shards_ > 1 ? loss / double(shards_) : loss).backward();
    return loss.detach();
  }

  // The ranks' gradients, step statistics (MoE loads) and losses summed; Ctrl-C on any rank stops
  // all of them at the same step. Returns the batch's loss.
  at::Tensor sum_over_ranks(const at::Tensor& loss) {
    if (buckets_) {
      buckets_->finish();
    } else if (flat_.defined()) {
      at::Tensor g = flat_.grad();
      world_.all_reduce_sum(g, "the gradients");
    } else {
      for (auto& p : model_->parameters())
        if (p.grad().defined()) {
          at::Tensor g = p.grad();
          world_.all_reduce_sum(g, "the gradients");
        }
    }
    if (hooks_)
      for (at::Tensor t : hooks_->summed_statistics()) world_.all_reduce_sum(t, "the step statistics");
    at::Tensor shared = torch::stack({loss.to(torch::kDouble).reshape({}).cpu(),
                                      torch::scalar_tensor(SigintScope::requested() ? 1.0 : 0.0, torch::kDouble)});
    world_.all_reduce_sum(shared, "the loss");
    interrupted_ = shared[1].item<double>() > 0;
    return shared[0].to(loss.device(), loss.scalar_type());
  }

  at::Tensor fused_update(double lr) {
    at::Tensor gnorm;
    if (cfg_.grad_clip > 0) {
      GradNorm gn = grad_norm_flat(flat_, cfg_.grad_clip);
      gnorm = gn.norm;
      fused_->step(lr, gn.scale);
    } else {
      fused_->step(lr, {}, &gnorm);  // nothing to clip: the norm comes out of the update's pass
    }
    after_step();
    ema_.update(*model_, flat_);
    return gnorm;
  }

  at::Tensor plain_update() {
    // The norm before clipping, also when clipping is off (as the fused path logs it).
    at::Tensor gnorm = torch::scalar_tensor(
        torch::nn::utils::clip_grad_norm_(model_->parameters(),
                                          cfg_.grad_clip > 0 ? cfg_.grad_clip : std::numeric_limits<double>::infinity()),
        torch::kDouble);
    optimizer_->step();
    after_step();
    ema_.update(*model_);
    return gnorm;
  }

  // Before the EMA update, so that the EMA copies the buffers this changes (routing biases).
  void after_step() {
    if (hooks_)
      for (auto& [k, v] : hooks_->after_step()) ctx_.log(k, v);
  }

  // Losses and gradient norms stay on the device as tensors and are read back in one go when a
  // metrics line or a checkpoint is due (or every kReadBack steps): no sync per step on a GPU.
  // A non-finite loss is found here, named by its step, before anything is written.
  void read_back() {
    if (pending_loss_.empty()) return;
    const auto l = torch::stack(pending_loss_).to(torch::kCPU, torch::kDouble);
    const auto g = torch::stack(pending_gnorm_).to(torch::kCPU, torch::kDouble);
    const double* lv = l.data_ptr<double>();
    const double* gv = g.data_ptr<double>();
    for (size_t i = 0; i < pending_loss_.size(); ++i) {
      if (!std::isfinite(lv[i])) {
        progress_->finish();
        throw Error("loss is " + std::string(std::isnan(lv[i]) ? "NaN" : "Inf") + " at step " +
                        std::to_string(pending_from_ + static_cast<int64_t>(i)) + " (batch of " +
                        std::to_string(cfg_.batch_size) + ")",
                    "train",
                    (res_.checkpoint.empty() ? std::string("no checkpoint was written yet")
                                             : "last good checkpoint kept: " + res_.checkpoint) +
                        "; lower train.lr, keep train.grad_clip on, or check the data for NaN/Inf");
      }
      window_loss_ += lv[i], window_gnorm_ += gv[i], ++window_;
    }
    pending_from_ += static_cast<int64_t>(pending_loss_.size());
    pending_loss_.clear(), pending_gnorm_.clear();
    res_.last_loss = window_loss_ / window_;
  }

  // One metrics.jsonl line for the window that ends at `step`, then a fresh window.
  void log_line(int64_t step, int64_t end, double lr) {
    const auto now = std::chrono::steady_clock::now();
    if (!world_.leader()) {  // rank 0 writes the metrics for all
      window_loss_ = window_gnorm_ = 0, window_ = 0, t_window_ = now;
      return;
    }
    const double secs = std::chrono::duration<double>(now - t_window_).count();
    const double rate = secs > 0 ? window_ / secs : 0.0;
    nlohmann::json line{{"step", step},
                        {"loss", window_loss_ / window_},
                        {"lr", lr},
                        {"grad_norm", window_gnorm_ / window_},
                        {"steps_per_s", rate}};
    for (const auto& [k, v] : ctx_.metrics) line[k] = v.item<double>();
    metrics_ << line.dump() << "\n" << std::flush;
    if (!progress_is_tty())
      // The rate of the last window (log_every steps), with the precision slow runs need, and when
      // the run ends at that rate.
      spdlog::info("step {}/{} loss {:.5f} lr {:.2e} ({:.{}f} it/s, ETA {})", step, end, window_loss_ / window_, lr, rate,
                   rate < 10 ? 2 : 0, clock_text(rate > 0 ? double(end - step) / rate : 0.0));
    status_ = fmt::format("loss {:.4f}", window_loss_ / window_);
    window_loss_ = window_gnorm_ = 0, window_ = 0, t_window_ = now;
    // threads = 0 follows the machine's load: a process that takes a core costs a thread, not 3x.
    if (const std::string change = adapt_threads(); !change.empty()) spdlog::info("{}", change);
  }

  void checkpoint(int64_t at) {
    read_back();
    // The metrics window so far goes with the checkpoint: a resumed run logs the same lines as an
    // uninterrupted one (the sums are doubles, written exactly).
    const nlohmann::json metrics{{"loss", res_.last_loss},
                                 {"window", {{"loss_sum", window_loss_}, {"grad_norm_sum", window_gnorm_}, {"steps", window_}}}};
    CheckpointState st{at, rng_state(), ema_.updates(), metrics.dump(), {}};
    if (streams_) {
      streams_->share(world_, mine_);
      st.shard_rng = streams_->states();
    }
    if (world_.leader())
      res_.checkpoint =
          save_checkpoint(ckpt_root_, *model_, &ema_, optimizer_.get(), st, config_json_, cfg_.keep_checkpoints);
    // The others go on once it is on disk (a later stage of theirs may read it).
    if (!world_.alone()) {
      same_on_every_rank(at);
      world_.barrier("after the checkpoint of step " + std::to_string(at));
      if (!world_.leader()) res_.checkpoint = resolve_checkpoint(ckpt_root_);
    }
  }

  static constexpr size_t kReadBack = 256;
  const TrainConfig& cfg_;
  VelocityField model_;
  Method& method_;
  BatchSource& data_;
  const std::string& config_json_;
  c10::Device device_;
  const std::string ckpt_root_, metrics_path_;
  FlatParameters flat_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<FusedAdam> fused_;
  Ema ema_;
  TrainContext ctx_;
  const bool bf16_;
  const dist::World& world_;
  int64_t shards_ = 1;
  std::unique_ptr<GradientBuckets> buckets_;  // data parallel on the flat buffer (train.bucket_mb > 0)
  std::vector<int64_t> mine_{0};          // the shards this rank computes
  std::unique_ptr<ShardStreams> streams_;  // several shards: each one's random stream
  std::vector<std::string> resumed_shard_rng_;
  std::string resumed_from_;
  bool interrupted_ = false;  // Ctrl-C here or, in a distributed run, on any rank
  TrainingHooks* hooks_ = nullptr;
  TrainResult res_;
  std::ofstream metrics_;
  std::unique_ptr<Progress> progress_;
  std::vector<at::Tensor> pending_loss_, pending_gnorm_;
  int64_t pending_from_ = 0;
  double window_loss_ = 0, window_gnorm_ = 0;
  int64_t window_ = 0;
  std::chrono::steady_clock::time_point t_window_;
  std::string status_;
};

}  // namespace

TrainResult Trainer::run(int64_t stop_at) {
  const int64_t end = stop_at >= 0 ? std::min(stop_at, cfg_.steps) : cfg_.steps;
  return TrainRun(cfg_, model_, method_, data_, run_dir_, config_json_, device_, *path_, teacher_.get()).run(end);
}

}  // namespace rflow

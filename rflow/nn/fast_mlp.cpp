#include "rflow/nn/fast_mlp.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <torch/torch.h>

#include "rflow/core/dense_kernels.h"
#include "rflow/core/error.h"
#include "rflow/core/vector_kernels.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/nn/mlp.h"

namespace rflow {

namespace {
enum Activation { kSilu, kRelu, kTanh, kGelu };
}  // namespace

// 64-byte aligned floats, zero-filled (the packing's padding must be zero). Named, not anonymous:
// FastMlp's nested types hold it.
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(int64_t n) : n_(n) {
    const size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
    p_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    RF_CHECK(p_ != nullptr, "out of memory", "FastMlp", "");
    std::memset(p_.get(), 0, bytes);
  }
  float* data() const { return p_.get(); }
  int64_t size() const { return n_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> p_;
  int64_t n_ = 0;
};

namespace {
at::Tensor named(const torch::nn::Module& m, const std::string& name) {
  for (const auto& p : m.named_parameters(/*recurse=*/true))
    if (p.key() == name) return p.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
  for (const auto& b : m.named_buffers(/*recurse=*/true))
    if (b.key() == name) return b.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
  throw Error("the MLP has no tensor '" + name + "'", "FastMlp", "");
}

}  // namespace

// One linear layer packed for kernels::dense: W transposed to k × np (zero columns past n).
struct FastMlp::Layer {
  int64_t k = 0, n = 0, np = 0;
  AlignedFloats w, bias;

  Layer() = default;
  Layer(const at::Tensor& weight, const at::Tensor& b) : k(weight.size(1)), n(weight.size(0)) {
    np = kernels::dense_padded(n);
    w = AlignedFloats(k * np);
    bias = AlignedFloats(np);
    const auto W = weight.accessor<float, 2>();
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < n; ++j) w.data()[i * np + j] = W[j][i];
    if (b.defined()) std::memcpy(bias.data(), b.data_ptr<float>(), n * sizeof(float));
  }
};

class FastMlp::Workspace {
 public:
  Workspace(int64_t max_rows, int64_t hidden_pad, int64_t out_pad, int64_t dim)
      : max_rows(max_rows),
        pre(max_rows * hidden_pad),
        h(max_rows * hidden_pad),
        out(max_rows * out_pad),
        starts(max_rows * hidden_pad),
        obs_rows(max_rows * hidden_pad),
        zero(hidden_pad),
        tnow(hidden_pad),
        xin(max_rows * dim),
        v(max_rows * dim),
        acc(max_rows * dim),
        init(max_rows) {}
  int64_t max_rows;
  AlignedFloats pre, h, out, starts, obs_rows, zero, tnow;
  std::vector<float> xin, v, acc;
  std::vector<const float*> init;
  std::vector<int64_t> labels;
  std::vector<std::vector<float>> k;  // stage velocities
  // The time branch at every stage time of the last grid: key and rows.
  std::vector<float> grid_key;
  AlignedFloats grid_rows;
};

FastMlp::FastMlp(const MlpVelocityImpl& field) {
  const MlpOptions& o = field.options();
  dim_ = 1;
  for (auto s : field.sample_shape()) dim_ *= s;
  hidden_ = o.hidden;
  hidden_pad_ = kernels::dense_padded(hidden_);
  time_dim_ = o.time_dim;
  num_classes_ = field.num_classes();
  activation_ = o.activation == "silu" ? kSilu : o.activation == "relu" ? kRelu : o.activation == "tanh" ? kTanh : kGelu;
  torch::NoGradGuard ng;
  const at::Tensor f = named(field, "temb.freqs");
  freqs_.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  in_x_ = std::make_unique<Layer>(named(field, "in_x.weight"), named(field, "in_x.bias"));
  in_t_ = std::make_unique<Layer>(named(field, "in_t.weight"), at::Tensor());
  obs_dim_ = o.obs_dim;
  if (obs_dim_ > 0) in_o_ = std::make_unique<Layer>(named(field, "in_o.weight"), at::Tensor());
  for (int64_t i = 0; i + 1 < o.depth; ++i)
    hidden_layers_.emplace_back(named(field, "h" + std::to_string(i) + ".weight"),
                                named(field, "h" + std::to_string(i) + ".bias"));
  out_ = std::make_unique<Layer>(named(field, "out.weight"), named(field, "out.bias"));
  if (num_classes_ > 0) {
    const at::Tensor e = named(field, "label_emb.weight");  // (classes + 1) × hidden
    label_rows_.assign((num_classes_ + 1) * hidden_pad_, 0.0f);
    for (int64_t c = 0; c <= num_classes_; ++c)
      std::memcpy(&label_rows_[c * hidden_pad_], e[c].data_ptr<float>(), hidden_ * sizeof(float));
  }
}

FastMlp::~FastMlp() = default;

void FastMlp::WorkspaceDelete::operator()(Workspace* w) const { delete w; }

FastMlp::WorkspacePtr FastMlp::workspace(int64_t max_rows) const {
  RF_CHECK(max_rows >= 1, "a workspace needs room for at least one row", "FastMlp::workspace", "");
  return WorkspacePtr(new Workspace(max_rows, hidden_pad_, out_->np, dim_));
}

void FastMlp::activate(const float* in, float* out, int64_t n) const {
  switch (activation_) {
    case kSilu: kernels::silu(in, out, n); break;
    case kRelu:
      for (int64_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
      break;
    case kTanh:
      for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
      break;
    default:
      for (int64_t i = 0; i < n; ++i) out[i] = 0.5f * in[i] * (1.0f + std::erf(in[i] * 0.70710678118654752f));
  }
}

void FastMlp::time_branch(float t, float* out) const {
  // emb(t) = [sin(f·t), cos(f·t)] as the TimeEmbedding computes it (float products), then
  // in_x.bias + in_t · emb.
  const int64_t half = time_dim_ / 2;
  float emb[1024];
  std::vector<float> big;
  float* e = emb;
  if (time_dim_ > 1024) {
    big.resize(time_dim_);
    e = big.data();
  }
  for (int64_t i = 0; i < half; ++i) {
    const float a = t * freqs_[i];
    e[i] = std::sin(a);
    e[half + i] = std::cos(a);
  }
  const float* init = in_x_->bias.data();
  kernels::DenseArgs d;
  d.x = e, d.ldx = time_dim_, d.k = time_dim_, d.w = in_t_->w.data(), d.np = in_t_->np;
  d.init = &init, d.y = out, d.ldy = hidden_pad_, d.rows = 1;
  kernels::dense(d);
}

void FastMlp::evaluate(Workspace& ws, const float* x, const float* const* init, int64_t rows, float* v) const {
  kernels::DenseArgs d;
  d.x = x, d.ldx = dim_, d.k = dim_, d.w = in_x_->w.data(), d.np = hidden_pad_;
  d.init = init, d.y = ws.pre.data(), d.ldy = hidden_pad_, d.rows = rows;
  kernels::dense(d);
  activate(ws.pre.data(), ws.h.data(), rows * hidden_pad_);
  for (const Layer& l : hidden_layers_) {
    std::fill(ws.init.begin(), ws.init.begin() + rows, l.bias.data());
    d.x = ws.h.data(), d.ldx = hidden_pad_, d.k = hidden_, d.w = l.w.data(), d.init = ws.init.data();
    kernels::dense(d);
    activate(ws.pre.data(), ws.h.data(), rows * hidden_pad_);
  }
  std::fill(ws.init.begin(), ws.init.begin() + rows, out_->bias.data());
  d.x = ws.h.data(), d.ldx = hidden_pad_, d.k = hidden_, d.w = out_->w.data(), d.np = out_->np;
  d.init = ws.init.data(), d.y = ws.out.data(), d.ldy = out_->np;
  kernels::dense(d);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(v + r * dim_, ws.out.data() + r * out_->np, dim_ * sizeof(float));
}

void FastMlp::first_layer_starts(Workspace& ws, const float* time_row, const int64_t* labels, bool with_obs, int64_t B,
                                 int64_t rows) const {
  const bool with_labels = labels && num_classes_ > 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (!with_labels && !with_obs) {
      ws.init[r] = time_row;
      continue;
    }
    float* s = ws.starts.data() + r * hidden_pad_;
    std::memcpy(s, time_row, hidden_pad_ * sizeof(float));
    if (with_labels) {
      const float* e = &label_rows_[(labels[r] < 0 ? num_classes_ : labels[r]) * hidden_pad_];
      for (int64_t j = 0; j < hidden_pad_; ++j) s[j] += e[j];
    }
    if (with_obs) {
      const float* o = ws.obs_rows.data() + (r % B) * hidden_pad_;
      for (int64_t j = 0; j < hidden_pad_; ++j) s[j] += o[j];
    }
    ws.init[r] = s;
  }
}

void FastMlp::check(const Workspace& ws, const int64_t* labels, const float* obs, int64_t B, const char* where) const {
  for (int64_t r = 0; labels && r < B; ++r)
    RF_CHECK(labels[r] < num_classes_ || num_classes_ == 0,
             "label " + std::to_string(labels[r]) + " is not a class of this model", where,
             "labels are 0 … classes − 1, or −1 for none");
  RF_CHECK(obs_dim_ == 0 || obs != nullptr, "this policy needs observations", where,
           "pass B × " + std::to_string(obs_dim_) + " floats");
}

void FastMlp::velocity(Workspace& ws, const float* x, float t, const int64_t* labels, int64_t B, float* v,
                       const float* obs) const {
  RF_CHECK(B <= ws.max_rows, "batch of " + std::to_string(B) + " rows exceeds the workspace's " +
                                 std::to_string(ws.max_rows), "FastMlp::velocity", "make a larger workspace");
  check(ws, labels, obs, B, "FastMlp::velocity");
  if (obs_dim_ > 0) project_observations(ws, obs, B);
  time_branch(t, ws.tnow.data());
  first_layer_starts(ws, ws.tnow.data(), labels, obs_dim_ > 0, B, B);
  evaluate(ws, x, ws.init.data(), B, v);
}

void FastMlp::project_observations(Workspace& ws, const float* obs, int64_t B) const {
  std::fill(ws.init.begin(), ws.init.begin() + B, ws.zero.data());
  kernels::DenseArgs d;
  d.x = obs, d.ldx = obs_dim_, d.k = obs_dim_, d.w = in_o_->w.data(), d.np = hidden_pad_;
  d.init = ws.init.data(), d.y = ws.obs_rows.data(), d.ldy = hidden_pad_, d.rows = B;
  kernels::dense(d);
}

void FastMlp::solve(Workspace& ws, const FixedStepPlan& plan, const float* x0, const int64_t* labels, int64_t B,
                    float* x, const float* obs) const {
  const int S = static_cast<int>(plan.b.size());
  const int64_t steps = static_cast<int64_t>(plan.grid.size()) - 1;
  RF_CHECK(S >= 1 && steps >= 1, "empty plan", "FastMlp::solve", "");
  const bool guided = labels && num_classes_ > 0 && plan.guidance != 1.0;
  const bool null_only = guided && plan.guidance == 0.0;
  const int64_t per_row = guided && !null_only ? 2 : 1;
  const int64_t chunk = ws.max_rows / per_row;
  RF_CHECK(chunk >= 1, "the workspace cannot hold one guided row", "FastMlp::solve", "make a larger workspace");
  if (B > chunk) {  // rows are independent: solve them a workspace-full at a time
    for (int64_t r0 = 0; r0 < B; r0 += chunk) {
      const int64_t n = std::min(chunk, B - r0);
      solve(ws, plan, x0 + r0 * dim_, labels ? labels + r0 : nullptr, n, x + r0 * dim_,
            obs ? obs + r0 * obs_dim_ : nullptr);
    }
    return;
  }
  check(ws, labels, obs, B, "FastMlp::solve");
  if (obs_dim_ > 0) project_observations(ws, obs, B);  // constant through the solve

  // The time branch at each stage time of the grid, computed once per grid.
  std::vector<float> key(steps * S);
  for (int64_t i = 0; i < steps; ++i) {
    const double dt = plan.grid[i + 1] - plan.grid[i];
    for (int s = 0; s < S; ++s) key[i * S + s] = static_cast<float>(plan.grid[i] + plan.c[s] * dt);
  }
  if (key != ws.grid_key) {
    ws.grid_rows = AlignedFloats(static_cast<int64_t>(key.size()) * hidden_pad_);
    for (size_t j = 0; j < key.size(); ++j) time_branch(key[j], ws.grid_rows.data() + j * hidden_pad_);
    ws.grid_key = std::move(key);
  }

  // The rows the network sees: each sample, and under guidance its unlabelled twin after them.
  const int64_t rows = B * per_row;
  ws.labels.assign(rows, -1);
  if (labels && num_classes_ > 0 && !null_only) std::copy(labels, labels + B, ws.labels.begin());
  const int64_t* row_labels = num_classes_ > 0 ? ws.labels.data() : nullptr;
  if (static_cast<int>(ws.k.size()) < S) ws.k.resize(S);
  for (auto& k : ws.k) k.resize(B * dim_);

  std::vector<bool> trivial(S, true);
  int nonzero_b = 0, last_b = 0;
  for (int s = 0; s < S; ++s) {
    for (int j = 0; j < s; ++j) trivial[s] = trivial[s] && plan.a[s][j] == 0.0;
    if (plan.b[s] != 0.0) ++nonzero_b, last_b = s;
  }
  const int64_t n = B * dim_;
  if (x != x0) std::memcpy(x, x0, n * sizeof(float));
  const float w = static_cast<float>(plan.guidance);
  for (int64_t i = 0; i < steps; ++i) {
    const double dt = plan.grid[i + 1] - plan.grid[i];
    for (int s = 0; s < S; ++s) {
      // The stage's input, as the step-by-step solver forms it (float products of double factors).
      float* in = ws.xin.data();
      std::memcpy(in, x, n * sizeof(float));
      if (!trivial[s])
        for (int j = 0; j < s; ++j) {
          if (plan.a[s][j] == 0.0) continue;
          const float f = static_cast<float>(dt * plan.a[s][j]);
          const float* kj = ws.k[j].data();
          for (int64_t e = 0; e < n; ++e) in[e] += f * kj[e];
        }
      if (per_row == 2) std::memcpy(in + n, in, n * sizeof(float));
      first_layer_starts(ws, ws.grid_rows.data() + (i * S + s) * hidden_pad_, row_labels, obs_dim_ > 0, B, rows);
      float* k = ws.k[s].data();
      if (per_row == 1) {
        evaluate(ws, in, ws.init.data(), rows, k);
      } else {
        evaluate(ws, in, ws.init.data(), rows, ws.v.data());
        const float* vc = ws.v.data();
        const float* vu = vc + n;
        for (int64_t e = 0; e < n; ++e) k[e] = vu[e] + (vc[e] - vu[e]) * w;
      }
    }
    if (nonzero_b == 1) {
      const float f = static_cast<float>(dt * plan.b[last_b]);
      const float* k = ws.k[last_b].data();
      for (int64_t e = 0; e < n; ++e) x[e] += f * k[e];
    } else {
      float* acc = ws.acc.data();
      std::fill(acc, acc + n, 0.0f);
      for (int s = 0; s < S; ++s) {
        if (plan.b[s] == 0.0) continue;
        const float f = static_cast<float>(plan.b[s]);
        const float* k = ws.k[s].data();
        for (int64_t e = 0; e < n; ++e) acc[e] += f * k[e];
      }
      const float fdt = static_cast<float>(dt);
      for (int64_t e = 0; e < n; ++e) x[e] += fdt * acc[e];
    }
  }
}

}  // namespace rflow

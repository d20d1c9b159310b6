#include "rflow/nn/fast_mlp.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <torch/torch.h>

#include "rflow/core/kernels/dense_kernels.h"
#include "rflow/core/error.h"
#include "rflow/core/kernels/vector_kernels.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/nn/mlp.h"
#include "rflow/solve/butcher.h"
#include "rflow/solve/rk_stages.h"

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
  Workspace(int64_t max_rows, int64_t pad, int64_t out_pad, int64_t dim)
      : max_rows(max_rows),
        pre(max_rows * pad),
        h(max_rows * pad),
        out(max_rows * out_pad),
        starts(max_rows * pad),
        obs_rows(max_rows * pad),
        var_obs_rows(max_rows * pad),
        zero(pad),
        tnow(pad),
        tvar(pad),
        xin(max_rows * dim),
        v(max_rows * dim),
        acc(max_rows * dim),
        init(max_rows) {}
  int64_t max_rows;
  AlignedFloats pre, h, out, starts, obs_rows, var_obs_rows, zero, tnow, tvar;
  std::vector<float> xin, v, acc;
  std::vector<const float*> init;
  std::vector<int64_t> labels;
  std::vector<std::vector<float>> k;  // stage velocities
  // The time branch at every stage time of the last grid: key and rows.
  std::vector<float> grid_key;
  AlignedFloats grid_rows;
};

FastMlp::Net::Net() = default;
FastMlp::Net::~Net() = default;
FastMlp::Net::Net(Net&&) noexcept = default;

FastMlp::FastMlp(const MlpVelocityImpl& field) {
  const MlpOptions& o = field.options();
  dim_ = 1;
  for (auto s : field.sample_shape()) dim_ *= s;
  time_dim_ = o.time_dim;
  obs_dim_ = o.obs_dim;
  num_classes_ = field.num_classes();
  activation_ = o.activation == "silu" ? kSilu : o.activation == "relu" ? kRelu : o.activation == "tanh" ? kTanh : kGelu;
  torch::NoGradGuard ng;
  const at::Tensor f = named(field, "temb.freqs");
  freqs_.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  auto pack = [&](Net& net, const std::string& p, int64_t width, int64_t depth) {
    net.width = width;
    net.pad = kernels::dense_padded(width);
    net.in_x = std::make_unique<Layer>(named(field, p + "in_x.weight"), named(field, p + "in_x.bias"));
    net.in_t = std::make_unique<Layer>(named(field, p + "in_t.weight"), at::Tensor());
    if (obs_dim_ > 0) net.in_o = std::make_unique<Layer>(named(field, p + "in_o.weight"), at::Tensor());
    for (int64_t i = 0; i + 1 < depth; ++i)
      net.hidden.emplace_back(named(field, p + "h" + std::to_string(i) + ".weight"),
                              named(field, p + "h" + std::to_string(i) + ".bias"));
    net.out = std::make_unique<Layer>(named(field, p + "out.weight"), named(field, p + "out.bias"));
  };
  pack(flow_, "", o.hidden, o.depth);
  if (o.variance_hidden > 0) {
    variance_ = std::make_unique<Net>();
    pack(*variance_, "var_", o.variance_hidden, o.variance_depth);
  }
  if (num_classes_ > 0) {
    const at::Tensor e = named(field, "label_emb.weight");  // (classes + 1) × hidden
    label_rows_.assign((num_classes_ + 1) * flow_.pad, 0.0f);
    for (int64_t c = 0; c <= num_classes_; ++c)
      std::memcpy(&label_rows_[c * flow_.pad], e[c].data_ptr<float>(), flow_.width * sizeof(float));
  }
}

FastMlp::~FastMlp() = default;

void FastMlp::WorkspaceDelete::operator()(Workspace* w) const { delete w; }

FastMlp::WorkspacePtr FastMlp::workspace(int64_t max_rows) const {
  RF_CHECK(max_rows >= 1, "a workspace needs room for at least one row", "FastMlp::workspace", "");
  const int64_t pad = std::max(flow_.pad, variance_ ? variance_->pad : int64_t(0));
  return WorkspacePtr(new Workspace(max_rows, pad, flow_.out->np, dim_));
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

void FastMlp::time_branch(const Net& net, float t, float* out) const {
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
  const float* init = net.in_x->bias.data();
  kernels::DenseArgs d;
  d.x = e, d.ldx = time_dim_, d.k = time_dim_, d.w = net.in_t->w.data(), d.np = net.in_t->np;
  d.init = &init, d.y = out, d.ldy = net.pad, d.rows = 1;
  kernels::dense(d);
}

void FastMlp::evaluate(Workspace& ws, const Net& net, const float* x, int64_t rows, float* out) const {
  kernels::DenseArgs d;
  d.x = x, d.ldx = dim_, d.k = dim_, d.w = net.in_x->w.data(), d.np = net.pad;
  d.init = ws.init.data(), d.y = ws.pre.data(), d.ldy = net.pad, d.rows = rows;
  kernels::dense(d);
  activate(ws.pre.data(), ws.h.data(), rows * net.pad);
  for (const Layer& l : net.hidden) {
    std::fill(ws.init.begin(), ws.init.begin() + rows, l.bias.data());
    d.x = ws.h.data(), d.ldx = net.pad, d.k = net.width, d.w = l.w.data(), d.init = ws.init.data();
    kernels::dense(d);
    activate(ws.pre.data(), ws.h.data(), rows * net.pad);
  }
  const int64_t n_out = net.out->n;
  std::fill(ws.init.begin(), ws.init.begin() + rows, net.out->bias.data());
  d.x = ws.h.data(), d.ldx = net.pad, d.k = net.width, d.w = net.out->w.data(), d.np = net.out->np;
  d.init = ws.init.data(), d.y = ws.out.data(), d.ldy = net.out->np;
  kernels::dense(d);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * n_out, ws.out.data() + r * net.out->np, n_out * sizeof(float));
}

void FastMlp::first_layer_starts(Workspace& ws, const Net& net, const float* time_row, const int64_t* labels,
                                 const float* obs_rows, int64_t B, int64_t rows) const {
  const bool with_labels = labels && num_classes_ > 0 && &net == &flow_;
  for (int64_t r = 0; r < rows; ++r) {
    if (!with_labels && !obs_rows) {
      ws.init[r] = time_row;
      continue;
    }
    float* s = ws.starts.data() + r * net.pad;
    std::memcpy(s, time_row, net.pad * sizeof(float));
    if (with_labels) {
      const float* e = &label_rows_[(labels[r] < 0 ? num_classes_ : labels[r]) * net.pad];
      for (int64_t j = 0; j < net.pad; ++j) s[j] += e[j];
    }
    if (obs_rows) {
      const float* o = obs_rows + (r % B) * net.pad;
      for (int64_t j = 0; j < net.pad; ++j) s[j] += o[j];
    }
    ws.init[r] = s;
  }
}

void FastMlp::check(const int64_t* labels, const float* obs, int64_t B, const char* where) const {
  for (int64_t r = 0; labels && r < B; ++r)
    RF_CHECK(labels[r] < num_classes_ || num_classes_ == 0,
             "label " + std::to_string(labels[r]) + " is not a class of this model", where,
             "labels are 0 … classes − 1, or −1 for none");
  RF_CHECK(obs_dim_ == 0 || obs != nullptr, "this policy needs observations", where,
           "pass B × " + std::to_string(obs_dim_) + " floats");
}

void FastMlp::project_observations(Workspace& ws, const Net& net, const float* obs, int64_t B, float* dest) const {
  std::fill(ws.init.begin(), ws.init.begin() + B, ws.zero.data());
  kernels::DenseArgs d;
  d.x = obs, d.ldx = obs_dim_, d.k = obs_dim_, d.w = net.in_o->w.data(), d.np = net.pad;
  d.init = ws.init.data(), d.y = dest, d.ldy = net.pad, d.rows = B;
  kernels::dense(d);
}

void FastMlp::velocity(Workspace& ws, const float* x, float t, const int64_t* labels, int64_t B, float* v,
                       const float* obs) const {
  RF_CHECK(B <= ws.max_rows, "batch of " + std::to_string(B) + " rows exceeds the workspace's " +
                                 std::to_string(ws.max_rows), "FastMlp::velocity", "make a larger workspace");
  check(labels, obs, B, "FastMlp::velocity");
  if (obs_dim_ > 0) project_observations(ws, flow_, obs, B, ws.obs_rows.data());
  time_branch(flow_, t, ws.tnow.data());
  first_layer_starts(ws, flow_, ws.tnow.data(), labels, obs_dim_ > 0 ? ws.obs_rows.data() : nullptr, B, B);
  evaluate(ws, flow_, x, B, v);
}

void FastMlp::solve(Workspace& ws, const SolvePlan& plan, const float* x0, const int64_t* labels, int64_t B, float* x,
                    const float* obs, int64_t* nfe) const {
  const bool guided = labels && num_classes_ > 0 && plan.guidance != 1.0 && plan.guidance != 0.0;
  const int64_t chunk = ws.max_rows / (guided ? 2 : 1);
  RF_CHECK(chunk >= 1, "the workspace cannot hold one guided row", "FastMlp::solve", "make a larger workspace");
  if (B > chunk) {  // rows are independent: solve them a workspace-full at a time
    for (int64_t r0 = 0; r0 < B; r0 += chunk) {
      const int64_t n = std::min(chunk, B - r0);
      solve(ws, plan, x0 + r0 * dim_, labels ? labels + r0 : nullptr, n, x + r0 * dim_,
            obs ? obs + r0 * obs_dim_ : nullptr, nfe ? nfe + r0 : nullptr);
    }
    return;
  }
  check(labels, obs, B, "FastMlp::solve");
  RF_CHECK(plan.grid.size() >= 2, "empty plan", "FastMlp::solve", "");
  if (x != x0) std::memcpy(x, x0, B * dim_ * sizeof(float));
  // Observations are constant through the solve: projected once, for each network.
  if (obs_dim_ > 0) {
    project_observations(ws, flow_, obs, B, ws.obs_rows.data());
    if (variance_) project_observations(ws, *variance_, obs, B, ws.var_obs_rows.data());
  }
  // The rows the flow sees: each sample, and under guidance its unlabelled twin after them.
  ws.labels.assign(B * (guided ? 2 : 1), -1);
  if (labels && num_classes_ > 0 && plan.guidance != 0.0) std::copy(labels, labels + B, ws.labels.begin());
  const int64_t* row_labels = num_classes_ > 0 ? ws.labels.data() : nullptr;
  if (plan.eta > 0) {
    adaptive(ws, plan, row_labels, guided, B, x, nfe);
    return;
  }
  fixed_step(ws, plan, row_labels, guided, B, x);
  if (nfe) std::fill(nfe, nfe + B, static_cast<int64_t>(plan.grid.size() - 1) * plan.tableau->stages());
}

void FastMlp::fixed_step(Workspace& ws, const SolvePlan& plan, const int64_t* row_labels, bool guided, int64_t B,
                         float* x) const {
  RF_CHECK(plan.tableau && plan.tableau->stages() >= 1, "a plan without a tableau", "FastMlp::solve", "");
  const RkPlan rk = rk_plan(*plan.tableau);
  const int S = rk.stages();
  const int64_t steps = static_cast<int64_t>(plan.grid.size()) - 1;
  // The time branch at each stage time of the grid, computed once per grid.
  std::vector<float> key(steps * S);
  for (int64_t i = 0; i < steps; ++i) {
    const double dt = plan.grid[i + 1] - plan.grid[i];
    for (int s = 0; s < S; ++s) key[i * S + s] = static_cast<float>(plan.grid[i] + rk.c[s] * dt);
  }
  if (key != ws.grid_key) {
    ws.grid_rows = AlignedFloats(static_cast<int64_t>(key.size()) * flow_.pad);
    for (size_t j = 0; j < key.size(); ++j) time_branch(flow_, key[j], ws.grid_rows.data() + j * flow_.pad);
    ws.grid_key = std::move(key);
  }
  if (static_cast<int>(ws.k.size()) < S) ws.k.resize(S);
  for (auto& k : ws.k) k.resize(B * dim_);
  // rk_step's arithmetic on raw rows, as the step-by-step solver forms it (float products of double factors).
  struct Ops {
    const FastMlp& m;
    Workspace& ws;
    const int64_t* row_labels;
    bool guided;
    int64_t B, n, i = 0;
    int S;
    double dt = 0;
    float w;  // guidance scale
    float* combine(float* x, const std::vector<float*>& k, const RkRow& row) {
      float* in = ws.xin.data();
      std::memcpy(in, x, n * sizeof(float));
      for (const RkTerm& r : row) {
        const float f = static_cast<float>(dt * r.coef);
        const float* kj = k[r.stage];
        for (int64_t e = 0; e < n; ++e) in[e] += f * kj[e];
      }
      return in;
    }
    float* eval(float* xs, int s) {
      float* in = ws.xin.data();
      if (xs != in) std::memcpy(in, xs, n * sizeof(float));
      if (guided) std::memcpy(in + n, in, n * sizeof(float));  // each row's unlabelled twin after it
      const int64_t rows = guided ? 2 * B : B;
      m.first_layer_starts(ws, m.flow_, ws.grid_rows.data() + (i * S + s) * m.flow_.pad, row_labels,
                           m.obs_dim_ > 0 ? ws.obs_rows.data() : nullptr, B, rows);
      float* k = ws.k[s].data();
      if (!guided) {
        m.evaluate(ws, m.flow_, in, rows, k);
        return k;
      }
      m.evaluate(ws, m.flow_, in, rows, ws.v.data());
      const float* vc = ws.v.data();
      const float* vu = vc + n;
      for (int64_t e = 0; e < n; ++e) k[e] = vu[e] + (vc[e] - vu[e]) * w;
      return k;
    }
    float* advance(float* x, const std::vector<float*>& k, const RkRow& row) {
      if (row.size() == 1) {
        const float f = static_cast<float>(dt * row[0].coef);
        const float* kb = k[row[0].stage];
        for (int64_t e = 0; e < n; ++e) x[e] += f * kb[e];
        return x;
      }
      float* acc = ws.acc.data();
      std::fill(acc, acc + n, 0.0f);
      for (const RkTerm& r : row) {
        const float f = static_cast<float>(r.coef);
        const float* kb = k[r.stage];
        for (int64_t e = 0; e < n; ++e) acc[e] += f * kb[e];
      }
      const float fdt = static_cast<float>(dt);
      for (int64_t e = 0; e < n; ++e) x[e] += fdt * acc[e];
      return x;
    }
  } ops{*this, ws, row_labels, guided, B, B * dim_, 0, S, 0.0, static_cast<float>(plan.guidance)};
  std::vector<float*> k(S);
  for (int64_t i = 0; i < steps; ++i) {
    ops.i = i, ops.dt = plan.grid[i + 1] - plan.grid[i];
    rk_step(rk, ops, x, k);
  }
}

void FastMlp::adaptive(Workspace& ws, const SolvePlan& plan, const int64_t* row_labels, bool guided, int64_t B,
                       float* x, int64_t* nfe) const {
  RF_CHECK(variance_ != nullptr, "the adaflow solver needs a model with a variance head", "solver = adaflow",
           "train one with model.mlp.variance_hidden > 0 and method.name = adaflow");
  // Each sample on its own (its steps are its own), as the step-by-step solver does them: σ in
  // float, Δt = min(max(η·span/σ, span/N), t1 − t) and t in double.
  const double t0 = plan.grid.front(), t1 = plan.grid.back(), span = t1 - t0;
  const int64_t max_steps = static_cast<int64_t>(plan.grid.size()) - 1;
  const double min_dt = span / static_cast<double>(max_steps);
  const float w = static_cast<float>(plan.guidance);
  float* in = ws.xin.data();
  for (int64_t r = 0; r < B; ++r) {
    float* xr = x + r * dim_;
    const float* obs_flow = obs_dim_ > 0 ? ws.obs_rows.data() + r * flow_.pad : nullptr;
    const float* obs_var = obs_dim_ > 0 ? ws.var_obs_rows.data() + r * variance_->pad : nullptr;
    const int64_t lab[2] = {row_labels ? row_labels[r] : -1, -1};
    double t = t0;
    int64_t steps = 0;
    while (t < t1 - 1e-9 * span && steps < max_steps) {
      const float tf = static_cast<float>(t);
      time_branch(*variance_, tf, ws.tvar.data());
      first_layer_starts(ws, *variance_, ws.tvar.data(), nullptr, obs_var, 1, 1);
      float log_sigma = 0.0f;
      evaluate(ws, *variance_, xr, 1, &log_sigma);
      const float sigma = std::exp(std::min(std::max(log_sigma, -10.0f), 10.0f));
      double dt = std::max(plan.eta * span / std::max(static_cast<double>(sigma), 1e-12), min_dt);
      dt = std::min(dt, t1 - t);
      time_branch(flow_, tf, ws.tnow.data());
      std::memcpy(in, xr, dim_ * sizeof(float));
      if (guided) std::memcpy(in + dim_, xr, dim_ * sizeof(float));
      first_layer_starts(ws, flow_, ws.tnow.data(), row_labels ? lab : nullptr, obs_flow, 1, guided ? 2 : 1);
      float* v = ws.v.data();
      evaluate(ws, flow_, in, guided ? 2 : 1, v);
      if (guided)
        for (int64_t e = 0; e < dim_; ++e) v[e] = v[dim_ + e] + (v[e] - v[dim_ + e]) * w;
      const float fdt = static_cast<float>(dt);
      for (int64_t e = 0; e < dim_; ++e) xr[e] = xr[e] + v[e] * fdt;
      t += dt;
      ++steps;
    }
    if (nfe) nfe[r] = steps;
  }
}

}  // namespace rflow

// Bench: solver cost. (1) Per-sample vs batch-shared dopri5 on the exact velocity field of
// N(0, I) → 8 gaussians (a mixed-stiffness batch: samples between modes turn late and sharply),
// at one tolerance: total velocity evaluations, wall time and final error against a tight solve.
// (2) The embedded pairs (dopri5, tsit5, bosh3) on the same field at several tolerances:
// evaluations and error, per-sample control. (3) Fixed-step overhead: time and tensor allocations
// per step beyond the velocity call.
// Prints one JSON object. Usage: bench_solvers [threads]
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/malloc_tuning.h"
#include "rflow/core/memory_usage.h"
#include "rflow/core/system_info.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"

using namespace rflow;

// LibTorch's CPU allocator calls posix_memalign; a definition in the executable interposes the
// shared libraries' calls, so tensor allocations can be counted without a profiler.
static std::atomic<int64_t> g_allocs{0};
extern "C" int posix_memalign(void** p, size_t align, size_t size) {
  using Fn = int (*)(void**, size_t, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "posix_memalign"));
  ++g_allocs;
  return real(p, align, size);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Exact marginal velocity of the linear path from N(0, I) to Σ_k (1/K) N(μ_k, s² I):
// v = Σ_k w_k(x, t) v_k(x, t), with v_k the Gaussian-to-Gaussian field and w_k the posterior of k.
FieldFn mixture_field(double radius, double s) {
  std::vector<double> mu;
  for (int k = 0; k < 8; ++k) mu.push_back(radius * std::cos(k * M_PI / 4)), mu.push_back(radius * std::sin(k * M_PI / 4));
  auto M = torch::tensor(mu, torch::kFloat64).view({8, 2});
  return [M, s](const at::Tensor& x, const at::Tensor& t) {
    auto xd = x.to(torch::kFloat64);
    auto tt = t.to(torch::kFloat64).unsqueeze(1);                      // [B, 1]
    auto var = (1 - tt).pow(2) + tt.pow(2) * s * s;                     // [B, 1]
    auto d = xd.unsqueeze(1) - tt.unsqueeze(2) * M.unsqueeze(0);        // [B, 8, 2]
    auto logw = -0.5 * d.pow(2).sum(2) / var;                           // [B, 8]
    auto w = torch::softmax(logw, 1);
    auto vk = M.unsqueeze(0) + ((tt * s * s - (1 - tt)) / var).unsqueeze(2) * d;  // [B, 8, 2]
    return (w.unsqueeze(2) * vk).sum(1).to(x.dtype());
  };
}

// B noise draws, the 8-gaussians field and its tight dopri5 solution (the error reference).
std::tuple<at::Tensor, FieldFn, at::Tensor> mixture_case(int64_t B) {
  torch::manual_seed(0);
  auto x0 = torch::randn({B, 2}, torch::kFloat64);
  auto f = mixture_field(4.0, 0.05);
  SolveOptions ref;
  ref.method = "dopri5";
  ref.rtol = ref.atol = 1e-10;
  auto truth = solve(f, x0, ref).x;
  return {x0, f, truth};
}

nlohmann::json adaptive_comparison(int64_t B, double tol, double max_step) {
  auto [x0, f, truth] = mixture_case(B);
  nlohmann::json out{{"batch", B}, {"tol", tol}, {"max_step", max_step}};
  for (bool per_sample : {true, false}) {
    SolveOptions o;
    o.method = "dopri5";
    o.rtol = o.atol = tol;
    o.per_sample = per_sample;
    o.max_step = max_step;
    auto t0 = std::chrono::steady_clock::now();
    auto r = solve(f, x0, o);
    double s = seconds_since(t0);
    auto err = (r.x - truth).norm(2, 1);
    out[per_sample ? "per_sample" : "batch_shared"] = {
        {"evaluations", r.evaluations},      {"calls", r.calls},
        {"nfe_min", r.nfe.min().item<int64_t>()}, {"nfe_median", r.nfe.median().item<int64_t>()},
        {"nfe_max", r.nfe.max().item<int64_t>()}, {"seconds", s},
        {"max_error", err.max().item<double>()}, {"mean_error", err.mean().item<double>()}};
  }
  out["evaluation_ratio"] = out["per_sample"]["evaluations"].get<double>() / out["batch_shared"]["evaluations"].get<double>();
  return out;
}

nlohmann::json adaptive_pairs(int64_t B, double tol) {
  auto [x0, f, truth] = mixture_case(B);
  nlohmann::json out{{"batch", B}, {"tol", tol}};
  for (const char* name : {"dopri5", "tsit5", "bosh3"}) {
    SolveOptions o;
    o.method = name;
    o.rtol = o.atol = tol;
    auto t0 = std::chrono::steady_clock::now();
    auto r = solve(f, x0, o);
    double s = seconds_since(t0);
    auto err = (r.x - truth).norm(2, 1);
    out[name] = {{"evaluations", r.evaluations}, {"nfe_median", r.nfe.median().item<int64_t>()},
                 {"seconds", s}, {"max_error", err.max().item<double>()}, {"mean_error", err.mean().item<double>()}};
  }
  return out;
}

nlohmann::json fixed_step_overhead(int64_t B) {
  torch::NoGradGuard ng;
  auto x0 = torch::randn({B, 2});
  auto v = torch::randn({B, 2});
  FieldFn trivial = [&](const at::Tensor&, const at::Tensor&) { return v; };  // costs nothing, allocates nothing
  SolveOptions o;
  o.steps = 1000;
  solve(trivial, x0, o);
  int64_t a0 = g_allocs.load();
  auto t0 = std::chrono::steady_clock::now();
  solve(trivial, x0, o);
  double s = seconds_since(t0);
  int64_t allocs = g_allocs.load() - a0;
  return {{"batch", B}, {"steps", o.steps}, {"us_per_step", s * 1e6 / o.steps},
          {"allocations_per_step", double(allocs) / o.steps}, {"allocations_per_solve", allocs}};
}

nlohmann::json network_overhead() {
  torch::NoGradGuard ng;
  auto model = make_model(ModelConfig{}, {2});
  model->eval();
  auto x = torch::randn({1, 2});
  auto t = torch::zeros({1});
  for (int i = 0; i < 100; ++i) model->forward(x, t);
  const int reps = 2000;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) model->forward(x, t);
  double call_us = seconds_since(t0) * 1e6 / reps;
  SolveOptions o;
  o.steps = reps;
  solve(*model, x, o);
  t0 = std::chrono::steady_clock::now();
  solve(*model, x, o);
  double step_us = seconds_since(t0) * 1e6 / reps;
  return {{"mlp_call_us", call_us}, {"euler_step_us", step_us}, {"solver_overhead_us", step_us - call_us}};
}

}  // namespace

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  torch::set_num_threads(threads);
  nlohmann::json out{{"bench", "solvers"}, {"threads", threads}};
  nlohmann::json sweep = nlohmann::json::array();
  for (double max_step : {0.0, 0.05})
    for (double tol : {1e-3, 1e-4, 1e-5, 1e-6, 1e-7}) sweep.push_back(adaptive_comparison(2048, tol, max_step));
  out["dopri5_mixture_8gaussians"] = sweep;
  nlohmann::json pairs = nlohmann::json::array();
  for (double tol : {1e-3, 1e-5, 1e-7}) pairs.push_back(adaptive_pairs(2048, tol));
  out["embedded_pairs_mixture_8gaussians"] = pairs;
  out["fixed_step_overhead"] = {fixed_step_overhead(1), fixed_step_overhead(10000)};
  out["batch1_mlp"] = network_overhead();
  out["system"] = rflow::system_info_json();
  out["peak_rss_mb"] = static_cast<double>(rflow::peak_rss_bytes()) / (1 << 20);
  std::cout << out.dump() << std::endl;
}

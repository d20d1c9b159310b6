// The Solver contract: integrate dx/dt = v(x, t) from t0 to t1 (either direction) for a batch.
// Results carry per-sample NFE, a status instead of exceptions when a budget runs out, and an
// optional trajectory. Solvers are looked up by name (euler, midpoint, heun, rk4, ...).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/core/registry.h"
#include "rflow/flow/velocity_field.h"

namespace rflow {

// v(x, t) with t of shape [B]; conditioning is bound in by bind_field.
using FieldFn = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t)>;

FieldFn bind_field(VelocityFieldImpl& field, Cond cond = {});

struct SolveOptions {
  std::string method = "euler";
  int64_t steps = 100;
  double t0 = 0.0, t1 = 1.0;
  std::vector<double> grid;  // explicit time points (overrides steps/t0/t1 when non-empty)
  int64_t max_nfe = 0;       // 0 = unlimited; when exhausted the partial state is returned
  double rtol = 1e-5, atol = 1e-5;  // adaptive solvers
  bool record_trajectory = false;
};

enum class SolveStatus { kOk, kBudgetExhausted };
std::string to_string(SolveStatus s);

struct SolveResult {
  at::Tensor x;          // state at the last time reached
  at::Tensor nfe;        // [B] int64: velocity evaluations spent on each sample
  at::Tensor t_reached;  // [B] float32
  int64_t calls = 0;     // batched calls of the field
  int64_t accepted = 0, rejected = 0;
  SolveStatus status = SolveStatus::kOk;
  at::Tensor trajectory;     // [S+1, B, ...] when recorded
  std::vector<double> times;  // the S+1 times of the trajectory / grid
};

class Solver {
 public:
  virtual ~Solver() = default;
  virtual std::string name() const = 0;
  virtual int order() const = 0;
  // Velocity evaluations per step of a fixed-step method (0 for adaptive ones).
  virtual int nfe_per_step() const = 0;
  virtual SolveResult integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const = 0;
};

using SolverFactory = std::function<std::unique_ptr<Solver>()>;
const Registry<SolverFactory>& solvers();

// Looks up opt.method and integrates.
SolveResult solve(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt);
SolveResult solve(VelocityFieldImpl& field, const at::Tensor& x0, const SolveOptions& opt,
                  const Cond& cond = {});

// The grid a fixed-step solve uses: opt.grid if given, else `steps` uniform steps from t0 to t1.
std::vector<double> time_grid(const SolveOptions& opt);

}  // namespace rflow

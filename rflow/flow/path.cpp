#include "rflow/flow/path.h"
#include "rflow/core/tensor_util.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

namespace {
void check_batch(const at::Tensor& x0, const at::Tensor& x1, const at::Tensor& t, const char* where) {
  RF_CHECK(x0.sizes() == x1.sizes(), "x0 and x1 shapes differ", where,
           "source and target samples must have the same shape");
  RF_CHECK(t.dim() == 1 && t.size(0) == x0.size(0), "t must be [B]", where, "");
}
}  // namespace

at::Tensor expand_time(const at::Tensor& t, const at::Tensor& like) { return expand_like(t, like); }

AffinePath::AffinePath(std::shared_ptr<const Scheduler> scheduler) : scheduler_(std::move(scheduler)) {
  RF_CHECK(scheduler_ != nullptr, "null scheduler", "AffinePath", "pass make_scheduler(spec)");
}

PathSample AffinePath::sample(const at::Tensor& x0, const at::Tensor& x1, const at::Tensor& t) const {
  check_batch(x0, x1, t, "AffinePath::sample");
  SchedulerValues v = scheduler_values_like(*scheduler_, t, x0);
  return {v.alpha * x1 + v.sigma * x0, v.d_alpha * x1 + v.d_sigma * x0};
}

LinearPath::LinearPath() : AffinePath(std::make_shared<LinearScheduler>()) {}

PathSample LinearPath::sample(const at::Tensor& x0, const at::Tensor& x1, const at::Tensor& t) const {
  check_batch(x0, x1, t, "LinearPath::sample");
  auto te = expand_time(t, x0);
  // x0 + t (x1 − x0) is the same point with one fewer temporary.
  auto target = x1 - x0;
  return {torch::addcmul(x0, te, target), target};
}

std::unique_ptr<Path> make_path(const std::string& spec) {
  if (spec == "linear") return std::make_unique<LinearPath>();
  try {
    return std::make_unique<AffinePath>(make_scheduler(spec));
  } catch (const Error& e) {
    // Same message and hint, but pointing at the config key the user wrote.
    throw Error(e.message(), "method.path", e.hint());
  }
}

}  // namespace rflow

#include "rflow/data/demonstrations.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/npy.h"

namespace rflow {

namespace {

class Demonstrations : public Distribution {
 public:
  Demonstrations(at::Tensor obs, at::Tensor actions, std::string what)
      : obs_(std::move(obs)), actions_(std::move(actions)), what_(std::move(what)) {}
  Draw draw(int64_t n, const at::Generator& rng) override {
    const at::Tensor rows = torch::randint(actions_.size(0), {n}, rng, torch::kInt64);
    Draw d{actions_.index_select(0, rows), {}};
    d.cond.extra["obs"] = obs_.index_select(0, rows);
    return d;
  }
  std::vector<int64_t> sample_shape() const override {
    return std::vector<int64_t>(actions_.sizes().begin() + 1, actions_.sizes().end());
  }
  std::string describe() const override { return what_; }
  int64_t obs_dim() const override { return obs_.size(1); }

 private:
  at::Tensor obs_, actions_;
  std::string what_;
};

class Fork1d : public Distribution {
 public:
  Draw draw(int64_t n, const at::Generator& rng) override {
    const at::Tensor x = torch::rand({n, 1}, rng) * 20.0 - 10.0;
    const at::Tensor sign = torch::randint(2, {n, 1}, rng).to(torch::kFloat32) * 2.0 - 1.0;
    Draw d{torch::where(x > 0, sign * x, torch::zeros_like(x)), {}};
    d.cond.extra["obs"] = x;
    return d;
  }
  std::vector<int64_t> sample_shape() const override { return {1}; }
  std::string describe() const override { return "fork1d (action 0 for obs ≤ 0, ±obs for obs > 0)"; }
  int64_t obs_dim() const override { return 1; }
};

}  // namespace

DistributionEntry demos_entry() {
  return {"demos", [] { return AnyOptions::of<DemosOptions>(); },
          [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string& where) -> std::unique_ptr<Distribution> {
            const auto& o = c.get<DemosOptions>("demos");
            RF_CHECK(!c.path.empty() && !o.obs.empty(), "demos need an actions file and an observations file", where,
                     "set " + where + ".path=actions.npy and " + where + ".demos.obs=observations.npy");
            at::Tensor actions = io::read_npy(c.path).to(torch::kFloat32);
            at::Tensor obs = io::read_npy(o.obs).to(torch::kFloat32);
            RF_CHECK(actions.dim() >= 1 && actions.size(0) >= 1, "no actions", c.path, "");
            if (obs.dim() == 1) obs = obs.unsqueeze(1);
            if (actions.dim() == 1) actions = actions.unsqueeze(1);
            RF_CHECK(obs.dim() == 2, "observations must be [N, O] (or [N])", o.obs, "flatten each observation");
            RF_CHECK(obs.size(0) == actions.size(0),
                     std::to_string(obs.size(0)) + " observations for " + std::to_string(actions.size(0)) + " actions",
                     where, "row i of each file is one demonstrated step");
            RF_CHECK(torch::isfinite(obs).all().item<bool>() && torch::isfinite(actions).all().item<bool>(),
                     "non-finite values in the demonstrations", where, "");
            const std::string what = "demos(" + c.path + ", " + std::to_string(actions.size(0)) + " steps)";
            return std::make_unique<Demonstrations>(obs.contiguous(), actions.contiguous(), what);
          }};
}

DistributionEntry fork1d_entry() {
  return {"", nullptr,
          [](const DistributionConfig&, const std::vector<int64_t>&, const std::string&) -> std::unique_ptr<Distribution> {
            return std::make_unique<Fork1d>();
          }};
}

}  // namespace rflow

#include "rflow/methods/distill.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/tensor_util.h"
#include "rflow/methods/cond_dropout.h"

namespace rflow {

void DistillConfig::validate(const std::string& where) const {
  RF_CHECK(steps >= 1, "student steps must be >= 1", where + ".steps", "1 = one-step student");
  RF_CHECK(loss == "l2" || loss == "pseudo_huber" || loss == "feature", "unknown distillation loss '" + loss + "'",
           where + ".loss", "valid: l2 | pseudo_huber | feature");
  RF_CHECK(huber_c >= 0 && std::isfinite(huber_c), "huber_c must be >= 0", where + ".huber_c", "");
  RF_CHECK(feature_weight >= 0 && l2_weight >= 0, "weights must be >= 0", where, "");
  if (loss == "feature") {
    std::string have;
    for (const auto& n : feature_distances().names()) have += (have.empty() ? "" : ", ") + n;
    RF_CHECK(feature_distances().contains(feature), "no feature distance named '" + feature + "'",
             where + ".feature",
             have.empty() ? "none is registered in this build (the image backbones add one); use l2 or pseudo_huber"
                          : "registered: " + have);
  }
}

Registry<FeatureDistanceFactory>& feature_distances() {
  // Filled by the layers that own feature networks (eval registers the FID network when the
  // pipeline starts): methods sit below eval and must not include it.
  static Registry<FeatureDistanceFactory> reg("feature distance");
  return reg;
}

Distill::Distill(DistillConfig cfg, double label_dropout) : cfg_(std::move(cfg)), label_dropout_(label_dropout) {
  cfg_.validate();
}

at::Tensor Distill::loss(const Batch& batch, TrainContext& ctx) {
  const auto& z0 = batch.x0;
  const auto& z1 = batch.x1;
  const int64_t B = z0.size(0);
  // The student is only ever asked for velocities at its own grid times (j/k, j < k).
  at::Tensor t = torch::randint(0, cfg_.steps, {B}, z0.options().dtype(torch::kInt64)).to(z0.scalar_type()) /
                 double(cfg_.steps);
  at::Tensor tb = expand_like(t, z0);
  at::Tensor xt = ctx.path.sample(z0, z1, t).xt;  // the linear path (checked at construction)
  Cond cond = batch.cond;
  cond = drop_conditioning(cond, label_dropout_);
  at::Tensor v = ctx.model.forward(xt, t, cond);
  // Velocity error = endpoint error / (1 − t): the metric losses work on it so that each of the k
  // Euler steps counts equally, as in the reference's k-step loss.
  at::Tensor err = (v - (z1 - z0)).flatten(1);
  at::Tensor l2 = err.pow(2).mean();
  ctx.log("distill_l2", l2);
  if (cfg_.loss == "l2") return l2;
  if (cfg_.loss == "pseudo_huber") {
    const double c = cfg_.huber_c > 0 ? cfg_.huber_c : 0.00054 * std::sqrt(double(err.size(1)));
    return (err.pow(2).sum(1) + c * c).sqrt().sub(c).mean();
  }
  if (!feature_) {
    std::vector<int64_t> shape(z0.sizes().begin() + 1, z0.sizes().end());
    feature_ = feature_distances().get(cfg_.feature, "method.distill.feature")(shape);
  }
  at::Tensor pred = xt + (1 - tb) * v;  // the student's endpoint from (x_t, t) in one step
  at::Tensor fd = feature_(pred, z1).mean();
  ctx.log("distill_feature", fd);
  return cfg_.feature_weight * fd + cfg_.l2_weight * l2;
}

MethodEntry distill_entry() {
  MethodEntry e{[] { return AnyOptions::of<DistillConfig>(); },
                [](const MethodConfig& c) {
                  RF_CHECK(c.path == "linear", "distillation is defined on the linear path", "method.path",
                           "use method.path=linear (pairs are joined by straight lines)");
                  return std::make_unique<Distill>(c.get<DistillConfig>("distill"), c.label_dropout);
                }};
  e.distills = true;
  e.label = "distilled student";
  return e;
}

}  // namespace rflow

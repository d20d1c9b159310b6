#include "rflow/data/batch_source.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/pair_shards.h"
#include "rflow/data/ot_coupling.h"

namespace rflow {

void DataConfig::validate() const {
  source.validate("data.source");
  target.validate("data.target");
  RF_CHECK(coupling == "independent" || coupling == "ot" || coupling == "pairs" || coupling == "online",
           "unknown coupling '" + coupling + "'", "data.coupling", "valid: independent | ot | pairs | online");
  RF_CHECK(coupling != "online" || !teacher.empty(), "coupling = online needs a teacher", "data.teacher",
           "e.g. --set data.teacher=runs/demo_2d");
  RF_CHECK(!labels || coupling != "ot", "labels with the OT coupling are not supported", "data.labels",
           "OT re-pairs x0 and x1 within a batch, which would cross labels; use the independent coupling");
  RF_CHECK(coupling != "pairs" || !pairs.empty(), "coupling = pairs needs the pairs directory", "data.pairs",
           "e.g. --set data.pairs=runs/demo_2d/pairs");
  ot.validate("data.ot");
}

IndependentCoupling::IndependentCoupling(std::unique_ptr<Distribution> source, std::unique_ptr<Distribution> target,
                                         bool labels)
    : source_(std::move(source)), target_(std::move(target)), labels_(labels) {
  RF_CHECK(!labels_ || target_->num_classes() > 0, target_->describe() + " has no class labels", "data.labels",
           "use a labelled toy (8gaussians, moons, ...) or set data.labels=false");
  RF_CHECK(source_->sample_shape() == target_->sample_shape(),
           "source " + source_->describe() + " and target " + target_->describe() + " differ in shape", "data",
           "both ends of a flow must live in the same space");
}

Batch IndependentCoupling::next(int64_t batch_size, c10::Device device) {
  // Draw order is fixed (x0 then x1) so runs are reproducible from the seed.
  auto x0 = source_->sample(batch_size);
  if (target_->obs_dim() > 0) {
    auto [x1, cond] = target_->sample_conditioned(batch_size);
    return {x0.to(device), x1.to(device), cond.to(device)};
  }
  if (labels_) {
    auto [x1, y] = target_->sample_labeled(batch_size);
    Batch b{x0.to(device), x1.to(device), {}};
    b.cond.labels = y.to(device);
    return b;
  }
  auto x1 = target_->sample(batch_size);
  return {x0.to(device), x1.to(device), {}};
}

std::unique_ptr<IndependentCoupling> make_coupling(const DataConfig& cfg) {
  auto target = make_distribution(cfg.target, {}, "data.target");
  auto source = make_distribution(cfg.source, target->sample_shape(), "data.source");
  return std::make_unique<IndependentCoupling>(std::move(source), std::move(target), cfg.labels);
}

std::unique_ptr<BatchSource> make_batch_source(const DataConfig& cfg) {
  cfg.validate();
  auto independent = make_coupling(cfg);
  RF_CHECK(cfg.coupling != "online", "the online coupling needs a teacher model", "data.coupling",
           "build it with make_training_source (rflow/pipeline/run_context.h)");
  if (cfg.coupling == "ot") return std::make_unique<OtCoupling>(std::move(independent), cfg.ot);
  if (cfg.coupling == "pairs") {
    Pairs pairs = load_pairs(cfg.pairs);
    RF_CHECK(!cfg.labels || pairs.cond.labels.defined(), "data.labels is set but the stored pairs have no labels",
             cfg.pairs, "make the pairs with a class-conditional teacher, or set data.labels=false");
    if (!cfg.labels) pairs.cond.labels = at::Tensor();
    auto src = std::make_unique<PairSource>(std::move(pairs));
    RF_CHECK(src->sample_shape() == independent->sample_shape(), "stored pairs do not match the data's sample shape",
             cfg.pairs, "use the data section of the teacher run");
    return src;
  }
  return independent;
}

}  // namespace rflow

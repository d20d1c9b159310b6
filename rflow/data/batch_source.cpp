#include "rflow/data/batch_source.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/coupling.h"

namespace rflow {

void DataConfig::validate(const std::string& where) const {
  source.validate(where + ".source");
  target.validate(where + ".target");
  const CouplingEntry& e = couplings().get(coupling, where + ".coupling");
  if (e.validate) e.validate(*this, where);
  ot.validate(where + ".ot");
}

IndependentCoupling::IndependentCoupling(std::unique_ptr<Distribution> source, std::unique_ptr<Distribution> target,
                                         bool labels)
    : source_(std::move(source)), target_(std::move(target)), labels_(labels) {
  RF_CHECK(!labels_ || target_->num_classes() > 0, target_->describe() + " has no class labels", "data.labels",
           "use a labelled toy (8gaussians, moons, ...) or set data.labels=false");
  RF_CHECK(source_->sample_shape() == target_->sample_shape(),
           "source " + source_->describe() + " and target " + target_->describe() + " differ in shape", "data",
           "both ends of a flow must live in the same space");
  shapes_ = target_->sample_shapes();
  if (shapes_.size() > 1) {
    // Each shape once, here, rather than a failure in the middle of training.
    for (const auto& shape : shapes_) source_->sample(1, {}, shape);
  }
}

Batch IndependentCoupling::next(int64_t batch_size, c10::Device device) {
  // Draw order is fixed (x0 then x1) so runs are reproducible from the seed. Data of one shape
  // draw no number for the bucket.
  std::vector<int64_t> shape;
  if (shapes_.size() > 1)
    shape = shapes_[static_cast<size_t>(torch::randint(0, static_cast<int64_t>(shapes_.size()), {1}).item<int64_t>())];
  const Draw x0 = source_->sample(batch_size, {}, shape);
  Draw x1 = target_->sample(batch_size, {}, shape);
  // The conditioning travels with x1; labels only where the model is class-conditional.
  if (!labels_) x1.cond.labels = at::Tensor();
  return {x0.x.to(device), x1.x.to(device), x1.cond.to(device)};
}

std::unique_ptr<IndependentCoupling> make_coupling(const DataConfig& cfg) {
  auto target = make_distribution(cfg.target, {}, "data.target");
  auto source = make_distribution(cfg.source, target->sample_shape(), "data.source");
  return std::make_unique<IndependentCoupling>(std::move(source), std::move(target), cfg.labels);
}

CouplingEntry independent_coupling_entry() {
  CouplingEntry e;
  e.make = [](const DataConfig&, std::unique_ptr<IndependentCoupling> both_ends, const CouplingInputs&) {
    return std::unique_ptr<BatchSource>(std::move(both_ends));
  };
  return e;
}

}  // namespace rflow

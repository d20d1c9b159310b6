// Online reflow (the reference code's "online" mode) as a coupling: every batch is fresh noise
// pushed through a few Euler steps of a frozen teacher, so nothing is stored; it costs teacher
// solves at every training step instead of a pair-generation stage.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rflow/data/batch_source.h"
#include "rflow/flow/velocity_field.h"

namespace rflow {

class OnlinePairSource : public BatchSource {
 public:
  OnlinePairSource(VelocityField teacher, std::unique_ptr<IndependentCoupling> data, int64_t steps, double guidance);
  Batch next(int64_t batch_size, c10::Device device) override;
  std::vector<int64_t> sample_shape() const override { return data_->sample_shape(); }
  std::vector<std::vector<int64_t>> sample_shapes() const override { return data_->sample_shapes(); }
  int64_t num_classes() const override { return data_->num_classes(); }

 private:
  VelocityField teacher_;
  std::unique_ptr<IndependentCoupling> data_;
  int64_t steps_;
  double guidance_;
};

}  // namespace rflow

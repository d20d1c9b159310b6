// Where training batches come from: a Batch is a coupled (x0, x1, cond) draw, and a
// BatchSource produces them. The independent coupling draws x0 from the source distribution and x1
// from the target; reflow pairs and OT couplings plug in as other BatchSources (rflow/data/coupling.h).
#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "rflow/data/distribution.h"
#include "rflow/data/ot_config.h"
#include "rflow/flow/cond.h"

namespace rflow {

struct Batch {
  at::Tensor x0, x1;  // [B, ...]
  Cond cond;          // travels with x1 (labels, context, observations, ...)
};

// The registered couplings' names (rflow/data/coupling.h), for the help of data.coupling.
std::string coupling_names();

struct DataConfig {
  DistributionConfig source{"gaussian"};
  DistributionConfig target{"8gaussians"};
  std::string coupling = "independent";
  OtConfig ot;
  std::string pairs;  // coupling = pairs: directory of reflow pair shards
  std::string teacher;  // coupling = online: run whose EMA field makes pairs on the fly
  bool labels = false;

  template <class V>
  void visit(V& v) {
    v.section("source", source);
    v.section("target", target);
    v("coupling", coupling, "how x0 and x1 are paired: " + coupling_names() + " (rflow list says what each does)");
    v.section("ot", ot);
    v("pairs", pairs, "coupling = pairs: directory of (z0, z1) shards made by a teacher run's reflow stage");
    v("teacher", teacher, "coupling = online: the teacher run (or checkpoint) whose EMA field is solved for each batch");
    v("labels", labels, "draw class labels with the target (toys: the mode / component index) for class-conditional models");
  }
  void validate(const std::string& where = "data") const;
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Batch next(int64_t batch_size, c10::Device device) = 0;
  virtual std::vector<int64_t> sample_shape() const = 0;
  // Every shape a batch can come in (each batch is in one): the target's shape buckets.
  virtual std::vector<std::vector<int64_t>> sample_shapes() const { return {sample_shape()}; }
  // Classes its batches' labels come from (0: batches carry no labels).
  virtual int64_t num_classes() const { return 0; }
};

class IndependentCoupling : public BatchSource {
 public:
  IndependentCoupling(std::unique_ptr<Distribution> source, std::unique_ptr<Distribution> target, bool labels = false);
  Batch next(int64_t batch_size, c10::Device device) override;
  std::vector<int64_t> sample_shape() const override { return target_->sample_shape(); }
  std::vector<std::vector<int64_t>> sample_shapes() const override { return shapes_; }
  Distribution& source() { return *source_; }
  Distribution& target() { return *target_; }
  bool labeled() const { return labels_; }
  int64_t num_classes() const override { return labels_ ? target_->num_classes() : 0; }

 private:
  std::unique_ptr<Distribution> source_, target_;
  bool labels_;
  std::vector<std::vector<int64_t>> shapes_;  // the target's, asked once (each batch picks one)
};

// Builds both ends; the target is built first so that a parameterless gaussian source takes its
// dimension. Throws if the two ends disagree in shape. A target of several shapes (buckets) draws
// each batch in one of them, chosen uniformly, and the source in the same shape (N(0, I) takes any).

std::unique_ptr<IndependentCoupling> make_coupling(const DataConfig& cfg);

}  // namespace rflow

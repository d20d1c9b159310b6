#include "rflow/data/online_pairs.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/coupling.h"
#include "rflow/solve/solver.h"

namespace rflow {

OnlinePairSource::OnlinePairSource(VelocityField teacher, std::unique_ptr<IndependentCoupling> data, int64_t steps,
                                   double guidance)
    : teacher_(std::move(teacher)), data_(std::move(data)), steps_(steps), guidance_(guidance) {
  RF_CHECK(steps_ >= 1, "online teacher steps must be >= 1", "reflow.online_steps", "");
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

Batch OnlinePairSource::next(int64_t batch_size, c10::Device device) {
  at::Tensor z0 = data_->source().sample(batch_size).x.to(device);
  // The teacher is solved under conditions drawn like the target's: labels (class-conditional
  // models), captions (text-conditioned ones).
  Cond cond;
  if (data_->labeled() || data_->target().context_len() > 0) {
    const Cond drawn = data_->target().sample(batch_size).cond;
    if (data_->labeled()) cond.labels = drawn.labels;
    cond.context = drawn.context, cond.mask = drawn.mask;
    cond = cond.to(device);
  }
  SolveOptions opt;
  opt.method = "euler";
  opt.steps = steps_;
  SolveResult r = solve(*teacher_, z0, opt, cond, FieldOptions{guidance_});  // solvers run without autograd
  return {z0, r.x, cond};
}

CouplingEntry online_coupling_entry() {
  CouplingEntry e;
  e.validate = [](const DataConfig& c, const std::string& where) {
    RF_CHECK(!c.teacher.empty(), "coupling = online needs a teacher", where + ".teacher",
             "e.g. --set data.teacher=runs/demo_2d");
  };
  e.make = [](const DataConfig& c, std::unique_ptr<IndependentCoupling> both_ends, const CouplingInputs& in) {
    RF_CHECK(static_cast<bool>(in.load_teacher), "the online coupling needs a teacher model", "data.coupling",
             "build the batches through the pipeline (make_training_source), which loads data.teacher");
    VelocityField teacher = in.load_teacher(c.teacher);
    for (const auto& shape : both_ends->sample_shapes())
      RF_CHECK(teacher->takes_shape(shape), "the online teacher does not draw " + c10::str(shape) + " samples",
               c.teacher, "use the data section of the teacher run");
    return std::unique_ptr<BatchSource>(
        std::make_unique<OnlinePairSource>(std::move(teacher), std::move(both_ends), in.online_steps, in.online_guidance));
  };
  e.input = CouplingInput::kTeacher;
  return e;
}

}  // namespace rflow

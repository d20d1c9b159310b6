// Every shipped config builds what its training stage builds (data, backbone, method, path) and
// takes one finite, differentiable loss on a real batch: a config whose keys load but whose pieces
// do not fit together fails here, not an hour into a run.
#include "rflow/pipeline/run_config.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/flow/path.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/model_config.h"
#include "rflow/train/method.h"
#include "tests/test_util.h"

using namespace rflow;
namespace fs = std::filesystem;

TEST(RunConfig, EveryShippedConfigBuildsAndTakesOneLoss) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(std::string(RFLOW_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".toml") continue;
    RunConfig cfg = load_run_config(e.path().string(), {});
    const bool images = cfg.data.target.name == "fashion_mnist";
    if (images)
      RFLOW_TEST_REQUIRES(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"),
                          "no Fashion-MNIST");
    SCOPED_TRACE(e.path().filename().string());
    seed_all(1);
    auto data = make_coupling(cfg.data);
    auto model = make_model(cfg.model, data->sample_shape());
    auto method = make_method(cfg.method);
    auto path = make_path(cfg.method.path);
    Batch b = data->next(8, torch::kCPU);
    ASSERT_EQ(b.x1.size(0), 8);
    EXPECT_EQ(std::vector<int64_t>(b.x1.sizes().begin() + 1, b.x1.sizes().end()), data->sample_shape());
    EXPECT_EQ(b.cond.labels.defined(), cfg.model.num_classes > 0) << "labels exactly when the model is conditional";
    TrainContext ctx{*model, *path};
    // A frozen copy as the EMA (methods that compare with it), and for a method that reads a teacher
    // (a trained run in the config) a fresh model of the same shape, perturbed.
    VelocityField ema = clone_field(*model), teacher;
    ema->eval();
    ctx.ema = ema.get();
    if (method->needs_teacher()) {
      EXPECT_FALSE(cfg.method.teacher.empty()) << "needs a teacher but names none";
      teacher = make_model(cfg.model, data->sample_shape());
      teacher->eval();
      // Backbones with a zero-initialised output layer would make every target 0 (and a student
      // that starts there, like PeRFlow's, already exact): the teacher's weights are perturbed.
      torch::NoGradGuard ng;
      for (auto& p : teacher->parameters()) p.add_(torch::randn_like(p) * 0.05);
      ctx.teacher = teacher.get();
    }
    auto loss = method->loss(b, ctx);
    ASSERT_TRUE(std::isfinite(loss.item<double>()));
    loss.backward();
    double g = 0;
    for (const auto& p : model->parameters())
      if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
    EXPECT_GT(g, 0.0) << "no gradient reaches the model";
    ++n;
  }
  EXPECT_GE(n, 7);
}

// A student distilled with the evaluator's own features would be graded by what it was trained to
// match: refused where the same run evaluates it, unless the user opts in or evaluates elsewhere.
TEST(RunConfig, DistillingWithTheEvaluatorsFeaturesIsRefusedWithoutTheOptIn) {
  const std::string cfg = std::string(RFLOW_SOURCE_DIR) + "/configs/fmnist_cond.toml";
  EXPECT_NO_THROW(load_run_config(cfg, {}));  // feature = "percept"
  try {
    load_run_config(cfg, {"method.distill.feature=fidnet"});
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("method.distill.feature"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("allow_eval_network"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(load_run_config(cfg, {"method.distill.feature=fidnet", "method.distill.allow_eval_network=true"}));
  EXPECT_NO_THROW(load_run_config(cfg, {"method.distill.feature=fidnet", "eval.fidnet=/elsewhere/other_net.safetensors"}));
  EXPECT_NO_THROW(load_run_config(cfg, {"method.distill.feature=fidnet", "stages=[\"train\",\"reflow\",\"distill\"]"}));
  EXPECT_NO_THROW(load_run_config(cfg, {"method.distill.feature=fidnet", "method.distill.loss=l2"}));
}

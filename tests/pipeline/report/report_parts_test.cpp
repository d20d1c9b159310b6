// The report's training-loss figure: the smoothed curve is the loss itself when the loss is
// constant and follows a step without overshooting; the axis is logarithmic only for losses that
// are all positive and span a factor of 10 (a negative log-likelihood stays on a linear axis); each
// logged loss term gets a figure of its own. A comparison names the keys that tell runs apart.
#include <gtest/gtest.h>

#include "rflow/pipeline/report/report_parts.h"
#include "rflow/pipeline/run_config.h"
#include "tests/test_util.h"

using rflow::log_axis_suits;
using rflow::smoothed_losses;

TEST(ReportParts, SmoothedLossOfAConstantIsTheConstantAndAStepIsFollowedMonotonically) {
  const auto flat = smoothed_losses(std::vector<double>(50, 0.37));
  ASSERT_EQ(flat.size(), 50u);
  for (double v : flat) EXPECT_NEAR(v, 0.37, 1e-12);
  std::vector<double> step(40, 2.0);
  step.resize(200, 1.0);
  const auto s = smoothed_losses(step);
  EXPECT_NEAR(s[39], 2.0, 1e-12);
  for (size_t i = 40; i < s.size(); ++i) {
    EXPECT_LT(s[i], s[i - 1]);
    EXPECT_GT(s[i], 1.0);
  }
  EXPECT_LT(s.back(), 1.001);  // 160 points after the step, the trend has arrived
}

TEST(ReportParts, ALogAxisOnlyForPositiveLossesThatSpanAFactorOfTen) {
  EXPECT_TRUE(log_axis_suits({2.0, 0.5, 0.1}));
  EXPECT_FALSE(log_axis_suits({2.0, 0.5, -0.3}));  // AdaFlow's NLL goes negative
  EXPECT_FALSE(log_axis_suits({0.52, 0.50, 0.49}));
  EXPECT_FALSE(log_axis_suits({}));
}

TEST(ReportParts, EveryLoggedTermIsReadAndDrawnApart) {
  rflow::test::TempDir dir;
  rflow::test::write_text(dir.file("metrics.jsonl"),
                          R"({"step":100,"loss":2.0,"lr":0.001,"grad_norm":1.5,"steps_per_s":300,"flow_loss":0.5,"variance_nll":1.5}
{"step":200,"loss":-0.5,"lr":0.001,"grad_norm":1.0,"steps_per_s":310,"flow_loss":0.2,"variance_nll":-0.7}
not json
)");
  const auto log = rflow::read_training_log(dir.file("metrics.jsonl"));
  ASSERT_EQ(log.loss.y.size(), 2u);
  ASSERT_EQ(log.terms.size(), 2u);  // steps_per_s is a speed, not a term
  EXPECT_EQ(log.terms[0].label, "flow_loss");
  EXPECT_EQ(log.terms[1].label, "variance_nll");
  EXPECT_EQ(log.terms[1].y, (std::vector<double>{1.5, -0.7}));
  const auto figs = rflow::training_figures(dir.file("metrics.jsonl"));
  ASSERT_EQ(figs.size(), 5u);  // loss, learning rate, gradient norm, and one per term
  EXPECT_EQ(figs[3].first, "flow loss, mean per logged window");
  EXPECT_EQ(figs[4].first, "variance NLL, mean per logged window");
  EXPECT_NE(figs[4].second.find("-0.5"), std::string::npos) << "the negative NLL is on a linear axis";
  EXPECT_EQ(rflow::readable_term("moe_load_max"), "moe load max");
}

TEST(ReportParts, RunsAreToldApartByTheKeysThatMatterToEach) {
  const auto a = rflow::load_run_config("", {"name=a", "data.coupling=ot", "train.ckpt_every=50"});
  const auto b = rflow::load_run_config("", {"name=b", "model.arch=dit", "model.dit.depth=3", "train.lr=0.01"});
  const auto differ = rflow::keys_that_differ({&a, &b});
  ASSERT_EQ(differ.size(), 2u);
  // Names and checkpoint cadence never count; model.dit.* only for the DiT run.
  EXPECT_EQ(differ[0], "data.coupling = \"ot\", model.arch = \"mlp\", train.lr = 0.001");
  EXPECT_EQ(differ[1], "data.coupling = \"independent\", model.arch = \"dit\", model.dit.depth = 3, train.lr = 0.01");
  EXPECT_EQ(rflow::keys_that_differ({&a}), std::vector<std::string>{""});
}

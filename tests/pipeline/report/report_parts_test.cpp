// The report's training-loss figure: the smoothed curve is the loss itself when the loss is
// constant and follows a step without overshooting; the axis is logarithmic only for losses that
// are all positive and span a factor of 10 (a negative log-likelihood stays on a linear axis).
#include <gtest/gtest.h>

#include "rflow/pipeline/report/report_parts.h"

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

// The predicted training log: the fit recovers a known power law from its prefix, predicts the
// final value from a third of the steps, and falls back to the last value when it cannot fit.
#include <cmath>

#include <gtest/gtest.h>

#include "rflow/automl/learning_curve.h"
#include "rflow/core/error.h"

using namespace rflow::automl;

TEST(LearningCurve, TheFitRecoversAKnownPowerLawAndPredictsTheEndFromAThird) {
  const double a = 0.35, b = 4.0, c = 0.7;
  std::vector<CurvePoint> prefix;
  for (double s = 100; s <= 1000; s += 100) prefix.push_back({s, a + b * std::pow(s, -c)});
  const PowerLaw f = fit_power_law(prefix);
  ASSERT_TRUE(f.fitted);
  EXPECT_NEAR(f.a, a, 1e-4);
  EXPECT_NEAR(f.b, b, 1e-2);
  EXPECT_NEAR(f.c, c, 1e-3);
  EXPECT_LT(f.rmse, 1e-6);
  EXPECT_NEAR(predict_final(prefix, 3000), a + b * std::pow(3000.0, -c), 1e-4);
}

TEST(LearningCurve, NoisyPointsStillGiveTheAsymptoteWithinTheNoise) {
  // ±1 % deterministic "noise" (a fixed alternating pattern) on a curve falling from 2.1 to 0.5.
  std::vector<CurvePoint> pts;
  int k = 0;
  for (double s = 50; s <= 900; s += 50, ++k) pts.push_back({s, (0.5 + 30 * std::pow(s, -0.9)) * (k % 2 ? 1.01 : 0.99)});
  const double truth = 0.5 + 30 * std::pow(2700.0, -0.9);
  EXPECT_NEAR(predict_final(pts, 2700), truth, 0.05 * truth);
}

TEST(LearningCurve, TooFewStepsGiveTheLastValueAndBadPointsAreRefused) {
  EXPECT_FALSE(fit_power_law({{10, 1.0}, {20, 0.8}}).fitted);
  EXPECT_DOUBLE_EQ(predict_final({{10, 1.0}, {20, 0.8}}, 1000), 0.8);
  EXPECT_THROW(fit_power_law({{0, 1.0}, {1, 2.0}, {2, 3.0}}), rflow::Error);
  EXPECT_THROW(fit_power_law({{1, NAN}, {2, 2.0}, {3, 3.0}}), rflow::Error);
  // A flat curve is a constant: b = 0 (any c), prediction the constant.
  EXPECT_NEAR(predict_final({{10, 2.0}, {20, 2.0}, {30, 2.0}}, 500), 2.0, 1e-12);
}

// The learning-rate schedule against its formula at the points where an off-by-one shows: the
// first warmup step, the last warmup step, the first step after warmup, the middle and the end of
// the cosine decay, past the end, and the constant schedule.
#include <cmath>

#include <gtest/gtest.h>

#include "rflow/core/error.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/train/train_config.h"

using namespace rflow;

TEST(LearningRate, LinearWarmupThenCosineToTheFloor) {
  TrainConfig c;
  c.lr = 1e-3;
  c.warmup = 10;
  c.steps = 110;
  c.schedule = "cosine";
  c.min_lr_ratio = 0.1;
  const double lo = 1e-4;
  EXPECT_DOUBLE_EQ(learning_rate(c, 0), 1e-4);       // step 0 trains at lr / warmup, not 0
  EXPECT_DOUBLE_EQ(learning_rate(c, 4), 5e-4);
  EXPECT_DOUBLE_EQ(learning_rate(c, 9), 1e-3);       // warmup − 1: the full rate
  EXPECT_DOUBLE_EQ(learning_rate(c, 10), 1e-3);      // the decay starts at the full rate
  EXPECT_NEAR(learning_rate(c, 60), lo + 0.5 * (1e-3 - lo), 1e-15);              // half way: the mean
  EXPECT_NEAR(learning_rate(c, 35), lo + 0.5 * (1e-3 - lo) * (1 + std::cos(M_PI / 4)), 1e-15);
  EXPECT_NEAR(learning_rate(c, 110), lo, 1e-15);     // the end: the floor
  EXPECT_NEAR(learning_rate(c, 500), lo, 1e-15);     // resumed past the end: stays there
  for (int64_t s = 11; s <= 110; ++s) EXPECT_LT(learning_rate(c, s), learning_rate(c, s - 1)) << s;
}

TEST(LearningRate, ConstantAfterWarmupAndNoWarmup) {
  TrainConfig c;
  c.lr = 2e-3;
  c.warmup = 4;
  c.steps = 100;
  c.schedule = "constant";
  EXPECT_DOUBLE_EQ(learning_rate(c, 0), 5e-4);
  EXPECT_DOUBLE_EQ(learning_rate(c, 3), 2e-3);
  EXPECT_DOUBLE_EQ(learning_rate(c, 50), 2e-3);
  c.warmup = 0;
  c.schedule = "cosine";
  c.min_lr_ratio = 0;
  EXPECT_DOUBLE_EQ(learning_rate(c, 0), 2e-3);
  EXPECT_NEAR(learning_rate(c, 100), 0.0, 1e-18);
}

// A run of zero steps would be marked trained without a checkpoint; a thread count far beyond any
// machine hangs creating threads. Both are refused when the config is read.
TEST(TrainConfigBounds, ZeroStepsAndAbsurdThreadCountsAreRefused) {
  TrainConfig tc;
  tc.steps = 0;
  EXPECT_THROW(tc.validate(), Error);
  tc.steps = 1;
  EXPECT_NO_THROW(tc.validate());
  EXPECT_THROW(load_run_config("", {"threads=100000"}), Error);
  EXPECT_NO_THROW(load_run_config("", {"threads=2"}));
}

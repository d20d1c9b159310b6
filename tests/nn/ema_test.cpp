// The EMA against a hand-computed running average: decay d (with warmup, d_k = min(d, (1 + k) /
// (10 + k)) before the k-th update) applied as e ← e + (1 − d)(p − e), and the copy into a model.
// (The flat-buffer path equals this one: FusedAdam.FlatEmaEqualsPerTensorEma.)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/ema.h"

using namespace rflow;

namespace {

struct One : torch::nn::Module {
  One() { w = register_parameter("w", torch::zeros({3})); }
  at::Tensor w;
};

// Parameter values at each update: 1, 2, 3, ... times (1, −1, 0.5).
at::Tensor value_at(int k) { return torch::tensor({1.0f, -1.0f, 0.5f}) * float(k + 1); }

std::vector<double> expected(double decay, bool warmup, int n) {
  std::vector<double> e{0.0};  // the first coordinate; starts at the initial weights (0)
  double x = 0;
  for (int k = 0; k < n; ++k) {
    const double d = warmup ? std::min(decay, (1.0 + k) / (10.0 + k)) : decay;
    x += (1 - d) * (double(k + 1) - x);
    e.push_back(x);
  }
  return e;
}

}  // namespace

TEST(Ema, FollowsTheHandComputedAverage) {
  for (bool warmup : {false, true}) {
    {
      auto m = std::make_shared<One>();
      Ema ema(*m, 0.9, warmup);
      const auto want = expected(0.9, warmup, 30);
      for (int k = 0; k < 30; ++k) {
        {
          torch::NoGradGuard ng;
          m->w.copy_(value_at(k));
        }
        ema.update(*m);
        const auto st = ema.state();
        ASSERT_EQ(st.size(), 1u);
        const double got = st[0].second[0].item<double>();
        EXPECT_NEAR(got, want[k + 1], 1e-5 * (1 + want[k + 1])) << "update " << k + 1 << " warmup " << warmup;
        // All coordinates move alike: the second is −1 times the first.
        EXPECT_NEAR(st[0].second[1].item<double>(), -got, 1e-5 * (1 + got));
        // Golden values worked by hand, not by the helper above: with warmup the first update takes
        // 90% of the way (decay (1 + 0)/10) and the second 9/11 of it (decay 2/11): 0.9, then 1.8;
        // without, 10% each time: 0.1, then 0.1 + 0.1·(2 − 0.1) = 0.29.
        if (k == 0) EXPECT_NEAR(got, warmup ? 0.9 : 0.1, 1e-6);
        if (k == 1) EXPECT_NEAR(got, warmup ? 1.8 : 0.29, 1e-6);
      }
      EXPECT_EQ(ema.updates(), 30);
      auto copy = std::make_shared<One>();
      ema.copy_to(*copy);
      EXPECT_NEAR(copy->w[0].item<double>(), want[30], 1e-5 * want[30]);
    }
  }
}

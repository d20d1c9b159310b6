// DeepSeekMoE: the gate against a loop reference (softmax / sigmoid, group-limited routing), the
// bias choosing experts without entering the weights, dispatch equal to computing every expert
// densely, aux-loss-free balancing of a skewed router, and the sequence-wise balance loss.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "rflow/core/error.h"
#include "rflow/nn/layers/moe.h"

using namespace rflow;

namespace {
MoEOptions moe_small(const std::string& score, int64_t groups, int64_t limited) {
  MoEOptions o;
  o.routed = 8, o.shared = 1, o.top_k = 2, o.hidden = 16, o.groups = groups, o.limited_groups = limited;
  o.score = score, o.route_scale = score == "sigmoid" ? 2.5 : 1.0;
  return o;
}
}  // namespace

TEST(Moe, GateMatchesALoopReference) {
  for (const auto& [score, groups, limited] :
       std::vector<std::tuple<std::string, int64_t, int64_t>>{{"softmax", 1, 1}, {"sigmoid", 1, 1}, {"sigmoid", 4, 2},
                                                              {"softmax", 4, 1}}) {
    torch::manual_seed(5);
    MoE m(12, moe_small(score, groups, limited));
    {
      torch::NoGradGuard ng;
      m->routing_bias.copy_(torch::randn({8}) * 0.3);
    }
    const auto x = torch::randn({40, 12});
    const Routing r = m->route(x);
    const auto logits = torch::matmul(x, m->gate_weight.t());
    const int64_t per = 8 / groups;
    for (int64_t n = 0; n < 40; ++n) {
      std::vector<double> s(8), sel(8);
      double z = 0;
      for (int64_t e = 0; e < 8; ++e) z += std::exp(logits[n][e].item<double>());
      for (int64_t e = 0; e < 8; ++e) {
        const double l = logits[n][e].item<double>();
        s[e] = score == "sigmoid" ? 1.0 / (1.0 + std::exp(-l)) : std::exp(l) / z;
        sel[e] = s[e] + m->routing_bias[e].item<double>();
      }
      // Groups ranked by the sum of their two best biased scores; the rest are closed.
      std::vector<std::pair<double, int64_t>> gs;
      for (int64_t g = 0; g < groups; ++g) {
        std::vector<double> v(sel.begin() + g * per, sel.begin() + (g + 1) * per);
        std::sort(v.rbegin(), v.rend());
        gs.emplace_back(v[0] + (per > 1 ? v[1] : 0.0), g);
      }
      std::sort(gs.rbegin(), gs.rend());
      std::vector<bool> open(groups, false);
      for (int64_t g = 0; g < limited; ++g) open[gs[g].second] = true;
      std::vector<std::pair<double, int64_t>> cand;
      for (int64_t e = 0; e < 8; ++e)
        if (open[e / per]) cand.emplace_back(sel[e], e);
      std::sort(cand.rbegin(), cand.rend());
      std::vector<int64_t> want{cand[0].second, cand[1].second}, got{r.experts[n][0].item<int64_t>(), r.experts[n][1].item<int64_t>()};
      std::sort(want.begin(), want.end());
      std::vector<int64_t> got_sorted = got;
      std::sort(got_sorted.begin(), got_sorted.end());
      ASSERT_EQ(got_sorted, want) << score << " groups " << groups << " token " << n;
      // Weights from the unbiased scores; sigmoid renormalised to route_scale.
      double wsum = 0;
      for (int64_t k = 0; k < 2; ++k) {
        double w = s[got[k]];
        if (score == "sigmoid") w /= (s[got[0]] + s[got[1]]);
        w *= m->options().route_scale;
        EXPECT_NEAR(r.weights[n][k].item<double>(), w, 1e-5);
        wsum += r.weights[n][k].item<double>();
      }
      if (score == "sigmoid") EXPECT_NEAR(wsum, 2.5, 1e-5);
      // The chosen experts lie in at most `limited` groups.
      std::set<int64_t> used{got[0] / per, got[1] / per};
      EXPECT_LE(int64_t(used.size()), limited);
    }
  }
}

TEST(Moe, TheBiasChangesWhichExpertsNotTheirWeights) {
  torch::manual_seed(6);
  MoE m(12, moe_small("sigmoid", 1, 1));
  const auto x = torch::randn({200, 12});
  const Routing before = m->route(x);
  {
    torch::NoGradGuard ng;
    m->routing_bias[3] += 0.05;  // a small push: some tokens switch to expert 3
  }
  const Routing after = m->route(x);
  int64_t switched = 0;
  for (int64_t n = 0; n < 200; ++n) {
    auto a = std::get<0>(before.experts[n].sort()), b = std::get<0>(after.experts[n].sort());
    if (torch::equal(a, b)) {
      // Same experts: the same weights (in the same order of experts).
      auto wa = before.weights[n].index_select(0, std::get<1>(before.experts[n].sort()));
      auto wb = after.weights[n].index_select(0, std::get<1>(after.experts[n].sort()));
      EXPECT_TRUE(torch::allclose(wa, wb, 1e-6, 1e-6));
    } else {
      ++switched;
    }
  }
  EXPECT_GT(switched, 0);
  EXPECT_TRUE(torch::equal(before.scores, after.scores));
}

TEST(Moe, DispatchEqualsEveryExpertTimesADenseGate) {
  torch::manual_seed(7);
  MoE m(12, moe_small("sigmoid", 4, 2));
  m->to(torch::kFloat64);
  const auto x = torch::randn({3, 10, 12}, torch::kFloat64);
  const auto y = m->forward(x);
  const auto x2 = x.reshape({-1, 12});
  const Routing r = m->route(x2);
  auto gate = torch::zeros({30, 8}, torch::kFloat64).scatter_(1, r.experts, r.weights.to(torch::kFloat64));
  EXPECT_TRUE(torch::equal((gate > 0).sum(1), torch::full({30}, 2, torch::kInt64)));  // every token: 2 experts
  // Shared expert + Σ_e gate[:, e]·E_e(x), each expert run on every token.
  at::Tensor ref;
  for (const auto& c : m->named_children()) {
    if (c.key() == "shared") ref = c.value()->as<SwiGLUImpl>()->forward(x2);
  }
  const auto experts = m->named_children()["experts"];
  int64_t e = 0;
  for (const auto& ex : experts->children()) ref = ref + gate.select(1, e++).unsqueeze(1) * ex->as<SwiGLUImpl>()->forward(x2);
  EXPECT_TRUE(torch::allclose(y.reshape({-1, 12}), ref, 1e-12, 1e-12));
}

TEST(Moe, TheBiasRuleBalancesASkewedRouterWithoutAnAuxiliaryLoss) {
  auto run = [](double rate, std::vector<double>* trace) {
    torch::manual_seed(8);
    MoEOptions o = moe_small("sigmoid", 1, 1);
    o.bias_rate = rate;
    MoE m(16, o);
    {
      torch::NoGradGuard ng;  // experts 0 and 1 get +2 on their logits for these tokens
      m->gate_weight.slice(0, 0, 2).select(1, 0).add_(2.0);
    }
    m->train();
    double last = 0;  // mean max / mean load over the last 50 steps
    for (int step = 0; step < 400; ++step) {
      auto x = torch::randn({1024, 16}) * 0.5;
      x.select(1, 0).fill_(1.0);
      m->forward(x);
      auto r = m->update_bias();
      if (step >= 350) last += r.at("moe_load_max").item<double>() / 50;
      if (trace) trace->push_back(r.at("moe_load_cv").item<double>());
    }
    return last;
  };
  std::vector<double> cv;
  const double balanced = run(1e-2, &cv);
  EXPECT_GT(cv.front(), 1.0);        // two experts take most tokens at first
  EXPECT_LT(balanced, 1.2);          // max load within 20% of the mean
  const double early = std::accumulate(cv.begin(), cv.begin() + 50, 0.0) / 50;
  const double late = std::accumulate(cv.end() - 50, cv.end(), 0.0) / 50;
  EXPECT_LT(late, 0.25 * early);
  EXPECT_GT(run(0.0, nullptr), 2.5);  // without the rule it stays skewed
}

TEST(Moe, SequenceBalanceLossFollowsItsFormula) {
  torch::manual_seed(9);
  MoEOptions o = moe_small("sigmoid", 1, 1);
  o.balance_loss = 1e-2;
  MoE m(12, o);
  m->train();
  const auto x = torch::randn({2, 6, 12});
  m->forward(x);
  const auto l = m->take_balance_loss();
  ASSERT_TRUE(l.defined());
  EXPECT_FALSE(m->take_balance_loss().defined());  // taken
  const Routing r = m->route(x.reshape({-1, 12}));
  double ref = 0;
  for (int64_t s = 0; s < 2; ++s) {
    for (int64_t e = 0; e < 8; ++e) {
      double f = 0, P = 0;
      for (int64_t t = 0; t < 6; ++t) {
        const int64_t n = s * 6 + t;
        if (r.experts[n][0].item<int64_t>() == e || r.experts[n][1].item<int64_t>() == e) f += 1;
        P += r.scores[n][e].item<double>() / r.scores[n].sum().item<double>();
      }
      ref += (8.0 / (2.0 * 6.0)) * f * (P / 6.0);
    }
  }
  EXPECT_NEAR(l.item<double>(), 1e-2 * ref / 2.0, 1e-7);
  // Its gradient reaches the gate (through P; f is a count).
  l.backward();
  EXPECT_GT(m->gate_weight.grad().abs().sum().item<double>(), 0.0);
  // Evaluation forwards count nothing.
  m->eval();
  m->forward(x);
  EXPECT_FALSE(m->take_balance_loss().defined());
  EXPECT_EQ(m->load().sum().item<double>(), 2.0 * 12);  // the training forward's 12 tokens × top 2
  MoEOptions bad = moe_small("sigmoid", 3, 1);
  EXPECT_THROW(bad.validate("moe"), Error);  // 3 groups do not divide 8 experts
  bad = moe_small("sigmoid", 4, 1);
  bad.top_k = 3;
  EXPECT_THROW(bad.validate("moe"), Error);  // one group of 2 experts cannot give 3
}

// PeRFlow's plug-in: teacher + (student − teacher) is the student bit for bit, even where the two
// differ by orders of magnitude (the difference is kept in float64); scale 0 leaves a model as it
// is; another architecture is refused.
#include "rflow/pipeline/weight_delta.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/train/checkpoint.h"

using namespace rflow;

TEST(WeightDelta, TeacherPlusDeltaIsTheStudentBitForBit) {
  torch::manual_seed(0);
  ModelConfig mc;
  auto teacher = make_model(mc, {2});
  {
    torch::NoGradGuard ng;
    for (auto& p : teacher->parameters()) p.view(-1)[0] = 1e7f;
  }
  auto student = clone_field(*teacher);
  {
    torch::NoGradGuard ng;
    int i = 0;
    for (auto& p : student->parameters()) {
      // Steps of every size, and weights far apart in magnitude (1e7 → 0.1), where in float32
      // (s − t) + t is not s.
      p.add_(torch::randn_like(p) * std::pow(10.0, (i++ % 7) - 3));
      p.view(-1)[0] = 0.1f;
    }
  }
  const NamedDelta delta = weight_delta(*student, *teacher);
  auto copy = clone_field(*teacher);
  add_weight_delta(*copy, delta);
  const auto want = module_tensors(*student), got = module_tensors(*copy);
  ASSERT_EQ(want.size(), got.size());
  for (size_t k = 0; k < want.size(); ++k) EXPECT_TRUE(got[k].second.equal(want[k].second)) << want[k].first;
  // The float32 way loses it (which is why the delta is float64).
  bool lost = false;
  for (size_t k = 0; k < want.size(); ++k) {
    const auto t = module_tensors(*teacher)[k].second;
    lost = lost || !((want[k].second - t) + t).equal(want[k].second);
  }
  EXPECT_TRUE(lost);
  auto unchanged = clone_field(*teacher);
  add_weight_delta(*unchanged, delta, 0.0);
  for (size_t k = 0; k < want.size(); ++k)
    EXPECT_TRUE(module_tensors(*unchanged)[k].second.equal(module_tensors(*teacher)[k].second));
  ModelConfig other;
  other.get<MlpOptions>("mlp").hidden = 64;
  auto small = make_model(other, {2});
  EXPECT_THROW(weight_delta(*small, *teacher), Error);
  EXPECT_THROW(add_weight_delta(*small, delta), Error);
}

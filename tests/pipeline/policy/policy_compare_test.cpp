// The sampler list of `rflow policy compare`: adaflow with η and optionally its most steps, fixed-step
// solvers with their steps; anything else is one clear error.
#include <gtest/gtest.h>

#include "rflow/core/error.h"
#include "rflow/pipeline/policy/policy_compare.h"

using namespace rflow;

TEST(PolicyCompare, ParsesSamplersAndRefusesWhatIsNotOne) {
  const auto s = parse_samplers("adaflow:0.5,adaflow:1:4,euler:1,heun:5", "--samplers");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].solve.method, "adaflow");
  EXPECT_DOUBLE_EQ(s[0].field.eta, 0.5);
  EXPECT_EQ(s[0].solve.steps, 10);
  EXPECT_EQ(s[1].solve.steps, 4);
  EXPECT_EQ(s[2].label, "euler:1");
  EXPECT_EQ(s[2].solve.steps, 1);
  EXPECT_EQ(s[3].solve.method, "heun");
  EXPECT_EQ(s[3].solve.steps, 5);
  for (const char* bad : {"", "euler", "euler:x", "euler:0", "eulr:3", "dopri5:10", "adaflow", "adaflow:-1",
                          "adaflow:0.5:3:2", "euler:20,", "euler:2:3"}) {
    try {
      parse_samplers(bad, "--samplers");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--samplers"), std::string::npos) << bad << ": " << e.what();
    }
  }
}

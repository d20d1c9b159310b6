// Training thresholds in this suite were measured on one thread: a reduction split across threads
// changes the last bits, and a few hundred steps later the numbers. So every test of this binary
// runs on one thread whatever OMP_NUM_THREADS says; a test about threads sets its own count.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

namespace {

class OneThreadEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};

[[maybe_unused]] const auto* const kOneThreadEnvironment = ::testing::AddGlobalTestEnvironment(new OneThreadEnvironment);

}  // namespace

TEST(Suite, RunsOnOneThreadWhateverTheEnvironmentSays) { EXPECT_EQ(at::get_num_threads(), 1); }

// The automatic thread count: every core the other running tasks leave, never fewer than one;
// this process's own running threads are not counted as others; a count the user set is kept.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include "rflow/core/thread_policy.h"

using namespace rflow;

TEST(ThreadPolicy, TheCoresOthersLeaveAndAtLeastOne) {
  EXPECT_EQ(threads_for(2, 0), 2);
  EXPECT_EQ(threads_for(2, 1), 1);
  EXPECT_EQ(threads_for(2, 5), 1);
  EXPECT_EQ(threads_for(16, 3), 13);
  EXPECT_EQ(threads_for(8, -2), 8);  // a /proc that says nothing
  EXPECT_EQ(threads_for(0, 0), 1);
}

TEST(ThreadPolicy, AFixedCountIsKeptAndSaidSo) {
  const int before = at::get_num_threads();
  apply_thread_setting(1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_EQ(adapt_threads(), "");  // fixed: never changed behind the user's back
  EXPECT_EQ(thread_policy_text(), "fixed: 1 (threads = 1)");
  // This test's own running thread is not another process's.
  EXPECT_GE(other_running_tasks(), 0);
  at::set_num_threads(before);
}

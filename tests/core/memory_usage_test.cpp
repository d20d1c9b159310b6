// Peak resident memory: a touched allocation raises it by its size, and a reset starts over.
#include <cstring>
#include <memory>

#include <gtest/gtest.h>

#include "rflow/core/memory_usage.h"

using namespace rflow;

TEST(MemoryUsage, PeakFollowsATouchedAllocationAndResets) {
  if (current_rss_bytes() == 0) GTEST_SKIP() << "no /proc/self/status";
  const int64_t size = 256 << 20;
  const int64_t before = peak_rss_bytes();
  {
    std::unique_ptr<char[]> block(new char[size]);
    std::memset(block.get(), 1, size);  // touched, so resident
    EXPECT_GE(current_rss_bytes(), size);
    EXPECT_GE(peak_rss_bytes(), std::max(before, size));
  }
  if (!reset_peak_rss()) GTEST_SKIP() << "the kernel refuses /proc/self/clear_refs";
  // After the block is gone, a new peak measurement starts near the current size.
  EXPECT_LT(peak_rss_bytes(), current_rss_bytes() + size / 2);
}

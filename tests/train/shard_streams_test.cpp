// A batch's shards and their random streams: shard 0 continues the default generator's stream,
// another shard draws numbers of its own, a shard entered again continues where it left off, the
// states written to a checkpoint restore every stream exactly, and ranks split the shards.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/train/shard_streams.h"

using namespace rflow;

TEST(ShardStreams, EachShardDrawsItsOwnStreamAndCheckpointsRestoreThemAll) {
  seed_all(5);
  const at::Tensor plain = torch::rand({6});  // what the default generator draws from seed 5
  seed_all(5);
  ShardStreams streams(3, c10::kCPU);
  streams.enter(0);
  const at::Tensor a0 = torch::rand({3});
  streams.leave(0);
  streams.enter(1);
  const at::Tensor a1 = torch::rand({3});
  streams.leave(1);
  streams.enter(0);
  const at::Tensor b0 = torch::rand({3});
  streams.leave(0);
  EXPECT_TRUE(torch::equal(torch::cat({a0, b0}), plain));  // shard 0 is the plain stream, continued
  EXPECT_FALSE(torch::equal(a1, a0));
  // Checkpoint, draw on, restore: the same numbers again.
  const auto saved = streams.states();
  ASSERT_EQ(saved.size(), 3u);
  streams.enter(1);
  const at::Tensor next1 = torch::rand({4});
  streams.leave(1);
  ShardStreams again(3, c10::kCPU);
  again.restore(saved, "test");
  again.enter(1);
  EXPECT_TRUE(torch::equal(torch::rand({4}), next1));
  again.leave(1);
  EXPECT_THROW(again.restore({saved[0]}, "test"), Error);  // a count that does not match
}

TEST(ShardStreams, RanksSplitTheShardsRoundRobin) {
  EXPECT_EQ(shards_of_rank(4, 0, 2), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(shards_of_rank(4, 1, 2), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(shards_of_rank(4, 0, 1), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(shards_of_rank(2, 1, 2), (std::vector<int64_t>{1}));
}

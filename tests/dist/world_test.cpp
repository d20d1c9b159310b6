// The processes of a job, two ranks in two threads of this process over loopback: the flat buffer's
// all-reduce is the sum of the ranks' buffers, a broadcast gives rank 0's tensor to all, and a rank
// left without its peer fails within the timeout with an error that says what to do (no hang).
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/dist/launch.h"
#include "rflow/dist/world.h"

using namespace rflow;

namespace {

dist::WorldOptions rank_of_two(int64_t rank, int port, double timeout_s = 30) {
  dist::WorldOptions o;
  o.rank = rank, o.size = 2, o.local_rank = rank, o.local_size = 2;
  o.master_port = port, o.timeout_s = timeout_s;
  return o;
}

}  // namespace

TEST(World, AllReduceSumsTheRanksBuffersAndBroadcastGivesRankZeros) {
  const int port = dist::free_port();
  at::Tensor got[2], told[2];
  auto rank = [&](int64_t r) {
    dist::World w(rank_of_two(r, port));
    EXPECT_EQ(w.rank(), r);
    EXPECT_FALSE(w.alone());
    // A flat gradient buffer of 1000 floats, each rank's its own.
    at::Tensor g = torch::arange(1000, torch::kFloat) * float(r + 1) + 0.25f * float(r);
    w.all_reduce_sum(g, "the gradients");
    got[r] = g;
    at::Tensor b = torch::full({3}, double(10 + r), torch::kDouble);
    w.broadcast(b, 0, "a test value");
    told[r] = b;
    w.barrier("the end");
  };
  std::thread t0(rank, 0), t1(rank, 1);
  t0.join(), t1.join();
  const at::Tensor want = torch::arange(1000, torch::kFloat) * 3.0f + 0.25f;
  EXPECT_TRUE(torch::equal(got[0], want));
  EXPECT_TRUE(torch::equal(got[1], want));
  EXPECT_TRUE(torch::equal(told[1], torch::full({3}, 10.0, torch::kDouble)));
}

TEST(World, ARankWhosePeerNeverComesFailsWithinTheTimeoutSayingWhatToDo) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    dist::World w(rank_of_two(0, dist::free_port(), /*timeout_s=*/2));
    ADD_FAILURE() << "rank 0 alone must not form a job of two";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.hint()).find("MASTER_PORT"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
}

TEST(World, ARankThatStopsMidJobMakesTheOthersCollectiveFailNotHang) {
  const int port = dist::free_port();
  std::string error;
  std::thread t1([&] {
    dist::World w(rank_of_two(1, port, 5));
    w.barrier("joined");
  });  // rank 1 leaves after one barrier: its World is gone
  {
    dist::World w(rank_of_two(0, port, 5));
    w.barrier("joined");
    t1.join();
    const auto start = std::chrono::steady_clock::now();
    try {
      at::Tensor g = torch::ones({8});
      w.all_reduce_sum(g, "the gradients of step 7");
      ADD_FAILURE() << "an all-reduce without its peer must fail";
    } catch (const Error& e) {
      error = e.what();
    }
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 20.0);
  }
  EXPECT_NE(error.find("rank 0 of 2: the all-reduce of the gradients of step 7 failed"), std::string::npos) << error;
}

TEST(World, TheEnvironmentOfALauncherIsReadAndChecked) {
  setenv("WORLD_SIZE", "4", 1), setenv("RANK", "3", 1), setenv("MASTER_ADDR", "10.0.0.2", 1), setenv("MASTER_PORT", "29600", 1);
  setenv("LOCAL_RANK", "1", 1), setenv("LOCAL_WORLD_SIZE", "2", 1);
  dist::WorldOptions o = dist::WorldOptions::from_env();
  EXPECT_EQ(o.size, 4);
  EXPECT_EQ(o.rank, 3);
  EXPECT_EQ(o.local_rank, 1);
  EXPECT_EQ(o.local_size, 2);
  EXPECT_EQ(o.master_addr, "10.0.0.2");
  EXPECT_EQ(o.master_port, 29600);
  EXPECT_FALSE(o.agent_store);
  o.validate();
  setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);  // torchrun's agent keeps the store
  EXPECT_TRUE(dist::WorldOptions::from_env().agent_store);
  unsetenv("TORCHELASTIC_USE_AGENT_STORE");
  setenv("RANK", "4", 1);
  EXPECT_THROW(dist::WorldOptions::from_env().validate(), Error);
  setenv("RANK", "x", 1);
  EXPECT_THROW(dist::WorldOptions::from_env(), Error);
  for (const char* k : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "LOCAL_WORLD_SIZE"}) unsetenv(k);
  EXPECT_EQ(dist::WorldOptions::from_env().size, 1);
  EXPECT_TRUE(dist::world().alone());
}

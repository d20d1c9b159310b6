// Gradients summed over two ranks bucket by bucket while the backward pass runs: the buffer ends
// up holding exactly the single all-reduce's sums, buckets start during the backward pass (the
// hooks fire, also for weights whose gradients linear() writes in place), and a parameter that
// got no gradient holds back only its bucket and those after it, which start in finish().
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/dist/launch.h"
#include "rflow/dist/world.h"
#include "rflow/nn/flat_parameters.h"
#include "rflow/nn/layers/linear.h"
#include "rflow/train/gradient_buckets.h"

using namespace rflow;

namespace {

// Three layers by rflow::linear (its in-place weight gradients under DirectWeightGradients) and a
// parameter the forward pass never uses, registered between them.
struct BucketNetImpl : torch::nn::Module {
  BucketNetImpl() {
    // Its own generator: the two ranks build theirs at once in two threads.
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(3);
    w1 = register_parameter("w1", torch::randn({64, 16}, g) * 0.2);
    b1 = register_parameter("b1", torch::zeros({64}));
    unused = register_parameter("unused", torch::ones({40}));
    w2 = register_parameter("w2", torch::randn({64, 64}, g) * 0.1);
    w3 = register_parameter("w3", torch::randn({4, 64}, g) * 0.1);
  }
  at::Tensor forward(const at::Tensor& x) {
    return rflow::linear(torch::tanh(rflow::linear(torch::tanh(rflow::linear(x, w1, b1)), w2)), w3);
  }
  at::Tensor w1, b1, unused, w2, w3;
};
TORCH_MODULE(BucketNet);

dist::WorldOptions bucket_rank_of_two(int64_t rank, int port) {
  dist::WorldOptions o;
  o.rank = rank, o.size = 2, o.local_rank = rank, o.local_size = 2;
  o.master_port = port, o.timeout_s = 30;
  return o;
}

at::Tensor batch_of(int64_t rank) {
  return torch::randn({48, 16}, at::make_generator<at::CPUGeneratorImpl>(100 + rank));  // >= 32 rows: linear() takes its oneDNN path where there is one
}

// One rank's gradients after a backward pass (flat buffer zeroed first), optionally summed.
at::Tensor gradients(int64_t rank, const dist::World* w, int64_t bucket_bytes, int64_t* early, size_t* buckets) {
  BucketNet net;
  FlatParameters flat(*net);
  std::unique_ptr<GradientBuckets> gb;
  if (w) gb = std::make_unique<GradientBuckets>(flat, *w, bucket_bytes);
  flat.zero_grad();
  if (gb) gb->arm();
  {
    DirectWeightGradients direct;
    net->forward(batch_of(rank)).pow(2).mean().backward();
  }
  if (gb) {
    gb->finish();
    *early = gb->started_early();
    *buckets = gb->buckets();
  }
  return flat.grad().clone();
}

}  // namespace

TEST(GradientBuckets, TwoRanksGetTheSumsOfOneAllReduceWithBucketsStartedDuringTheBackwardPass) {
  const at::Tensor want = gradients(0, nullptr, 0, nullptr, nullptr) + gradients(1, nullptr, 0, nullptr, nullptr);
  for (const int64_t bytes : {int64_t{64}, int64_t{4096}, int64_t{1} << 30}) {
    const int port = dist::free_port();
    at::Tensor got[2];
    int64_t early[2] = {0, 0};
    size_t buckets[2] = {0, 0};
    auto rank = [&](int64_t r) {
      dist::World w(bucket_rank_of_two(r, port));
      got[r] = gradients(r, &w, bytes, &early[r], &buckets[r]);
    };
    std::thread t0(rank, 0), t1(rank, 1);
    t0.join(), t1.join();
    for (int r = 0; r < 2; ++r) {
      EXPECT_TRUE(torch::equal(got[r], want)) << "bucket bytes " << bytes << ", rank " << r;
      if (bytes == 64) {
        // One bucket per parameter: w3 and w2 (after the unused one in the buffer's order) start
        // as the backward pass reaches them; `unused` holds back itself, b1 and w1.
        EXPECT_EQ(buckets[r], 5u);
        EXPECT_EQ(early[r], 2);
      }
      if (bytes == int64_t{1} << 30) EXPECT_EQ(buckets[r], 1u);
    }
  }
}

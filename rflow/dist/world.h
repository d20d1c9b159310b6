// The processes of one data-parallel job and what they do together, on PyTorch's own distributed
// engine (c10d: a TCPStore rendezvous and a Gloo process group; CPU and CUDA tensors). A process
// alone is a world of one, where every collective returns at once. `rflow run --nproc N` starts N
// local workers; torchrun, srun or mpirun wrappers start them with RANK, WORLD_SIZE, MASTER_ADDR
// and MASTER_PORT, which join_world_from_env() reads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

namespace rflow::dist {

struct WorldOptions {
  int64_t rank = 0, size = 1;
  int64_t local_rank = 0, local_size = 1;  // on this machine (threads per rank follow local_size)
  std::string master_addr = "127.0.0.1";    // where rank 0 keeps the store
  int64_t master_port = 29500;
  double timeout_s = 120;  // a collective (or the rendezvous) waiting longer for a rank fails
  bool agent_store = false; // the launcher keeps the store (torchrun: TORCHELASTIC_USE_AGENT_STORE)
  // torchrun's variables: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
  // (and RFLOW_DIST_TIMEOUT_S); a world of one when WORLD_SIZE is unset or 1.
  static WorldOptions from_env();
  void validate() const;
};

// How long ranks wait while rank 0 works alone (an evaluation may take hours): a rank that dies
// still ends the wait at once, since Gloo notices the closed connection.
inline constexpr double kWaitForRank0 = 7 * 24 * 3600.0;

class World {
 public:
  World();  // alone
  // Joins the job: rank 0 opens the store at master_addr:master_port, the others connect, and all
  // build the process group. Throws rflow::Error naming the address (a port in use, no rank 0).
  explicit World(const WorldOptions& opt);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int64_t rank() const { return opt_.rank; }
  int64_t size() const { return opt_.size; }
  bool alone() const { return opt_.size == 1; }
  bool leader() const { return opt_.rank == 0; }
  const WorldOptions& options() const { return opt_; }

  // Sum over the ranks, in place. `what` names the collective in the error when a rank is gone.
  void all_reduce_sum(at::Tensor& t, const std::string& what) const;
  // Starts the same sum and returns at once (Gloo works in its own threads): t must stay untouched
  // until the returned wait() has run, which throws like all_reduce_sum. Ranks must start their
  // collectives in the same order.
  std::function<void()> start_all_reduce_sum(const at::Tensor& t, const std::string& what) const;
  void broadcast(at::Tensor& t, int64_t root, const std::string& what, double timeout_s = 0) const;
  // Rank 0's decision, told to every rank (what the others pass is ignored); the others wait for
  // it as long as rank 0 works alone (kWaitForRank0).
  bool agree(bool decision, const std::string& what) const;
  // Waits for every rank; timeout_s = 0 takes the world's timeout (ranks waiting while rank 0
  // alone evaluates pass a long one: a rank that dies still ends the wait at once).
  void barrier(const std::string& what, double timeout_s = 0) const;

 private:
  struct Group;
  WorldOptions opt_;
  std::unique_ptr<Group> group_;
};

// While rank 0 works alone and the other ranks of its machine wait for it (blocked, not spinning),
// it takes their cores too: intra-op threads × local ranks, at most the machine's cores, for the
// guard's life. Does nothing alone or on the other ranks.
class Rank0TakesIdleCores {
 public:
  explicit Rank0TakesIdleCores(const World& w);
  ~Rank0TakesIdleCores();
  Rank0TakesIdleCores(const Rank0TakesIdleCores&) = delete;
  Rank0TakesIdleCores& operator=(const Rank0TakesIdleCores&) = delete;

 private:
  int previous_ = 0;  // 0: unchanged
};

// The world this process belongs to: alone until join_world() (the CLI calls it when started as a
// worker). Leaving happens at exit.
World& world();
void join_world(const WorldOptions& opt);

}  // namespace rflow::dist

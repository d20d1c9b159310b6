#include "rflow/dist/world.h"

#include <chrono>
#include <algorithm>
#include <cstdlib>
#include <thread>

#include <ATen/Parallel.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "rflow/core/error.h"

namespace rflow::dist {

struct World::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  RF_CHECK(end && *end == '\0', std::string(name) + " is not a whole number: '" + v + "'", "environment",
           "launchers set it to the process's number (torchrun: RANK, WORLD_SIZE, ...)");
  return x;
}

// LibTorch's message without its C++ backtrace.
std::string message_of(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

// A collective that failed: almost always another rank that stopped (its own log says why).
[[noreturn]] void lost(const World& w, const std::string& what, const std::exception& e) {
  throw Error("rank " + std::to_string(w.rank()) + " of " + std::to_string(w.size()) + ": " + what +
                  " failed (another rank stopped or stopped answering): " + message_of(e),
              "distributed run", "the first rank to fail says why in its log; rerun the command to resume from the last checkpoint");
}

}  // namespace

WorldOptions WorldOptions::from_env() {
  WorldOptions o;
  o.size = env_int("WORLD_SIZE", 1);
  o.rank = env_int("RANK", 0);
  o.local_rank = env_int("LOCAL_RANK", o.rank);
  o.local_size = env_int("LOCAL_WORLD_SIZE", o.size);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) o.master_addr = a;
  o.master_port = env_int("MASTER_PORT", o.master_port);
  if (const char* t = std::getenv("RFLOW_DIST_TIMEOUT_S"); t && *t) o.timeout_s = std::atof(t);
  // torchrun's agent already serves the store at MASTER_PORT: every rank connects to it.
  if (const char* a = std::getenv("TORCHELASTIC_USE_AGENT_STORE"); a && std::string(a) == "True") o.agent_store = true;
  return o;
}

void WorldOptions::validate() const {
  RF_CHECK(size >= 1 && size <= 4096, "WORLD_SIZE must be in [1, 4096]", "environment", "");
  RF_CHECK(rank >= 0 && rank < size, "RANK " + std::to_string(rank) + " is not in [0, " + std::to_string(size) + ")",
           "environment", "each process of the job has its own rank, 0 … WORLD_SIZE − 1");
  RF_CHECK(local_size >= 1 && local_rank >= 0 && local_rank < local_size, "LOCAL_RANK is not in [0, LOCAL_WORLD_SIZE)",
           "environment", "");
  RF_CHECK(master_port > 0 && master_port <= 65535, "MASTER_PORT must be in [1, 65535]", "environment", "");
  RF_CHECK(timeout_s > 0 && timeout_s <= 86400, "RFLOW_DIST_TIMEOUT_S must be in (0, 86400]", "environment", "");
}

World::World() = default;

World::World(const WorldOptions& opt) : opt_(opt) {
  opt_.validate();
  if (opt_.size == 1) return;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(opt_.timeout_s * 1000));
  const std::string at = opt_.master_addr + ":" + std::to_string(opt_.master_port);
  group_ = std::make_unique<Group>();
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(opt_.master_port);
    so.isServer = opt_.rank == 0 && !opt_.agent_store;
    so.numWorkers = static_cast<std::size_t>(opt_.size);
    so.waitWorkers = !opt_.agent_store;
    so.timeout = timeout;
    // Under a prefix: a launcher's store holds keys of its own.
    group_->store = c10::make_intrusive<c10d::PrefixStore>(
        "rflow", c10::make_intrusive<c10d::TCPStore>(opt_.master_addr, so));
  } catch (const std::exception& e) {
    throw Error(std::string("cannot ") + (opt_.rank == 0 ? "open" : "reach") + " the job's store at " + at + ": " + message_of(e),
                "distributed run (MASTER_ADDR, MASTER_PORT)",
                opt_.rank == 0 ? "the port may be in use (another job?): choose another MASTER_PORT"
                               : "start rank 0 too, with the same MASTER_ADDR and MASTER_PORT, within the timeout");
  }
  try {
    auto go = c10d::ProcessGroupGloo::Options::create();
    go->timeout = timeout;
    // The interface the user names (as torch.distributed reads it), else the one the hostname
    // resolves to (c10d falls back to loopback).
    const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
    go->devices.push_back(iface && *iface ? c10d::ProcessGroupGloo::createDeviceForInterface(iface)
                                          : c10d::ProcessGroupGloo::createDefaultDevice());
    group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(group_->store, static_cast<int>(opt_.rank),
                                                              static_cast<int>(opt_.size), go);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(opt_.rank) + " of " + std::to_string(opt_.size) +
                    ": the job did not come together through " + at + " within " + std::to_string(int(opt_.timeout_s)) +
                    " s: " + message_of(e),
                "distributed run",
                "start every rank with the same MASTER_ADDR and MASTER_PORT (RFLOW_DIST_TIMEOUT_S waits longer); every "
                "rank must reach every other (firewall; GLOO_SOCKET_IFNAME names the network interface)");
  }
}

World::~World() = default;

void World::all_reduce_sum(at::Tensor& t, const std::string& what) const {
  if (alone()) return;
  try {
    std::vector<at::Tensor> ts{t};
    group_->pg->allreduce(ts)->wait();
  } catch (const std::exception& e) {
    lost(*this, "the all-reduce of " + what, e);
  }
}

std::function<void()> World::start_all_reduce_sum(const at::Tensor& t, const std::string& what) const {
  if (alone()) return [] {};
  try {
    std::vector<at::Tensor> ts{t};
    auto work = group_->pg->allreduce(ts);  // the work keeps its tensors
    return [this, work, what] {
      try {
        work->wait();
      } catch (const std::exception& e) {
        lost(*this, "the all-reduce of " + what, e);
      }
    };
  } catch (const std::exception& e) {
    lost(*this, "the all-reduce of " + what, e);
  }
}

void World::broadcast(at::Tensor& t, int64_t root, const std::string& what, double timeout_s) const {
  if (alone()) return;
  try {
    std::vector<at::Tensor> ts{t};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    if (timeout_s > 0) bo.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
    group_->pg->broadcast(ts, bo)->wait();
  } catch (const std::exception& e) {
    lost(*this, "the broadcast of " + what, e);
  }
}

Rank0TakesIdleCores::Rank0TakesIdleCores(const World& w) {
  if (w.alone() || !w.leader() || w.options().local_size <= 1) return;
  const int now = at::get_num_threads();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int want = static_cast<int>(std::min<int64_t>(cores, int64_t{now} * w.options().local_size));
  if (want <= now) return;
  previous_ = now;
  at::set_num_threads(want);
}

Rank0TakesIdleCores::~Rank0TakesIdleCores() {
  if (previous_ > 0) at::set_num_threads(previous_);
}

bool World::agree(bool decision, const std::string& what) const {
  if (alone()) return decision;
  at::Tensor flag = at::scalar_tensor(decision ? 1 : 0, at::kInt);
  broadcast(flag, 0, what, kWaitForRank0);
  return flag.item<int32_t>() != 0;
}

void World::barrier(const std::string& what, double timeout_s) const {
  if (alone()) return;
  try {
    c10d::BarrierOptions bo;
    if (timeout_s > 0) bo.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
    group_->pg->barrier(bo)->wait();
  } catch (const std::exception& e) {
    lost(*this, "the barrier " + what, e);
  }
}

namespace {
std::unique_ptr<World>& the_world() {
  static std::unique_ptr<World> w = std::make_unique<World>();
  return w;
}
}  // namespace

World& world() { return *the_world(); }

void join_world(const WorldOptions& opt) { the_world() = std::make_unique<World>(opt); }

}  // namespace rflow::dist

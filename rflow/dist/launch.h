// `rflow run --nproc N`: N worker processes on this machine, each this program again with the
// environment torchrun would give it (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT on a free loopback port, OMP_NUM_THREADS = cores / N unless set). The first worker to
// fail is named and the others are stopped (SIGTERM, then SIGKILL after a grace period).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rflow::dist {

// Runs argv (argv[0]: the program) as `nproc` workers and waits for them: 0 when all finish,
// else the first failing worker's exit code (128 + signal for one killed by a signal).
int launch_local(int64_t nproc, const std::vector<std::string>& argv, double grace_s = 30);

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

}  // namespace rflow::dist

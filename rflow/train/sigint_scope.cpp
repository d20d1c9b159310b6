#include "rflow/train/sigint_scope.h"

#include <algorithm>
#include <atomic>

namespace rflow {

namespace {

std::atomic<bool> g_sigint{false};
extern "C" void on_sigint_flag(int) { g_sigint = true; }

}  // namespace

// The handler runs on a stack of its own: JIT-compiled kernels (oneDNN's GEMMs) keep temporaries
// below the stack pointer, and a signal frame written there (with the AVX-512 register state)
// corrupted them mid-GEMM: Ctrl-C then crashed the process in malloc about every second time
// instead of checkpointing.
SigintScope::SigintScope() {
  g_sigint = false;
  alt_stack_.resize(std::max<size_t>(size_t{1} << 18, static_cast<size_t>(SIGSTKSZ)));
  stack_t ss{};
  ss.ss_sp = alt_stack_.data();
  ss.ss_size = alt_stack_.size();
  alt_ = sigaltstack(&ss, &prev_stack_) == 0;
  struct sigaction sa {};
  sa.sa_handler = on_sigint_flag;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | (alt_ ? SA_ONSTACK : 0);
  sigaction(SIGINT, &sa, &prev_);
}

SigintScope::~SigintScope() {
  sigaction(SIGINT, &prev_, nullptr);
  if (alt_) sigaltstack(&prev_stack_, nullptr);
}

bool SigintScope::requested() { return g_sigint; }

}  // namespace rflow

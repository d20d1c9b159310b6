// Ctrl-C during training: while a SigintScope lives, SIGINT only sets a flag (read with
// requested()), so the training loop can save a checkpoint at the current step and stop instead of
// dying mid-step. The handler runs on a stack of its own (see sigint_scope.cpp for why).
#pragma once

#include <csignal>
#include <vector>

namespace rflow {

class SigintScope {
 public:
  SigintScope();
  ~SigintScope();
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;
  // Whether Ctrl-C was pressed since this scope began.
  static bool requested();

 private:
  struct sigaction prev_ {};
  stack_t prev_stack_{};
  std::vector<char> alt_stack_;
  bool alt_ = false;
};

}  // namespace rflow

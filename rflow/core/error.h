// rflow::Error — the one exception type the library throws. It carries what went wrong, where
// (file, key, tensor, step) and what the user can do about it, so the CLI can print one clear line.
// RF_CHECK(cond, what, where, hint) throws it when cond is false; arguments are only built on failure.
#pragma once

#include <stdexcept>
#include <string>

namespace rflow {

class Error : public std::runtime_error {
 public:
  Error(std::string what, std::string where = {}, std::string hint = {});

  const std::string& message() const { return what_; }
  const std::string& where() const { return where_; }
  const std::string& hint() const { return hint_; }

 private:
  std::string what_, where_, hint_;
};

}  // namespace rflow

// The arguments are evaluated only when the check fails, so building messages costs nothing on the
// happy path. Named RF_CHECK (not CHECK) because <torch/torch.h> defines glog's CHECK.
#define RF_CHECK(cond, what, where, hint)                 \
  do {                                                    \
    if (!(cond)) throw ::rflow::Error((what), (where), (hint)); \
  } while (0)

// Prompts as a batch of samples asks for them, shared by `rflow sample --prompt` and the serve
// endpoint: each sample takes the prompts in turn ("" is the null prompt: all pad, the
// unconditional field), and all of them must ask for one shape (a composite caption names its
// layout). `where` names the input in errors ("--prompt", "request field 'prompt'").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/data/distribution.h"

namespace rflow {

// The token context of samples offset … offset + n − 1 [n, context_len()] with their mask; throws
// rflow::Error for data without captions or a prompt the data could not have written.
Cond prompts_in_turn(const Distribution& target, const std::vector<std::string>& prompts, int64_t offset, int64_t n,
                     const std::string& where);

// The shape the prompts ask for (`fallback` when none names one); throws naming both prompts when
// two ask for different layouts, or a prompt whose layout the data do not draw.
std::vector<int64_t> shape_of_prompts(const Distribution& target, const std::vector<std::string>& prompts,
                                      std::vector<int64_t> fallback, const std::string& where);

}  // namespace rflow

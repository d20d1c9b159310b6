// Seeding and generator state. Every entry point takes a seed; checkpoints store the generator
// states as hex so that a resumed run continues the exact random stream of an uninterrupted one.
#pragma once

#include <cstdint>
#include <string>

namespace rflow {

// Seeds the default CPU generator (and CUDA's when present).
void seed_all(uint64_t seed);
// Default-generator states (CPU, then CUDA if available) serialised as hex strings.
std::string rng_state();
void set_rng_state(const std::string& state, const std::string& where);
// What is wrong with a stored state ("" when set_rng_state would take it): not hex, or a CPU part
// of another length than this LibTorch's generator state.
std::string rng_state_problem(const std::string& state);

}  // namespace rflow

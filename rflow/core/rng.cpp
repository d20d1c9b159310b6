#include "rflow/core/rng.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

namespace {
std::string to_hex(const at::Tensor& bytes) {
  static const char* digits = "0123456789abcdef";
  auto b = bytes.contiguous();
  const uint8_t* p = b.data_ptr<uint8_t>();
  std::string s(2 * b.numel(), '0');
  for (int64_t i = 0; i < b.numel(); ++i) s[2 * i] = digits[p[i] >> 4], s[2 * i + 1] = digits[p[i] & 15];
  return s;
}

at::Tensor from_hex(const std::string& s, const std::string& where) {
  RF_CHECK(s.size() % 2 == 0, "RNG state has odd length", where, "the checkpoint may be corrupt");
  auto t = torch::empty({int64_t(s.size() / 2)}, torch::kUInt8);
  uint8_t* p = t.data_ptr<uint8_t>();
  auto nib = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw Error("RNG state is not hex", where, "the checkpoint may be corrupt");
  };
  for (size_t i = 0; i < s.size() / 2; ++i) p[i] = uint8_t(nib(s[2 * i]) << 4 | nib(s[2 * i + 1]));
  return t;
}
}  // namespace

void seed_all(uint64_t seed) {
  torch::manual_seed(seed);  // seeds CUDA generators too when CUDA is available
}

std::string rng_state() {
  std::string out = to_hex(at::detail::getDefaultCPUGenerator().get_state());
  if (torch::cuda::is_available()) {
    auto g = at::globalContext().defaultGenerator(c10::Device(c10::DeviceType::CUDA, 0));
    out += ":" + to_hex(g.get_state());
  }
  return out;
}

std::string rng_state_problem(const std::string& state) {
  const std::string cpu = state.substr(0, state.find(':'));
  if (state.find_first_not_of("0123456789abcdef:") != std::string::npos) return "the RNG state is not hex";
  const std::size_t want = 2 * static_cast<std::size_t>(at::detail::getDefaultCPUGenerator().get_state().numel());
  if (cpu.size() != want)
    return "the RNG state has " + std::to_string(cpu.size()) + " hex digits where the generator's has " + std::to_string(want);
  return {};
}

void set_rng_state(const std::string& state, const std::string& where) {
  if (const std::string problem = rng_state_problem(state); !problem.empty())
    throw Error(problem, where, "the checkpoint may be corrupt");
  auto colon = state.find(':');
  auto gen = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(from_hex(state.substr(0, colon), where));
  }
  if (colon != std::string::npos && torch::cuda::is_available()) {
    auto g = at::globalContext().defaultGenerator(c10::Device(c10::DeviceType::CUDA, 0));
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(from_hex(state.substr(colon + 1), where));
  }
}

}  // namespace rflow

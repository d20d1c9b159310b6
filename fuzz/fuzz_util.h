// Shared by the libFuzzer targets: each writes the input where the parser reads it (a scratch
// folder in /dev/shm, one per process) and calls the parser. rflow::Error is the parsers' way of
// refusing bad input; any other exception, a crash, a leak or a sanitizer report is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "rflow/core/error.h"

namespace rflow::fuzz {

inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::path(std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp") /
             ("rflow_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string put(const std::string& name, const uint8_t* data, size_t size) {
  const auto p = scratch() / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                              static_cast<std::streamsize>(size));
  return p.string();
}

inline std::string put(const std::string& name, const std::string& text) {
  return put(name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

template <class F>
void refusals_only(F&& f) {
  try {
    f();
  } catch (const rflow::Error&) {
  }
}

}  // namespace rflow::fuzz

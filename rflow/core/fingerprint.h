// Content fingerprints (64-bit FNV-1a) that tell whether an input changed under a result made
// from it, e.g. a teacher retrained to the same step as before. Not cryptographic: they keep stale
// results from being reused, they do not detect tampering.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rflow {

inline constexpr uint64_t kFingerprintSeed = 1469598103934665603ull;

// Folds n bytes into h.
uint64_t fingerprint_bytes(const void* data, std::size_t n, uint64_t h = kFingerprintSeed);

// Folds a file's bytes into h, streamed; throws rflow::Error naming the file if it cannot be read.
uint64_t fingerprint_file(const std::string& path, uint64_t h = kFingerprintSeed);

// 16 lower-case hex digits.
std::string fingerprint_hex(uint64_t h);

}  // namespace rflow

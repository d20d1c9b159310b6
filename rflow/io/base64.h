// Base64 (RFC 4648, with padding): how binary files travel inside text — PNGs embedded in report
// pages as data: URLs and in JSON answers of rflow serve.
#pragma once

#include <string>

namespace rflow::io {

std::string base64(const std::string& bytes);

}  // namespace rflow::io

// Logging set-up: one spdlog logger for the whole library, to stderr and optionally to a file in
// the run directory. Library code logs through spdlog's default logger (spdlog::info etc.).
#pragma once

#include <string>

namespace rflow {

// level: "trace" | "debug" | "info" | "warn" | "error" | "off".
void setup_logging(const std::string& level = "info", const std::string& file = {});

}  // namespace rflow

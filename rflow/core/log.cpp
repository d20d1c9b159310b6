#include "rflow/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "rflow/core/error.h"

namespace rflow {

void setup_logging(const std::string& level, const std::string& file) {
  auto lvl = spdlog::level::from_str(level);
  RF_CHECK(lvl != spdlog::level::off || level == "off", "unknown log level '" + level + "'",
           "log.level", "use trace, debug, info, warn, error or off");
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
  if (!file.empty()) sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
  auto logger = std::make_shared<spdlog::logger>("rflow", sinks.begin(), sinks.end());
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

}  // namespace rflow

#include "rflow/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/core/progress.h"

namespace rflow {

namespace {

// The terminal sink, with any progress bar erased before a line and redrawn after it, so log
// lines never land on the bar's line.
class BarAwareSink : public spdlog::sinks::sink {
 public:
  BarAwareSink() : inner_(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {}
  void log(const spdlog::details::log_msg& msg) override {
    with_progress_hidden([&] { inner_->log(msg); });
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override { inner_->set_formatter(std::move(f)); }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

void setup_logging(const std::string& level, const std::string& file) {
  auto lvl = spdlog::level::from_str(level);
  RF_CHECK(lvl != spdlog::level::off || level == "off", "unknown log level '" + level + "'",
           "log.level", "use trace, debug, info, warn, error or off");
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<BarAwareSink>()};
  if (!file.empty()) sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
  auto logger = std::make_shared<spdlog::logger>("rflow", sinks.begin(), sinks.end());
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

}  // namespace rflow

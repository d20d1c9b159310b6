#include "rflow/serve/serve_options.h"

#include "rflow/core/error.h"

namespace rflow::serve {

void ServeOptions::validate(const std::string& where) const {
  RF_CHECK(!host.empty(), "host is empty", where + ".host", "127.0.0.1 serves this machine only");
  RF_CHECK(port >= 0 && port <= 65535, "port must be in [0, 65535]", where + ".port", "0 picks a free one");
  RF_CHECK(max_n >= 1 && max_n <= 1000000, "max_n must be in [1, 1e6]", where + ".max_n", "");
  RF_CHECK(max_steps >= 1 && max_steps <= 100000, "max_steps must be in [1, 1e5]", where + ".max_steps", "");
  RF_CHECK(max_body_kb >= 1 && max_body_kb <= 1024 * 1024, "max_body_kb must be in [1, 1048576]", where + ".max_body_kb", "");
  RF_CHECK(max_prompt_chars >= 1 && max_prompt_chars <= 65536, "max_prompt_chars must be in [1, 65536]",
           where + ".max_prompt_chars", "");
  RF_CHECK(workers >= 1 && workers <= 256, "workers must be in [1, 256]", where + ".workers", "");
  RF_CHECK(timeout_s > 0 && timeout_s <= 3600, "timeout_s must be in (0, 3600]", where + ".timeout_s", "");
  RF_CHECK(batch_wait_ms >= 0 && batch_wait_ms <= 1000, "batch_wait_ms must be in [0, 1000]", where + ".batch_wait_ms",
           "a few ms merges concurrent requests; 0 turns batching off");
  RF_CHECK(max_batch >= 1 && max_batch <= 1000000, "max_batch must be in [1, 1e6]", where + ".max_batch", "");
  RF_CHECK(max_exact_dims >= 0 && max_exact_dims <= 1000000, "max_exact_dims must be in [0, 1e6]",
           where + ".max_exact_dims", "0 allows only hutchinson's estimate");
  RF_CHECK(max_queue >= 1 && max_queue <= 100000000, "max_queue must be in [1, 1e8]", where + ".max_queue", "");
}

}  // namespace rflow::serve

// rflow serve's request handling as a client can reach it: the input is "PATH\nBODY" (the first line
// the path, the rest the body), answered by handle() — routing, the JSON parser, every field reader
// and the endpoints themselves — against a small served point field and policy. Any answer is fine
// except a 500 (an error the server did not expect), a body that is not what its type says, a
// crash or a sanitizer report. Limits are small so that each solve is short.
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/serve_metrics.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/served_models.h"

namespace {

rflow::serve::ServeContext& context() {
  static rflow::serve::ServeOptions options = [] {
    rflow::serve::ServeOptions o;
    o.max_n = 8, o.max_steps = 4, o.max_prompt_chars = 64;
    return o;
  }();
  static rflow::serve::ServeMetrics metrics;
  static rflow::serve::ServedModels models = [] {
    const std::string out = "out_dir=" + (rflow::fuzz::scratch() / "runs").string();
    const std::string configs = std::string(RFLOW_SOURCE_DIR) + "/configs/";
    const std::string field = rflow::run_pipeline(
        rflow::load_run_config(configs + "demo_2d.toml", {out, "stages=[\"train\"]", "train.steps=2", "threads=1"}));
    const std::string policy = rflow::run_pipeline(
        rflow::load_run_config(configs + "adaflow_fork1d.toml", {out, "train.steps=2", "threads=1"}));
    return rflow::serve::ServedModels({field, policy}, c10::Device(c10::kCPU));
  }();
  static rflow::serve::ServeContext ctx{models, options, metrics};
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string path = input.substr(0, nl);
  rflow::serve::Request req;
  req.body = nl == std::string::npos ? "" : input.substr(nl + 1);
  const auto& eps = rflow::serve::endpoints();
  const std::string method = eps.contains(path) ? eps.get(path).method : "POST";
  const rflow::serve::Response res = rflow::serve::handle(method, path, req, context());
  bool ok = res.status != 500;
  if (res.content_type == "application/json") {
    const auto j = nlohmann::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
    ok = ok && !j.is_discarded() && (res.status == 200 || j.contains("error"));
  }
  if (!ok) {
    std::cerr << "serve_request_fuzz: " << path << " answered " << res.status << ": " << res.body << "\n";
    std::abort();
  }
  return 0;
}

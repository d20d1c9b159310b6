// Samples a trained rflow run with 4 Heun steps and writes the samples as .npy:
//   cpp_sampler RUN_DIR OUT.npy [N]
#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "rflow/rflow.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s RUN_DIR OUT.npy [N]\n", argv[0]);
    return 2;
  }
  try {
    // The model is rebuilt from the checkpoint's own config; EMA weights, on the CPU.
    rflow::LoadedModel m = rflow::load_model(argv[1], /*use_ema=*/true, c10::Device(c10::kCPU));
    const int64_t n = argc > 3 ? std::stoll(argv[3]) : 1000;
    rflow::SolveOptions opt;
    opt.method = "heun";
    opt.steps = 4;
    rflow::SolveResult r = rflow::solve(*m.model, m.data->source().sample(n), opt);
    rflow::io::write_npy(argv[2], r.x);
    std::printf("%s: %lld samples, %lld NFE each, step %lld of %s\n", rflow::version_line().c_str(),
                static_cast<long long>(n), static_cast<long long>(r.nfe[0].item<int64_t>()),
                static_cast<long long>(m.step), m.checkpoint.c_str());
  } catch (const rflow::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

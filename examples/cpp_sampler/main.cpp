// Samples a trained rflow run with 4 Heun steps and writes the samples as .npy, then times one
// sample the way a control loop takes it (MLP fields):
//   cpp_sampler RUN_DIR OUT.npy [N]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

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
    rflow::SolveResult r = rflow::solve(*m.model, m.data->source().sample(n).x, opt);
    rflow::io::write_npy(argv[2], r.x);
    std::printf("%s: %lld samples, %lld NFE each, step %lld of %s\n", rflow::version_line().c_str(),
                static_cast<long long>(n), static_cast<long long>(r.nfe[0].item<int64_t>()),
                static_cast<long long>(m.step), m.checkpoint.c_str());

    // A control loop's call: one sample with 100 Euler steps on the packed network (MLP fields),
    // nothing allocated per call.
    if (auto* mlp = dynamic_cast<rflow::MlpVelocityImpl*>(m.model.get())) {
      rflow::FastMlp net(*mlp);
      auto ws = net.workspace();
      rflow::SolveOptions euler;
      euler.steps = 100;
      const rflow::SolvePlan plan{&rflow::euler_tableau(), rflow::time_grid(euler)};
      std::vector<float> noise(net.dim(), 0.5f), sample(net.dim());
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < 100; ++i) net.solve(*ws, plan, noise.data(), nullptr, 1, sample.data());
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 100;
      std::printf("one sample, 100 Euler steps: %.3f ms (x = %.3f, %.3f)\n", ms, sample[0], net.dim() > 1 ? sample[1] : 0.0f);
    }
  } catch (const rflow::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

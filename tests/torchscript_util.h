// Test helper: a small TorchScript velocity network built and saved from C++ (torch::jit::Module
// with its forward compiled from TorchScript source), so backbone tests need no Python. For 2-D
// points: tanh([x, t] W1 + b1 + E[label + 1]) W2, labels −1 = none.
#pragma once

#include <string>

#include <torch/script.h>
#include <torch/torch.h>

namespace rflow::test {

inline void write_torchscript_field(const std::string& path, int64_t dim = 2, int64_t hidden = 16, int64_t classes = 3) {
  torch::jit::Module m("TestField");
  torch::manual_seed(11);
  // Trainable, as nn.Parameter makes them in Python (the flag is saved with the module).
  m.register_parameter("w1", (torch::randn({dim + 1, hidden}) * 0.5).requires_grad_(), false);
  m.register_parameter("b1", torch::zeros({hidden}).requires_grad_(), false);
  m.register_parameter("emb", (torch::randn({classes + 1, hidden}) * 0.1).requires_grad_(), false);
  m.register_parameter("w2", (torch::randn({hidden, dim}) * 0.5).requires_grad_(), false);
  m.define(R"(
    def forward(self, x, t, labels):
        h = torch.cat([x, t.unsqueeze(1)], 1) @ self.w1 + self.b1 + self.emb[labels + 1]
        return torch.tanh(h) @ self.w2
  )");
  m.save(path);
}

}  // namespace rflow::test

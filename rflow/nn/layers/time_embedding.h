// Time embeddings for velocity networks: fixed sinusoidal features of scale·t (transformer-style,
// log-spaced frequencies) or random Fourier features with Gaussian frequencies, stored as a buffer
// so that checkpoints carry them.
#pragma once

#include <string>

#include <torch/nn/cloneable.h>

namespace rflow {

class TimeEmbeddingImpl : public torch::nn::Cloneable<TimeEmbeddingImpl> {
 public:
  // kind: "sinusoidal" | "fourier". dim must be even.
  TimeEmbeddingImpl(std::string kind, int64_t dim, double scale);
  void reset() override;
  at::Tensor forward(const at::Tensor& t);  // [B] → [B, dim]
  int64_t dim() const { return dim_; }

 private:
  std::string kind_;
  int64_t dim_;
  double scale_;
  at::Tensor freqs_;
};

using TimeEmbedding = std::shared_ptr<TimeEmbeddingImpl>;

}  // namespace rflow

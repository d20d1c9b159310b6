#include "rflow/nn/layers/mtp.h"

#include <torch/torch.h>

namespace rflow {

MtpModuleImpl::MtpModuleImpl(int64_t dim, const MLAOptions& mla, bool moe, const MoEOptions& moe_opt,
                             int64_t dense_hidden)
    : dim_(dim), dense_hidden_(dense_hidden), mla_opt_(mla), use_moe_(moe), moe_opt_(moe_opt) {
  reset();
}

void MtpModuleImpl::reset() {
  hnorm_ = register_module("hnorm", RMSNorm(dim_));
  enorm_ = register_module("enorm", RMSNorm(dim_));
  // Input order [embedding; hidden], as DeepSeek-V3's checkpoints lay out eh_proj.
  proj_ = register_module("eh_proj", torch::nn::Linear(torch::nn::LinearOptions(2 * dim_, dim_).bias(false)));
  block_ = register_module("block", TokenBlock(dim_, mla_opt_, use_moe_, moe_opt_, dense_hidden_));
}

at::Tensor MtpModuleImpl::forward(const at::Tensor& h_prev, const at::Tensor& emb_ahead) {
  return block_->forward(proj_(torch::cat({enorm_(emb_ahead), hnorm_(h_prev)}, -1)));
}

}  // namespace rflow

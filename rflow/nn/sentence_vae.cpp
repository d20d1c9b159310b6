#include "rflow/nn/sentence_vae.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/attention.h"
#include "rflow/text/tokenizer.h"

namespace rflow {

void SentenceVAEOptions::validate(const std::string& where) const {
  RF_CHECK(vocab > text::kReserved, "the autoencoder needs a vocabulary (got " + std::to_string(vocab) + " ids)",
           where + ".vocab", "train the tokenizer first");
  RF_CHECK(max_len >= 2 && max_len <= 512, "max_len must be in 2 … 512", where + ".max_len", "");
  RF_CHECK(dim >= 8 && heads >= 1 && dim % heads == 0, "dim must be a multiple of heads (and >= 8)", where + ".dim",
           "e.g. dim = 128, heads = 4");
  RF_CHECK(encoder_layers >= 1 && decoder_layers >= 1, "the encoder and decoder need a layer each", where + ".encoder_layers", "");
  RF_CHECK(latents >= 1 && latent_dim >= 1 && flat_dim() <= 1024, "latents × latent_dim must be in 1 … 1024",
           where + ".latents", "");
}

at::Tensor kl_per_dimension(const at::Tensor& mu, const at::Tensor& logvar) {
  return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(0);
}

at::Tensor free_bits_kl(const at::Tensor& kl_per_dim, double lambda) { return kl_per_dim.clamp_min(lambda).sum(); }

SentenceVAEImpl::SentenceVAEImpl(SentenceVAEOptions opt) : opt_(opt) {
  opt_.validate("text.autoencoder");
  const int64_t head = opt_.dim / opt_.heads;
  mla_.heads = opt_.heads;
  mla_.kv_rank = std::max<int64_t>(8, opt_.dim / 2);
  mla_.nope_dim = head;
  mla_.v_dim = head;
  mla_.rope_dim = std::max<int64_t>(2, (head / 4) / 2 * 2);
  reset();
}

void SentenceVAEImpl::reset() {
  const auto& o = opt_;
  encoder_ = register_module("encoder", TextEncoder(TextEncoderOptions{o.vocab, o.max_len, o.dim, o.encoder_layers, o.heads}));
  queries_ = register_parameter("queries", torch::randn({o.latents, o.dim}) * 0.02);
  pool_q_ = register_module("pool_q", torch::nn::Linear(o.dim, o.dim));
  pool_kv_ = register_module("pool_kv", torch::nn::Linear(o.dim, 2 * o.dim));
  to_posterior_ = register_module("to_posterior", torch::nn::Linear(o.dim, 2 * o.latent_dim));
  from_latent_ = register_module("from_latent", torch::nn::Linear(o.latent_dim, o.dim));
  embed_ = register_module("embed", torch::nn::Embedding(o.vocab, o.dim));
  prefix_pos_ = register_parameter("prefix_pos", torch::randn({o.latents, o.dim}) * 0.02);
  blocks_.clear();
  for (int64_t i = 0; i < o.decoder_layers; ++i)
    blocks_.push_back(register_module("block" + std::to_string(i), TokenBlock(o.dim, mla_, false, MoEOptions{}, 2 * o.dim)));
  norm_ = register_module("norm", RMSNorm(o.dim));
  head_ = register_module("head", torch::nn::Linear(o.dim, o.vocab));
}

SentenceVAEImpl::Posterior SentenceVAEImpl::encode(const at::Tensor& ids, const at::Tensor& mask) {
  const int64_t B = ids.size(0), T = ids.size(1), D = opt_.dim, H = opt_.heads, K = opt_.latents;
  const at::Tensor states = encoder_(ids, mask);  // [B, T, D]
  const at::Tensor q = pool_q_(queries_).view({1, K, H, D / H}).transpose(1, 2).expand({B, H, K, D / H});
  const auto kv = pool_kv_(states).view({B, T, 2, H, D / H}).permute({2, 0, 3, 1, 4});  // [2, B, H, T, d]
  AttentionMask m;
  m.keys = mask > 0.5;
  const at::Tensor pooled = attention(q, kv[0], kv[1], m).transpose(1, 2).reshape({B, K, D});
  const auto post = to_posterior_(pooled).chunk(2, -1);  // [B, K, d] each
  Posterior p{post[0].reshape({B, K * opt_.latent_dim}), post[1].reshape({B, K * opt_.latent_dim})};
  if (!opt_.variational) p.logvar = torch::zeros_like(p.mu);
  return p;
}

at::Tensor SentenceVAEImpl::prefix(const at::Tensor& z) {
  RF_CHECK(z.dim() == 2 && z.size(1) == opt_.flat_dim(),
           "latents must be [B, " + std::to_string(opt_.flat_dim()) + "], got " + c10::str(z.sizes()), "sentence decoder", "");
  return from_latent_(z.view({z.size(0), opt_.latents, opt_.latent_dim})) + prefix_pos_;
}

at::Tensor SentenceVAEImpl::run_blocks(const at::Tensor& x) {
  at::Tensor h = x;
  for (auto& b : blocks_) h = b->forward(h);
  return head_(norm_(h));
}

at::Tensor SentenceVAEImpl::logits(const at::Tensor& z, const at::Tensor& ids) {
  const int64_t B = ids.size(0), T = ids.size(1), K = opt_.latents;
  // The decoder reads bos, y_1 … y_{T−1} after the latent prefix and predicts y_1 … y_T.
  const at::Tensor inputs = torch::cat({torch::full({B, 1}, text::kBos, ids.options()), ids.slice(1, 0, T - 1)}, 1);
  const at::Tensor out = run_blocks(torch::cat({prefix(z), embed_(inputs)}, 1));
  return out.slice(1, K, K + T);
}

VaeLosses SentenceVAEImpl::losses(const at::Tensor& ids, const at::Tensor& mask, const at::Tensor& eps, double free_bits) {
  const Posterior p = encode(ids, mask);
  const at::Tensor z = opt_.variational ? p.mu + (0.5 * p.logvar).exp() * eps : p.mu;
  const at::Tensor lg = logits(z, ids);
  const int64_t B = ids.size(0);
  const at::Tensor ce = torch::nn::functional::cross_entropy(
      lg.reshape({-1, lg.size(-1)}), ids.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  const at::Tensor m = mask.reshape({-1});
  VaeLosses out;
  out.reconstruction = (ce * m).sum() / double(B);
  const at::Tensor right = (lg.argmax(-1).reshape({-1}) == ids.reshape({-1})).to(torch::kFloat32);
  out.token_accuracy = ((right * m).sum() / m.sum().clamp_min(1.0)).detach();
  if (opt_.variational) {
    const at::Tensor kl_d = kl_per_dimension(p.mu, p.logvar);
    out.kl = kl_d.sum();
    out.kl_free_bits = free_bits_kl(kl_d, free_bits);
  } else {
    out.kl = torch::zeros({}, ids.options().dtype(torch::kFloat32));
    out.kl_free_bits = out.kl;
  }
  return out;
}

at::Tensor SentenceVAEImpl::decode_greedy(const at::Tensor& z, bool use_cache) {
  const int64_t B = z.size(0), K = opt_.latents, L = opt_.max_len;
  const auto long_opt = torch::TensorOptions().dtype(torch::kInt64).device(z.device());
  at::Tensor tokens = torch::full({B, 1}, text::kBos, long_opt);  // bos, then what was decoded
  at::Tensor done = torch::zeros({B}, long_opt.dtype(torch::kBool));
  std::vector<LatentCache> caches(blocks_.size());
  const at::Tensor pre = prefix(z);
  std::vector<at::Tensor> out;
  for (int64_t t = 0; t < L; ++t) {
    at::Tensor last;
    if (use_cache) {
      at::Tensor h = t == 0 ? torch::cat({pre, embed_(tokens)}, 1) : embed_(tokens.slice(1, t, t + 1));
      for (size_t i = 0; i < blocks_.size(); ++i) h = blocks_[i]->decode(h, caches[i], K + L);
      last = head_(norm_(h.slice(1, h.size(1) - 1)));
    } else {
      const at::Tensor all = run_blocks(torch::cat({pre, embed_(tokens)}, 1));
      last = all.slice(1, all.size(1) - 1);
    }
    at::Tensor next = last.squeeze(1).argmax(-1);
    next = torch::where(done, torch::full_like(next, text::kPad), next);
    out.push_back(next);
    done = done | (next == text::kEos);
    tokens = torch::cat({tokens, next.unsqueeze(1)}, 1);
    if (done.all().item<bool>()) break;
  }
  return torch::stack(out, 1);
}

int64_t SentenceVAEImpl::cache_floats_per_token() const { return mla_.latent_cache_floats(); }
int64_t SentenceVAEImpl::mha_cache_floats_per_token() const { return mla_.mha_cache_floats(); }

}  // namespace rflow

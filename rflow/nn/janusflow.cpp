#include "rflow/nn/janusflow.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/convnext.h"
#include "rflow/nn/layers/rope.h"
#include "rflow/solve/butcher.h"
#include "rflow/solve/rk_stages.h"
#include "rflow/text/tokenizer.h"

namespace rflow {

JanusFlowOptions::JanusFlowOptions() {
  // §4.5 of the JanusFlow notes in small: d = 128, 4 blocks, MLA + MoE after the first.
  lm.dim = 128, lm.layers = 4, lm.dense_layers = 1, lm.dense_hidden = 256;
  lm.mla.heads = 4, lm.mla.kv_rank = 32, lm.mla.nope_dim = 32, lm.mla.rope_dim = 16, lm.mla.v_dim = 32;
  lm.moe.routed = 8, lm.moe.shared = 1, lm.moe.top_k = 2, lm.moe.hidden = 128;
}

void JanusFlowOptions::validate(const std::string& where) const {
  RF_CHECK(words >= text::kReserved + 1, "words must exceed the reserved ids", where + ".words", "");
  TokenTransformerOptions l = lm;
  l.vocab = words + 2;
  l.validate(where + ".lm");
  RF_CHECK(gen_channels >= 4 && gen_patch >= 1 && gen_blocks >= 0, "gen_channels must be >= 4, gen_patch >= 1",
           where + ".gen_channels", "");
  TileEncoderOptions v = vision;
  v.dim = lm.dim;
  v.validate(where + ".vision");
  RF_CHECK(repa_layer >= 0 && repa_layer <= lm.layers, "repa_layer must be in 0 … lm.layers", where + ".repa_layer", "");
  RF_CHECK(repa_dim >= 1, "repa_dim must be >= 1", where + ".repa_dim", "");
  RF_CHECK(!grid_positions || lm.dim % 4 == 0, "grid_positions needs lm.dim divisible by 4", where + ".grid_positions",
           "set lm.dim to a multiple of 4 or grid_positions = false");
}

JanusFlowImpl::JanusFlowImpl(JanusFlowOptions opt, std::vector<int64_t> sample_shape)
    : opt_(std::move(opt)), shape_(std::move(sample_shape)) {
  opt_.validate("model.janusflow");
  opt_.lm.vocab = opt_.words + 2;
  opt_.vision.dim = opt_.lm.dim;
  RF_CHECK(shape_.size() == 3 && shape_[0] == 1, "JanusFlow draws grey images [1, H, W]", "model.janusflow",
           "use an image data set (composites of Fashion-MNIST)");
  RF_CHECK(takes_shape(shape_), "the image sides must be multiples of gen_patch", "model.janusflow.gen_patch", "");
  reset();
}

void JanusFlowImpl::reset() {
  const int64_t d = opt_.lm.dim, C = opt_.gen_channels, p = opt_.gen_patch;
  lm_ = register_module("lm", TokenTransformer(opt_.lm));
  vision_ = register_module("vision", TileEncoder(opt_.vision));
  // JanusFlow feeds 1000·t to a sinusoid, then an MLP to the model width.
  t_freq_ = register_module("t_freq", std::make_shared<TimeEmbeddingImpl>("sinusoidal", C, 1000.0));
  t_in_ = register_module("t_in", torch::nn::Linear(C, d));
  t_out_ = register_module("t_out", torch::nn::Linear(d, d));
  gen_in_ = register_module("gen_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, C, p).stride(p)));
  enc_blocks_ = register_module("enc_blocks", torch::nn::ModuleList());
  dec_blocks_ = register_module("dec_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < opt_.gen_blocks; ++i) {
    enc_blocks_->push_back(ConvNeXtBlock(C, d));
    dec_blocks_->push_back(ConvNeXtBlock(2 * C, d));
  }
  enc_align_ = register_module("enc_align", torch::nn::Linear(C, d));
  dec_norm_ = register_module("dec_norm", RMSNorm(d));
  dec_align_ = register_module("dec_align", torch::nn::Linear(d, C));
  dec_in_norm_ = register_module("dec_in_norm", RMSNorm(C));
  out_norm_ = register_module("out_norm", RMSNorm(2 * C));
  gen_out_ = register_module("gen_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * C, p * p, 1)));
  und_align_ = register_module("und_align", torch::nn::Linear(C, d));
  if (opt_.repa_layer > 0) {
    repa1_ = register_module("repa1", torch::nn::Linear(d, d));
    repa2_ = register_module("repa2", torch::nn::Linear(d, opt_.repa_dim));
  }
}

bool JanusFlowImpl::takes_shape(const std::vector<int64_t>& s) const {
  return s.size() == 3 && s[0] == 1 && s[1] % opt_.gen_patch == 0 && s[2] % opt_.gen_patch == 0 && s[1] > 0 && s[2] > 0;
}

at::Tensor JanusFlowImpl::prompt_embeddings(const Cond& c, int64_t B) {
  at::Tensor ids = c.context.defined() ? c.context.to(torch::kInt64) : torch::zeros({B, 0}, torch::kInt64);
  RF_CHECK(ids.dim() == 2 && ids.size(0) == B, "the prompt must be token ids [B, L]", "janusflow", "");
  if (ids.numel() > 0)
    RF_CHECK(ids.max().item<int64_t>() < opt_.words && ids.min().item<int64_t>() >= 0,
             "prompt ids outside the model's " + std::to_string(opt_.words) + " words", "model.janusflow.words",
             "raise words to the tokenizer's vocabulary");
  // A null prompt (classifier-free guidance, prompt dropout) is all pad: <bos> stays, as Janus's.
  const at::Tensor seq = torch::cat({torch::full({B, 1}, text::kBos, torch::kInt64), ids}, 1);
  return lm_->embedding()(seq.to(lm_->embedding()->weight.device()));
}

at::Tensor JanusFlowImpl::time_tokens(const at::Tensor& t) { return t_out_(torch::silu(t_in_(t_freq_->forward(t)))); }

std::pair<at::Tensor, at::Tensor> JanusFlowImpl::gen_encode(const at::Tensor& x, const at::Tensor& t_emb) {
  at::Tensor h = gen_in_(x);
  for (const auto& b : *enc_blocks_) h = b->as<ConvNeXtBlockImpl>()->forward(h, t_emb);
  at::Tensor tokens = enc_align_(h.flatten(2).transpose(1, 2));
  if (opt_.grid_positions) tokens = tokens + sincos_positions_2d(h.size(2), h.size(3), opt_.lm.dim).to(tokens.options());
  return {tokens, h};
}

at::Tensor JanusFlowImpl::gen_decode(const at::Tensor& states, const at::Tensor& skip, const at::Tensor& t_emb, int64_t H,
                                     int64_t W) {
  const int64_t B = states.size(0), C = opt_.gen_channels, p = opt_.gen_patch, h = H / p, w = W / p;
  at::Tensor z = dec_in_norm_(dec_align_(dec_norm_(states)));          // [B, N, C]
  z = torch::cat({z.transpose(1, 2).reshape({B, C, h, w}), skip}, 1);  // [B, 2C, h, w]
  for (const auto& b : *dec_blocks_) z = b->as<ConvNeXtBlockImpl>()->forward(z, t_emb);
  z = out_norm_(z.permute({0, 2, 3, 1})).permute({0, 3, 1, 2});
  return torch::pixel_shuffle(gen_out_(z), p);
}

JanusFlowImpl::Generation JanusFlowImpl::generate(const at::Tensor& x, const at::Tensor& t, const Cond& c, bool with_repa) {
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  const at::Tensor t_emb = time_tokens(t.reshape({B}).to(x.dtype()));
  const auto [lat, skip] = gen_encode(x, t_emb);
  const int64_t N = lat.size(1);
  at::Tensor h = torch::cat({prompt_embeddings(c, B), t_emb.unsqueeze(1), lat}, 1);
  Generation out;
  auto blocks = lm_->blocks();
  for (size_t i = 0; i < blocks.size(); ++i) {
    h = blocks[i]->forward(h, 0, image_block(N));
    if (with_repa && opt_.repa_layer == int64_t(i) + 1)
      out.repa = repa2_(torch::silu(repa1_(h.narrow(1, h.size(1) - N, N))));
  }
  // The velocity is read at the latent positions themselves (not shifted by one).
  out.velocity = gen_decode(h.narrow(1, h.size(1) - N, N), skip, t_emb, H, W);
  return out;
}

at::Tensor JanusFlowImpl::forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  return generate(x, t, c, false).velocity;
}

PromptCache JanusFlowImpl::prefill_prompt(const Cond& c, int64_t latent_tokens) {
  const int64_t B = c.batch_size();
  RF_CHECK(B >= 1, "the prompt cache needs a prompt (its batch)", "janusflow", "");
  PromptCache pc;
  const at::Tensor e = prompt_embeddings(c, B);
  pc.length = e.size(1);
  lm_->decode_hidden(e, pc.caches, pc.length + 1 + latent_tokens);
  return pc;
}

at::Tensor JanusFlowImpl::velocity_after(PromptCache& pc, const at::Tensor& x, const at::Tensor& t) {
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  const at::Tensor t_emb = time_tokens(t.reshape({B}).to(x.dtype()));
  const auto [lat, skip] = gen_encode(x, t_emb);
  const int64_t N = lat.size(1);
  // Every step overwrites the same slots after the prompt: the prompt's keys are never recomputed.
  for (auto& cache : pc.caches) cache.length = pc.length;
  const at::Tensor h =
      lm_->decode_hidden(torch::cat({t_emb.unsqueeze(1), lat}, 1), pc.caches, pc.length + 1 + N, image_block(N));
  return gen_decode(h.narrow(1, 1, N), skip, t_emb, H, W);
}

FastSolve JanusFlowImpl::fast_solve(const at::Tensor& x0, const Cond& cond, const SolvePlan& plan) {
  if (plan.eta > 0 || plan.tableau == nullptr || x0.dim() != 4 || cond.batch_size() != x0.size(0)) return {};
  torch::NoGradGuard ng;
  const int64_t N = shared_image_tokens(x0.size(2), x0.size(3));
  const bool guided = plan.guidance != 1.0 && cond.nullable();
  PromptCache pc = prefill_prompt(cond, N), pu;
  if (guided) pu = prefill_prompt(cond.null_like(), N);
  struct Ops {
    JanusFlowImpl& m;
    PromptCache &pc, &pu;
    bool guided;
    double w, t0 = 0, h = 0;
    const RkPlan* plan;
    at::Tensor combine(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& row) const {
      at::Tensor out = x.clone();
      for (const auto& term : row) out.add_(k[size_t(term.stage)], h * term.coef);
      return out;
    }
    at::Tensor eval(const at::Tensor& xs, int s) {
      const at::Tensor t = torch::full({xs.size(0)}, t0 + plan->c[size_t(s)] * h, xs.options());
      const at::Tensor vc = m.velocity_after(pc, xs, t);
      return guided ? vc * w - m.velocity_after(pu, xs, t) * (w - 1) : vc;
    }
    at::Tensor advance(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& b) const { return combine(x, k, b); }
  };
  const RkPlan rk = rk_plan(*plan.tableau);
  Ops ops{*this, pc, pu, guided, plan.guidance, 0, 0, &rk};
  at::Tensor x = x0.clone();
  std::vector<at::Tensor> k;
  for (size_t i = 0; i + 1 < plan.grid.size(); ++i) {
    ops.t0 = plan.grid[i], ops.h = plan.grid[i + 1] - plan.grid[i];
    x = rk_step(rk, ops, x, k);
  }
  return {x, {}};
}

at::Tensor JanusFlowImpl::understanding_embeddings(const at::Tensor& ids, const at::Tensor& tiles, int64_t rows,
                                                   int64_t cols, const at::Tensor& images) {
  at::Tensor image_tokens;
  if (opt_.shared_encoder) {
    // The generation encoder reads the clean image (t = 1); its own aligner maps it to the model.
    const at::Tensor t_emb = time_tokens(torch::ones({images.size(0)}, images.options()));
    image_tokens = und_align_(gen_encode(images, t_emb).second.flatten(2).transpose(1, 2));
  } else {
    image_tokens = vision_->forward(tiles, rows, cols);
  }
  return fill_image_placeholders(*lm_, ids, image_id(), image_tokens);
}

AnswerLoss JanusFlowImpl::understanding_loss(const at::Tensor& ids, const at::Tensor& supervise, const at::Tensor& tiles,
                                             int64_t rows, int64_t cols, const at::Tensor& images) {
  // The MoE balance loss of these forwards reaches the trainer through auxiliary_loss().
  return answer_loss(*lm_, understanding_embeddings(ids, tiles, rows, cols, images), ids, supervise);
}

const std::vector<std::string>& JanusFlowImpl::part_names() {
  static const std::vector<std::string> names{"lm", "vision", "gen_encoder", "gen_decoder", "repa_head"};
  return names;
}

std::vector<at::Tensor> JanusFlowImpl::part_parameters(const std::string& part) const {
  static const std::map<std::string, std::vector<std::string>> prefixes{
      {"lm", {"lm."}},
      {"vision", {"vision.", "und_align."}},
      {"gen_encoder", {"t_freq.", "t_in.", "t_out.", "gen_in.", "enc_blocks.", "enc_align."}},
      {"gen_decoder", {"dec_blocks.", "dec_norm.", "dec_align.", "dec_in_norm.", "out_norm.", "gen_out."}},
      {"repa_head", {"repa1.", "repa2."}}};
  const auto it = prefixes.find(part);
  RF_CHECK(it != prefixes.end(), "no part '" + part + "' in JanusFlow", "freeze", "parts: lm, vision, gen_encoder, gen_decoder, repa_head");
  std::vector<at::Tensor> out;
  for (const auto& p : named_parameters())
    for (const auto& pre : it->second)
      if (p.key().rfind(pre, 0) == 0) out.push_back(p.value());
  return out;
}

at::Tensor JanusFlowImpl::auxiliary_loss() { return lm_->take_balance_loss(); }
std::map<std::string, at::Tensor> JanusFlowImpl::after_step() { return lm_->update_routing(); }

ModelEntry janusflow_entry() {
  ModelEntry e;
  e.options = [] { return AnyOptions::of<JanusFlowOptions>(); };
  e.make = [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
    RF_CHECK(c.num_classes == 0, "JanusFlow is conditioned on prompts, not class labels", "model.num_classes", "set it to 0");
    return std::make_shared<JanusFlowImpl>(c.get<JanusFlowOptions>("janusflow"), shape);
  };
  e.describe = [](const ModelConfig& c) {
    const auto& o = c.get<JanusFlowOptions>("janusflow");
    return std::to_string(o.lm.layers) + " × " + std::to_string(o.lm.dim) + (o.shared_encoder ? ", shared encoder" : "");
  };
  e.labels = false;
  return e;
}

}  // namespace rflow

// JanusFlow in small: one DeepSeek-style transformer (MLA + DeepSeekMoE) that both answers about
// images and draws them with rectified flow. Understanding: the image's tokens from a decoupled
// encoder (VL2's tiles through a ViT, or — the ablation — the generation encoder at t = 1) fill the
// placeholders of a question and the transformer decodes the answer. Generation: [<bos>, prompt,
// time token, latent tokens from a ConvNeXt encoder] go through the same transformer and the
// states at the latent positions are decoded (ConvNeXt, with the encoder's skip) into a velocity.
// A REPA head maps an intermediate layer's latent states to a frozen network's features.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "rflow/flow/training_hooks.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/nn/layers/rms_norm.h"
#include "rflow/nn/layers/time_embedding.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/tile_encoder.h"
#include "rflow/nn/token_transformer.h"
#include "rflow/nn/vision_language_model.h"

namespace rflow {

struct JanusFlowOptions {
  int64_t words = 64;  // text ids (the prompt's and the questions'); two of the model's own follow
  TokenTransformerOptions lm;
  int64_t gen_channels = 64;  // C of the ConvNeXt generation encoder (the decoder works at 2C)
  int64_t gen_patch = 4;      // latent tokens are the image's p × p patches
  int64_t gen_blocks = 2;
  TileEncoderOptions vision;  // the decoupled understanding encoder
  bool shared_encoder = false;
  bool bidirectional_image = false;  // JanusFlow keeps the LLM's causal mask over the image too
  bool grid_positions = false;       // JanusFlow relies on its LLM's 1-D rotary positions
  int64_t repa_layer = 2;     // REPA reads the states after this many blocks (0 = no REPA head)
  int64_t repa_dim = 64;      // features of the frozen target network (the shipped percept net: 64)

  JanusFlowOptions();
  template <class V>
  void visit(V& v) {
    v("words", words, "text vocabulary (>= the tokenizer's: the prompts' and the questions' words)");
    v.section("lm", lm);
    v("gen_channels", gen_channels, "channels of the ConvNeXt generation encoder (its decoder works at twice this)");
    v("gen_patch", gen_patch, "patch side of the generation encoder: one latent token per patch");
    v("gen_blocks", gen_blocks, "ConvNeXt blocks in the generation encoder and in its decoder");
    v.section("vision", vision);
    v("shared_encoder", shared_encoder, "understanding reads images through the generation encoder (at t = 1) instead of its own ViT: the ablation of decoupling");
    v("bidirectional_image", bidirectional_image, "the time token and the latent tokens attend to each other both ways (the prompt stays causal); false: the language model's causal mask throughout, as JanusFlow");
    v("grid_positions", grid_positions, "add a fixed 2-D sin-cos vector of each latent token's (row, column) to it: the language model's 1-D rotary positions hardly tell a patch's column (needs lm.dim divisible by 4)");
    v("repa_layer", repa_layer, "REPA aligns the states after this many transformer blocks (0 = no REPA head)");
    v("repa_dim", repa_dim, "feature size of the frozen network REPA aligns to");
  }
  void validate(const std::string& where) const;
};

// The prompt's key/value cache, computed once and reused by every velocity evaluation of a solve.
struct PromptCache {
  std::vector<LatentCache> caches;
  int64_t length = 0;  // prompt tokens (<bos> included)
};

class JanusFlowImpl : public CloneableField<JanusFlowImpl>, public TrainingHooks {
 public:
  JanusFlowImpl(JanusFlowOptions opt, std::vector<int64_t> sample_shape);
  void reset() override;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  std::vector<int64_t> sample_shape() const override { return shape_; }
  bool takes_shape(const std::vector<int64_t>& shape) const override;
  FastSolve fast_solve(const at::Tensor& x0, const Cond& cond, const SolvePlan& plan) override;

  struct Generation {
    at::Tensor velocity;  // x's shape
    at::Tensor repa;      // [B, N, repa_dim]: the REPA head on the latent states (with_repa)
  };
  Generation generate(const at::Tensor& x, const at::Tensor& t, const Cond& c, bool with_repa);
  // The velocity from a cached prompt (prefill_prompt): equal to forward() to float rounding.
  PromptCache prefill_prompt(const Cond& c, int64_t latent_tokens);
  at::Tensor velocity_after(PromptCache& cache, const at::Tensor& x, const at::Tensor& t);

  int64_t image_id() const { return opt_.words; }
  int64_t answer_id() const { return opt_.words + 1; }
  // Image tokens per image of h × w pixels in the shared-encoder mode; the decoupled encoder's
  // follow VL2's layout (image_token_count).
  int64_t shared_image_tokens(int64_t h, int64_t w) const { return (h / opt_.gen_patch) * (w / opt_.gen_patch); }
  // Understanding: ids with placeholders; tiles [B, 1 + rows·cols, 1, S, S] (decoupled) or the
  // images [B, 1, H, W] (shared encoder) → input embeddings.
  at::Tensor understanding_embeddings(const at::Tensor& ids, const at::Tensor& tiles, int64_t rows, int64_t cols,
                                      const at::Tensor& images);
  AnswerLoss understanding_loss(const at::Tensor& ids, const at::Tensor& supervise, const at::Tensor& tiles, int64_t rows,
                                int64_t cols, const at::Tensor& images);

  // Named parts, for freeze masks: lm, vision (the understanding encoder), gen_encoder, gen_decoder, repa_head.
  static const std::vector<std::string>& part_names();
  std::vector<at::Tensor> part_parameters(const std::string& part) const;

  at::Tensor auxiliary_loss() override;
  std::map<std::string, at::Tensor> after_step() override;

  const JanusFlowOptions& options() const { return opt_; }
  TokenTransformer lm() const { return lm_; }
  TileEncoder vision() const { return vision_; }

 private:
  at::Tensor prompt_embeddings(const Cond& c, int64_t B);
  at::Tensor time_tokens(const at::Tensor& t);  // [B, d]
  // Tokens at the end that attend both ways: the time token and the N latents, or none (causal).
  int64_t image_block(int64_t N) const { return opt_.bidirectional_image ? N + 1 : 0; }
  // x [B, 1, H, W] → latent tokens [B, N, d] and the skip [B, C, h, w].
  std::pair<at::Tensor, at::Tensor> gen_encode(const at::Tensor& x, const at::Tensor& t_emb);
  at::Tensor gen_decode(const at::Tensor& states, const at::Tensor& skip, const at::Tensor& t_emb, int64_t H, int64_t W);

  JanusFlowOptions opt_;
  std::vector<int64_t> shape_;
  TokenTransformer lm_{nullptr};
  TileEncoder vision_{nullptr};
  TimeEmbedding t_freq_{nullptr};
  torch::nn::Linear t_in_{nullptr}, t_out_{nullptr};
  torch::nn::Conv2d gen_in_{nullptr}, gen_out_{nullptr};
  torch::nn::ModuleList enc_blocks_{nullptr}, dec_blocks_{nullptr};
  torch::nn::Linear enc_align_{nullptr}, dec_align_{nullptr}, und_align_{nullptr}, repa1_{nullptr}, repa2_{nullptr};
  RMSNorm dec_norm_{nullptr}, dec_in_norm_{nullptr}, out_norm_{nullptr};
};

ModelEntry janusflow_entry();

}  // namespace rflow

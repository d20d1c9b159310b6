// Diffusion transformer (DiT) velocity field for [C, H, W] images: patches become tokens; each
// block is self-attention and a feed-forward, both modulated by the conditioning vector
// c = emb(t) + emb(label) + pooled context with adaLN-Zero (shift, scale, and a gate that starts
// at zero, so an untrained network predicts v = 0); Hunyuan-DiT's additions: 2-D rotary position
// embeddings on the patch grid, QK-norm, cross-attention to a token context (masked tokens
// replaced by learned padding vectors) and long skips that join block i to block L−1−i. The
// feed-forward may be DeepSeekMoE (aux-loss-free balancing, updated through TrainingHooks).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "rflow/flow/training_hooks.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/layers/moe.h"
#include "rflow/nn/layers/text_encoder.h"
#include "rflow/nn/layers/time_embedding.h"

namespace rflow {

// Hunyuan-DiT's two text encoders in small: cond.context holds a caption's word ids followed by its
// character ids ([B, word_len + char_len] int64, with their mask); a word-level and a character-level
// transformer read them, the character states are mapped to the word width, and the two sequences,
// concatenated, are the context the blocks cross-attend to.
struct DiTTextOptions {
  int64_t words = 0;  // the word vocabulary (the tokenizer's vocab_size); 0: no text encoders
  int64_t word_len = 20;
  int64_t word_dim = 128;
  int64_t word_layers = 2;
  int64_t char_len = 0;  // 0: no character encoder
  int64_t char_dim = 96;
  int64_t char_layers = 1;
  int64_t heads = 4;

  template <class V>
  void visit(V& v) {
    v("words", words, "> 0: text conditioning; the word vocabulary size (the data's tokenizer); cond.context holds token ids");
    v("word_len", word_len, "word tokens read (the data's max_words)");
    v("word_dim", word_dim, "width of the word encoder (the context the blocks cross-attend to)");
    v("word_layers", word_layers, "transformer layers of the word encoder");
    v("char_len", char_len, "> 0: a character encoder reads this many UTF-8 bytes after the words (the data's max_chars)");
    v("char_dim", char_dim, "width of the character encoder (mapped to word_dim by an MLP)");
    v("char_layers", char_layers, "transformer layers of the character encoder");
    v("heads", heads, "attention heads of both encoders");
  }
  bool enabled() const { return words > 0; }
  void validate(const std::string& where) const;
};

struct DiTOptions {
  int64_t patch = 4;
  int64_t hidden = 128;
  int64_t depth = 6;
  int64_t heads = 4;
  double mlp_ratio = 4.0;
  bool qk_norm = true;
  bool rope = true;
  int64_t rope_base = 0;
  bool long_skips = true;
  int64_t context_dim = 0;
  int64_t context_len = 0;
  int64_t time_dim = 256;
  std::string ffn = "mlp";
  int64_t moe_from = 0;
  MoEOptions moe;
  DiTTextOptions text;

  template <class V>
  void visit(V& v) {
    v("patch", patch, "patch size: an H × W image becomes (H/patch)·(W/patch) tokens (must divide H and W)");
    v("hidden", hidden, "token width");
    v("depth", depth, "transformer blocks");
    v("heads", heads, "attention heads (hidden / heads must be a multiple of 4 with rope)");
    v("mlp_ratio", mlp_ratio, "feed-forward hidden size as a multiple of hidden");
    v("qk_norm", qk_norm, "LayerNorm on each head's queries and keys (Hunyuan-DiT; steadier attention logits)");
    v("rope", rope, "2-D rotary position embeddings on the patch grid (false: learned absolute positions)");
    v("rope_base", rope_base, "0: patch positions 0 … n−1; > 0: every grid centred into a rope_base × rope_base box (Hunyuan-DiT's interpolation, one coordinate range for all resolutions)");
    v("long_skips", long_skips, "join block i's output into block depth−1−i (Hunyuan-DiT's U-Net-like skips)");
    v("context_dim", context_dim, "> 0: cross-attention to a token context [T, context_dim] (cond.context)");
    v("context_len", context_len, "context tokens (masked ones are replaced by learned padding vectors)");
    v("time_dim", time_dim, "time embedding size (even)");
    v("ffn", ffn, "feed-forward: mlp (GELU) | moe (DeepSeekMoE, keys moe.*)");
    v("moe_from", moe_from, "ffn = moe: blocks before this index keep the dense MLP (DeepSeek's first dense layers)");
    v.section("moe", moe);
    v.section("text", text);
  }
  void validate(const std::string& where) const;
};

class DiTBlockImpl : public torch::nn::Cloneable<DiTBlockImpl> {
 public:
  DiTBlockImpl(const DiTOptions& opt, bool moe, bool skip_in);
  void reset() override;
  // x [B, T, D], c [B, D], angles [T, head/2] (undefined: no rope), ctx [B, Tc, D] (undefined: no
  // cross-attention), skip [B, T, D] (blocks that take a long skip).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& c, const at::Tensor& angles, const at::Tensor& ctx,
                     const at::Tensor& skip);
  MoE moe() const { return moe_; }

 private:
  at::Tensor heads_of(const at::Tensor& x) const;  // [B, T, D] → [B, H, T, D/H]
  DiTOptions opt_;
  bool use_moe_, skip_in_;
  torch::nn::Linear ada_{nullptr}, qkv_{nullptr}, proj_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Linear cq_{nullptr}, ckv_{nullptr}, cproj_{nullptr}, skip_linear_{nullptr};
  torch::nn::LayerNorm q_norm_{nullptr}, k_norm_{nullptr}, cq_norm_{nullptr}, ck_norm_{nullptr};
  torch::nn::LayerNorm cross_norm_{nullptr}, skip_norm_{nullptr};
  MoE moe_{nullptr};
};
TORCH_MODULE(DiTBlock);

class DiTImpl : public CloneableField<DiTImpl>, public TrainingHooks {
 public:
  DiTImpl(DiTOptions opt, std::vector<int64_t> sample_shape, int64_t num_classes = 0,
          std::string time_embed = "sinusoidal", double time_scale = 100.0);
  void reset() override;
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  std::vector<int64_t> sample_shape() const override { return shape_; }
  // With rope: any [C, H, W] whose sides the patch divides (positions follow each input's grid).
  bool takes_shape(const std::vector<int64_t>& shape) const override;
  at::Tensor auxiliary_loss() override;
  std::map<std::string, at::Tensor> after_step() override;
  std::vector<at::Tensor> summed_statistics() override;

  // Long-skip wiring: (block that pushes, block that pops) pairs.
  std::vector<std::pair<int64_t, int64_t>> skip_pairs() const;
  // The context as the blocks see it [B, context_len, hidden]: encoded (text ids), projected, masked
  // tokens replaced by the padding vectors (no context = all padding: the null context of guidance).
  at::Tensor context_tokens(const Cond& c, int64_t B) const;
  const DiTOptions& options() const { return opt_; }
  std::vector<DiTBlock> blocks() const { return blocks_; }
  std::vector<MoE> moe_layers() const;

 private:
  // The text encoders' states [B, word_len + char_len, word_dim] of ids [B, word_len + char_len].
  at::Tensor encode_text(const at::Tensor& ids, const at::Tensor& mask) const;
  DiTOptions opt_;
  std::vector<int64_t> shape_;
  int64_t num_classes_;
  std::string time_embed_;
  double time_scale_;
  int64_t rows_ = 0, cols_ = 0;
  TimeEmbedding temb_{nullptr};
  torch::nn::Linear t1_{nullptr}, t2_{nullptr}, ctx_proj_{nullptr}, ctx_pool_{nullptr};
  torch::nn::Linear final_ada_{nullptr}, final_{nullptr};
  torch::nn::Embedding label_emb_{nullptr};
  torch::nn::Conv2d patch_embed_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
  TextEncoder word_enc_{nullptr}, char_enc_{nullptr};
  torch::nn::Linear char_fc1_{nullptr}, char_fc2_{nullptr};
  at::Tensor pos_emb_, ctx_padding_, angles_;
  std::vector<DiTBlock> blocks_;
};

ModelEntry dit_entry();

}  // namespace rflow

// The configuration of a Language RF run (`rflow text train`): the corpus and its tokenizer, the
// sentence autoencoder and how it is trained (reconstruction first, then jointly with a latent
// flow under the lexicographic rule), the attributes generation is conditioned on and the one edits
// change, and the two flows over the latents — each an ordinary rflow run config (generate.*,
// transfer.*), so reflow, distillation and every solver apply to text unchanged.
#pragma once

#include <string>
#include <vector>

#include "rflow/nn/sentence_vae.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/pipeline/staged_run.h"
#include "rflow/text/corpus.h"
#include "rflow/text/tokenizer.h"
#include "rflow/train/lexicographic.h"

namespace rflow {

struct AutoencoderTrainOptions {
  int64_t steps = 4000;        // reconstruction only (with the KL term)
  int64_t joint_steps = 1000;  // then jointly with a latent flow, lexicographically (0 = none)
  int64_t batch_size = 128;
  double lr = 1e-3;
  int64_t warmup = 200;
  double beta = 0.5;           // the KL weight reached after anneal_steps (linear from 0)
  int64_t anneal_steps = 2000;
  double free_bits = 0.05;     // λ nats per latent dimension
  int64_t flow_hidden = 256;   // the joint phase's latent flow (an MLP of 3 layers)
  LexicographicOptions lexicographic;
  int64_t log_every = 250;
  int64_t ckpt_every = 1000;

  template <class V>
  void visit(V& v) {
    v("steps", steps, "autoencoder steps on reconstruction (and the KL term) alone");
    v("joint_steps", joint_steps, "then steps training the autoencoder and a latent flow together under the lexicographic rule (0 = none)");
    v("batch_size", batch_size, "sentences per step");
    v("lr", lr, "AdamW learning rate (after a linear warm-up, cosine to 10% at the end)");
    v("warmup", warmup, "warm-up steps");
    v("beta", beta, "KL weight β reached after anneal_steps (linear from 0: the decoder learns to read the latent first)");
    v("anneal_steps", anneal_steps, "steps over which β rises from 0");
    v("free_bits", free_bits, "free bits λ: nats per latent dimension the KL term does not penalise (keeps the latent in use)");
    v("flow_hidden", flow_hidden, "width of the latent flow trained in the joint phase");
    v.section("lexicographic", lexicographic);
    v("log_every", log_every, "log every this many steps");
    v("ckpt_every", ckpt_every, "checkpoint every this many steps (a crash loses at most these)");
  }
  void validate(const std::string& where) const;
};

struct TextEvalOptions {
  std::vector<int64_t> nfe{1, 2, 4, 8, 20};
  int64_t n = 1000;             // sentences generated / edited per measurement
  double guidance = 2.0;        // classifier-free guidance of attribute-conditional generation
  int64_t baseline_steps = 200; // the many-step sampler (the diffusion-LM stand-in)
  int64_t lm_steps = 2000;      // the separately trained language model that scores fluency (perplexity)

  template <class V>
  void visit(V& v) {
    v("nfe", nfe, "velocity evaluations per sentence to evaluate (Euler steps)");
    v("n", n, "sentences generated or edited per measurement");
    v("guidance", guidance, "classifier-free guidance scale of attribute-conditional generation");
    v("baseline_steps", baseline_steps, "Euler steps of the many-step baseline sampler");
    v("lm_steps", lm_steps, "training steps of the separate language model that scores generated text (perplexity)");
  }
  void validate(const std::string& where) const;
};

struct TextRunConfig : KeyedRunBase {
  std::vector<std::string> stages{"autoencoder", "latents", "generate", "transfer", "eval", "report"};
  text::CorpusOptions corpus;
  text::TokenizerOptions tokenizer;
  SentenceVAEOptions autoencoder;
  AutoencoderTrainOptions train;
  std::vector<std::string> control{"sentiment", "tense"};
  std::string edit = "sentiment";
  RunConfig generate, transfer;
  TextEvalOptions eval;

  TextRunConfig();
  template <class V>
  void visit(V& v) {
    visit_base(v);
    v("stages", stages, "stages in order: autoencoder, latents, generate (attribute-conditional flow), transfer (edit flows), eval, report");
    v.section("corpus", corpus);
    v.section("tokenizer", tokenizer);
    v.section("autoencoder", autoencoder);
    v.section("train", train);
    v("control", control, "attributes generation is conditioned on (their joint value is the class; [] = unconditional)");
    v("edit", edit, "the attribute edit flows change (one flow to each of its values; \"\" = no edit flows)");
    v.section("generate", generate);
    v.section("transfer", transfer);
    v.section("eval", eval);
  }
  void validate() const;
};

// defaults < TOML file or a text run's config.json < overrides ("key=value"); validated.
TextRunConfig load_text_config(const std::string& path, const std::vector<std::string>& overrides);
std::string to_json(TextRunConfig& cfg);

}  // namespace rflow

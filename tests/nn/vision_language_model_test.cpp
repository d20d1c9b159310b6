// The vision-language model: image tokens land exactly at the placeholders, in order; the loss
// reads only the supervised (answer) tokens; and a tiny model learns to answer about two images.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/token_decoding.h"
#include "rflow/nn/vision_language_model.h"
#include "rflow/text/tokenizer.h"

using namespace rflow;

namespace {

VisionLanguageOptions tiny() {
  VisionLanguageOptions o;
  o.vision.width = 16, o.vision.layers = 1, o.vision.heads = 2;
  o.lm.dim = 32, o.lm.layers = 2, o.lm.dense_layers = 1, o.lm.dense_hidden = 64;
  o.lm.mla.heads = 2, o.lm.mla.kv_rank = 8, o.lm.mla.nope_dim = 8, o.lm.mla.rope_dim = 4, o.lm.mla.v_dim = 8;
  o.lm.moe.routed = 4, o.lm.moe.top_k = 2, o.lm.moe.hidden = 32;
  return o;
}

}  // namespace

TEST(VisionLanguageModel, ImageTokensFillThePlaceholdersInOrder) {
  torch::manual_seed(0);
  VisionLanguageModel m(tiny(), 20);
  const int64_t I = m->image_id();
  const at::Tensor ids = torch::tensor(std::vector<int64_t>{2, I, I, I, 7, 8, 0, 2, 9, I, I, I, 5, 0}, torch::kInt64).reshape({2, 7});
  const at::Tensor img = torch::randn({2, 3, 32});
  const at::Tensor e = m->input_embeddings(ids, img);
  const at::Tensor table = m->lm()->embedding()->weight;
  EXPECT_TRUE(torch::equal(e[0][1], img[0][0]));
  EXPECT_TRUE(torch::equal(e[0][3], img[0][2]));
  EXPECT_TRUE(torch::equal(e[1][2], img[1][0]));
  EXPECT_TRUE(torch::equal(e[1][4], img[1][2]));
  EXPECT_TRUE(torch::equal(e[0][4], table[7]));
  EXPECT_TRUE(torch::equal(e[1][1], table[9]));
  EXPECT_TRUE(torch::equal(e[1][5], table[5]));
  EXPECT_THROW(m->input_embeddings(ids, torch::randn({2, 2, 32})), Error);
}

TEST(VisionLanguageModel, LossReadsOnlyTheSupervisedTokens) {
  torch::manual_seed(1);
  VisionLanguageModel m(tiny(), 20);
  m->eval();
  const int64_t I = m->image_id(), A = m->answer_id();
  const int64_t n = 2 * 3 + 1 + 2 * 3;  // 13 image tokens for one local tile
  std::vector<int64_t> row{text::kBos};
  row.insert(row.end(), size_t(n), I);
  row.insert(row.end(), {10, 11, A, 12, 13, text::kEos});
  const at::Tensor ids = torch::tensor(row, torch::kInt64).unsqueeze(0);
  at::Tensor sup = torch::zeros_like(ids, torch::kFloat32);
  sup.narrow(1, int64_t(row.size()) - 3, 3).fill_(1);  // the answer 12 13 and its end
  const at::Tensor tiles = torch::randn({1, 2, 1, 28, 28});
  const double l = m->loss(ids, sup, tiles, 1, 1).loss.item<double>();
  // By hand: the CE of the last three tokens from the logits before them.
  const at::Tensor logits = m->lm()->logits_of(m->lm()->trunk(m->input_embeddings(ids, tiles, 1, 1)))[0];
  const int64_t L = int64_t(row.size());
  const at::Tensor picked = logits.narrow(0, L - 4, 3).log_softmax(-1);
  const double want = -(picked[0][12] + picked[1][13] + picked[2][text::kEos]).item<double>() / 3;
  EXPECT_NEAR(l, want, 1e-5);
  // A question word changed does change the loss (the answer reads it); a change after the
  // answer's end, in padding, does not.
  at::Tensor ids2 = torch::cat({ids, torch::full({1, 2}, text::kPad, torch::kInt64)}, 1);
  at::Tensor sup2 = torch::cat({sup, torch::zeros({1, 2})}, 1);
  const double padded = m->loss(ids2, sup2, tiles, 1, 1).loss.item<double>();
  ids2[0][L + 1] = 15;
  EXPECT_NEAR(m->loss(ids2, sup2, tiles, 1, 1).loss.item<double>(), padded, 1e-6);
  EXPECT_NEAR(padded, l, 1e-5);
}

TEST(VisionLanguageModel, LearnsToAnswerAboutTwoImages) {
  torch::manual_seed(2);
  VisionLanguageModel m(tiny(), 20);
  const int64_t I = m->image_id(), A = m->answer_id(), n = 13;
  // Two images (a bright left half, a bright right half), one question, answers "5 6" / "7".
  at::Tensor tiles = -torch::ones({2, 2, 1, 28, 28});
  tiles[0].slice(3, 0, 14).fill_(1);
  tiles[1].slice(3, 14, 28).fill_(1);
  std::vector<std::vector<int64_t>> rows{{text::kBos}, {text::kBos}};
  for (auto& r : rows) r.insert(r.end(), size_t(n), I), r.insert(r.end(), {10, A});
  rows[0].insert(rows[0].end(), {5, 6, text::kEos});
  rows[1].insert(rows[1].end(), {7, text::kEos, text::kPad});
  at::Tensor ids = torch::stack({torch::tensor(rows[0], torch::kInt64), torch::tensor(rows[1], torch::kInt64)});
  at::Tensor sup = torch::zeros_like(ids, torch::kFloat32);
  sup[0].narrow(0, n + 3, 3).fill_(1);
  sup[1].narrow(0, n + 3, 2).fill_(1);
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(3e-3));
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    m->loss(ids, sup, tiles, 1, 1).loss.backward();
    opt.step();
  }
  m->eval();
  torch::NoGradGuard ng;
  const at::Tensor prompt = m->input_embeddings(ids.narrow(1, 0, n + 3), tiles, 1, 1);
  SamplingOptions o;
  o.max_new_tokens = 4;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  const Generated out = generate_tokens(*m->lm(), prompt, o, {text::kEos}, gen);
  EXPECT_EQ(out.lengths, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(out.ids[0][0].item<int64_t>(), 5);
  EXPECT_EQ(out.ids[0][1].item<int64_t>(), 6);
  EXPECT_EQ(out.ids[1][0].item<int64_t>(), 7);
}

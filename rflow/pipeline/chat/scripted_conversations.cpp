#include "rflow/pipeline/chat/scripted_conversations.h"

#include <torch/torch.h>

#include "rflow/core/progress.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/eval/composite_scorer.h"
#include "rflow/eval/fidnet.h"
#include "rflow/eval/pinned_nets.h"
#include "rflow/pipeline/chat/rule_rewriter.h"

namespace rflow::chat {

namespace {

int64_t other_class(int64_t c, std::mt19937_64& rng) {
  return (c + 1 + static_cast<int64_t>(rng() % 9)) % 10;
}

// Words that name cell i of a rows × cols layout, as people say them.
std::string place_of(int64_t i, int64_t rows, int64_t cols) {
  static const char* across[3][3] = {{"only", "", ""}, {"left", "right", ""}, {"left", "middle", "right"}};
  static const char* down[3][3] = {{"only", "", ""}, {"top", "bottom", ""}, {"top", "middle", "bottom"}};
  if (rows == 1) return across[cols - 1][i];
  if (cols == 1) return down[rows - 1][i];
  return std::string(down[1][i / 2]) + " " + across[1][i % 2];
}

std::string new_caption(int64_t rows, int64_t cols, std::mt19937_64& rng) {
  std::vector<int64_t> classes;
  for (int64_t i = 0; i < rows * cols; ++i) classes.push_back(static_cast<int64_t>(rng() % 10));
  return composite_caption(classes, *composite_layout_of(rows, cols));
}

// One edit the rules understand for the scene now shown.
std::string next_message(const Scene& s, int64_t rows, int64_t cols, std::mt19937_64& rng) {
  const int64_t n = rows * cols, roll = static_cast<int64_t>(rng() % 100);
  if (s.empty()) return new_caption(rows, cols, rng);
  const int64_t i = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
  const int64_t cls = s.cells[static_cast<size_t>(i)].cls, to = other_class(cls, rng);
  int64_t same = 0;
  for (const auto& g : s.cells) same += g.cls == cls;
  if (roll < 50) return (n == 1 ? "make it " : "make the " + place_of(i, rows, cols) + " one ") + garment_with_article(to);
  if (roll < 65 && same == 1) return "replace the " + garment_names()[static_cast<size_t>(cls)] + " with " + garment_with_article(to);
  if (roll < 75 && n == 2) return "swap them";
  if (roll < 85) return "undo";
  if (roll < 92) return "start over";
  return new_caption(rows, cols, rng);
}

}  // namespace

std::vector<std::string> random_script(int64_t rows, int64_t cols, int64_t turns, std::mt19937_64& rng) {
  RuleRewriter rules;
  std::vector<Scene> shown{Scene{}};
  int64_t next_id = 0;
  std::vector<std::string> script;
  while (static_cast<int64_t>(script.size()) < turns) {
    script.push_back(next_message(shown.back(), rows, cols, rng));
    const Rewrite r = rules.rewrite(shown.back(), script.back(), next_id);
    if (r.kind == Rewrite::Kind::kEdit) shown.push_back(r.scene);
    if (r.kind == Rewrite::Kind::kUndo && shown.size() > 1) shown.pop_back();
  }
  return script;
}

namespace {

// The one cell this turn changed in place (same layout, every other garment the same), or −1.
int64_t single_edit(const Turn& before, const Turn& now) {
  if (!before.image.defined() || !now.image.defined() || before.scene.rows != now.scene.rows ||
      before.scene.cols != now.scene.cols)
    return -1;
  int64_t at = -1, differ = 0;
  for (size_t i = 0; i < now.scene.cells.size(); ++i)
    if (!(now.scene.cells[i] == before.scene.cells[i])) ++differ, at = static_cast<int64_t>(i);
  return differ == 1 ? at : -1;
}

struct Tally {
  double drift_max = 0, drift_sum = 0, cells = 0, cells_right = 0, images = 0, images_right = 0;
  int64_t edits = 0;
};

void tally_turn(const Turn& before, const Turn& now, eval::FidNet& judge, Tally& t) {
  if (!now.drawn) return;
  const at::Tensor cells = eval::composite_cells(now.image.unsqueeze(0));
  const at::Tensor asked = torch::tensor(now.scene.classes(), torch::kInt64);
  const at::Tensor hits = eval::fidnet_predict(judge, cells).eq(asked);
  t.cells += static_cast<double>(hits.numel()), t.cells_right += hits.sum().item<double>();
  t.images += 1, t.images_right += hits.all().item<bool>() ? 1 : 0;
  const int64_t edited = single_edit(before, now);
  if (edited < 0 || cells.size(0) == 1) return;  // a lone garment leaves no other cell to compare
  const at::Tensor keep = torch::ones({cells.size(0)}, torch::kBool).index_put_({edited}, false);
  const at::Tensor d = (cells - eval::composite_cells(before.image.unsqueeze(0))).abs().index({keep}) * 127.5;
  t.drift_max = std::max(t.drift_max, d.max().item<double>());
  t.drift_sum += d.mean().item<double>();
  ++t.edits;
}

}  // namespace

ChatMeasure measure_conversations(LoadedModel& model, const ChatOptions& opt, int64_t conversations,
                                  int64_t turns_each, uint64_t script_seed) {
  eval::FidNet judge = eval::load_pinned_net("judge");
  std::mt19937_64 rng(script_seed);
  Tally t;
  ChatMeasure m;
  Progress progress("chat conversations", conversations);
  for (int64_t c = 0; c < conversations; ++c) {
    ChatOptions o = opt;
    o.seed = opt.seed + c;
    Conversation conv(model, o);
    // A model of several layouts talks in each in turn.
    const auto& names = conv.drawable_layouts();
    const CompositeLayout& l = composite_layout(names[static_cast<size_t>(c) % names.size()], "chat");
    for (const auto& msg : random_script(l.rows, l.cols, turns_each, rng)) {
      conv.say(msg);
      const auto& turns = conv.turns();
      tally_turn(turns.size() > 1 ? turns[turns.size() - 2] : Turn{}, turns.back(), judge, t);
    }
    m.turns += turns_each;
    progress.update(c + 1);
  }
  m.conversations = conversations;
  m.images = static_cast<int64_t>(t.images);
  m.one_garment_edits = t.edits;
  m.kept_drift_max = t.drift_max;
  m.kept_drift_mean = t.edits ? t.drift_sum / static_cast<double>(t.edits) : 0;
  m.cell_accuracy = t.cells ? t.cells_right / t.cells : 0;
  m.image_accuracy = t.images ? t.images_right / t.images : 0;
  return m;
}

}  // namespace rflow::chat

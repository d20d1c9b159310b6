#include "rflow/pipeline/chat/conversation.h"

#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/fashion_composites.h"

namespace rflow::chat {

ChatOptions::ChatOptions() {
  solve.steps = 20;
  field.guidance = 2.0;
}

void ChatOptions::validate(const std::string& where) const {
  rewriters().get(rewriter, where + ".rewriter");
  solve.validate(where);
  field.validate(where);
  // Held cells follow the straight path from noise (t = 0) to their pixels (t = 1).
  RF_CHECK(!hold || (solve.t0 == 0.0 && solve.t1 == 1.0 && solve.grid.empty()), "holding garments needs the whole solve from t = 0 to 1",
           where + ".hold", "drop --t0 / --t1 / --grid, or pass --hold false");
}

Conversation::Conversation(LoadedModel& model, ChatOptions opt) : model_(model), opt_(std::move(opt)) {
  opt_.validate("chat");
  rewriter_ = rewriters().get(opt_.rewriter)();
  const auto* comp = dynamic_cast<const FashionComposites*>(&model_.data->target());
  RF_CHECK(comp != nullptr && model_.data->target().context_len() > 0,
           "rflow chat needs a text-to-image run on captioned composites; this one draws " +
               model_.data->target().describe(),
           model_.checkpoint, "train one first: rflow run configs/t2i_fmnist.toml");
  for (const auto& l : comp->layouts()) layouts_.push_back(l.name);
  history_.push_back({Scene{}, at::Tensor()});
}

Conversation::~Conversation() = default;

std::string Conversation::drawable_text() const {
  std::string s;
  for (size_t i = 0; i < layouts_.size(); ++i)
    s += (i == 0 ? "" : i + 1 == layouts_.size() ? " and " : ", ") + layouts_[i];
  return s;
}

at::Tensor Conversation::garment_noise(int64_t id) const {
  // One generator per garment: its noise depends on nothing but the seed and its identity.
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(opt_.seed) * 1000003ULL + static_cast<uint64_t>(id));
  return torch::randn({1, 28, 28}, gen, torch::kFloat32);
}

// Noise from each garment's identity; cells whose garment (same identity and class) was shown
// before are held: their velocity is the straight path's, (previous pixels − noise), so every solver
// lands them on the previous pixels while the model draws the rest in their company.
at::Tensor Conversation::render(const Scene& s, const Shown& before, std::vector<bool>& redrawn) const {
  const int64_t R = s.rows, C = s.cols;
  at::Tensor x0 = torch::zeros({1, 1, 28 * R, 28 * C}), target = torch::zeros_like(x0), mask = torch::zeros_like(x0);
  redrawn.assign(s.cells.size(), true);
  for (int64_t i = 0; i < R * C; ++i) {
    const Garment& g = s.cells[static_cast<size_t>(i)];
    const auto cell = [&](at::Tensor& t) { return t[0].narrow(1, 28 * (i / C), 28).narrow(2, 28 * (i % C), 28); };
    cell(x0).copy_(garment_noise(g.id));
    for (size_t j = 0; opt_.hold && j < before.scene.cells.size(); ++j) {
      if (!(before.scene.cells[j] == g)) continue;
      const int64_t bc = before.scene.cols, bj = static_cast<int64_t>(j);
      cell(target).copy_(before.image.narrow(1, 28 * (bj / bc), 28).narrow(2, 28 * (bj % bc), 28));
      cell(mask).fill_(1.0);
      redrawn[static_cast<size_t>(i)] = false;
    }
  }
  const auto dev = model_.model->parameters().empty() ? torch::Device(torch::kCPU) : model_.model->parameters().front().device();
  const Cond cond = model_.data->target().encode_prompts({s.caption()}).to(dev);
  FieldFn f = wrap_field(*model_.model, cond, opt_.field);
  if (mask.sum().item<double>() > 0) {
    const at::Tensor m = mask.to(dev), v_held = (target - x0).to(dev);
    const FieldFn inner = f;
    f = FieldFn::with_rows([inner, m, v_held](const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows) {
      return inner(x, t, rows) * (1 - m) + v_held * m;
    });
    f.with_variance([inner](const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows) { return inner.variance(x, t, rows); })
        .with_eta(inner.eta());
  }
  torch::NoGradGuard ng;
  return solve(f, x0.to(dev), opt_.solve).x.cpu()[0].clamp(-1, 1);
}

const Turn& Conversation::say(const std::string& message) {
  Turn turn;
  turn.message = message;
  Rewrite r = rewriter_->rewrite(scene(), message, next_id_);
  if (r.kind == Rewrite::Kind::kUndo) {
    turn.changed = history_.size() > 1;
    if (turn.changed) history_.pop_back();
    r.reply = !turn.changed ? "Nothing to undo." : scene().empty() ? "Back to the start." : "Back to: " + scene().caption() + ".";
  } else if (r.kind == Rewrite::Kind::kEdit && !r.scene.empty() &&
             std::count(layouts_.begin(), layouts_.end(), r.scene.layout()) == 0) {
    r.reply = "I cannot draw that: \"" + r.scene.caption() + "\" is a " + r.scene.layout() + " composite and this model draws " +
              drawable_text() + " ones.";
  } else if (r.kind == Rewrite::Kind::kEdit) {
    Shown shown{r.scene, at::Tensor()};
    if (!r.scene.empty()) shown.image = render(r.scene, history_.back(), turn.redrawn);
    turn.drawn = shown.image.defined();
    history_.push_back(std::move(shown));
    turn.changed = true;
  }
  turn.reply = r.reply;
  turn.scene = scene();
  turn.prompt = scene().caption();
  turn.image = history_.back().image;
  if (!turn.drawn) turn.redrawn.assign(turn.scene.cells.size(), false);
  turns_.push_back(std::move(turn));
  return turns_.back();
}

}  // namespace rflow::chat

// A multi-turn conversation with a text-to-image run (DialogGen's loop without a language model):
// each message goes through a Rewriter to the next scene, whose canonical prompt is drawn with the
// conversation's seed — every garment's noise comes from (seed, its identity), so a garment an edit
// did not touch starts from the same noise, and with `hold` its cells follow the straight path to
// its previous pixels while the others are drawn around it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/pipeline/chat/rewriter.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/solve/solver.h"

namespace rflow::chat {

struct ChatOptions {
  std::string rewriter = "rules";
  int64_t seed = 0;      // each garment's noise is drawn from (seed, its identity)
  bool hold = true;
  SolveOptions solve;    // steps default 20 (ChatOptions())
  FieldOptions field;    // guidance default 2

  ChatOptions();
  template <class V>
  void visit(V& v) {
    v("rewriter", rewriter, "what reads the messages: " + rewriters().joined());
    v("hold", hold, "garments an edit did not touch keep their pixels (false: only their noise is kept)");
  }
  void validate(const std::string& where) const;
};

struct Turn {
  std::string message, reply;
  Scene scene;                // after the turn
  std::string prompt;         // the scene's canonical prompt ("" for an empty scene)
  at::Tensor image;           // float [1, 28·rows, 28·cols] in [−1, 1]; undefined for an empty scene
  std::vector<bool> redrawn;  // per cell: drawn this turn (false: held from the previous image)
  bool changed = false;       // the scene (and image) changed this turn
  bool drawn = false;         // the image was drawn this turn (not an undo's earlier one)
};

class Conversation {
 public:
  // The model must be a text-conditioned run on captioned composites (checked here).
  Conversation(LoadedModel& model, ChatOptions opt);
  ~Conversation();
  const Turn& say(const std::string& message);
  const std::vector<Turn>& turns() const { return turns_; }
  const Scene& scene() const { return history_.back().scene; }
  // The layout names this model draws (those its data were made of), first the first.
  const std::vector<std::string>& drawable_layouts() const { return layouts_; }
  // The same in words: "row2", "single, row2 and col2".
  std::string drawable_text() const;

 private:
  struct Shown {
    Scene scene;
    at::Tensor image;
  };
  at::Tensor render(const Scene& s, const Shown& before, std::vector<bool>& redrawn) const;
  at::Tensor garment_noise(int64_t id) const;

  LoadedModel& model_;
  ChatOptions opt_;
  std::unique_ptr<Rewriter> rewriter_;
  std::vector<std::string> layouts_;
  int64_t next_id_ = 0;
  std::vector<Shown> history_;  // what was shown after each change, for undo; starts with the empty scene
  std::vector<Turn> turns_;
};

}  // namespace rflow::chat

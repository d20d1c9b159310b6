// The conversation's state machine behind an interface: a Rewriter reads the current scene and one
// user message and returns the next scene (or "undo", or nothing with a reply saying why). The shipped
// one follows rules (rule_rewriter.h); a language model can implement the same contract later and
// register beside it. Rewriters are deterministic: the same scene and message give the same answer.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "rflow/core/registry.h"
#include "rflow/pipeline/chat/scene.h"

namespace rflow::chat {

struct Rewrite {
  enum class Kind { kEdit, kUndo, kNothing };  // kNothing: not understood or not possible; the scene stays
  Kind kind = Kind::kNothing;
  Scene scene;        // kEdit: the next scene (may be empty: "start over")
  std::string reply;  // what the assistant answers
};

class Rewriter {
 public:
  virtual ~Rewriter() = default;
  // next_id is the conversation's identity counter: garments the message adds take ids from it.
  virtual Rewrite rewrite(const Scene& now, const std::string& message, int64_t& next_id) const = 0;
};

using RewriterFactory = std::function<std::unique_ptr<Rewriter>()>;
// Mutable: programs may register their own (a language model behind the same contract).
Registry<RewriterFactory>& rewriters();

}  // namespace rflow::chat

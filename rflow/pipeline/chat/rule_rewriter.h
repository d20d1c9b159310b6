// The deterministic rewriter: a small grammar of edits on the caption grammar's garments —
// "a bag left of a sneaker" (a new scene), "now put a coat on the right", "make the left one a
// sandal", "replace the bag with a coat", "remove the top one", "swap them", "undo", "start over".
// Positions are the layout's own words (left / middle / right, top / bottom, top left, ..., first,
// last) or a garment's name; anything ambiguous or impossible is answered, never guessed.
#pragma once

#include "rflow/pipeline/chat/rewriter.h"

namespace rflow::chat {

class RuleRewriter : public Rewriter {
 public:
  Rewrite rewrite(const Scene& now, const std::string& message, int64_t& next_id) const override;
};

// The message as the rules read it: lower case, punctuation other than '-' dropped, single spaces,
// leading fillers ("now", "please", "ok", "and", "can you", ...) removed.
std::string normalise_message(const std::string& message);

}  // namespace rflow::chat

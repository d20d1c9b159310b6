// Measuring a conversation loop without people: random scripts the rules understand (a caption of
// the model's layout, then edits — change a garment by its place or its name, swap, undo, start
// over), played through Conversation, and two numbers that say whether editing works: how far the
// cells an edit did not touch moved, and how often the independent judge reads each turn's cells as
// its canonical prompt names them.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rflow/pipeline/chat/conversation.h"

namespace rflow::chat {

// `turns` messages for a model that draws rows × cols composites; deterministic by rng.
std::vector<std::string> random_script(int64_t rows, int64_t cols, int64_t turns, std::mt19937_64& rng);

struct ChatMeasure {
  int64_t conversations = 0, turns = 0, images = 0;
  int64_t one_garment_edits = 0;   // turns that changed exactly one garment in place
  double kept_drift_max = 0;       // over those: largest |Δ| of the other cells' pixels, in 8-bit levels
  double kept_drift_mean = 0;      // ... mean over edits of each edit's mean |Δ|
  double cell_accuracy = 0;        // the judge's reading of every shown turn's cells vs its prompt
  double image_accuracy = 0;       // turns whose every cell the judge reads as asked
};

ChatMeasure measure_conversations(LoadedModel& model, const ChatOptions& opt, int64_t conversations,
                                  int64_t turns_each, uint64_t script_seed);

}  // namespace rflow::chat

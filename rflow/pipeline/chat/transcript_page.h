// A conversation as a page a person reads: every turn's message, the reply, the canonical prompt and
// the image drawn (large, pixelated), with which cells were drawn anew and which were kept. One
// self-contained HTML file, rewritten after every turn so a crash loses nothing said.
#pragma once

#include <string>
#include <vector>

#include "rflow/pipeline/chat/conversation.h"

namespace rflow::chat {

std::string transcript_html(const std::vector<Turn>& turns, const std::string& title);
// Atomic (temporary file + rename).
void save_transcript(const std::string& path, const std::vector<Turn>& turns, const std::string& title);

}  // namespace rflow::chat

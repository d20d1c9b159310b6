// `rflow chat RUN`: multi-turn refinement of a text-to-image run — messages from the terminal, a
// script file or --say; every turn's reply and prompt printed and the transcript page rewritten.
// --measure N plays N scripted conversations and prints how well editing holds (JSON).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "rflow/core/error.h"
#include "rflow/pipeline/chat/scripted_conversations.h"
#include "rflow/pipeline/chat/transcript_page.h"
#include "tools/rflow/commands.h"
#include "tools/rflow/config_flags.h"

namespace rflow::cli {

namespace fs = std::filesystem;

namespace {

struct ChatArgs {
  std::string run, out = "chat.html", script, device = "cpu";
  std::vector<std::string> say;
  chat::ChatOptions opt;
  int64_t measure = 0, turns = 8;
  bool no_ema = false;
};

std::vector<std::string> read_script(const std::string& path) {
  std::ifstream in(path);
  RF_CHECK(in.good(), "cannot read the script", path, "one message per line; lines starting with # are skipped");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  RF_CHECK(!lines.empty(), "the script has no messages", path, "one message per line");
  return lines;
}

void measure(const ChatArgs& a, LoadedModel& m) {
  const chat::ChatMeasure r = chat::measure_conversations(m, a.opt, a.measure, a.turns, static_cast<uint64_t>(a.opt.seed));
  std::cout << nlohmann::json{{"conversations", r.conversations},
                              {"turns", r.turns},
                              {"images", r.images},
                              {"one_garment_edits", r.one_garment_edits},
                              {"kept_drift_max_levels", r.kept_drift_max},
                              {"kept_drift_mean_levels", r.kept_drift_mean},
                              {"cell_accuracy", r.cell_accuracy},
                              {"image_accuracy", r.image_accuracy},
                              {"hold", a.opt.hold},
                              {"steps", a.opt.solve.steps},
                              {"guidance", a.opt.field.guidance}}
                   .dump()
            << std::endl;
}

void converse(const ChatArgs& a, LoadedModel& m) {
  chat::Conversation conv(m, a.opt);
  const bool from_terminal = a.script.empty() && a.say.empty();
  std::vector<std::string> lines = a.say;
  if (!a.script.empty()) lines = read_script(a.script);
  const bool tty = from_terminal && isatty(0);
  if (tty) std::cout << "rflow chat: this model draws " << conv.drawable_text() << " composites. Try \"a bag left of a sneaker\"; ctrl-D ends.\n";
  const std::string title = "rflow chat — " + m.checkpoint;
  auto turn = [&](const std::string& msg) {
    const chat::Turn& t = conv.say(msg);
    std::cout << (tty ? "" : "you:   " + msg + "\n") << "rflow: " << t.reply << "\n";
    chat::save_transcript(a.out, conv.turns(), title);
  };
  if (from_terminal) {
    // At the terminal one failed turn (a full disk, out of memory) is said and the talk goes on.
    for (std::string line; (tty && std::cout << "you> " << std::flush), std::getline(std::cin, line);) {
      if (line.empty()) continue;
      try {
        turn(line);
      } catch (const std::exception& e) {
        if (!tty) throw;
        std::cout << "rflow: that turn failed: " << e.what() << "\n";
      }
    }
  } else {
    for (const auto& l : lines) turn(l);
  }
  std::cout << "transcript: " << a.out << " (" << conv.turns().size() << " turns)" << std::endl;
}

}  // namespace

void add_chat(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "edit a text-to-image run's picture turn by turn in words (multi-turn refinement)");
  cmd->footer("\nExamples:\n  rflow chat runs/t2i_fmnist                      (type: a bag left of a sneaker / make the left one a sandal / swap them / undo)\n"
              "  rflow chat runs/t2i_fmnist --say \"a coat left of a bag\" --say \"make the right one a sneaker\" -o chat.html\n"
              "  rflow chat runs/t2i_fmnist --measure 100       (scripted conversations: drift of kept cells, judge accuracy)");
  auto a = std::make_shared<ChatArgs>();
  cmd->add_option("run", a->run, "a text-to-image run directory (or checkpoint)")->required();
  cmd->add_option("-o,--out", a->out, "the transcript page (HTML, rewritten after every turn)")->capture_default_str();
  cmd->add_option("--say", a->say, "a message (repeatable; instead of the terminal)");
  cmd->add_option("--script", a->script, "a file of messages, one per line (# comments)");
  cmd->add_option("--measure", a->measure, "play this many scripted conversations and print the measurements (JSON)");
  cmd->add_option("--turns", a->turns, "--measure: messages per conversation")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu | cuda[:N]")->capture_default_str();
  cmd->add_flag("--no-ema", a->no_ema, "use the raw weights instead of the EMA");
  add_seed_flag(*cmd, a->opt.seed, "the conversation (each garment's noise)");
  add_flags_for(*cmd, a->opt, "Chat");
  add_flags_for(*cmd, a->opt.solve, "Solver");
  add_flags_for(*cmd, a->opt.field, "Solver");
  cmd->callback([a] {
    RF_CHECK(a->measure >= 0 && a->turns >= 1, "--measure must be >= 0 and --turns >= 1", "rflow chat", "");
    RF_CHECK(a->measure == 0 || (a->say.empty() && a->script.empty()), "--measure plays its own scripts",
             "rflow chat", "drop --say / --script, or --measure");
    const fs::path out_dir = fs::path(a->out).parent_path();
    RF_CHECK(a->measure > 0 || out_dir.empty() || fs::is_directory(out_dir), "no such folder for the transcript",
             a->out, "create it first, or pass -o in an existing folder");
    a->opt.solve = solve_from_flags(a->opt.solve);
    a->opt.validate("rflow chat");
    RunConfig dev_cfg;
    dev_cfg.device = a->device;
    LoadedModel m = load_model(a->run, !a->no_ema, setup_device(dev_cfg));
    if (a->measure > 0) measure(*a, m);
    else converse(*a, m);
  });
}

}  // namespace rflow::cli

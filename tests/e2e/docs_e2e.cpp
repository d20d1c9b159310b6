// The commands in README.md and docs/ stay true: every `rflow` command they show names a real
// command, options that command has and config keys that exist; the quick blocks (the line before
// the fence reads "*Quick: about N s on two cores.*") run as written (shell blocks, and Python
// blocks as notebook cells) within a small multiple of the time they state; docs/config.md is what
// `rflow list --config-reference` prints.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

struct Doc {
  std::string name, text;
};

std::vector<Doc> docs() {
  std::vector<Doc> out{{"README.md", rflow::test::read_text(std::string(RFLOW_SOURCE_DIR) + "/README.md")}};
  for (const auto& e : fs::directory_iterator(std::string(RFLOW_SOURCE_DIR) + "/docs"))
    if (e.path().extension() == ".md") out.push_back({"docs/" + e.path().filename().string(), rflow::test::read_text(e.path().string())});
  return out;
}

struct Block {
  std::string doc, text;
  bool quick = false;
  std::string lang;  // sh | python
  double seconds = 0;  // what a quick block says it takes on two cores
};

// The time a quick block states, from the line before its fence; -1 when the line is no such note.
// A note that names no time (or "<!-- quick -->", the old marker) is a failure of its own.
double stated_seconds(const std::string& line) {
  static const std::regex note(R"(^\*Quick: about (\d+) s on two cores\.\*$)");
  std::smatch m;
  if (std::regex_match(line, m, note)) return std::stod(m[1]);
  return -1;
}

// Fenced ```sh (and, with python = true, ```python) blocks in order; quick when the line before
// the fence states its time ("*Quick: about 20 s on two cores.*").
std::vector<Block> blocks(const Doc& d, bool python) {
  std::vector<Block> out;
  std::istringstream in(d.text);
  std::string line, previous;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    if (open) {
      if (line.rfind("```", 0) == 0) open = nullptr;
      else open->text += line + "\n";
    } else if (line == "```sh" || (python && line == "```python")) {
      const double seconds = stated_seconds(previous);
      EXPECT_FALSE(previous.find("quick") != std::string::npos && seconds < 0)
          << d.name << ": a quick block states its time as \"*Quick: about N s on two cores.*\", not \"" << previous << "\"";
      out.push_back({d.name, "", seconds >= 0, line.substr(3), seconds});
      open = &out.back();
    }
    previous = line;
  }
  return out;
}
std::vector<Block> sh_blocks(const Doc& d) { return blocks(d, false); }

// Shell-like words of one command line (quotes kept together, a trailing # comment dropped).
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
      else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '#' && (i == 0 || line[i - 1] == ' ')) {
      break;
    } else if (c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(cur), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Every `rflow ...` command shown: lines of sh blocks and inline `...` spans.
std::vector<std::pair<std::string, std::string>> commands() {
  std::vector<std::pair<std::string, std::string>> out;
  const std::regex inline_cmd("`((?:build/)?rflow [^`\\n]+)`");
  for (const auto& d : docs()) {
    for (const auto& b : sh_blocks(d)) {
      std::istringstream in(b.text);
      for (std::string line; std::getline(in, line);)
        if (line.rfind("build/rflow ", 0) == 0) out.emplace_back(d.name, line);
    }
    for (std::sregex_iterator it(d.text.begin(), d.text.end(), inline_cmd), end; it != end; ++it)
      out.emplace_back(d.name, (*it)[1].str());
  }
  return out;
}

std::string cli() { return RFLOW_CLI; }

}  // namespace

TEST(Docs, EveryCommandShownUsesRealCommandsOptionsAndKeys) {
  const auto keys = rflow::test::shell(cli() + " run --list-keys").out;
  const auto search_keys = rflow::test::shell(cli() + " auto keys").out;  // what `rflow auto --set` takes
  const auto text_keys = rflow::test::shell(cli() + " text train --list-keys").out;  // `rflow text train --set`
  const auto vl_keys = rflow::test::shell(cli() + " vl train --list-keys").out;      // `rflow vl train --set`
  std::map<std::string, std::string> help;  // "sample" / "fidnet score" → its --help text
  auto help_of = [&](const std::string& path) -> const std::string& {
    auto it = help.find(path);
    if (it == help.end()) {
      const auto r = rflow::test::shell(cli() + " " + path + " --help");
      it = help.emplace(path, r.code == 0 ? r.out : std::string()).first;
    }
    return it->second;
  };
  const auto cmds = commands();
  ASSERT_GT(cmds.size(), 30u);
  for (const auto& [doc, line] : cmds) {
    auto w = words(line);
    if (w.size() < 2) continue;
    std::string path = w[1];
    size_t first_arg = 2;
    if (path.rfind("-", 0) == 0) {  // rflow --version
      EXPECT_EQ(rflow::test::shell(cli() + " " + path).code, 0) << doc << ": " << line;
      continue;
    }
    // A command with subcommands (policy, tokenizer, ...) is followed by one.
    if (help_of(path).find("SUBCOMMAND") != std::string::npos && w.size() > 2 && w[2][0] != '-')
      path += " " + w[2], first_arg = 3;
    const std::string& h = help_of(path);
    ASSERT_NE(h.find("Usage:"), std::string::npos) << doc << ": `" << line << "`: no command '" << path << "': " << h;
    for (size_t i = first_arg; i < w.size(); ++i) {
      const std::string& a = w[i];
      if (a.rfind("--", 0) == 0 || (a.size() == 2 && a[0] == '-')) {
        const std::string flag = a.substr(0, a.find('='));
        EXPECT_NE(h.find(flag), std::string::npos) << doc << ": `" << line << "`: '" << path << "' has no " << flag;
      }
      if ((a == "--set" || a == "-s") && i + 1 < w.size()) {
        const std::string key = w[i + 1].substr(0, w[i + 1].find('='));
        const std::string& known = path.rfind("auto", 0) == 0   ? search_keys
                                   : path.rfind("text", 0) == 0 ? text_keys
                                   : path.rfind("vl", 0) == 0   ? vl_keys
                                                                : keys;
        EXPECT_NE(known.find("  " + key + " "), std::string::npos) << doc << ": `" << line << "`: no config key " << key;
      }
    }
  }
}

// A quick block's time holds on a 2-core machine: within 3× its stated time plus 5 s of start-up,
// which leaves room for a slower CPU or a test beside it, not for a block that grew tenfold.
void expect_time_holds(const std::string& what, double measured, double stated) {
  std::cout << "quick block " << what << ": " << measured << " s (stated about " << stated << " s)\n";
  EXPECT_LE(measured, 3 * stated + 5) << what << " took " << measured << " s; its doc says about " << stated
                                      << " s: measure it again and say so";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Quick ```python blocks are notebook cells: a doc's consecutive cells run as one Python session
// (the package from the source tree on the path), before the next quick sh block and at the end;
// each cell times itself.
TEST(Docs, QuickBlocksRunAsWrittenInTheTimeTheyState) {
  // A fresh folder laid out like the repository root: build/rflow and configs/.
  rflow::test::TempDir dir;
  fs::create_directories(dir.path() / "build");
  fs::create_symlink(cli(), dir.path() / "build" / "rflow");
  fs::create_directory_symlink(std::string(RFLOW_SOURCE_DIR) + "/configs", dir.path() / "configs");
  const bool python = rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch'").code == 0;
  if (!python && rflow::test::on_ci()) ADD_FAILURE() << "missing under CI=true: python3 with numpy and torch";
  int quick = 0, cells = 0;
  for (const auto& d : docs()) {
    std::string notebook;
    std::vector<double> stated;  // per cell of the notebook
    auto run_notebook = [&] {
      if (notebook.empty() || !python) return notebook.clear(), stated.clear();
      rflow::test::write_text(dir.file("notebook.py"), notebook);
      const auto r = rflow::test::shell("cd '" + dir.path().string() + "' && OMP_NUM_THREADS=1 PYTHONPATH='" +
                                        RFLOW_SOURCE_DIR + "/python' /usr/bin/python3 notebook.py");
      EXPECT_EQ(r.code, 0) << d.name << ":\n" << notebook << "\n--- output ---\n" << r.out;
      std::istringstream lines(r.out);
      std::size_t cell = 0;
      for (std::string line; std::getline(lines, line);)
        if (line.rfind("RFLOW_CELL_SECONDS ", 0) == 0 && cell < stated.size())
          expect_time_holds(d.name + " python cell " + std::to_string(cell + 1), std::stod(line.substr(19)), stated[cell]), ++cell;
      if (r.code == 0) EXPECT_EQ(cell, stated.size()) << r.out;
      notebook.clear(), stated.clear();
    };
    int block = 0;
    for (const auto& b : blocks(d, true)) {
      if (!b.quick) continue;
      ++quick;
      if (b.lang == "python") {
        notebook += "_rflow_t0 = __import__('time').perf_counter()\n" + b.text +
                    "print('RFLOW_CELL_SECONDS', __import__('time').perf_counter() - _rflow_t0, flush=True)\n";
        stated.push_back(b.seconds);
        ++cells;
        continue;
      }
      run_notebook();
      rflow::test::write_text(dir.file("block.sh"), "set -euo pipefail\nexport OMP_NUM_THREADS=1\n" + b.text);
      const auto t0 = std::chrono::steady_clock::now();
      const auto r = rflow::test::shell("cd '" + dir.path().string() + "' && bash block.sh");
      EXPECT_EQ(r.code, 0) << b.doc << ":\n" << b.text << "\n--- output ---\n" << r.out;
      expect_time_holds(d.name + " shell block " + std::to_string(++block), seconds_since(t0), b.seconds);
    }
    run_notebook();
  }
  EXPECT_GE(quick, 3);
  EXPECT_GE(cells, 3);
}

TEST(Docs, TheConfigReferenceIsWhatTheCodeDeclares) {
  const auto r = rflow::test::shell(cli() + " list --config-reference");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(rflow::test::read_text(std::string(RFLOW_SOURCE_DIR) + "/docs/config.md"), r.out)
      << "regenerate it: build/rflow list --config-reference > docs/config.md";
}

#include "rflow/pipeline/chat/rule_rewriter.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <utility>

#include "rflow/core/error.h"
#include "rflow/data/fashion_composites.h"

namespace rflow::chat {

namespace {

using Words = std::vector<std::string>;

Words words_of(const std::string& s) {
  Words out;
  std::string w;
  for (char ch : s + " ") {
    if (ch == ' ') {
      if (!w.empty()) out.push_back(w);
      w.clear();
    } else {
      w += ch;
    }
  }
  return out;
}

std::string joined(const Words& w, size_t a, size_t b) {
  std::string s;
  for (size_t i = a; i < b && i < w.size(); ++i) s += (s.empty() ? "" : " ") + w[i];
  return s;
}

// `s` begins with the words of `p` (whole words); the rest after them, or nullopt.
std::optional<std::string> after_prefix(const std::string& s, const std::string& p) {
  if (s == p) return std::string();
  if (s.size() > p.size() && s.compare(0, p.size(), p) == 0 && s[p.size()] == ' ') return s.substr(p.size() + 1);
  return std::nullopt;
}

// The first of `prefixes` that `s` begins with, and the rest.
std::optional<std::string> after_any(const std::string& s, const Words& prefixes) {
  for (const auto& p : prefixes)
    if (auto rest = after_prefix(s, p)) return rest;
  return std::nullopt;
}

// A garment's name (no article), with the everyday names people use for Fashion-MNIST's classes.
std::optional<int64_t> garment_named(const std::string& name) {
  static const std::map<std::string, int64_t> extra{
      {"tshirt", 0}, {"t shirt", 0}, {"tee", 0},   {"trousers", 1}, {"pants", 1},  {"jumper", 2},
      {"sweater", 2}, {"jacket", 4}, {"boot", 9},  {"sandals", 5},  {"sneakers", 7}, {"handbag", 8}, {"purse", 8}};
  const auto& names = garment_names();
  for (size_t c = 0; c < names.size(); ++c)
    if (name == names[c]) return static_cast<int64_t>(c);
  if (auto it = extra.find(name); it != extra.end()) return it->second;
  if (const size_t dash = name.find('-'); dash != std::string::npos)  // "ankle-boot"
    return garment_named(name.substr(0, dash) + " " + name.substr(dash + 1));
  return std::nullopt;
}

// "a bag", "an ankle boot", "another coat" → class; the article is required.
std::optional<int64_t> garment_phrase(const std::string& phrase) {
  const auto rest = after_any(phrase, {"a", "an", "another"});
  return rest ? garment_named(*rest) : std::nullopt;
}

// "a bag and a coat" → classes, in order.
std::optional<std::vector<int64_t>> garment_list(const std::string& phrase) {
  std::vector<int64_t> out;
  std::string s = phrase;
  for (size_t at; (at = s.find(" and ")) != std::string::npos; s = s.substr(at + 5)) {
    const auto g = garment_phrase(s.substr(0, at));
    if (!g) return std::nullopt;
    out.push_back(*g);
  }
  const auto g = garment_phrase(s);
  if (!g) return std::nullopt;
  out.push_back(*g);
  return out;
}

std::string scene_text(const Scene& s) { return s.empty() ? "nothing yet" : s.caption(); }

Rewrite edit(Scene s, const std::string& what) {
  Rewrite r;
  r.kind = Rewrite::Kind::kEdit;
  r.reply = what + (s.empty() ? "" : ": " + s.caption() + ".");
  r.scene = std::move(s);
  return r;
}

Rewrite nothing(const std::string& why) {
  Rewrite r;
  r.reply = why;
  return r;
}

}  // namespace

std::string normalise_message(const std::string& message) {
  std::string s, m = message;
  for (size_t at; (at = m.find("\xE2\x80\x99")) != std::string::npos;) m.replace(at, 3, "'");  // ’ typed by phones
  for (unsigned char ch : m) {
    if (std::isalnum(ch) || ch == '-' || ch == '\'') s += static_cast<char>(std::tolower(ch));
    else s += ' ';
  }
  std::string out = joined(words_of(s), 0, std::string::npos);
  static const Words fillers{"now", "please", "ok", "okay", "and", "then", "also", "so", "great", "thanks", "can you",
                             "could you", "would you", "let's", "lets", "i'd like you to"};
  for (bool again = true; again;) {
    again = false;
    for (const auto& f : fillers)
      if (auto rest = after_prefix(out, f); rest && !rest->empty()) out = *rest, again = true;
  }
  static const Words tails{"please", "thanks", "thank you", "instead", "too", "now", "for me"};
  for (bool again = true; again;) {
    again = false;
    for (const auto& t : tails)
      if (out.size() > t.size() + 1 && out.compare(out.size() - t.size() - 1, std::string::npos, " " + t) == 0)
        out.resize(out.size() - t.size() - 1), again = true;
  }
  return out;
}

// ---- positions: the words that name a cell in this scene's layout

namespace {

std::vector<std::string> line_words(int64_t i, int64_t n, bool across) {
  if (n == 1) return {};
  if (i == 0) return across ? Words{"left"} : Words{"top", "upper"};
  if (i == n - 1) return across ? Words{"right"} : Words{"bottom", "lower"};
  return {"middle", "center", "centre"};
}

// Every name of cell i; the first is the one replies use.
Words position_names(const Scene& s, int64_t i) {
  static const Words ordinal{"first", "second", "third", "fourth"};
  const int64_t n = static_cast<int64_t>(s.cells.size()), r = i / s.cols, c = i % s.cols;
  Words out;
  const Words across = line_words(c, s.cols, true), down = line_words(r, s.rows, false);
  for (const auto& v : down)
    for (const auto& h : across) out.push_back(v + " " + h);
  out.insert(out.end(), across.begin(), across.end());
  out.insert(out.end(), down.begin(), down.end());
  if (n == 1) out.insert(out.end(), {"only", "it", "this", "that"});
  out.push_back(ordinal[static_cast<size_t>(i)]);
  if (i == n - 1) out.push_back("last");
  return out;
}

// The cell a reference names ("the left one", "the bag", "the top left bag", "it"), or why not.
std::pair<int64_t, std::string> resolve(const Scene& s, std::string ref) {
  if (s.empty()) return {-1, "there is nothing to change yet: describe a picture first"};
  ref = after_any(ref, {"the"}).value_or(ref);
  // "the one on the left" → "left", "the bag on the left" → "left bag"
  if (const size_t on = ref.find(" on the "); on != std::string::npos) {
    const std::string what = ref.substr(0, on), where = ref.substr(on + 8);
    ref = what == "one" ? where : where + " " + what;
  }
  for (const char* tail : {" one", " ones", " garment", " piece", " item"})
    if (ref.size() > std::string(tail).size() && ref.compare(ref.size() - std::string(tail).size(), std::string::npos, tail) == 0)
      ref.resize(ref.size() - std::string(tail).size());
  std::vector<int64_t> hits;
  for (int64_t i = 0; i < static_cast<int64_t>(s.cells.size()); ++i) {
    const Words names = position_names(s, i);
    const auto cls = s.cells[static_cast<size_t>(i)].cls;
    bool hit = std::find(names.begin(), names.end(), ref) == names.end() ? garment_named(ref) == cls : true;
    for (const auto& p : names)  // "the left bag": a position and the garment there
      if (auto g = after_prefix(ref, p); g && !g->empty() && garment_named(*g) == cls) hit = true;
    if (hit) hits.push_back(i);
  }
  if (hits.size() == 1) return {hits[0], ""};
  std::string listed;
  for (int64_t i : hits)
    listed += (listed.empty() ? "the " : " or the ") + position_names(s, i).front() + " one";
  if (hits.empty())
    return {-1, "I do not see '" + ref + "' in " + s.caption() + "; name a garment there or its place (" +
                    position_names(s, 0).front() + ", ...)"};
  return {-1, "which " + ref + " do you mean: " + listed + "?"};
}

}  // namespace

// ---- edits

namespace {

Rewrite remove_cell(const Scene& now, const std::string& ref) {
  const auto [i, why] = resolve(now, ref);
  if (i < 0) return nothing(why);
  if (now.rows > 1 && now.cols > 1)
    return nothing("a 2×2 grid without one garment has no layout; replace it instead (\"make the " +
                   position_names(now, i).front() + " one a bag\") or start over");
  Scene s = now;
  s.cells.erase(s.cells.begin() + i);
  if (s.cells.empty()) s.rows = s.cols = 0;
  else if (s.rows == 1) --s.cols;
  else --s.rows;
  return edit(s, "Removed the " + garment_names()[static_cast<size_t>(now.cells[static_cast<size_t>(i)].cls)]);
}

Rewrite swap_cells(const Scene& now, const std::string& what) {
  std::pair<int64_t, std::string> a{-1, ""}, b{-1, ""};
  if ((what.empty() || what == "them" || what == "the two" || what == "them around" || what == "places") &&
      now.cells.size() == 2) {
    a.first = 0, b.first = 1;
  } else {
    size_t at = what.find(" and ");
    size_t len = 5;
    if (at == std::string::npos) at = what.find(" with "), len = 6;
    if (at == std::string::npos) return nothing("swap which two? e.g. \"swap the left and the right one\"");
    a = resolve(now, what.substr(0, at)), b = resolve(now, what.substr(at + len));
  }
  if (a.first < 0 || b.first < 0) return nothing(a.first < 0 ? a.second : b.second);
  if (a.first == b.first) return nothing("that is the same garment twice");
  Scene s = now;
  std::swap(s.cells[static_cast<size_t>(a.first)], s.cells[static_cast<size_t>(b.first)]);
  return edit(s, "Swapped");
}

// "the left one a sandal", "the bag to a coat", "the top one into an ankle boot": the reference and
// the new garment (the last article that starts a garment phrase splits them).
std::optional<std::pair<std::string, int64_t>> ref_and_target(const std::string& rest) {
  static const Words connectors{"should be", "becomes", "into", "with", "to", "by", "as", "be", "is"};
  const Words w = words_of(rest);
  for (size_t k = w.size(); k-- > 1;) {
    if (w[k] != "a" && w[k] != "an" && w[k] != "another") continue;
    const auto g = garment_phrase(joined(w, k, w.size()));
    if (!g) continue;
    std::string ref = joined(w, 0, k);
    for (bool again = true; again;) {  // "to be", "should be": connectors stack
      again = false;
      for (const auto& c : connectors)
        if (ref.size() > c.size() && ref.compare(ref.size() - c.size() - 1, std::string::npos, " " + c) == 0)
          ref.resize(ref.size() - c.size() - 1), again = true;
    }
    return std::make_pair(ref, *g);
  }
  return std::nullopt;
}

Rewrite change_cell(const Scene& now, const std::string& rest) {
  const auto rt = ref_and_target(rest);
  if (!rt) return nothing("change it into what? e.g. \"make the left one a sandal\"");
  const auto [i, why] = resolve(now, rt->first);
  if (i < 0) return nothing(why);
  if (now.cells[static_cast<size_t>(i)].cls == rt->second)
    return nothing("the " + position_names(now, i).front() + " one is already " + garment_with_article(rt->second));
  Scene s = now;
  s.cells[static_cast<size_t>(i)].cls = rt->second;  // same identity: the same noise, redrawn as the new garment
  return edit(s, "Changed the " + position_names(now, i).front() + " one");
}

// Where an added garment goes: "right", "left", "above", "below", or "" (not said).
std::pair<std::string, std::string> split_place(const std::string& s) {
  static const std::vector<std::pair<std::string, std::string>> places{
      {"on the right side", "right"}, {"on the right", "right"}, {"to the right", "right"}, {"at the right", "right"},
      {"on the left side", "left"},   {"on the left", "left"},   {"to the left", "left"},   {"at the left", "left"},
      {"on top of it", "above"},      {"on top", "above"},       {"at the top", "above"},   {"above it", "above"},
      {"above", "above"},             {"over it", "above"},      {"at the bottom", "below"}, {"below it", "below"},
      {"below", "below"},             {"under it", "below"},     {"under", "below"},        {"underneath", "below"},
      {"beneath", "below"},           {"next to it", "right"},   {"beside it", "right"},
      {"right", "right"},             {"left", "left"}};
  for (const auto& [phrase, where] : places)
    if (s.size() > phrase.size() && s.compare(s.size() - phrase.size() - 1, std::string::npos, " " + phrase) == 0)
      return {s.substr(0, s.size() - phrase.size() - 1), where};
  return {s, ""};
}

Rewrite add_cells(const Scene& now, const std::string& rest, int64_t& next_id) {
  auto [what, where] = split_place(rest);
  const auto classes = garment_list(what);
  if (!classes)
    return nothing("add what, and where? e.g. \"put a bag on the right\" (places: on the right, on the left, above, "
                   "below; garments with their article)");
  const int64_t k = static_cast<int64_t>(classes->size());
  if (where.empty()) where = now.cols == 1 && now.rows > 1 ? "below" : "right";
  const bool across = where == "right" || where == "left";
  Scene s = now;
  if (now.empty()) s.rows = across ? 1 : k, s.cols = across ? k : 1;
  else if (across ? k != now.rows : k != now.cols)
    return nothing("a new " + std::string(across ? "column" : "row") + " beside this picture needs " +
                   std::to_string(across ? now.rows : now.cols) + " garment(s), one per " + (across ? "row" : "column"));
  else if (across) s.cols += 1;
  else s.rows += 1;
  if (!is_layout(s.rows, s.cols))
    return nothing("a composite holds at most three garments in a row or a column, or four in a 2×2 grid");
  s.cells.clear();
  const bool first = where == "left" || where == "above";
  for (int64_t r = 0, j = 0; r < s.rows; ++r)
    for (int64_t c = 0; c < s.cols; ++c) {
      const bool fresh = now.empty() || (across ? c == (first ? 0 : s.cols - 1) : r == (first ? 0 : s.rows - 1));
      if (fresh) s.cells.push_back({(*classes)[static_cast<size_t>(j++)], next_id++});
      else s.cells.push_back(now.at(across ? r : r - (first ? 1 : 0), across ? c - (first ? 1 : 0) : c));
    }
  return edit(s, "Added");
}

Rewrite new_scene(const std::string& text, int64_t& next_id) {
  int64_t id = next_id;
  Scene s = scene_of_caption(text, id);  // throws for text that is not a caption
  next_id = id;
  return edit(s, "Drawing");
}

bool is_caption(const std::string& text) {
  try {
    parse_caption(text);
    return true;
  } catch (const Error&) {
    return false;
  }
}

Rewrite not_understood(const std::string& msg, const std::string& detail) {
  return nothing("I did not understand \"" + msg + "\"" + (detail.empty() ? "" : " (" + detail + ")") +
                 ". Try: \"a bag left of a sneaker\", \"put a coat on the right\", \"make the left one a sandal\", "
                 "\"remove the bag\", \"swap them\", \"undo\", \"start over\".");
}

}  // namespace

Rewrite RuleRewriter::rewrite(const Scene& now, const std::string& message, int64_t& next_id) const {
  const std::string m = normalise_message(message);
  if (m.empty()) return nothing("say what to draw, e.g. \"a bag left of a sneaker\"");
  static const Words reset{"start over", "start again", "restart", "reset", "clear", "clear it", "begin again", "new picture"};
  if (std::find(reset.begin(), reset.end(), m) != reset.end()) return edit(Scene{}, "Starting over: what shall I draw?");
  if (m == "undo" || m == "undo that" || m == "go back" || m == "back") {
    Rewrite r;
    r.kind = Rewrite::Kind::kUndo;
    return r;
  }
  if (auto rest = after_any(m, {"swap", "switch", "exchange"})) return swap_cells(now, *rest);
  if (auto rest = after_any(m, {"remove", "delete", "take away", "drop", "get rid of"})) return remove_cell(now, *rest);
  if (auto rest = after_any(m, {"make"}); rest && is_caption(*rest)) return new_scene(*rest, next_id);
  if (auto rest = after_any(m, {"make", "change", "replace", "turn"})) return change_cell(now, *rest);
  if (auto rest = after_any(m, {"put", "add", "place", "insert"})) return add_cells(now, *rest, next_id);
  const std::string text = after_any(m, {"draw", "show me", "show", "paint", "i want", "give me", "how about"}).value_or(m);
  try {
    return new_scene(text, next_id);
  } catch (const Error& e) {
    const bool looked_like_caption = text.find(" left of ") != std::string::npos || text.find(" above ") != std::string::npos;
    return not_understood(message, looked_like_caption ? e.message() : "");
  }
}

Registry<RewriterFactory>& rewriters() {
  static Registry<RewriterFactory> reg("rewriter");
  if (!reg.contains("rules"))
    reg.add("rules", "deterministic rules over the caption grammar (add, change, remove, swap, undo, start over)",
            [] { return std::unique_ptr<Rewriter>(std::make_unique<RuleRewriter>()); });
  return reg;
}

}  // namespace rflow::chat

#include "rflow/language/text_eval.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/sentence_latents.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/npy.h"
#include "rflow/language/judge_lm.h"
#include "rflow/language/text_model.h"
#include "rflow/text/corpus.h"
#include "rflow/text/grammar_corpus.h"

namespace rflow {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct EvalContext {
  TextModel& m;
  bool grammar;
  text::Corpus train, test;
  std::set<std::string> train_set;
  std::unique_ptr<JudgeLm> judge;  // free text only
  int64_t n;
};

std::vector<std::string> first_n(const std::vector<std::string>& v, int64_t n) {
  return {v.begin(), v.begin() + std::min<int64_t>(n, int64_t(v.size()))};
}

// Token-level agreement of decoded and original sentences (word positions).
double word_accuracy(const std::string& ref, const std::string& out) {
  std::istringstream a(ref), b(out);
  std::vector<std::string> x, y;
  for (std::string w; a >> w;) x.push_back(w);
  for (std::string w; b >> w;) y.push_back(w);
  size_t same = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) same += x[i] == y[i];
  return double(same) / double(std::max<size_t>(1, std::max(x.size(), y.size())));
}

json eval_autoencoder(EvalContext& c) {
  const auto texts = first_n(c.test.texts, c.n);
  const at::Tensor z = c.m.encode(texts, "test split");
  const auto out = c.m.decode(z);
  double exact = 0, words = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string ref = c.m.tokenizer().normalise(texts[i]);
    exact += out[i] == ref, words += word_accuracy(ref, out[i]);
  }
  const at::Tensor var = z.var(0);
  json j{{"sentences", texts.size()}, {"exact_match", exact / texts.size()}, {"word_accuracy", words / texts.size()},
         {"latent_dim", z.size(1)}, {"active_units", (var > 0.01).sum().item<int64_t>()},
         {"latent_mean_norm", z.norm(2, 1).mean().item<double>()}, {"latent_std", z.std().item<double>()}};
  std::vector<json> ex;
  for (size_t i = 0; i < std::min<size_t>(6, texts.size()); ++i) ex.push_back({{"source", texts[i]}, {"decoded", out[i]}});
  j["examples"] = ex;
  return j;
}

// Scores of generated sentences that asked for `want` (one label per attribute; −1 = any).
void score_generated(const EvalContext& c, const std::vector<std::string>& out, const std::vector<int64_t>& want,
                     json& acc) {
  for (const auto& s : out) {
    acc["n"] = acc.value("n", 0) + 1;
    acc["novel"] = acc.value("novel", 0) + int(!c.train_set.count(s));
    if (!c.grammar) continue;
    const auto p = text::parse_grammar_sentence(s);
    if (!p) continue;
    acc["parsed"] = acc.value("parsed", 0) + 1;
    const auto labels = p->labels();
    bool all = true;
    for (size_t a = 0; a < want.size(); ++a) all = all && (want[a] < 0 || labels[a] == want[a]);
    acc["hit"] = acc.value("hit", 0) + int(all);
  }
}

// Each joint class of the control attributes in turn: its values, and its labels in the
// grammar's attribute order (−1 where not controlled).
std::vector<std::pair<std::vector<std::string>, std::vector<int64_t>>> control_classes(const TextModel& m) {
  std::vector<std::pair<std::vector<std::string>, std::vector<int64_t>>> out{{{}, std::vector<int64_t>(m.attributes().size(), -1)}};
  for (const auto& name : m.config().control) {
    const auto a = size_t(m.attribute_table().index(name, "control"));
    std::vector<std::pair<std::vector<std::string>, std::vector<int64_t>>> next;
    for (const auto& [vals, labels] : out)
      for (size_t v = 0; v < m.values()[a].size(); ++v) {
        auto nv = vals;
        nv.push_back(m.values()[a][v]);
        auto nl = labels;
        nl[a] = int64_t(v);
        next.push_back({nv, nl});
      }
    out = next;
  }
  return out;
}

json generate_row(EvalContext& c, const SolveSpec& s, json* examples) {
  c.m.load_flow("generate", s.model);
  const auto classes = control_classes(c.m);
  const int64_t per = std::max<int64_t>(1, c.n / int64_t(classes.size()));
  json acc = json::object();
  std::vector<std::string> all;
  double flow_s = 0, total_s = 0;
  for (size_t k = 0; k < classes.size(); ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    const at::Tensor z = c.m.sample_latents(per, classes[k].first, s, 1000 + k);
    flow_s += seconds_since(t0);
    const auto out = c.m.decode(z);
    total_s += seconds_since(t0);
    score_generated(c, out, classes[k].second, acc);
    all.insert(all.end(), out.begin(), out.end());
    if (examples) {
      std::string label;
      for (const auto& v : classes[k].first) label += (label.empty() ? "" : ", ") + v;
      (*examples)[label.empty() ? "any" : label] = first_n(out, 4);
    }
  }
  const double n = acc.value("n", 1);
  json row{{"model", s.model}, {"solver", s.solver}, {"nfe", s.solver == "euler" ? double(s.steps) : c.m.last_nfe()},
           {"guidance", s.model == "1rf" ? s.guidance : 1.0},
           {"novel", acc.value("novel", 0) / n}, {"distinct", double(std::set<std::string>(all.begin(), all.end()).size()) / n},
           {"sentences_per_s", n / total_s}, {"flow_seconds", flow_s}, {"seconds", total_s}};
  if (c.grammar) row.update({{"fluency", acc.value("parsed", 0) / n}, {"control_accuracy", acc.value("hit", 0) / n}});
  if (c.judge) row["perplexity"] = c.judge->perplexity(all);
  return row;
}

// The models of a flow's chain that the run made; a distilled student is a one-step map.
std::vector<std::string> chain_models(const TextModel& m, const std::string& flow) {
  std::vector<std::string> out;
  for (const char* k : {"1rf", "2rf", "3rf", "distill_1rf", "distill_2rf"})
    if (m.has_flow(flow, k)) out.push_back(k);
  return out;
}

std::vector<int64_t> nfe_of(const std::string& model, const std::vector<int64_t>& nfe) {
  return model.rfind("distill", 0) == 0 ? std::vector<int64_t>{1} : nfe;
}

json eval_generate(EvalContext& c) {
  json rows = json::array(), examples;
  const auto& e = c.m.config().eval;
  for (const auto& model : chain_models(c.m, "generate"))
    for (int64_t nfe : nfe_of(model, e.nfe)) {
      json* ex = (model == "2rf" && nfe == 1) || (model == "1rf" && nfe == e.nfe.back()) ? &examples[model + "@" + std::to_string(nfe)] : nullptr;
      rows.push_back(generate_row(c, SolveSpec{nfe, model, e.guidance}, ex));
      spdlog::info("eval generate: {}", rows.back().dump());
    }
  json baseline = generate_row(c, SolveSpec{e.baseline_steps, "1rf", e.guidance}, nullptr);
  baseline["baseline"] = "many-step";
  rows.push_back(baseline);
  json adaptive = generate_row(c, SolveSpec{1, "1rf", e.guidance, "dopri5"}, nullptr);
  adaptive["baseline"] = "adaptive";
  rows.push_back(adaptive);
  return {{"rows", rows}, {"examples", examples}};
}

// Test sentences to edit towards each value of the edited attribute: those with another value.
struct EditSet {
  std::string to;
  int64_t value = 0;
  std::vector<std::string> sources;
  std::vector<std::vector<int64_t>> labels;
  at::Tensor z;
};

std::vector<EditSet> edit_sets(EvalContext& c, int64_t a) {
  std::vector<EditSet> out;
  const auto& values = c.m.values()[size_t(a)];
  const int64_t per = std::max<int64_t>(1, c.n / int64_t(values.size()));
  for (size_t v = 0; v < values.size(); ++v) {
    EditSet e{values[v], int64_t(v)};
    for (size_t i = 0; i < c.test.texts.size() && int64_t(e.sources.size()) < per; ++i)
      if (c.test.labels[i][size_t(a)] >= 0 && c.test.labels[i][size_t(a)] != int64_t(v)) {
        e.sources.push_back(c.m.tokenizer().normalise(c.test.texts[i]));
        e.labels.push_back(c.test.labels[i]);
      }
    if (e.sources.empty()) continue;
    e.z = c.m.encode(e.sources, "test split");
    out.push_back(std::move(e));
  }
  return out;
}

using EditFn = std::function<at::Tensor(const EditSet&)>;

json transfer_row(EvalContext& c, std::vector<EditSet>& sets, int64_t a, const EditFn& fn, json* examples) {
  double n = 0, hit = 0, parsed = 0, others = 0, kept = 0, flow_s = 0, total_s = 0;
  const std::string attr = c.m.attributes()[size_t(a)];
  for (auto& e : sets) {
    const auto t0 = std::chrono::steady_clock::now();
    const at::Tensor z = fn(e);
    flow_s += seconds_since(t0);
    const auto out = c.m.decode(z);
    total_s += seconds_since(t0);
    for (size_t i = 0; i < out.size(); ++i, ++n) {
      if (examples && i < 4) examples->push_back({{"source", e.sources[i]}, {"to", e.to}, {"output", out[i]}});
      if (!c.grammar) continue;
      kept += text::content_kept(e.sources[i], out[i], attr);
      const auto p = text::parse_grammar_sentence(out[i]);
      if (!p) continue;
      ++parsed;
      auto labels = p->labels();
      hit += labels[size_t(a)] == e.value;
      labels[size_t(a)] = e.labels[i][size_t(a)];
      others += labels == e.labels[i];
    }
  }
  json row{{"sentences_per_s", n / total_s}, {"flow_seconds", flow_s}, {"seconds", total_s}, {"n", n}};
  if (c.grammar)
    row.update({{"accuracy", hit / n}, {"preservation", kept / n}, {"others_kept", others / n}, {"fluency", parsed / n}});
  return row;
}

// The autoencoder's own edit: add the difference of the two values' mean latents (train split).
EditFn offset_edit(const std::string& dir, int64_t a) {
  const at::Tensor z = io::read_npy(SentenceLatentFiles::latents(dir, "train")).to(torch::kFloat32);
  const at::Tensor col = io::read_npy(SentenceLatentFiles::labels(dir, "train")).to(torch::kInt64).select(1, a);
  return [z, col](const EditSet& e) {
    const at::Tensor to = z.index({col == e.value}).mean(0), from = z.index({(col != e.value) & (col >= 0)}).mean(0);
    return e.z + (to - from);
  };
}

json eval_transfer(EvalContext& c) {
  const auto& cfg = c.m.config();
  const int64_t a = c.m.attribute_table().index(cfg.edit, "edit");
  auto sets = edit_sets(c, a);
  json rows = json::array(), examples;
  const auto add = [&](json row, json extra, json* ex) {
    row.update(extra);
    spdlog::info("eval transfer: {}", row.dump());
    rows.push_back(row);
  };
  add(transfer_row(c, sets, a, [](const EditSet& e) { return e.z; }, nullptr), {{"baseline", "no edit"}, {"nfe", 0}}, nullptr);
  add(transfer_row(c, sets, a, offset_edit(c.m.run_dir(), a), &examples["offset"]), {{"baseline", "latent offset"}, {"nfe", 0}}, nullptr);
  const std::string probe = edit_flow_name(sets.empty() ? "" : sets.front().to);
  for (const auto& model : chain_models(c.m, probe))
    for (int64_t nfe : nfe_of(model, cfg.eval.nfe)) {
      const SolveSpec s{nfe, model};
      for (const auto& e : sets) c.m.load_flow(edit_flow_name(e.to), model);
      json* ex = nfe == 1 || nfe == cfg.eval.nfe.back() ? &examples[model + "@" + std::to_string(nfe)] : nullptr;
      add(transfer_row(c, sets, a, [&](const EditSet& e) { return c.m.edit_latents(e.z, e.to, s); }, ex),
          {{"model", model}, {"nfe", nfe}}, nullptr);
    }
  const SolveSpec many{cfg.eval.baseline_steps, "1rf"};
  add(transfer_row(c, sets, a, [&](const EditSet& e) { return c.m.edit_latents(e.z, e.to, many); }, nullptr),
      {{"baseline", "many-step"}, {"model", "1rf"}, {"nfe", many.steps}}, nullptr);
  const SolveSpec adaptive{1, "1rf", 1.0, "dopri5"};
  json row = transfer_row(c, sets, a, [&](const EditSet& e) { return c.m.edit_latents(e.z, e.to, adaptive); }, nullptr);
  add(row, {{"baseline", "adaptive"}, {"model", "1rf"}, {"solver", "dopri5"}, {"nfe", c.m.last_nfe()}}, nullptr);
  return {{"attribute", cfg.edit}, {"rows", rows}, {"examples", examples}};
}

// One-step edits against the many-step sampler: end to end (encode, flow, decode) and flow alone.
json speed_of(const json& transfer) {
  json fast, slow;
  for (const auto& r : transfer.at("rows")) {
    if (r.value("model", "") == "2rf" && r.value("nfe", 0) == 1) fast = r;
    if (r.value("baseline", "") == "many-step") slow = r;
  }
  if (fast.is_null() || slow.is_null()) return {};
  return {{"one_step_sentences_per_s", fast["sentences_per_s"]}, {"many_step_sentences_per_s", slow["sentences_per_s"]},
          {"many_step_nfe", slow["nfe"]},
          {"speedup_end_to_end", fast["sentences_per_s"].get<double>() / slow["sentences_per_s"].get<double>()},
          {"speedup_flow", slow["flow_seconds"].get<double>() / std::max(1e-9, fast["flow_seconds"].get<double>())}};
}

}  // namespace

std::string text_eval_file(const std::string& run_dir) { return (fs::path(run_dir) / "eval.json").string(); }

}  // namespace rflow

namespace rflow {

std::string evaluate_text_run(const std::string& run_dir) {
  TextModel m(run_dir);
  const auto& cfg = m.config();
  const bool grammar = text::corpora().get(cfg.corpus.name, "corpus.name").grammar;
  EvalContext c{m, grammar, text::load_corpus(cfg.corpus, "train"), text::load_corpus(cfg.corpus, "test"), {}, nullptr, cfg.eval.n};
  // Held-out sentences with words the train split never had cannot be encoded: they are left out, and counted.
  text::Corpus known = c.test;
  known.texts.clear(), known.labels.clear();
  for (size_t i = 0; i < c.test.texts.size(); ++i)
    if (m.known(c.test.texts[i])) known.texts.push_back(c.test.texts[i]), known.labels.push_back(c.test.labels[i]);
  const size_t unknown = c.test.texts.size() - known.texts.size();
  c.test = known;
  RF_CHECK(!c.test.texts.empty(), "the corpus's test split has no sentence the run can read", "corpus.test_fraction",
           "hold out some sentences (test_fraction > 0) whose words the train split has");
  for (const auto& t : c.train.texts) c.train_set.insert(m.tokenizer().normalise(t));
  json out{{"corpus", c.test.describe}, {"grammar", grammar}, {"test_sentences_with_unknown_words", unknown}};
  out["autoencoder"] = eval_autoencoder(c);
  if (!grammar && cfg.eval.lm_steps > 0) {
    // Kept beside the latents: made from the same tokenizer and train split, it is reused by every
    // eval of the run (and removed with them when the corpus or the tokenizer changes).
    const std::string judge_file = (fs::path(run_dir) / "latents" / ("judge_lm_" + std::to_string(cfg.eval.lm_steps) + ".safetensors")).string();
    c.judge = std::make_unique<JudgeLm>(m.tokenizer(), c.train.texts, cfg.autoencoder.max_len, cfg.eval.lm_steps, uint64_t(cfg.seed), judge_file);
    const auto real = first_n(c.test.texts, c.n);
    out["judge"] = {{"steps", cfg.eval.lm_steps}, {"best_step", c.judge->training().best_step},
                    {"perplexity_real_test", c.judge->perplexity(real)},
                    {"perplexity_real_train", c.judge->perplexity(first_n(c.train.texts, c.n))}};
  }
  if (m.has_flow("generate", "1rf")) out["generate"] = eval_generate(c);
  if (!cfg.edit.empty() && m.has_flow(edit_flow_name(m.values()[size_t(m.attribute_table().index(cfg.edit, "edit"))].front()), "1rf")) {
    out["transfer"] = eval_transfer(c);
    out["speed"] = speed_of(out["transfer"]);
  }
  const std::string file = text_eval_file(run_dir);
  io::write_file_atomic(file, out.dump(2) + "\n");
  return file;
}

}  // namespace rflow

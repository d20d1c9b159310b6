#include "rflow/data/sentence_latents.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/npy.h"

namespace rflow {

namespace fs = std::filesystem;

namespace {

std::string comma_list(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& x : list) out += (out.empty() ? "" : ", ") + x;
  return out;
}

class SentenceLatents : public Distribution {
 public:
  SentenceLatents(at::Tensor x, at::Tensor labels, int64_t classes, std::string desc)
      : x_(std::move(x)), labels_(std::move(labels)), classes_(classes), desc_(std::move(desc)) {}
  Draw draw(int64_t n, const at::Generator& rng) override {
    const at::Tensor rows = torch::randint(0, x_.size(0), {n}, rng, torch::kInt64);
    Draw d{x_.index_select(0, rows), {}};
    if (classes_ > 0) d.cond.labels = labels_.index_select(0, rows);
    return d;
  }
  std::vector<int64_t> sample_shape() const override { return {x_.size(1)}; }
  std::string describe() const override { return desc_; }
  int64_t num_classes() const override { return classes_; }

 private:
  at::Tensor x_, labels_;
  int64_t classes_;
  std::string desc_;
};

std::unique_ptr<Distribution> make_sentence_latents(const DistributionConfig& c, const std::string& where) {
  const auto& o = c.get<SentenceLatentsOptions>("sentence_latents");
  RF_CHECK(!c.path.empty(), "sentence_latents needs the text run's directory", where + ".path",
           "set " + where + ".path to a run made by `rflow text train`");
  const SentenceAttributes attrs = SentenceAttributes::read(c.path, "run `rflow text train` first: it encodes the corpus into latents/");
  at::Tensor x = io::read_npy(SentenceLatentFiles::latents(c.path, o.split)).to(torch::kFloat32);
  at::Tensor labels = io::read_npy(SentenceLatentFiles::labels(c.path, o.split)).to(torch::kInt64);
  RF_CHECK(x.dim() == 2 && labels.dim() == 2 && labels.size(0) == x.size(0) && labels.size(1) == int64_t(attrs.names.size()),
           "latents and labels of " + c.path + " do not match", where + ".path", "rerun the text run's latents stage");
  at::Tensor keep = torch::ones({x.size(0)}, torch::kBool);
  for (const auto& f : o.keep) {
    const bool eq = f.find("!=") == std::string::npos;
    const size_t at = eq ? f.find('=') : f.find("!=");
    const int64_t a = attrs.index(f.substr(0, at), where + ".sentence_latents.keep");
    const int64_t v = attrs.value_index(a, f.substr(at + (eq ? 1 : 2)), where + ".sentence_latents.keep");
    const at::Tensor col = labels.select(1, a);
    keep &= eq ? col == v : (col != v) & (col >= 0);
  }
  std::vector<int64_t> cols, counts;
  for (const auto& l : o.label) {
    cols.push_back(attrs.index(l, where + ".sentence_latents.label"));
    counts.push_back(int64_t(attrs.values[size_t(cols.back())].size()));
    keep &= labels.select(1, cols.back()) >= 0;  // unlabelled rows cannot train a conditional model
  }
  const at::Tensor rows = keep.nonzero().squeeze(1);
  RF_CHECK(rows.numel() > 0, "no latents of " + c.path + " pass the filters", where + ".sentence_latents.keep",
           "check the filters against the corpus's labels");
  x = x.index_select(0, rows).contiguous();
  labels = labels.index_select(0, rows);
  int64_t classes = cols.empty() ? 0 : 1;
  at::Tensor joint = torch::zeros({x.size(0)}, torch::kInt64);
  for (size_t i = 0; i < cols.size(); ++i) {
    joint = joint * counts[i] + labels.select(1, cols[i]);
    classes *= counts[i];
  }
  std::string filters;
  for (const auto& f : o.keep) filters += ", " + f;
  return std::make_unique<SentenceLatents>(x, joint.contiguous(), classes,
                                           "sentence_latents(" + c.path + ", " + o.split + filters + ", " +
                                               std::to_string(x.size(0)) + "×" + std::to_string(x.size(1)) + ")");
}

}  // namespace

void SentenceLatentsOptions::validate(const std::string& where) const {
  RF_CHECK(split == "train" || split == "test", "split must be train or test", where + ".split", "");
  for (const auto& f : keep)
    RF_CHECK(f.find('=') != std::string::npos && f.find('=') > 0 && f.back() != '=',
             "malformed filter '" + f + "'", where + ".keep", "write name=value or name!=value");
}

std::string SentenceLatentFiles::latents(const std::string& dir, const std::string& split) {
  return (fs::path(dir) / "latents" / (split + ".npy")).string();
}
std::string SentenceLatentFiles::labels(const std::string& dir, const std::string& split) {
  return (fs::path(dir) / "latents" / (split + "_labels.npy")).string();
}
std::string SentenceLatentFiles::attributes(const std::string& dir) {
  return (fs::path(dir) / "latents" / "attributes.json").string();
}

int64_t SentenceAttributes::index(const std::string& name, const std::string& where) const {
  const auto it = std::find(names.begin(), names.end(), name);
  RF_CHECK(it != names.end(), "the corpus has no attribute '" + name + "'", where,
           names.empty() ? "its sentences are unlabelled" : "its attributes: " + comma_list(names));
  return int64_t(it - names.begin());
}

int64_t SentenceAttributes::value_index(int64_t attribute, const std::string& value, const std::string& where) const {
  const auto& vs = values.at(size_t(attribute));
  const auto it = std::find(vs.begin(), vs.end(), value);
  RF_CHECK(it != vs.end(), names[size_t(attribute)] + " has no value '" + value + "'", where, "its values: " + comma_list(vs));
  return int64_t(it - vs.begin());
}

SentenceAttributes SentenceAttributes::read(const std::string& dir, const std::string& hint) {
  const std::string file = SentenceLatentFiles::attributes(dir);
  io::check_readable_file(file, hint);
  const auto meta = nlohmann::json::parse(io::read_file(file));
  return {meta.at("attributes").get<std::vector<std::string>>(), meta.at("values").get<std::vector<std::vector<std::string>>>()};
}

int64_t joint_label(const std::vector<int64_t>& values, const std::vector<int64_t>& counts) {
  int64_t j = 0;
  for (size_t i = 0; i < values.size(); ++i) j = j * counts[i] + values[i];
  return j;
}

DistributionEntry sentence_latents_entry() {
  return {"sentence_latents", [] { return AnyOptions::of<SentenceLatentsOptions>(); },
          [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string& where) -> std::unique_ptr<Distribution> {
            return make_sentence_latents(c, where);
          }};
}

}  // namespace rflow

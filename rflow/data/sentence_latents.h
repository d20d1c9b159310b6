// Sentences as points: the latents a sentence autoencoder gave a corpus (a text run's latents/
// folder), drawn row by row, so every flow of rflow — rectified flow, reflow, distillation, every
// solver — trains on text unchanged. Rows can be kept by attribute ("sentiment=positive",
// "sentiment!=positive": the two ends of an edit flow) and labelled by the joint value of some
// attributes (the classes of attribute-conditional generation).
#pragma once

#include <string>
#include <vector>

#include "rflow/data/distribution.h"

namespace rflow {

struct SentenceLatentsOptions {
  std::string split = "train";
  std::vector<std::string> label;  // attributes whose joint value is the class ([] = unlabelled)
  std::vector<std::string> keep;   // "name=value" / "name!=value" filters, all must hold

  template <class V>
  void visit(V& v) {
    v("split", split, "sentence_latents: train | test (the latents/<split>.npy of the text run at path)");
    v("label", label, "sentence_latents: attributes whose joint value is the class label (e.g. [\"sentiment\", \"tense\"]; [] = none)");
    v("keep", keep, "sentence_latents: keep rows where every filter holds: \"name=value\" or \"name!=value\"");
  }
  void validate(const std::string& where) const;
};

// The files a text run writes for a split: latents/<split>.npy [N, D] float32,
// latents/<split>_labels.npy [N, A] int64 (−1 = unlabelled) and latents/attributes.json
// ({"attributes": [...], "values": [[...], ...]}).
struct SentenceLatentFiles {
  static std::string latents(const std::string& dir, const std::string& split);
  static std::string labels(const std::string& dir, const std::string& split);
  static std::string attributes(const std::string& dir);
};

// The attributes a text run's sentences are labelled with (latents/attributes.json): what the
// data set, the text run's flows and a loaded run all read.
struct SentenceAttributes {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> values;  // per attribute, its values (index = label)
  // The attribute's / value's index; throws rflow::Error naming `where` and the valid ones.
  int64_t index(const std::string& name, const std::string& where) const;
  int64_t value_index(int64_t attribute, const std::string& value, const std::string& where) const;
  // `hint` says what to do when the file is missing.
  static SentenceAttributes read(const std::string& dir, const std::string& hint);
};

// The joint class of values (one per labelled attribute, in order) with `counts` values each.
int64_t joint_label(const std::vector<int64_t>& values, const std::vector<int64_t>& counts);

DistributionEntry sentence_latents_entry();

}  // namespace rflow

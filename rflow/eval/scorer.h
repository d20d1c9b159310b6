// What the eval stage measures for one kind of data, chosen by the target's Distribution::kind()
// (points, images; later policies, tokens): a Scorer gives the floor (real data against real data)
// and the scores of a sample set, and writes the pictures a person would look at. A new kind is one
// file with its Scorer plus one scorers().add line.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/core/registry.h"
#include "rflow/flow/cond.h"
#include "rflow/eval/eval_result.h"

namespace rflow::eval {

struct ScorerSetup {
  std::string dir;                          // the model's eval directory (samples/ and pictures go here)
  at::Tensor reference, reference_labels;   // a target draw of n (labels when the data are labelled)
  at::Tensor reference2, reference2_labels; // an independent second draw (ScorerEntry::second_draw)
  Cond cond;                                // what the samples were asked for: labels, captions (empty: unconditional)
  std::vector<std::string> captions;        // captioned data: cond's captions in words, one per sample
  int64_t grid_cols = 10;                   // image grids: columns (the classes of a conditional model)
  int64_t trajectories = 256;               // paths kept for the report's trajectory plot
  int64_t sliced_projections = 256;
  uint64_t seed = 0;
  std::string fidnet;                  // the FID network file ("" = the cache)
  std::string data_name, data_path;    // the target data set
  bool fid_reference = false;          // its images are what the feature networks know (DistributionEntry::fid_reference)
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual Scores floor() = 0;
  virtual Scores score(const at::Tensor& samples) = 0;
  virtual void save(const at::Tensor& samples, const std::string& tag) = 0;
  virtual void save_reference() = 0;
  // trajectory [S, B, ...] of the straightness solve.
  virtual void save_trajectory(const at::Tensor& trajectory) = 0;
  virtual std::string headline(const Scores& scores) const = 0;
  // What the report should say about the protocol (FID network, reference set).
  virtual void describe(ModelEval&) const {}
};

struct ScorerEntry {
  bool balanced_labels = false;  // conditional samples ask for class i mod C (else: the reference draw's labels)
  bool second_draw = true;       // draw reference2 (the floor of sample-to-sample metrics)
  bool likelihood = true;        // the exact likelihood of reference points is affordable and meaningful
  bool chunked = false;          // solve in chunks of eval.batch (large samples)
  int64_t max_paths = 0;         // straightness on at most this many draws (0 = all)
  int64_t max_n = 0;             // the most draws it can score (eval.n; 0 = no limit), checked before training
  std::function<std::unique_ptr<Scorer>(const ScorerSetup&)> make;
};

// Mutable: programs and tests may add scorers for their own kinds of data.
Registry<ScorerEntry>& scorers();

}  // namespace rflow::eval

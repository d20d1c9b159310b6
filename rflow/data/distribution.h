// Distributions that can serve as the source (t = 0) or the target (t = 1) of a flow: analytic 2-D
// toys, a Gaussian with any mean and covariance, points from a .npy file, image sets and policy
// demonstrations, registered by name (distributions()). Any of them can be either end, so
// data-to-data transport is configuration, not code. One sampling call draws samples with their labels or observations.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "rflow/core/options.h"
#include "rflow/core/registry.h"
#include "rflow/flow/cond.h"

namespace rflow::text {
class Tokenizer;
}

namespace rflow {

class Distribution;
struct DistributionConfig;

struct GaussianOptions {
  std::vector<double> mean;  // empty = zeros
  std::vector<double> std;   // diagonal; empty = ones
  std::vector<double> cov;   // full D×D row-major (overrides std)
  int64_t dim = 0;           // without mean/std/cov: dimension (0 = match the other end)

  template <class V>
  void visit(V& v) {
    v("mean", mean, "mean vector (empty = zeros)");
    v("std", std, "per-dimension std (empty = ones)");
    v("cov", cov, "full covariance, D×D row-major (overrides std)");
    v("dim", dim, "dimension when mean/std/cov are empty (0 = match the other end)");
  }
  void validate(const std::string& where) const;
};

// Shared by every 2-D toy (8gaussians, moons, ...).
struct ToyOptions {
  double scale = 0.0;   // 0 = the toy's default
  double noise = -1.0;  // < 0 = the toy's default

  template <class V>
  void visit(V& v) {
    v("scale", scale, "size of the toy (0 = its default)");
    v("noise", noise, "noise or component std (< 0 = the toy's default)");
  }
  void validate(const std::string& where) const;
};

struct DistributionEntry {
  std::string section;                  // options section, e.g. "gaussian"; toys share "toy"; "" = none
  std::function<AnyOptions()> options;  // its defaults
  std::function<std::unique_ptr<Distribution>(const DistributionConfig&, const std::vector<int64_t>& shape_hint,
                                              const std::string& where)>
      make;
  // The shipped feature networks (FID-proxy, judge) were trained on this data set's images and
  // its test split is the FID reference, so image evaluations score its samples with them.
  bool fid_reference = false;
};
// Mutable: programs and tests may register their own data sets before building configs.
Registry<DistributionEntry>& distributions();

// One end of a flow: the data set's name, what every file-based set reads (path, flips) and one
// options section per kind (data.target.gaussian.*, data.target.toy.*, data.target.fashion_mnist.*).
struct DistributionConfig {
  std::string name;
  std::string path;   // npy / idx / image_folder / fashion_mnist: where the data lives
  bool flip = false;  // images: random horizontal flips
  mutable OptionsMap options = sections();  // mutable: a kind registered later gets its defaults on access

  template <class V>
  void visit(V& v) {
    v("name", name, distributions().joined());
    v("path", path, "file-based data: npy (N×D points or N×[C×]H×W images), idx (images), image_folder (folder), fashion_mnist (IDX folder; empty = Debian's)");
    v("flip", flip, "images: random horizontal flips");
    for (auto& [n, o] : options) v.section(n, o);
    // Keys of the flat struct this replaced (old configs and checkpoints).
    for (const char* k : {"mean", "std", "cov", "dim"}) v.alias(k, std::string("gaussian.") + k);
    for (const char* k : {"scale", "noise"}) v.alias(k, std::string("toy.") + k);
    v.alias("split", "fashion_mnist.split");
    v.alias("labels_path", "idx.labels_path");
    v.alias("channels", "image_folder.channels");
  }
  void validate(const std::string& where) const;

  template <class T>
  T& get(const std::string& section_name) {
    return section(section_name).as<T>();
  }
  template <class T>
  const T& get(const std::string& section_name) const {
    return section(section_name).as<T>();
  }
  AnyOptions& section(const std::string& section_name) const;
  // Default options of every registered kind, keyed by section.
  static OptionsMap sections();
};

// One draw of n samples: x [n, ...] float32 on the CPU and what each sample comes with — its class
// label (cond.labels [n] int64) where the distribution is labelled, the observation it answers
// (cond.extra["obs"] [n, obs_dim]) for policy demonstrations, its caption's token ids and mask
// (cond.context, cond.mask) for captioned data.
struct Draw {
  at::Tensor x;
  Cond cond;
};

class Distribution {
 public:
  virtual ~Distribution() = default;
  // The one sampling call: n samples and their conditioning, drawn from `rng` (undefined: the
  // default generator, which seed_all seeds), all in one shape: `shape` where given (one of
  // sample_shapes(); a standard normal takes any), else the distribution's choice. Checks what
  // every distribution promises: n rows of that shape, labels iff num_classes() > 0,
  // observations iff obs_dim() > 0.
  Draw sample(int64_t n, const at::Generator& rng = {}, const std::vector<int64_t>& shape = {});
  virtual std::vector<int64_t> sample_shape() const = 0;
  // Every shape a draw can come in: data of several (captioned composites of mixed layouts, the
  // buckets of multi-aspect training) draw each call in one of them. The first is sample_shape().
  virtual std::vector<std::vector<int64_t>> sample_shapes() const { return {sample_shape()}; }
  // A shape's name in paths and labels ("row2" for a composite layout); "" where there is one shape.
  virtual std::string shape_name(const std::vector<int64_t>& shape) const;
  // The shape of the images a prompt asks for (a composite caption names its layout).
  virtual std::vector<int64_t> prompt_shape(const std::string&) const { return sample_shape(); }
  virtual std::string describe() const = 0;
  // What kind of data it draws, which picks the eval's scorer: "points" (flat vectors) or "images".
  virtual std::string kind() const { return "points"; }
  // Log density of points [n, ...] (float64, [n]); only analytic distributions have one.
  virtual at::Tensor log_prob(const at::Tensor& x) const;
  // Classes the points come in (toys: the mode / component index), 0 if unlabelled; labelled
  // draws are what class-conditional models train on.
  virtual int64_t num_classes() const { return 0; }
  // Demonstrations for policies: each sample (an action chunk) comes with the observation it
  // answers, which travels as cond.extra["obs"] [n, obs_dim]. 0: the points stand alone.
  virtual int64_t obs_dim() const { return 0; }
  // Captioned data: each sample comes with its text as a token context (cond.context: ids
  // [n, context_len()] int64, cond.mask [n, context_len()] float, 1 = a token), encoded by
  // tokenizer(). 0 / null: no text.
  virtual int64_t context_len() const { return 0; }
  virtual const text::Tokenizer* tokenizer() const { return nullptr; }
  // The conditioning of prompts as draws carry it (cond.context, cond.mask), for sampling a
  // text-conditioned model; throws rflow::Error where the data have no text or a prompt is not one
  // the data could have (naming what would be).
  virtual Cond encode_prompts(const std::vector<std::string>& prompts) const;
  // The captions of a draw's conditioning, in words (the inverse of encode_prompts).
  virtual std::vector<std::string> decode_prompts(const Cond& c) const;

 protected:
  // What sample() returns, for n >= 1; every random number from `rng`.
  virtual Draw draw(int64_t n, const at::Generator& rng) = 0;
  // n samples of `shape`; the default serves data of one shape (and refuses any other).
  virtual Draw draw_shaped(const std::vector<int64_t>& shape, int64_t n, const at::Generator& rng);
};


// shape_hint: sample shape of the other end, {} if unknown. A parameterless gaussian takes it, so
// N(0, I) noise comes in an image target's [C, H, W] shape.
std::unique_ptr<Distribution> make_distribution(const DistributionConfig& cfg, const std::vector<int64_t>& shape_hint,
                                                const std::string& where);

}  // namespace rflow

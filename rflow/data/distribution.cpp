#include "rflow/data/distribution.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/demonstrations.h"
#include "rflow/data/captioned_images.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/data/grid_maze.h"
#include "rflow/data/sentence_latents.h"
#include "rflow/data/image_dataset.h"
#include "rflow/io/npy.h"

namespace rflow {

at::Tensor Distribution::log_prob(const at::Tensor&) const {
  throw Error("no closed-form density for " + describe(), "likelihood",
              "use a gaussian source (the default) for likelihoods");
}

std::string Distribution::shape_name(const std::vector<int64_t>& shape) const {
  if (sample_shapes().size() <= 1) return "";
  std::string s;
  for (int64_t d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

Draw Distribution::draw_shaped(const std::vector<int64_t>& shape, int64_t n, const at::Generator& rng) {
  RF_CHECK(shape == sample_shape(), describe() + " draws " + c10::str(sample_shape()) + ", not " + c10::str(shape),
           "Distribution::sample", "ask for one of its sample_shapes()");
  return draw(n, rng);
}

Draw Distribution::sample(int64_t n, const at::Generator& rng, const std::vector<int64_t>& shape) {
  RF_CHECK(n >= 1, "cannot draw " + std::to_string(n) + " samples", describe(), "draw at least one");
  Draw d = shape.empty() ? draw(n, rng) : draw_shaped(shape, n, rng);
  // The contract every caller relies on, checked once here rather than in each distribution.
  const auto shapes = sample_shapes();
  const bool in_shape = d.x.defined() && d.x.dim() >= 1 && d.x.size(0) == n &&
                        (shape.empty() ? std::count(shapes.begin(), shapes.end(), d.x.sizes().slice(1).vec()) > 0
                                       : d.x.sizes().slice(1).vec() == shape);
  RF_CHECK(in_shape && d.x.scalar_type() == torch::kFloat32,
           "a draw of " + describe() + " does not have its sample shape", "Distribution::sample",
           "draw() must return n float32 samples of one of sample_shapes() (the one asked for)");
  RF_CHECK(d.cond.labels.defined() == (num_classes() > 0) &&
               (!d.cond.labels.defined() || d.cond.labels.sizes().vec() == std::vector<int64_t>{n}),
           "a draw of " + describe() + " has labels where it has no classes (or none where it has)",
           "Distribution::sample", "draw() returns labels [n] exactly when num_classes() > 0");
  RF_CHECK((obs_dim() > 0) == (d.cond.extra.count("obs") > 0), "a draw of " + describe() + " lacks its observations",
           "Distribution::sample", "draw() returns cond.extra[\"obs\"] exactly when obs_dim() > 0");
  const std::vector<int64_t> text_shape{n, context_len()};
  RF_CHECK(context_len() > 0 ? (tokenizer() && d.cond.context.defined() && d.cond.context.sizes().vec() == text_shape &&
                                d.cond.context.scalar_type() == torch::kInt64 && d.cond.mask.defined() &&
                                d.cond.mask.sizes().vec() == text_shape)
                             : !d.cond.context.defined(),
           "a draw of " + describe() + " does not carry its captions as the contract says", "Distribution::sample",
           "draw() returns token ids [n, context_len()] int64 and their mask exactly when context_len() > 0");
  return d;
}

Cond Distribution::encode_prompts(const std::vector<std::string>&) const {
  throw Error(describe() + " has no captions", "--prompt", "prompts condition models trained on captioned data (fashion_composites)");
}

std::vector<std::string> Distribution::decode_prompts(const Cond&) const {
  throw Error(describe() + " has no captions", "Distribution::decode_prompts", "");
}

namespace {

std::string fmt_vec(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

class GaussianDist : public Distribution {
 public:
  GaussianDist(const GaussianOptions& c, const std::vector<int64_t>& shape_hint, const std::string& where) {
    int64_t hint = shape_hint.empty() ? 0 : 1;
    for (auto s : shape_hint) hint *= s;
    int64_t d = !c.mean.empty() ? int64_t(c.mean.size())
                : !c.std.empty() ? int64_t(c.std.size())
                : !c.cov.empty() ? int64_t(std::lround(std::sqrt(double(c.cov.size()))))
                : c.dim > 0      ? c.dim
                : hint > 0       ? hint
                                 : 2;
    auto dbl = torch::kFloat64;
    mean_ = c.mean.empty() ? torch::zeros({d}, dbl) : torch::tensor(c.mean, dbl);
    RF_CHECK(mean_.size(0) == d, "mean has " + std::to_string(mean_.size(0)) + " entries, expected " + std::to_string(d),
             where + ".gaussian.mean", "mean, std and cov must agree in dimension");
    if (!c.cov.empty()) {
      RF_CHECK(int64_t(c.cov.size()) == d * d, "cov must have D×D = " + std::to_string(d * d) + " entries",
               where + ".gaussian.cov", "give the covariance row-major");
      auto cov = torch::tensor(c.cov, dbl).view({d, d});
      RF_CHECK(torch::allclose(cov, cov.t()), "cov is not symmetric", where + ".gaussian.cov", "");
      auto [L, info] = torch::linalg_cholesky_ex(cov);
      RF_CHECK(info.item<int64_t>() == 0, "cov is not positive definite", where + ".gaussian.cov", "");
      chol_ = L;
      desc_ = "gaussian(mean=" + fmt_vec(c.mean) + ", cov=" + fmt_vec(c.cov) + ")";
    } else {
      auto s = c.std.empty() ? torch::ones({d}, dbl) : torch::tensor(c.std, dbl);
      RF_CHECK(s.size(0) == d, "std has " + std::to_string(s.size(0)) + " entries, expected " + std::to_string(d),
               where + ".gaussian.std", "");
      RF_CHECK((s > 0).all().item<bool>(), "std entries must be > 0", where + ".gaussian.std", "");
      std_ = s;
      desc_ = "gaussian(mean=" + (c.mean.empty() ? std::string("0") : fmt_vec(c.mean)) +
              ", std=" + (c.std.empty() ? std::string("1") : fmt_vec(c.std)) + ", dim=" + std::to_string(d) + ")";
    }
    dim_ = d;
    shape_ = hint == d ? shape_hint : std::vector<int64_t>{d};
    standard_ = !chol_.defined() && (mean_ == 0).all().item<bool>() && (std_ == 1).all().item<bool>();
    // Noise shaped by the other end: N(0, I) in whatever shape the other end's draw has.
    any_shape_ = standard_ && c.mean.empty() && c.std.empty() && c.cov.empty() && c.dim == 0;
  }
  Draw draw(int64_t n, const at::Generator& rng) override { return {points(n, rng), {}}; }
  Draw draw_shaped(const std::vector<int64_t>& shape, int64_t n, const at::Generator& rng) override {
    if (!any_shape_ || shape == shape_) return Distribution::draw_shaped(shape, n, rng);
    std::vector<int64_t> s{n};
    s.insert(s.end(), shape.begin(), shape.end());
    return {torch::randn(s, rng), {}};
  }
  at::Tensor points(int64_t n, const at::Generator& rng) {
    auto z = torch::randn({n, dim_}, rng);
    std::vector<int64_t> s{n};
    s.insert(s.end(), shape_.begin(), shape_.end());
    // N(0, I), every training step's source: the draw itself (the general path below gives the
    // same values through float64, in four more ops).
    if (standard_) return z.view(s);
    at::Tensor x = chol_.defined() ? torch::matmul(z.to(torch::kFloat64), chol_.t()) + mean_ : z.to(torch::kFloat64) * std_ + mean_;
    return x.to(torch::kFloat32).view(s);
  }
  std::vector<int64_t> sample_shape() const override { return shape_; }
  std::string describe() const override { return desc_; }
  at::Tensor log_prob(const at::Tensor& x) const override {
    auto d = x.to(torch::kCPU, torch::kFloat64).flatten(1) - mean_;
    at::Tensor z, logdet;
    if (chol_.defined()) {
      z = torch::linalg_solve_triangular(chol_, d.t(), /*upper=*/false).t();
      logdet = chol_.diagonal().log().sum();
    } else {
      z = d / std_;
      logdet = std_.log().sum();
    }
    return -0.5 * z.pow(2).sum(1) - logdet - 0.5 * double(dim_) * std::log(2 * M_PI);
  }

 private:
  int64_t dim_;
  std::vector<int64_t> shape_;  // [dim_], or the other end's shape when it has dim_ elements
  at::Tensor mean_, std_, chol_;
  bool standard_ = false, any_shape_ = false;
  std::string desc_;
};

// A toy 2-D set defined by a sampling function of (n, scale, noise) that also returns each point's
// class (the mode or component it came from), so the same toy serves conditional models.
using Labeled = std::pair<at::Tensor, at::Tensor>;  // (points, classes)

class Toy2d : public Distribution {
 public:
  using Fn = std::function<Labeled(int64_t n, double scale, double noise, const at::Generator& rng)>;
  Toy2d(std::string name, Fn fn, int64_t classes, double scale, double noise)
      : name_(std::move(name)), fn_(std::move(fn)), classes_(classes), scale_(scale), noise_(noise) {}
  Draw draw(int64_t n, const at::Generator& rng) override {
    auto [x, y] = fn_(n, scale_, noise_, rng);
    Draw d{x.to(torch::kFloat32).contiguous(), {}};
    d.cond.labels = y.to(torch::kInt64).contiguous();
    return d;
  }
  int64_t num_classes() const override { return classes_; }
  std::vector<int64_t> sample_shape() const override { return {2}; }
  std::string describe() const override {
    return name_ + "(scale=" + std::to_string(scale_) + ", noise=" + std::to_string(noise_) + ")";
  }

 private:
  std::string name_;
  Fn fn_;
  int64_t classes_;
  double scale_, noise_;
};

at::Tensor on_circle(const at::Tensor& angle, double r) {
  return torch::stack({torch::cos(angle) * r, torch::sin(angle) * r}, 1);
}

Labeled eight_gaussians(int64_t n, double scale, double noise, const at::Generator& rng) {
  auto k = torch::randint(0, 8, {n}, rng, torch::kInt64);
  return {on_circle(k.to(torch::kFloat32) * (M_PI / 4), scale) + torch::randn({n, 2}, rng) * noise, k};
}

Labeled moons(int64_t n, double scale, double noise, const at::Generator& rng) {
  auto k = torch::randint(0, 2, {n}, rng, torch::kInt64);
  auto which = k.to(torch::kFloat32);
  auto a = torch::rand({n}, rng) * M_PI;
  // Upper moon: (cos a, sin a); lower: (1 − cos a, 0.5 − sin a); centred on the origin.
  auto x = torch::where(which > 0, 1 - torch::cos(a), torch::cos(a)) - 0.5;
  auto y = torch::where(which > 0, 0.5 - torch::sin(a), torch::sin(a)) - 0.25;
  return {torch::stack({x, y}, 1) * scale + torch::randn({n, 2}, rng) * noise, k};
}

Labeled checkerboard(int64_t n, double scale, double noise, const at::Generator& rng) {
  // 4×4 board on [−2, 2]², the 8 squares with (col + row) even; the class is the square.
  auto col = torch::randint(0, 4, {n}, rng, torch::kInt64);
  auto half = torch::randint(0, 2, {n}, rng, torch::kInt64);
  auto row = 2 * half + torch::remainder(col, 2);
  auto x = col.to(torch::kFloat32) - 2 + torch::rand({n}, rng);
  auto y = row.to(torch::kFloat32) - 2 + torch::rand({n}, rng);
  return {torch::stack({x, y}, 1) * scale + torch::randn({n, 2}, rng) * noise, col * 2 + half};
}

Labeled spirals(int64_t n, double scale, double noise, const at::Generator& rng) {
  auto k = torch::randint(0, 2, {n}, rng, torch::kInt64);
  auto s = torch::sqrt(torch::rand({n}, rng)) * 3 * M_PI;  // arc parameter, denser near the centre
  auto r = s / (3 * M_PI);
  auto ang = s + k.to(torch::kFloat32) * M_PI;
  return {on_circle(ang, 1.0) * r.unsqueeze(1) * scale + torch::randn({n, 2}, rng) * noise, k};
}

Labeled rings(int64_t n, double scale, double noise, const at::Generator& rng) {
  auto k = torch::randint(0, 4, {n}, rng, torch::kInt64);  // radii 1..4 (× scale / 4)
  auto ang = torch::rand({n}, rng) * 2 * M_PI;
  return {on_circle(ang, 1.0) * ((k + 1).to(torch::kFloat32) * (scale / 4)).unsqueeze(1) + torch::randn({n, 2}, rng) * noise, k};
}

Labeled mixture3(int64_t n, double scale, double noise, const at::Generator& rng) {
  // Three components at 90°, 210°, 330° with unequal weights and spreads (spec §1's 2-D toy).
  auto u = torch::rand({n}, rng);
  auto k = (u > 0.5).to(torch::kInt64) + (u > 0.8).to(torch::kInt64);
  auto ang = k.to(torch::kFloat32) * (2 * M_PI / 3) + M_PI / 2;
  auto spread = torch::tensor({1.0f, 0.7f, 1.3f}).index_select(0, k) * noise;
  return {on_circle(ang, scale) + torch::randn({n, 2}, rng) * spread.unsqueeze(1), k};
}

class NpyDist : public Distribution {
 public:
  NpyDist(std::string path, at::Tensor points) : path_(std::move(path)), data_(std::move(points)) {}
  Draw draw(int64_t n, const at::Generator& rng) override {
    return {data_.index_select(0, torch::randint(0, data_.size(0), {n}, rng, torch::kInt64)), {}};
  }
  std::vector<int64_t> sample_shape() const override { return {data_.size(1)}; }
  std::string describe() const override {
    return "npy(" + path_ + ", " + std::to_string(data_.size(0)) + "×" + std::to_string(data_.size(1)) + ")";
  }

 private:
  std::string path_;
  at::Tensor data_;
};

struct ToyDefaults {
  int64_t classes;
  double scale, noise;
};

void add_toy(Registry<DistributionEntry>& r, const std::string& name, const std::string& help, Toy2d::Fn fn,
             ToyDefaults d) {
  r.add(name, help,
        {"toy", [] { return AnyOptions::of<ToyOptions>(); },
         [name, fn, d](const DistributionConfig& c, const std::vector<int64_t>&, const std::string&) -> std::unique_ptr<Distribution> {
           const auto& o = c.get<ToyOptions>("toy");
           return std::make_unique<Toy2d>(name, fn, d.classes, o.scale > 0 ? o.scale : d.scale,
                                          o.noise >= 0 ? o.noise : d.noise);
         }});
}

}  // namespace

void GaussianOptions::validate(const std::string& where) const {
  for (auto* v : {&mean, &std, &cov})
    for (double x : *v) RF_CHECK(std::isfinite(x), "non-finite value in gaussian parameters", where, "");
  // Beyond a million dimensions a batch no longer fits memory; image-shaped noise takes dim = 0.
  RF_CHECK(dim >= 0 && dim <= (1 << 20), "dim must be in [0, 1048576]", where + ".dim",
           "0 = the shape of the other end (e.g. the images'); points use a few dimensions");
}

void ToyOptions::validate(const std::string& where) const {
  RF_CHECK(std::isfinite(scale) && scale >= 0, "scale must be finite and >= 0", where + ".scale", "");
  RF_CHECK(std::isfinite(noise), "noise must be finite", where + ".noise", "");
}

OptionsMap DistributionConfig::sections() {
  OptionsMap out;
  for (const auto& n : distributions().names()) {
    const auto& e = distributions().get(n);
    if (!e.section.empty() && !out.count(e.section)) out.emplace(e.section, e.options());
  }
  return out;
}

AnyOptions& DistributionConfig::section(const std::string& section_name) const {
  auto it = options.find(section_name);
  if (it == options.end()) {
    // A kind registered after this config was made: take its defaults.
    for (const auto& n : distributions().names()) {
      const auto& e = distributions().get(n);
      if (e.section == section_name) return options.emplace(section_name, e.options()).first->second;
    }
    throw Error("no data options section '" + section_name + "'", "DistributionConfig", "");
  }
  return it->second;
}

void DistributionConfig::validate(const std::string& where) const {
  const auto& e = distributions().get(name, where + ".name");
  if (!e.section.empty()) section(e.section).validate(where + "." + e.section);
}

Registry<DistributionEntry>& distributions() {
  static Registry<DistributionEntry> reg = [] {
    Registry<DistributionEntry> r("distribution");
    r.add("gaussian", "N(mean, cov) in any dimension",
          {"gaussian", [] { return AnyOptions::of<GaussianOptions>(); },
           [](const DistributionConfig& c, const std::vector<int64_t>& hint, const std::string& where) -> std::unique_ptr<Distribution> {
             return std::make_unique<GaussianDist>(c.get<GaussianOptions>("gaussian"), hint, where);
           }});
    r.add("npy", "points from an N×D .npy file, or images from an N×[C×]H×W one (uint8 0–255 or float in [−1, 1]), drawn uniformly with replacement",
          {"", nullptr,
           [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string& where) -> std::unique_ptr<Distribution> {
             RF_CHECK(!c.path.empty(), "npy distribution needs a path", where + ".path", "set " + where + ".path=points.npy");
             at::Tensor t = io::read_npy(c.path);
             if (t.dim() <= 2) return std::make_unique<NpyDist>(c.path, io::as_point_matrix(t, c.path));
             RF_CHECK(t.dim() <= 4 && (t.scalar_type() == torch::kUInt8 || t.is_floating_point()),
                      "image arrays must be uint8 or float, N×H×W or N×C×H×W", c.path, "");
             if (t.dim() == 3) t = t.unsqueeze(1);
             if (t.is_floating_point()) t = t.to(torch::kFloat32);
             return std::make_unique<ImageDataset>(t.contiguous(), at::Tensor(), 0, c.flip,
                                                   "npy(" + c.path + ", " + std::to_string(t.size(0)) + " images)");
           }});
    r.add("fashion_mnist", "Fashion-MNIST 28×28 grey images with 10 labels (split = train | test; path = the IDX folder)",
          fashion_mnist_entry());
    r.add("fashion_composites", "1–4 Fashion-MNIST garments in a row, column or 2×2 grid, captioned in reading order (\"a sneaker left of a bag\")",
          fashion_composites_entry());
    r.add("captioned_images", "your own images with captions: a folder with captions.tsv (file<TAB>caption), or an .npy array and a captions file",
          captioned_images_entry());
    r.add("idx", "images from an IDX file (path), labels from another (labels_path, optional)", idx_entry());
    r.add("image_folder", "images in a folder (path), one sub-folder per class or none; all one size",
          image_folder_entry());
    r.add("demos", "policy demonstrations: actions from path (.npy [N, ...]), observations from demos.obs (.npy [N, O])",
          demos_entry());
    r.add("fork1d", "AdaFlow's 1-D policy toy: action 0 where obs ≤ 0, ±obs (half each) where obs > 0; obs ~ U[−10, 10]",
          fork1d_entry());
    r.add("maze", "policy demonstrations in a grid maze with several shortest routes (maze.layout): obs = cell, action = the next maze.horizon moves",
          maze_entry());
    r.add("sentence_latents", "sentences as points: the latents of a text run (path), kept and labelled by attribute",
          sentence_latents_entry());
    add_toy(r, "8gaussians", "8 gaussians on a circle (radius = scale)", eight_gaussians, {8, 4.0, 0.25});
    add_toy(r, "moons", "two interleaving half circles", moons, {2, 2.0, 0.1});
    add_toy(r, "checkerboard", "8 squares of a 4×4 board", checkerboard, {8, 1.0, 0.0});
    add_toy(r, "spirals", "two interleaved spirals", spirals, {2, 4.0, 0.1});
    add_toy(r, "rings", "4 concentric rings", rings, {4, 4.0, 0.08});
    add_toy(r, "mixture3", "3-component gaussian mixture (radius = scale)", mixture3, {3, 4.0, 0.5});
    return r;
  }();
  return reg;
}

std::unique_ptr<Distribution> make_distribution(const DistributionConfig& cfg, const std::vector<int64_t>& shape_hint,
                                                const std::string& where) {
  cfg.validate(where);
  return distributions().get(cfg.name, where + ".name").make(cfg, shape_hint, where);
}

}  // namespace rflow

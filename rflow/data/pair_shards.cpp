#include "rflow/data/pair_shards.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/coupling.h"
#include "rflow/io/safetensors.h"

namespace fs = std::filesystem;

namespace rflow {

std::string pair_shard_path(const std::string& dir, int64_t index) {
  char name[64];
  std::snprintf(name, sizeof name, "shard_%05lld.safetensors", static_cast<long long>(index));
  return (fs::path(dir) / name).string();
}

void write_pair_shard(const std::string& dir, int64_t index, const Pairs& p,
                      const std::map<std::string, std::string>& metadata) {
  RF_CHECK(p.z0.defined() && p.z1.defined() && p.z0.sizes() == p.z1.sizes() && p.z0.size(0) > 0,
           "z0 and z1 must be non-empty and of one shape", "write_pair_shard", "");
  p.cond.check_batch(p.z0.size(0), "write_pair_shard");
  RF_CHECK(!p.cond.labels.defined() || p.cond.labels.dim() == 1, "labels must be [N]", "write_pair_shard", "");
  fs::create_directories(dir);
  io::NamedTensors t{{"z0", p.z0.cpu().contiguous()}, {"z1", p.z1.cpu().contiguous()}};
  for (const auto& [name, v] : p.cond.named())
    t.emplace_back(name, name == "labels" ? v.cpu().to(torch::kInt64).contiguous() : v.cpu().contiguous());
  io::save_safetensors(pair_shard_path(dir, index), t, metadata);
}

Pairs read_pair_shard(const std::string& path) {
  auto d = io::load_safetensors(path);
  Pairs p;
  p.z0 = io::find_tensor(d, "z0");
  p.z1 = io::find_tensor(d, "z1");
  p.cond = Cond::from_named(std::map<std::string, at::Tensor>(d.tensors.begin(), d.tensors.end()));
  RF_CHECK(p.z0.sizes() == p.z1.sizes() && p.z0.dim() >= 2, "z0 and z1 differ in shape or are not [N, ...]", path,
           "the shard is corrupt; delete it and rerun the reflow stage");
  const bool rows_ok = [&] {
    try {
      p.cond.check_batch(p.z0.size(0), path);
      return !p.cond.labels.defined() || p.cond.labels.dim() == 1;
    } catch (const Error&) {
      return false;
    }
  }();
  RF_CHECK(rows_ok, "conditioning does not match the pairs", path,
           "the shard is corrupt; delete it and rerun the reflow stage");
  return p;
}

std::vector<std::string> list_pair_shards(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  static const std::regex re("shard_[0-9]{5}\\.safetensors");
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && std::regex_match(e.path().filename().string(), re)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

std::vector<std::string> cond_names(const Cond& c) {
  std::vector<std::string> n;
  for (const auto& [k, v] : c.named()) n.push_back(k);
  return n;
}

}  // namespace

std::vector<Pairs> load_pair_buckets(const std::string& dir) {
  auto shards = list_pair_shards(dir);
  RF_CHECK(!shards.empty(), "no pair shards found", dir, "run the reflow stage of the teacher run first");
  // Shards grouped by sample shape, in the order shapes first appear.
  std::vector<std::vector<Pairs>> groups;
  for (const auto& s : shards) {
    Pairs p = read_pair_shard(s);
    if (!groups.empty()) {
      const Pairs& first = groups.front().front();
      RF_CHECK(p.z0.scalar_type() == first.z0.scalar_type() && p.z0.dim() == first.z0.dim(),
               "shard has a different dtype or rank than the first", s, "all shards must come from one teacher");
      RF_CHECK(cond_names(p.cond) == cond_names(first.cond), "shard carries other conditioning than the first", s,
               "all shards must come from one teacher");
    }
    const auto same = std::find_if(groups.begin(), groups.end(),
                                   [&](const auto& g) { return g.front().z0.sizes().slice(1) == p.z0.sizes().slice(1); });
    const size_t k = static_cast<size_t>(same - groups.begin());
    if (k == groups.size()) groups.emplace_back();
    groups[k].push_back(std::move(p));
  }
  std::vector<Pairs> out;
  for (auto& g : groups) {
    std::vector<at::Tensor> z0, z1;
    std::vector<Cond> conds;
    for (auto& p : g) z0.push_back(p.z0), z1.push_back(p.z1), conds.push_back(p.cond);
    out.push_back(Pairs{torch::cat(z0), torch::cat(z1), Cond::cat(conds)});
    RF_CHECK(torch::isfinite(out.back().z0).all().item<bool>() && torch::isfinite(out.back().z1).all().item<bool>(),
             "pairs contain NaN or Inf", dir, "the teacher diverged; check its samples");
  }
  return out;
}

Pairs load_pairs(const std::string& dir) {
  std::vector<Pairs> buckets = load_pair_buckets(dir);
  RF_CHECK(buckets.size() == 1, "the pairs come in " + std::to_string(buckets.size()) + " sample shapes", dir,
           "load them by shape (load_pair_buckets)");
  return std::move(buckets.front());
}

PairSource::PairSource(Pairs pairs) : PairSource(std::vector<Pairs>{std::move(pairs)}) {}

PairSource::PairSource(std::vector<Pairs> buckets) : buckets_(std::move(buckets)) {
  RF_CHECK(!buckets_.empty(), "no pairs", "PairSource", "");
  for (const auto& b : buckets_) {
    RF_CHECK(b.z0.defined() && b.z0.size(0) > 0, "no pairs", "PairSource", "");
    if (b.cond.labels.defined()) num_classes_ = std::max(num_classes_, b.cond.labels.max().item<int64_t>() + 1);
    size_ += b.z0.size(0);
  }
}

Batch PairSource::next(int64_t batch_size, c10::Device device) {
  // Several shapes: the batch is one of them, chosen in proportion to its pairs. One shape draws
  // no number for it.
  const Pairs* b = &buckets_.front();
  if (buckets_.size() > 1) {
    int64_t j = torch::randint(0, size_, {1}, torch::kInt64).item<int64_t>();
    for (const auto& bucket : buckets_) {
      if (j < bucket.z0.size(0)) {
        b = &bucket;
        break;
      }
      j -= bucket.z0.size(0);
    }
  }
  auto idx = torch::randint(0, b->z0.size(0), {batch_size}, torch::kInt64);
  return Batch{b->z0.index_select(0, idx).to(device), b->z1.index_select(0, idx).to(device),
               b->cond.select(idx).to(device)};
}

std::vector<int64_t> PairSource::sample_shape() const { return sample_shapes().front(); }

std::vector<std::vector<int64_t>> PairSource::sample_shapes() const {
  std::vector<std::vector<int64_t>> out;
  for (const auto& b : buckets_) out.push_back(b.z0.sizes().slice(1).vec());
  return out;
}

void PairSource::drop_labels() {
  for (auto& b : buckets_) b.cond.labels = at::Tensor();
  num_classes_ = 0;
}

CouplingEntry pairs_coupling_entry() {
  CouplingEntry e;
  e.validate = [](const DataConfig& c, const std::string& where) {
    RF_CHECK(!c.pairs.empty(), "coupling = pairs needs the pairs directory", where + ".pairs",
             "e.g. --set data.pairs=runs/demo_2d/pairs");
  };
  e.make = [](const DataConfig& c, std::unique_ptr<IndependentCoupling> both_ends, const CouplingInputs&) {
    std::vector<Pairs> buckets = load_pair_buckets(c.pairs);
    RF_CHECK(!c.labels || buckets.front().cond.labels.defined(), "data.labels is set but the stored pairs have no labels",
             c.pairs, "make the pairs with a class-conditional teacher, or set data.labels=false");
    auto src = std::make_unique<PairSource>(std::move(buckets));
    if (!c.labels) src->drop_labels();
    const auto shapes = both_ends->sample_shapes();
    for (const auto& shape : src->sample_shapes())
      RF_CHECK(std::count(shapes.begin(), shapes.end(), shape) > 0,
               "stored pairs of shape " + c10::str(shape) + " are not among the data's sample shapes", c.pairs,
               "use the data section of the teacher run");
    return std::unique_ptr<BatchSource>(std::move(src));
  };
  e.input = CouplingInput::kPairs;
  return e;
}

}  // namespace rflow

#include "rflow/data/pair_shards.h"

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

Pairs load_pairs(const std::string& dir) {
  auto shards = list_pair_shards(dir);
  RF_CHECK(!shards.empty(), "no pair shards found", dir, "run the reflow stage of the teacher run first");
  std::vector<at::Tensor> z0, z1;
  std::vector<Cond> conds;
  for (const auto& s : shards) {
    Pairs p = read_pair_shard(s);
    if (!z0.empty()) {
      RF_CHECK(p.z0.sizes().slice(1) == z0.front().sizes().slice(1) && p.z0.scalar_type() == z0.front().scalar_type(),
               "shard has a different sample shape or dtype than the first", s, "all shards must come from one teacher");
      auto names = [](const Cond& c) {
        std::vector<std::string> n;
        for (const auto& [k, v] : c.named()) n.push_back(k);
        return n;
      };
      RF_CHECK(names(p.cond) == names(conds.front()), "shard carries other conditioning than the first", s,
               "all shards must come from one teacher");
    }
    z0.push_back(p.z0);
    z1.push_back(p.z1);
    conds.push_back(p.cond);
  }
  Pairs out{torch::cat(z0), torch::cat(z1), Cond::cat(conds)};
  RF_CHECK(torch::isfinite(out.z0).all().item<bool>() && torch::isfinite(out.z1).all().item<bool>(),
           "pairs contain NaN or Inf", dir, "the teacher diverged; check its samples");
  return out;
}

PairSource::PairSource(Pairs pairs) : pairs_(std::move(pairs)) {
  RF_CHECK(pairs_.z0.defined() && pairs_.z0.size(0) > 0, "no pairs", "PairSource", "");
  if (pairs_.cond.labels.defined()) num_classes_ = pairs_.cond.labels.max().item<int64_t>() + 1;
}

Batch PairSource::next(int64_t batch_size, c10::Device device) {
  auto idx = torch::randint(0, pairs_.z0.size(0), {batch_size}, torch::kInt64);
  return Batch{pairs_.z0.index_select(0, idx).to(device), pairs_.z1.index_select(0, idx).to(device),
               pairs_.cond.select(idx).to(device)};
}

std::vector<int64_t> PairSource::sample_shape() const {
  return std::vector<int64_t>(pairs_.z0.sizes().begin() + 1, pairs_.z0.sizes().end());
}

CouplingEntry pairs_coupling_entry() {
  CouplingEntry e;
  e.validate = [](const DataConfig& c, const std::string& where) {
    RF_CHECK(!c.pairs.empty(), "coupling = pairs needs the pairs directory", where + ".pairs",
             "e.g. --set data.pairs=runs/demo_2d/pairs");
  };
  e.make = [](const DataConfig& c, std::unique_ptr<IndependentCoupling> both_ends, const CouplingInputs&) {
    Pairs pairs = load_pairs(c.pairs);
    RF_CHECK(!c.labels || pairs.cond.labels.defined(), "data.labels is set but the stored pairs have no labels",
             c.pairs, "make the pairs with a class-conditional teacher, or set data.labels=false");
    if (!c.labels) pairs.cond.labels = at::Tensor();
    auto src = std::make_unique<PairSource>(std::move(pairs));
    RF_CHECK(src->sample_shape() == both_ends->sample_shape(), "stored pairs do not match the data's sample shape",
             c.pairs, "use the data section of the teacher run");
    return std::unique_ptr<BatchSource>(std::move(src));
  };
  e.input = CouplingInput::kPairs;
  return e;
}

}  // namespace rflow

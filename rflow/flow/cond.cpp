#include "rflow/flow/cond.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/tensor_util.h"

namespace rflow {

namespace {
template <class F>
Cond map_members(const Cond& c, F f) {
  Cond out;
  auto g = [&](const at::Tensor& t) { return t.defined() ? f(t) : t; };
  out.labels = g(c.labels);
  out.context = g(c.context);
  out.mask = g(c.mask);
  for (const auto& [k, v] : c.extra) out.extra[k] = g(v);
  return out;
}
}  // namespace

int64_t Cond::batch_size() const {
  int64_t b = -1;
  for (const auto& [name, t] : named()) {
    RF_CHECK(t.dim() >= 1, "conditioning '" + name + "' has no batch dimension", "Cond",
             "every conditioning tensor is [B, ...]");
    RF_CHECK(b < 0 || t.size(0) == b,
             fmt::format("conditioning '{}' has {} rows, others {}", name, t.size(0), b), "Cond",
             "every conditioning tensor must have one row per sample");
    b = t.size(0);
  }
  return b;
}

void Cond::check_batch(int64_t batch, const std::string& where) const {
  const int64_t b = batch_size();
  RF_CHECK(b < 0 || b == batch, fmt::format("conditioning has {} rows for a batch of {}", b, batch), where,
           "pass one conditioning row per sample");
}

Cond Cond::select(const at::Tensor& rows) const {
  return map_members(*this, [&](const at::Tensor& t) { return t.index_select(0, rows.to(t.device())); });
}

Cond Cond::slice(int64_t begin, int64_t end) const {
  return map_members(*this, [&](const at::Tensor& t) { return t.slice(0, begin, end); });
}

Cond Cond::to(c10::Device device) const {
  return map_members(*this, [&](const at::Tensor& t) { return t.to(device); });
}

Cond Cond::cat(const std::vector<Cond>& parts) {
  RF_CHECK(!parts.empty(), "nothing to concatenate", "Cond::cat", "");
  Cond out;
  auto join = [&](auto get, const std::string& name) {
    std::vector<at::Tensor> ts;
    for (const auto& p : parts) ts.push_back(get(p));
    const bool any = std::any_of(ts.begin(), ts.end(), [](const at::Tensor& t) { return t.defined(); });
    if (!any) return at::Tensor();
    for (const auto& t : ts)
      RF_CHECK(t.defined(), "conditioning '" + name + "' is present in some parts only", "Cond::cat",
               "every part must carry the same conditioning");
    return torch::cat(ts);
  };
  out.labels = join([](const Cond& c) { return c.labels; }, "labels");
  out.context = join([](const Cond& c) { return c.context; }, "context");
  out.mask = join([](const Cond& c) { return c.mask; }, "mask");
  std::set<std::string> keys;
  for (const auto& p : parts)
    for (const auto& [k, v] : p.extra) keys.insert(k);
  for (const auto& k : keys)
    out.extra[k] = join([&k](const Cond& c) { return c.extra.count(k) ? c.extra.at(k) : at::Tensor(); }, k);
  return out;
}

Cond Cond::null_like() const {
  RF_CHECK(nullable(), "this conditioning has no null value to guide against", "guidance",
           "guidance needs labels or a token context; use guidance = 1");
  Cond out = *this;
  if (labels.defined()) out.labels = torch::full_like(labels, -1);
  if (context.defined()) out.context = torch::zeros_like(context);
  if (mask.defined()) out.mask = torch::zeros_like(mask);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> Cond::named() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  if (labels.defined()) out.emplace_back("labels", labels);
  if (context.defined()) out.emplace_back("context", context);
  if (mask.defined()) out.emplace_back("mask", mask);
  for (const auto& [k, v] : extra)
    if (v.defined()) out.emplace_back("extra." + k, v);
  return out;
}

Cond Cond::from_named(const std::map<std::string, at::Tensor>& tensors) {
  Cond c;
  for (const auto& [k, v] : tensors) {
    if (k == "labels") c.labels = v;
    else if (k == "context") c.context = v;
    else if (k == "mask") c.mask = v;
    else if (k.rfind("extra.", 0) == 0) c.extra[k.substr(6)] = v;
  }
  return c;
}

}  // namespace rflow

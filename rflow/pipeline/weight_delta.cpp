#include "rflow/pipeline/weight_delta.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/train/checkpoint.h"

namespace rflow {

NamedDelta weight_delta(const torch::nn::Module& student, const torch::nn::Module& teacher) {
  const auto s = module_tensors(student), t = module_tensors(teacher);
  RF_CHECK(s.size() == t.size(), fmt::format("the student has {} tensors, the teacher {}", s.size(), t.size()),
           "weight delta", "a student and its teacher share an architecture (same model section)");
  NamedDelta out;
  for (size_t i = 0; i < s.size(); ++i) {
    RF_CHECK(s[i].first == t[i].first && s[i].second.sizes() == t[i].second.sizes(),
             "the student's " + s[i].first + " does not match the teacher's " + t[i].first, "weight delta",
             "a student and its teacher share an architecture (same model section)");
    torch::NoGradGuard ng;
    out.emplace_back(s[i].first, s[i].second.detach().cpu().to(torch::kFloat64) - t[i].second.detach().cpu().to(torch::kFloat64));
  }
  return out;
}

void add_weight_delta(torch::nn::Module& base, const NamedDelta& delta, double scale) {
  auto b = module_tensors(base);
  RF_CHECK(b.size() == delta.size(), fmt::format("the model has {} tensors, the delta {}", b.size(), delta.size()),
           "weight delta", "add a delta to a model of the teacher's architecture");
  torch::NoGradGuard ng;
  for (size_t i = 0; i < b.size(); ++i) {
    RF_CHECK(b[i].first == delta[i].first && b[i].second.sizes() == delta[i].second.sizes(),
             "the model's " + b[i].first + " does not match the delta's " + delta[i].first, "weight delta",
             "add a delta to a model of the teacher's architecture");
    at::Tensor& w = b[i].second;
    const at::Tensor sum = (w.detach().cpu().to(torch::kFloat64) + delta[i].second * scale).to(w.scalar_type());
    const int64_t bad = sum.numel() - torch::isfinite(sum).sum().item<int64_t>();
    RF_CHECK(bad == 0,
             fmt::format("{} of the {} values of {} are not finite in the weights' precision after the delta", bad,
                         sum.numel(), b[i].first),
             "--scale", "a scale of a few units (1 = the whole difference); the student and teacher must be finite");
    w.copy_(sum.to(w.device()));
  }
}

std::string write_accelerated(const std::string& base, const std::string& student, const std::string& teacher,
                              double scale, const std::string& out) {
  RF_CHECK(std::isfinite(scale), "the scale must be finite", "--scale", "1 = the whole difference");
  const c10::Device cpu(c10::kCPU);
  LoadedModel b = load_model(base, true, cpu), s = load_model(student, true, cpu), t = load_model(teacher, true, cpu);
  auto model_json = [](const LoadedModel& m) {
    RunConfig c = m.cfg;
    return nlohmann::json::parse(to_json(c)).at("model");
  };
  RF_CHECK(model_json(s) == model_json(t), "the student's model section differs from the teacher's", student,
           "the delta is defined between a student and the teacher it was trained from (train.init_from)");
  RF_CHECK(model_json(b) == model_json(t), "the base's model section differs from the teacher's", base,
           "add the delta to a model of the teacher's architecture (a fine-tune of the same teacher)");
  RF_CHECK(b.network->sample_shape() == t.network->sample_shape(), "the base's samples have another shape", base, "");
  // On the trained networks (a method's sampling view may wrap them).
  add_weight_delta(*b.network, weight_delta(*s.network, *t.network), scale);
  // The base's config (its data, its solver settings) with the student's method, whose steps it takes.
  RunConfig cfg = b.cfg;
  cfg.method = s.cfg.method;
  cfg.sample = s.cfg.sample;
  auto meta = field_file_metadata(*b.network, to_json(cfg), b.step, "base + delta");
  meta["delta"] = nlohmann::json{{"base", b.checkpoint}, {"student", s.checkpoint}, {"teacher", t.checkpoint}, {"scale", scale}}.dump();
  io::save_safetensors(out, module_tensors(*b.network), meta);
  return fmt::format("{}: {} + {} × ({} − {})", out, b.checkpoint, scale, s.checkpoint, t.checkpoint);
}

}  // namespace rflow

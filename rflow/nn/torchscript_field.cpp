#include "rflow/nn/torchscript_field.h"

#include <filesystem>

#include <torch/script.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/tensor_util.h"
#include "rflow/io/atomic_file.h"

namespace rflow {

namespace {

std::string torch_name(std::string name) {
  for (size_t at; (at = name.find('.')) != std::string::npos;) name.replace(at, 1, "__");
  return name;
}

}  // namespace

void TorchScriptOptions::validate(const std::string& where) const {
  RF_CHECK(!path.empty(), "no TorchScript file given", where + ".path",
           "save one from Python: torch.jit.script(net).save('field.pt')");
  io::check_readable_file(path, "set " + where + ".path to a TorchScript file saved from Python");
}

TorchScriptFieldImpl::TorchScriptFieldImpl(TorchScriptOptions opt, std::vector<int64_t> sample_shape)
    : opt_(std::move(opt)), shape_(std::move(sample_shape)) {
  reset();
}

void TorchScriptFieldImpl::reset() {
  opt_.validate("model.torchscript");
  try {
    module_ = torch::jit::load(opt_.path);
  } catch (const c10::Error& e) {
    throw Error("cannot load the TorchScript file: " + std::string(e.what_without_backtrace()).substr(0, 300),
                opt_.path, "save it from Python with torch.jit.script(net).save(path) (or torch.jit.trace)");
  }
  RF_CHECK(module_.find_method("forward").has_value(), "the TorchScript module has no forward", opt_.path,
           "script a module whose forward(x, t[, labels]) returns the velocity");
  // The same tensors, registered with torch::nn: optimizers, EMA, checkpoints and .to() see them.
  for (const auto& p : module_.named_parameters(/*recurse=*/true))
    register_parameter(torch_name(p.name), p.value, p.value.requires_grad());
  for (const auto& b : module_.named_buffers(/*recurse=*/true)) register_buffer(torch_name(b.name), b.value);
}

void TorchScriptFieldImpl::train(bool on) {
  module_.train(on);
  torch::nn::Module::train(on);
}

at::Tensor TorchScriptFieldImpl::forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  std::vector<torch::jit::IValue> in{x, t};
  if (opt_.labels)
    in.emplace_back(c.labels.defined() ? c.labels.to(torch::kInt64)
                                       : torch::full({x.size(0)}, -1, x.options().dtype(torch::kInt64)));
  torch::jit::IValue out;
  try {
    out = module_.forward(in);
  } catch (const c10::Error& e) {
    throw Error("the TorchScript module's forward failed: " + std::string(e.what_without_backtrace()).substr(0, 400),
                opt_.path, opt_.labels ? "it must take (x, t, labels)" : "it must take (x, t); set model.torchscript.labels = true for (x, t, labels)");
  }
  RF_CHECK(out.isTensor(), "the TorchScript module's forward returned no tensor", opt_.path, "return the velocity");
  at::Tensor v = out.toTensor();
  RF_CHECK(v.sizes() == x.sizes(), "the TorchScript module returned " + shape_str(v) + " for x of " + shape_str(x),
           opt_.path, "return a velocity of x's shape");
  return v;
}

ModelEntry torchscript_entry() {
  ModelEntry e;
  e.options = [] { return AnyOptions::of<TorchScriptOptions>(); };
  e.make = [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
    return std::make_shared<TorchScriptFieldImpl>(c.get<TorchScriptOptions>("torchscript"), shape);
  };
  e.describe = [](const ModelConfig& c) {
    return "torchscript (" + std::filesystem::path(c.get<TorchScriptOptions>("torchscript").path).filename().string() + ")";
  };
  return e;
}

}  // namespace rflow

#include "rflow/train/gradient_buckets.h"

#include <mutex>

#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/dist/world.h"
#include "rflow/nn/flat_parameters.h"

namespace rflow {

struct GradientBuckets::State {
  explicit State(const dist::World& w) : world(w) {}
  struct Bucket {
    at::Tensor grad;     // its slice of the flat gradient buffer
    size_t params = 0;   // parameters in it
    size_t done = 0;     // of them finished in this backward pass
  };
  const dist::World& world;
  std::vector<Bucket> buckets;         // in the order they start: from the buffer's end
  std::vector<size_t> bucket_of;       // per parameter
  std::vector<char> finished;          // per parameter, this backward pass
  // Each parameter's gradient accumulator, kept alive (the parameter holds it only weakly) so
  // that the hook stays on the node every backward pass uses; with its hook's key.
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks;
  std::vector<std::function<void()>> waits;
  size_t next = 0;      // the next bucket to start
  bool armed = false;
  std::mutex mu;        // a CUDA backward pass runs its hooks on the device's threads
};

GradientBuckets::GradientBuckets(const FlatParameters& flat, const dist::World& w, int64_t bucket_bytes)
    : s_(std::make_unique<State>(w)) {
  RF_CHECK(flat.defined() && bucket_bytes > 0, "gradient buckets need the flat gradient buffer and a bucket size",
           "GradientBuckets", "this is a bug in the trainer");
  const at::Tensor& grad = flat.grad();
  const auto& params = flat.parameters();
  const int64_t elem = grad.element_size();
  const auto offset = [&](size_t i) {
    return (static_cast<const char*>(flat.slice(grad, i).data_ptr()) - static_cast<const char*>(grad.data_ptr())) / elem;
  };
  s_->bucket_of.assign(params.size(), 0);
  // Backward passes finish the last layers first: buckets are cut from the end of the buffer.
  int64_t end = -1, begin = 0;
  size_t count = 0;
  const auto close = [&] {
    s_->buckets.push_back({grad.slice(0, begin, end), count, 0});
    end = -1, count = 0;
  };
  for (size_t k = params.size(); k-- > 0;) {
    if (end < 0) end = offset(k) + params[k].numel();
    begin = offset(k);
    s_->bucket_of[k] = s_->buckets.size();
    ++count;
    if ((end - begin) * elem >= bucket_bytes) close();
  }
  if (count > 0) close();
  s_->finished.assign(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(params[i]);
    RF_CHECK(acc != nullptr, "a parameter has no gradient accumulator", "GradientBuckets", "this is a bug in the trainer");
    const uintptr_t key = acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          parameter_done(i);
          return outputs;
        }));
    s_->hooks.emplace_back(std::move(acc), key);
  }
}

GradientBuckets::~GradientBuckets() {
  for (auto& [node, key] : s_->hooks) node->del_post_hook(key);
}

size_t GradientBuckets::buckets() const { return s_->buckets.size(); }

void GradientBuckets::arm() {
  std::lock_guard<std::mutex> lock(s_->mu);
  for (auto& b : s_->buckets) b.done = 0;
  std::fill(s_->finished.begin(), s_->finished.end(), 0);
  s_->waits.clear();
  s_->next = 0;
  started_early_ = 0;
  s_->armed = true;
}

void GradientBuckets::parameter_done(size_t param) {
  std::lock_guard<std::mutex> lock(s_->mu);
  if (!s_->armed || s_->finished[param]) return;
  s_->finished[param] = 1;
  ++s_->buckets[s_->bucket_of[param]].done;
  start_ready();
}

// In bucket order only, so every rank starts the same collectives in the same order whatever
// order its hooks fire in.
void GradientBuckets::start_ready() {
  while (s_->next < s_->buckets.size() && s_->buckets[s_->next].done == s_->buckets[s_->next].params) {
    s_->waits.push_back(s_->world.start_all_reduce_sum(s_->buckets[s_->next].grad, "the gradients"));
    ++s_->next, ++started_early_;
  }
}

void GradientBuckets::finish() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->armed = false;
    while (s_->next < s_->buckets.size())  // parameters without a gradient this step, or not armed
      s_->waits.push_back(s_->world.start_all_reduce_sum(s_->buckets[s_->next++].grad, "the gradients"));
  }
  for (auto& wait : s_->waits) wait();
  s_->waits.clear();
}

}  // namespace rflow

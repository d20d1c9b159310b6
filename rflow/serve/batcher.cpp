#include "rflow/serve/batcher.h"

#include <torch/torch.h>

#include "rflow/serve/endpoint.h"
#include "rflow/serve/served_models.h"

namespace rflow::serve {

namespace {

// Conditioning members a batch must share to be concatenated row by row.
bool same_members(const Cond& a, const Cond& b) {
  auto trailing = [](const at::Tensor& t) { return t.defined() ? t.sizes().slice(1).vec() : std::vector<int64_t>{-1}; };
  if (trailing(a.labels) != trailing(b.labels) || trailing(a.context) != trailing(b.context) ||
      trailing(a.mask) != trailing(b.mask) || a.extra.size() != b.extra.size())
    return false;
  for (const auto& [k, v] : a.extra)
    if (!b.extra.count(k) || trailing(v) != trailing(b.extra.at(k))) return false;
  return true;
}

bool same_settings(const SolveRequest& a, const SolveRequest& b) {
  return a.solve.method == b.solve.method && a.solve.steps == b.solve.steps && a.solve.rtol == b.solve.rtol &&
         a.solve.atol == b.solve.atol && a.solve.max_nfe == b.solve.max_nfe && a.solve.per_sample == b.solve.per_sample &&
         a.field.guidance == b.field.guidance && a.field.eta == b.field.eta;
}

// Only solvers that step each sample on their own give a merged request its own answer.
bool per_sample(const SolveRequest& r) { return solvers().get(r.solve.method)()->nfe_per_step() > 0 || r.solve.per_sample; }

}  // namespace

Batcher::Batcher(ServedModel& model, BatchOptions opt) : model_(model), opt_(opt) {
  worker_ = std::thread([this] { run(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

SolveResult Batcher::solve(const at::Tensor& x0, const Cond& cond, const SolveRequest& r) {
  {
    // Alone (nothing queued or solving, no other request for the model on its way): solved in the
    // caller's thread, sparing the two thread hand-offs that dominate a small solve's latency.
    std::unique_lock<std::mutex> lock(mu_);
    if (queue_.empty() && !worker_busy_ && inline_solves_ == 0 && model_.requests_in_progress.load() <= 1) {
      ++inline_solves_, ++solves_, ++requests_;
      lock.unlock();
      struct Done {
        Batcher& b;
        ~Done() {
          std::lock_guard<std::mutex> l(b.mu_);
          --b.inline_solves_;
        }
      } done{*this};
      return solve_now(model_, x0, cond, r);
    }
  }
  auto job = std::make_unique<Job>();
  job->x0 = x0, job->cond = cond, job->settings = r, job->arrived = std::chrono::steady_clock::now();
  std::future<SolveResult> result = job->result.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queued_samples_ > 0 && queued_samples_ + x0.size(0) > opt_.max_queue)
      throw HttpError(503, "the server is busy: " + std::to_string(queued_samples_) + " samples are waiting", model_.name,
                      "retry in a moment (Retry-After)");
    queued_samples_ += x0.size(0);
    queue_.push_back(std::move(job));
  }
  wake_.notify_all();
  return result.get();  // rethrows the solve's error
}

std::pair<int64_t, int64_t> Batcher::solves_and_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {solves_, requests_};
}

std::vector<std::unique_ptr<Batcher::Job>> Batcher::take_batch(std::unique_lock<std::mutex>&) {
  std::vector<std::unique_ptr<Job>> batch;
  batch.push_back(std::move(queue_.front()));
  queue_.pop_front();
  int64_t samples = batch[0]->x0.size(0);
  const Job& first = *batch[0];
  if (per_sample(first.settings)) {
    for (auto it = queue_.begin(); it != queue_.end();) {
      const Job& j = **it;
      const bool fits = samples + j.x0.size(0) <= opt_.max_batch && same_settings(j.settings, first.settings) &&
                        j.x0.sizes().slice(1) == first.x0.sizes().slice(1) && same_members(j.cond, first.cond);
      if (!fits) {
        ++it;
        continue;
      }
      samples += j.x0.size(0);
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    }
  }
  queued_samples_ -= samples;
  return batch;
}

void Batcher::solve_batch(std::vector<std::unique_ptr<Job>>& batch) {
  try {
    std::vector<at::Tensor> x0s;
    std::vector<Cond> conds;
    for (const auto& j : batch) x0s.push_back(j->x0), conds.push_back(j->cond);
    const SolveResult all = solve_now(model_, batch.size() == 1 ? x0s[0] : torch::cat(x0s),
                                              batch.size() == 1 ? conds[0] : Cond::cat(conds), batch[0]->settings);
    int64_t row = 0;
    for (auto& j : batch) {
      const int64_t n = j->x0.size(0);
      SolveResult mine = all;
      mine.x = all.x.narrow(0, row, n).clone();
      mine.nfe = all.nfe.narrow(0, row, n).clone();
      if (all.t_reached.defined() && all.t_reached.dim() == 1) mine.t_reached = all.t_reached.narrow(0, row, n).clone();
      row += n;
      j->result.set_value(std::move(mine));
    }
  } catch (...) {
    for (auto& j : batch) j->result.set_exception(std::current_exception());
  }
}

void Batcher::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    // The oldest request waits up to wait_ms for company, but only while company is on its way
    // (requests for this model parsed but not yet queued) and the batch is not full: a lone
    // client is answered at once.
    const auto deadline = queue_.front()->arrived + std::chrono::microseconds(static_cast<int64_t>(opt_.wait_ms * 1000));
    auto coming = [&] { return model_.requests_in_progress.load() - inline_solves_ > static_cast<int64_t>(queue_.size()); };
    while (!stopping_ && queued_samples_ < opt_.max_batch && coming() && std::chrono::steady_clock::now() < deadline)
      wake_.wait_until(lock, deadline);
    auto batch = take_batch(lock);
    ++solves_;
    requests_ += static_cast<int64_t>(batch.size());
    worker_busy_ = true;
    lock.unlock();
    solve_batch(batch);
    lock.lock();
    worker_busy_ = false;
  }
}

}  // namespace rflow::serve

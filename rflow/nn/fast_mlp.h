// The fast CPU path of MLP velocity fields (model.arch = "mlp") for small batches: weights packed
// once for the dense kernels (rflow/core/kernels/dense_kernels.h), the time branch of a fixed grid
// computed once and reused, no allocation inside a solve, no LibTorch op per step. Equal to the
// LibTorch forward within float rounding (~1e-6). Used by solve() for batches up to 64 and, held
// directly, by control loops that need one action in well under a millisecond. Policies with a
// variance head also run AdaFlow's variance-adaptive Euler here.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace rflow {

class MlpVelocityImpl;
struct SolvePlan;

class FastMlp {
 public:
  // Packs the field's current weights (a copy: later training does not reach this object).
  explicit FastMlp(const MlpVelocityImpl& field);
  ~FastMlp();
  FastMlp(const FastMlp&) = delete;
  FastMlp& operator=(const FastMlp&) = delete;

  int64_t dim() const { return dim_; }  // floats per sample
  int64_t num_classes() const { return num_classes_; }
  int64_t obs_dim() const { return obs_dim_; }
  bool has_variance() const { return variance_ != nullptr; }

  // Scratch of one caller (one thread): buffers for up to max_rows rows (twice the batch under
  // guidance) and the time branch of the last grid solved. Reuse it across calls.
  class Workspace;
  struct WorkspaceDelete {
    void operator()(Workspace* w) const;
  };
  using WorkspacePtr = std::unique_ptr<Workspace, WorkspaceDelete>;
  WorkspacePtr workspace(int64_t max_rows = 128) const;

  // v = field(x, t) for B rows: x, v are B × dim floats; labels B int64 (−1 = none) or null; obs
  // B × obs_dim floats for a policy (null otherwise).
  void velocity(Workspace& ws, const float* x, float t, const int64_t* labels, int64_t B, float* v,
                const float* obs = nullptr) const;
  // The plan's solve from x0 (B × dim) into x (may be x0), with its guidance scale: its
  // Runge–Kutta tableau on its grid or, with plan.eta > 0, the variance-adaptive Euler (then nfe,
  // if given, receives each sample's steps).
  void solve(Workspace& ws, const SolvePlan& plan, const float* x0, const int64_t* labels, int64_t B, float* x,
             const float* obs = nullptr, int64_t* nfe = nullptr) const;

 private:
  struct Layer;
  // One MLP as packed: first-layer parts (x, time, observations), hidden layers, output.
  struct Net {
    int64_t width = 0, pad = 0;
    std::unique_ptr<Layer> in_x, in_t, in_o, out;
    std::vector<Layer> hidden;
    Net();
    ~Net();
    Net(Net&&) noexcept;
  };
  // One evaluation of `net` for `rows` rows from the first-layer starts in ws.init.
  void evaluate(Workspace& ws, const Net& net, const float* x, int64_t rows, float* out) const;
  void time_branch(const Net& net, float t, float* out) const;  // in_x.bias + in_t · emb(t)
  // The first layer's start of each of `rows` rows: the time row, plus the row's label embedding
  // (the flow only) and observation projection (row r uses obs row r mod B: guidance's twins share it).
  void first_layer_starts(Workspace& ws, const Net& net, const float* time_row, const int64_t* labels,
                          const float* obs_rows, int64_t B, int64_t rows) const;
  void project_observations(Workspace& ws, const Net& net, const float* obs, int64_t B, float* dest) const;
  void check(const int64_t* labels, const float* obs, int64_t B, const char* where) const;
  void activate(const float* in, float* out, int64_t n) const;
  // The solves of B rows, with row_labels for the flow's rows (2B under guidance: each sample's and
  // its unlabelled twin's).
  void fixed_step(Workspace& ws, const SolvePlan& plan, const int64_t* row_labels, bool guided, int64_t B,
                  float* x) const;
  void adaptive(Workspace& ws, const SolvePlan& plan, const int64_t* row_labels, bool guided, int64_t B, float* x,
                int64_t* nfe) const;

  int64_t dim_ = 0, time_dim_ = 0, num_classes_ = 0, obs_dim_ = 0;
  int activation_ = 0;
  std::vector<float> freqs_;
  Net flow_;
  std::unique_ptr<Net> variance_;
  std::vector<float> label_rows_;  // (num_classes + 1) × flow pad; the last row: no label
};

}  // namespace rflow

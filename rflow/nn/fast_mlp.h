// The fast CPU path of MLP velocity fields (model.arch = "mlp") for small batches: weights packed
// once for the dense kernels (rflow/core/dense_kernels.h), the time branch of a fixed grid
// computed once and reused, no allocation inside a solve, no LibTorch op per step. Equal to the
// LibTorch forward within float rounding (~1e-6). Used by solve() for batches up to 64 and, held
// directly, by control loops that need one action in well under a millisecond.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace rflow {

class MlpVelocityImpl;
struct FixedStepPlan;

class FastMlp {
 public:
  // Packs the field's current weights (a copy: later training does not reach this object).
  explicit FastMlp(const MlpVelocityImpl& field);
  ~FastMlp();
  FastMlp(const FastMlp&) = delete;
  FastMlp& operator=(const FastMlp&) = delete;

  int64_t dim() const { return dim_; }  // floats per sample
  int64_t num_classes() const { return num_classes_; }

  // Scratch of one caller (one thread): buffers for up to max_rows rows (twice the batch under
  // guidance) and the time branch of the last grid solved. Reuse it across calls.
  class Workspace;
  struct WorkspaceDelete {
    void operator()(Workspace* w) const;
  };
  using WorkspacePtr = std::unique_ptr<Workspace, WorkspaceDelete>;
  WorkspacePtr workspace(int64_t max_rows = 128) const;

  int64_t obs_dim() const { return obs_dim_; }

  // v = field(x, t) for B rows: x, v are B × dim floats; labels B int64 (−1 = none) or null; obs
  // B × obs_dim floats for a policy (null otherwise).
  void velocity(Workspace& ws, const float* x, float t, const int64_t* labels, int64_t B, float* v,
                const float* obs = nullptr) const;
  // The plan's fixed-step solve from x0 (B × dim) into x (may be x0), with its guidance scale.
  void solve(Workspace& ws, const FixedStepPlan& plan, const float* x0, const int64_t* labels, int64_t B, float* x,
             const float* obs = nullptr) const;

 private:
  struct Layer;
  // One evaluation of the network for `rows` rows; first-layer starts (time branch and label
  // rows) prepared by the caller in ws.
  void evaluate(Workspace& ws, const float* x, const float* const* init, int64_t rows, float* v) const;
  void time_branch(float t, float* out) const;  // in_x.bias + in_t · emb(t)
  // The first layer's start of each of `rows` rows: the time row, plus the row's label embedding
  // and observation projection (row r uses obs row r mod B: guidance's twins share it).
  void first_layer_starts(Workspace& ws, const float* time_row, const int64_t* labels, bool with_obs, int64_t B,
                          int64_t rows) const;
  void project_observations(Workspace& ws, const float* obs, int64_t B) const;  // in_o · obs per row
  void check(const Workspace& ws, const int64_t* labels, const float* obs, int64_t B, const char* where) const;
  void activate(const float* in, float* out, int64_t n) const;

  int64_t dim_ = 0, hidden_ = 0, hidden_pad_ = 0, time_dim_ = 0, num_classes_ = 0, obs_dim_ = 0;
  int activation_ = 0;
  std::vector<float> freqs_;
  std::unique_ptr<Layer> in_x_, in_t_, in_o_, out_;
  std::vector<Layer> hidden_layers_;
  std::vector<float> label_rows_;  // (num_classes + 1) × hidden_pad; the last row: no label
};

}  // namespace rflow

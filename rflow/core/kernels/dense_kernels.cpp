#include "rflow/core/kernels/dense_kernels.h"

#include <atomic>
#include <cstdlib>

namespace rflow::kernels {

namespace portable {
// Plain arrays of 8: the compiler vectorises the loops for the baseline instruction set.
struct Isa {
  struct V {
    float v[8];
  };
  static constexpr int W = 8;
  static constexpr int kAcc = 8;
  static V load(const float* p) { return loadu(p); }
  static V loadu(const float* p) {
    V r;
    for (int i = 0; i < W; ++i) r.v[i] = p[i];
    return r;
  }
  static void storeu(float* p, const V& v) {
    for (int i = 0; i < W; ++i) p[i] = v.v[i];
  }
  static V set1(float f) {
    V r;
    for (int i = 0; i < W; ++i) r.v[i] = f;
    return r;
  }
  static V fma(const V& a, const V& b, const V& c) {
    V r;
    for (int i = 0; i < W; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
    return r;
  }
  static V add(const V& a, const V& b) {
    V r;
    for (int i = 0; i < W; ++i) r.v[i] = a.v[i] + b.v[i];
    return r;
  }
  static V zero() { return set1(0.0f); }
};

#include "rflow/core/kernels/dense_kernels_tile.h"

void dense(const DenseArgs& d) { dense_all(d); }
}  // namespace portable

#ifdef RFLOW_X86_KERNELS
namespace avx512 {
void dense(const DenseArgs& d);
}
namespace avx2 {
void dense(const DenseArgs& d);
}
#endif

namespace {

using DenseFn = void (*)(const DenseArgs&);

struct Choice {
  const char* name;
  DenseFn fn;
};

std::vector<Choice> available() {
  std::vector<Choice> out;
#ifdef RFLOW_X86_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) out.push_back({"avx512", avx512::dense});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.push_back({"avx2", avx2::dense});
#endif
  out.push_back({"portable", portable::dense});
  return out;
}

struct Current {
  std::atomic<DenseFn> fn;
  std::atomic<const char*> name;
};

Choice initial() {
  const auto all = available();
  Choice pick = all.front();
  if (const char* want = std::getenv("RFLOW_DENSE_ISA"))
    for (const auto& a : all)
      if (want == std::string(a.name)) pick = a;
  return pick;
}

Current& current() {
  static const Choice first = initial();
  static Current c{first.fn, first.name};
  return c;
}

}  // namespace

void dense(const DenseArgs& a) { current().fn.load(std::memory_order_relaxed)(a); }

std::string dense_isa() { return current().name.load(); }

std::vector<std::string> dense_isas() {
  std::vector<std::string> out;
  for (const auto& a : available()) out.push_back(a.name);
  return out;
}

bool use_dense_isa(const std::string& isa) {
  for (const auto& a : available())
    if (isa == a.name) {
      current().fn = a.fn;
      current().name = a.name;
      return true;
    }
  return false;
}

}  // namespace rflow::kernels

// The register-tiled body of kernels::dense, written once over a vector type. Each instruction set
// includes it in a translation unit of its own (compiled with that set's flags), inside its own
// namespace, after defining `Isa`: V, W (floats per vector), kAcc (accumulator registers to use),
// load (aligned), loadu, storeu, set1, zero, add and fma(a, b, c) = a·b + c.
// (No include guard on purpose: included once per instruction-set namespace.)

// R rows × C vectors of columns from n0: the accumulators stay in registers across all k. Small
// tiles (an output layer of a few columns at batch 1) keep KS partial sums over k, so the FMAs do
// not wait on each other's latency.
template <int R, int C>
inline void dense_tile(const DenseArgs& d, int64_t r0, int64_t n0) {
  constexpr int KS = R * C <= 2 ? 4 : 1;
  typename Isa::V acc[KS][R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      acc[0][r][c] = Isa::loadu(d.init[r0 + r] + n0 + c * Isa::W);
      for (int s = 1; s < KS; ++s) acc[s][r][c] = Isa::zero();
    }
  const float* w = d.w + n0;
  const float* x = d.x + r0 * d.ldx;
  int64_t k = 0;
  for (; k + KS <= d.k; k += KS) {
    for (int s = 0; s < KS; ++s, w += d.np) {
      typename Isa::V wv[C];
      for (int c = 0; c < C; ++c) wv[c] = Isa::load(w + c * Isa::W);
      for (int r = 0; r < R; ++r) {
        const typename Isa::V xb = Isa::set1(x[r * d.ldx + k + s]);
        for (int c = 0; c < C; ++c) acc[s][r][c] = Isa::fma(xb, wv[c], acc[s][r][c]);
      }
    }
  }
  for (; k < d.k; ++k, w += d.np)
    for (int r = 0; r < R; ++r) {
      const typename Isa::V xb = Isa::set1(x[r * d.ldx + k]);
      for (int c = 0; c < C; ++c) acc[0][r][c] = Isa::fma(xb, Isa::load(w + c * Isa::W), acc[0][r][c]);
    }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      for (int s = 1; s < KS; ++s) acc[0][r][c] = Isa::add(acc[0][r][c], acc[s][r][c]);
      Isa::storeu(d.y + (r0 + r) * d.ldy + n0 + c * Isa::W, acc[0][r][c]);
    }
}

// Columns [v0, v1) (in vectors) of R rows: the widest tile that fits the accumulator budget, then
// narrower ones.
template <int R>
inline void dense_rows(const DenseArgs& d, int64_t r0, int64_t v0, int64_t v1) {
  constexpr int kMax = Isa::kAcc / R;
  int64_t v = v0;
  for (; v + kMax <= v1; v += kMax) dense_tile<R, kMax>(d, r0, v * Isa::W);
  if constexpr (kMax > 8)
    for (; v + 8 <= v1; v += 8) dense_tile<R, 8>(d, r0, v * Isa::W);
  if constexpr (kMax > 4)
    for (; v + 4 <= v1; v += 4) dense_tile<R, 4>(d, r0, v * Isa::W);
  if constexpr (kMax > 2)
    for (; v + 2 <= v1; v += 2) dense_tile<R, 2>(d, r0, v * Isa::W);
  if constexpr (kMax > 1)
    for (; v < v1; ++v) dense_tile<R, 1>(d, r0, v * Isa::W);
}

// Groups of four rows, then the rest. (Column blocks sized for L1, reused by every row group, were
// slower here: the 4 × 4 tile's arithmetic already hides the weights' L2 traffic.)
inline void dense_all(const DenseArgs& d) {
  const int64_t nv = d.np / Isa::W;
  int64_t r0 = 0;
  for (; r0 + 4 <= d.rows; r0 += 4) dense_rows<4>(d, r0, 0, nv);
  switch (d.rows - r0) {
    case 3: dense_rows<3>(d, r0, 0, nv); break;
    case 2: dense_rows<2>(d, r0, 0, nv); break;
    case 1: dense_rows<1>(d, r0, 0, nv); break;
    default: break;
  }
}

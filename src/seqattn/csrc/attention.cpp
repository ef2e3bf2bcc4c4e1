// Fused exact attention on CPU: the FlashAttention-2 schedule with BLAS tiles.
//
// forward(q, k, v, mask, causal, scale, bq, bk, dropout_p, seed) -> (out, lse)
//   q (BH, T, Dh), k (BH, S, Dh), v (BH, S, Dv) contiguous, float32 / float64 / bfloat16;
//   mask: an additive float tensor (n0, n1, T, S) with n0 n1 = BH (any strides: a broadcast
//   padding mask is not materialised), or undefined.
//   Parallel over BH x query blocks. Per tile (bq queries x bk keys), with float accumulation
//   (double for double inputs):
//     s = scale q k^T                         (one GEMM into a per-thread buffer)
//     s += mask; causal: s[i, j] = -inf for j > i (blocks wholly above the diagonal skipped)
//     m' = max(m, rowmax s); p = exp(s - m'); l = l exp(m - m') + rowsum p
//     o = o exp(m - m') + p v                 (second GEMM, accumulated in the buffer)
//   then out = o / l, lse = m + log l. A row with no visible key gets out = 0, lse = 0.
//   Dropout (p > 0) multiplies p by z (0, or 1 / (1 - p) where kept; see Dropout) after l is
//   updated: out = (softmax(s) z) v, as F.dropout on the weights.
// backward(q, k, v, mask, out, lse, dout, causal, scale, bq, bk, dropout_p, seed)
//   recomputes p = exp(s - lse) per tile, then (five GEMMs per tile)
//     dv += p^T do;  dp = do v^T;  ds = p (dp - rowsum(do o));  dq += scale ds k;
//     dk += scale ds^T q
//   parallel over BH (dk, dv accumulate over the query blocks of one head). Under dropout,
//   dv uses p z and dp becomes dp z (the mask regenerated from the seed, never stored).
// bq, bk <= 0 choose torch's CPU split sizes (queries 32/64/256 by length, keys 512).
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/OpMathType.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <ATen/native/CPUBlas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

// C (m x n, row-major, leading dim ldc) = A (m x k, lda) B (k x n, ldb) [+ C]: ATen's batch-
// reduce GEMM (oneDNN's ukernel where the CPU has one, else MKL/BLAS sgemm), single-threaded
// inside the parallel region; float64 (the parity tests' dtype) goes through at::mm.
inline void mm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool add) {
  at::native::cpublas::brgemm(m, n, k, lda, ldb, ldc, add, a, b, c, false);
}

inline void mm(int64_t m, int64_t n, int64_t k, const at::BFloat16* a, int64_t lda,
               const at::BFloat16* b, int64_t ldb, float* c, int64_t ldc, bool add) {
  at::native::cpublas::brgemm(m, n, k, lda, ldb, ldc, add, a, b, c, false);
}

inline void mm(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
               int64_t ldb, double* c, int64_t ldc, bool add) {
  const auto opt = at::TensorOptions().dtype(at::kDouble);
  auto av = at::from_blob(const_cast<double*>(a), {m, k}, {lda, 1}, opt);
  auto bv = at::from_blob(const_cast<double*>(b), {k, n}, {ldb, 1}, opt);
  auto cv = at::from_blob(c, {m, n}, {ldc, 1}, opt);
  if (add) {
    cv.addmm_(av, bv);
  } else {
    at::mm_out(cv, av, bv);
  }
}

template <typename acc_t>
using Vec = at::vec::Vectorized<acc_t>;

template <typename acc_t>
acc_t row_max(const acc_t* x, int64_t n) {
  return at::vec::reduce_all<acc_t>(
      [](Vec<acc_t>& a, Vec<acc_t>& b) { return at::vec::maximum(a, b); }, x, n);
}

// x = exp(x - shift) in place; returns the sum.
template <typename acc_t>
acc_t exp_shift_sum(acc_t* x, int64_t n, acc_t shift) {
  const int64_t w = Vec<acc_t>::size();
  const Vec<acc_t> vshift(shift);
  Vec<acc_t> vsum(acc_t(0));
  int64_t c = 0;
  for (; c + w <= n; c += w) {
    Vec<acc_t> e = (Vec<acc_t>::loadu(x + c) - vshift).exp_u20();
    e.store(x + c);
    vsum = vsum + e;
  }
  acc_t sum = at::vec::vec_reduce_all<acc_t>(
      [](Vec<acc_t>& a, Vec<acc_t>& b) { return a + b; }, vsum);
  for (; c < n; ++c) {
    x[c] = std::exp(x[c] - shift);
    sum += x[c];
  }
  return sum;
}

// x = exp(x - shift) in place (the backward's recomputed probabilities).
template <typename acc_t>
void exp_shift(acc_t* x, int64_t n, acc_t shift) {
  const int64_t w = Vec<acc_t>::size();
  const Vec<acc_t> vshift(shift);
  int64_t c = 0;
  for (; c + w <= n; c += w) (Vec<acc_t>::loadu(x + c) - vshift).exp_u20().store(x + c);
  for (; c < n; ++c) x[c] = std::exp(x[c] - shift);
}

template <typename acc_t>
void scale_row(acc_t* x, int64_t n, acc_t a) {
  at::vec::map([a](Vec<acc_t> v) { return v * Vec<acc_t>(a); }, x, x, n);
}

// scale, the additive mask and the causal -inf on one score tile (rows i0.., columns j0..).
template <typename acc_t>
struct TileScores {
  acc_t scale = 1;
  const acc_t* mask = nullptr;  // mask[b] or nullptr
  int64_t st = 0, ss = 0;       // its strides over queries and keys
  bool causal = false;

  void finish(acc_t* s, int64_t rows, int64_t cols, int64_t i0, int64_t j0) const {
    constexpr acc_t ninf = -std::numeric_limits<acc_t>::infinity();
    const Vec<acc_t> vscale(scale);
    for (int64_t r = 0; r < rows; ++r) {
      acc_t* srow = s + r * cols;
      const acc_t* mrow = mask == nullptr ? nullptr : mask + (i0 + r) * st + j0 * ss;
      if (mrow != nullptr && ss == 1) {
        at::vec::map2([vscale](Vec<acc_t> a, Vec<acc_t> b) { return a * vscale + b; }, srow,
                      srow, mrow, cols);
      } else {
        at::vec::map([vscale](Vec<acc_t> a) { return a * vscale; }, srow, srow, cols);
        if (mrow != nullptr) {
          for (int64_t c = 0; c < cols; ++c) srow[c] += mrow[c * ss];
        }
      }
      if (causal) {  // top-left alignment: query i sees keys j <= i
        for (int64_t c = std::max<int64_t>(0, i0 + r + 1 - j0); c < cols; ++c) srow[c] = ninf;
      }
    }
  }
};

template <typename acc_t>
TileScores<acc_t> scores_of(const at::Tensor& mask, int64_t b, bool causal, double scale) {
  TileScores<acc_t> ts;
  ts.scale = static_cast<acc_t>(scale);
  ts.causal = causal;
  if (mask.defined()) {  // (n0, n1, T, S) over the flattened batch x heads
    const int64_t n1 = mask.size(1);
    ts.mask = mask.data_ptr<acc_t>() + (b / n1) * mask.stride(0) + (b % n1) * mask.stride(1);
    ts.st = mask.stride(2);
    ts.ss = mask.stride(3);
  }
  return ts;
}

// dst (cols x rows) = src (rows x cols)^T, converted to the input dtype.
template <typename in_t, typename acc_t>
void transpose_to(const acc_t* src, int64_t rows, int64_t cols, in_t* dst) {
  constexpr int64_t blk = 16;  // cache-friendly blocks
  for (int64_t r0 = 0; r0 < rows; r0 += blk) {
    for (int64_t c0 = 0; c0 < cols; c0 += blk) {
      const int64_t r1 = std::min(rows, r0 + blk), c1 = std::min(cols, c0 + blk);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = static_cast<in_t>(src[r * cols + c]);
      }
    }
  }
}

// dst (cols x rows, contiguous) = src (rows x cols, row stride ld)^T, same dtype: the key (or
// value) rows of a tile as the right-hand operand of a row-major GEMM.
template <typename in_t>
void transpose_rows(const in_t* src, int64_t rows, int64_t cols, int64_t ld, in_t* dst) {
  constexpr int64_t blk = 16;
  for (int64_t r0 = 0; r0 < rows; r0 += blk) {
    for (int64_t c0 = 0; c0 < cols; c0 += blk) {
      const int64_t r1 = std::min(rows, r0 + blk), c1 = std::min(cols, c0 + blk);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * ld + c];
      }
    }
  }
}

// The tile in the input dtype for a GEMM (a copy for bfloat16 inputs only).
template <typename in_t, typename acc_t>
const in_t* as_input(const acc_t* x, in_t* buf, int64_t n) {
  if constexpr (std::is_same_v<in_t, acc_t>) {
    return x;
  } else {
    for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<in_t>(x[i]);
    return buf;
  }
}

void choose_blocks(int64_t T, int64_t& bq, int64_t& bk) {
  if (bq <= 0) bq = T >= 768 ? 256 : (T >= 192 ? 64 : 32);
  if (bk <= 0) bk = 512;
}

// Dropout on the attention weights, regenerated (not stored) in the backward: element (b, i, j)
// is kept when a counter-based hash of (seed, b * T + i, j) is at least p 2^24, and a kept
// weight is scaled by 1 / (1 - p). The same (seed, p) gives the same mask on any thread count.
struct Dropout {
  bool on = false;
  uint64_t seed = 0;
  uint32_t threshold = 0;  // p 2^24
  double inv = 1.0;        // 1 / (1 - p)

  Dropout(double p, int64_t seed_) : seed(static_cast<uint64_t>(seed_)) {
    on = p > 0.0;
    threshold = static_cast<uint32_t>(std::min(p, 1.0) * 16777216.0);
    inv = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  }

  static uint32_t mix(uint32_t x) {  // a 32-bit avalanche hash ("lowbias32")
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
  }

  uint32_t row_key(int64_t row) const {
    const uint64_t r = static_cast<uint64_t>(row);
    return mix(static_cast<uint32_t>(seed) ^ mix(static_cast<uint32_t>(r) ^
                                                 mix(static_cast<uint32_t>(seed >> 32) +
                                                     static_cast<uint32_t>(r >> 32))));
  }

  // x[c] *= (kept ? 1 / (1 - p) : 0) for the keys j0 + c of one row.
  template <typename acc_t>
  void apply(acc_t* x, int64_t cols, int64_t row, int64_t j0) const {
    const uint32_t key = row_key(row);
    const acc_t scale = static_cast<acc_t>(inv);
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t h = mix(key ^ (static_cast<uint32_t>(j0 + c) * 0x9e3779b9U)) >> 8;
      x[c] *= h >= threshold ? scale : acc_t(0);
    }
  }
};

template <typename in_t>
void forward_kernel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& mask, bool causal, double scale, int64_t bq, int64_t bk,
                    const Dropout& drop, at::Tensor& out, at::Tensor& lse) {
  using acc_t = at::opmath_type<in_t>;
  const int64_t BH = q.size(0), T = q.size(1), D = q.size(2), S = k.size(1), Dv = v.size(2);
  const in_t* Q = q.data_ptr<in_t>();
  const in_t* K = k.data_ptr<in_t>();
  const in_t* V = v.data_ptr<in_t>();
  in_t* O = out.data_ptr<in_t>();
  acc_t* L = lse.data_ptr<acc_t>();
  const int64_t nqb = (T + bq - 1) / bq;
  at::parallel_for(0, BH * nqb, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> s(bq * bk), o(bq * Dv), m(bq), l(bq);
    std::vector<in_t> p_in(std::is_same_v<in_t, acc_t> ? 0 : bq * bk), kt(D * bk);
    for (int64_t w = begin; w < end; ++w) {
      const int64_t b = w / nqb, i0 = (w % nqb) * bq, rows = std::min(bq, T - i0);
      const TileScores<acc_t> ts = scores_of<acc_t>(mask, b, causal, scale);
      const in_t* Qb = Q + (b * T + i0) * D;
      const in_t* Kb = K + b * S * D;
      const in_t* Vb = V + b * S * Dv;
      std::fill_n(m.begin(), rows, -std::numeric_limits<acc_t>::infinity());
      std::fill_n(l.begin(), rows, acc_t(0));
      std::fill_n(o.begin(), rows * Dv, acc_t(0));
      const int64_t jend = causal ? std::min(S, i0 + rows) : S;
      for (int64_t j0 = 0; j0 < jend; j0 += bk) {
        const int64_t cols = std::min(bk, jend - j0);
        transpose_rows(Kb + j0 * D, cols, D, D, kt.data());
        mm(rows, cols, D, Qb, D, kt.data(), cols, s.data(), cols, false);  // q k^T
        ts.finish(s.data(), rows, cols, i0, j0);
        for (int64_t r = 0; r < rows; ++r) {
          acc_t* srow = s.data() + r * cols;
          const acc_t m_new = std::max(m[r], row_max(srow, cols));
          const acc_t shift = std::isfinite(m_new) ? m_new : acc_t(0);
          const acc_t sum = exp_shift_sum(srow, cols, shift);
          const acc_t alpha = std::exp(m[r] - shift);  // 0 on the first visible tile
          l[r] = l[r] * alpha + sum;  // the normaliser sums the weights before dropout
          if (alpha != acc_t(1)) scale_row(o.data() + r * Dv, Dv, alpha);
          m[r] = m_new;
          if (drop.on) drop.apply(srow, cols, b * T + i0 + r, j0);
        }
        const in_t* p = as_input(s.data(), p_in.data(), rows * cols);
        mm(rows, Dv, cols, p, cols, Vb + j0 * Dv, Dv, o.data(), Dv, true);  // o += p v
      }
      for (int64_t r = 0; r < rows; ++r) {
        in_t* orow = O + (b * T + i0 + r) * Dv;
        const acc_t* acc = o.data() + r * Dv;
        const bool visible = l[r] > acc_t(0);
        const acc_t inv = visible ? acc_t(1) / l[r] : acc_t(0);
        for (int64_t c = 0; c < Dv; ++c) orow[c] = static_cast<in_t>(acc[c] * inv);
        L[b * T + i0 + r] = visible ? m[r] + std::log(l[r]) : acc_t(0);
      }
    }
  });
}

template <typename in_t>
void backward_kernel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& mask, const at::Tensor& out, const at::Tensor& lse,
                     const at::Tensor& dout, bool causal, double scale,
                     int64_t bq, int64_t bk, const Dropout& drop, at::Tensor& dq, at::Tensor& dk, at::Tensor& dv) {
  using acc_t = at::opmath_type<in_t>;
  constexpr bool same = std::is_same_v<in_t, acc_t>;
  const int64_t BH = q.size(0), T = q.size(1), S = k.size(1), D = q.size(2), Dv = v.size(2);
  const in_t* Q = q.data_ptr<in_t>();
  const in_t* K = k.data_ptr<in_t>();
  const in_t* V = v.data_ptr<in_t>();
  const in_t* dO = dout.data_ptr<in_t>();
  const in_t* Out = out.data_ptr<in_t>();
  const acc_t* L = lse.data_ptr<acc_t>();
  const acc_t scale_a = static_cast<acc_t>(scale);
  at::parallel_for(0, BH, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> p(bq * bk), dp(bq * bk), pd(drop.on ? bq * bk : 0);
    std::vector<in_t> tr(bq * bk), ds_in(same ? 0 : bq * bk);
    std::vector<in_t> kt(D * S), vt(Dv * S);  // k^T and v^T of the head in hand
    std::vector<acc_t> delta(bq);              // rowsum(do * o) of the query block
    // float accumulators for one head (bfloat16 inputs); float/double write dq, dk, dv directly
    std::vector<acc_t> dq_acc(same ? 0 : T * D), dk_acc(same ? 0 : S * D),
        dv_acc(same ? 0 : S * Dv);
    for (int64_t b = begin; b < end; ++b) {
      const TileScores<acc_t> ts = scores_of<acc_t>(mask, b, causal, scale);
      const in_t* Kb = K + b * S * D;
      transpose_rows(Kb, S, D, D, kt.data());
      transpose_rows(V + b * S * Dv, S, Dv, Dv, vt.data());
      const in_t* KTb = kt.data();
      const in_t* VTb = vt.data();
      acc_t *dQ, *dK, *dV;
      if constexpr (same) {
        dQ = dq.data_ptr<acc_t>() + b * T * D;
        dK = dk.data_ptr<acc_t>() + b * S * D;
        dV = dv.data_ptr<acc_t>() + b * S * Dv;
      } else {
        dQ = dq_acc.data(), dK = dk_acc.data(), dV = dv_acc.data();
        std::fill(dq_acc.begin(), dq_acc.end(), acc_t(0));
        std::fill(dk_acc.begin(), dk_acc.end(), acc_t(0));
        std::fill(dv_acc.begin(), dv_acc.end(), acc_t(0));
      }
      for (int64_t i0 = 0; i0 < T; i0 += bq) {
        const int64_t rows = std::min(bq, T - i0);
        const in_t* Qb = Q + (b * T + i0) * D;
        const in_t* dOb = dO + (b * T + i0) * Dv;
        const in_t* Ob = Out + (b * T + i0) * Dv;
        for (int64_t r = 0; r < rows; ++r) {
          acc_t sum = 0;
          for (int64_t c = 0; c < Dv; ++c) {
            sum += static_cast<acc_t>(dOb[r * Dv + c]) * static_cast<acc_t>(Ob[r * Dv + c]);
          }
          delta[r] = sum;
        }
        const int64_t jend = causal ? std::min(S, i0 + rows) : S;
        for (int64_t j0 = 0; j0 < jend; j0 += bk) {
          const int64_t cols = std::min(bk, jend - j0);
          mm(rows, cols, D, Qb, D, KTb + j0, S, p.data(), cols, false);  // q k^T
          ts.finish(p.data(), rows, cols, i0, j0);
          for (int64_t r = 0; r < rows; ++r) {
            exp_shift(p.data() + r * cols, cols, L[b * T + i0 + r]);  // p = exp(s - lse)
          }
          const acc_t* pv = p.data();  // the weights as used on v: p, or p z under dropout
          if (drop.on) {
            std::copy_n(p.data(), rows * cols, pd.data());
            for (int64_t r = 0; r < rows; ++r) {
              drop.apply(pd.data() + r * cols, cols, b * T + i0 + r, j0);
            }
            pv = pd.data();
          }
          transpose_to(pv, rows, cols, tr.data());
          mm(cols, Dv, rows, tr.data(), rows, dOb, Dv, dV + j0 * Dv, Dv, true);  // dv += p^T do
          mm(rows, cols, Dv, dOb, Dv, VTb + j0, S, dp.data(), cols, false);     // dp = do v^T
          if (drop.on) {  // through the dropout: dp z
            for (int64_t r = 0; r < rows; ++r) {
              drop.apply(dp.data() + r * cols, cols, b * T + i0 + r, j0);
            }
          }
          for (int64_t r = 0; r < rows; ++r) {  // ds = scale p (dp - delta), into dp
            const Vec<acc_t> dl(delta[r]), vs(scale_a);
            acc_t* dprow = dp.data() + r * cols;
            at::vec::map2([dl, vs](Vec<acc_t> pp, Vec<acc_t> g) { return vs * pp * (g - dl); },
                          dprow, p.data() + r * cols, dprow, cols);
          }
          const in_t* ds = as_input(dp.data(), ds_in.data(), rows * cols);
          mm(rows, D, cols, ds, cols, Kb + j0 * D, D, dQ + i0 * D, D, true);  // dq += ds k
          transpose_to(dp.data(), rows, cols, tr.data());
          mm(cols, D, rows, tr.data(), rows, Qb, D, dK + j0 * D, D, true);  // dk += ds^T q
        }
      }
      if constexpr (!same) {
        in_t* gq = dq.data_ptr<in_t>() + b * T * D;
        in_t* gk = dk.data_ptr<in_t>() + b * S * D;
        in_t* gv = dv.data_ptr<in_t>() + b * S * Dv;
        for (int64_t i = 0; i < T * D; ++i) gq[i] = static_cast<in_t>(dq_acc[i]);
        for (int64_t i = 0; i < S * D; ++i) gk[i] = static_cast<in_t>(dk_acc[i]);
        for (int64_t i = 0; i < S * Dv; ++i) gv[i] = static_cast<in_t>(dv_acc[i]);
      }
    }
  });
}

void check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, "expected 3-D q, k, v");
  TORCH_CHECK(q.is_contiguous() && k.is_contiguous() && v.is_contiguous(),
              "expected contiguous q, k, v");
  TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
              "expected q, k, v of one dtype");
  TORCH_CHECK(k.size(0) == q.size(0) && v.size(0) == q.size(0) && k.size(1) == v.size(1) &&
                  k.size(2) == q.size(2),
              "expected q (BH, T, D), k (BH, S, D), v (BH, S, Dv)");
}

at::ScalarType acc_type(const at::Tensor& q) {
  return q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

at::Tensor mask_in(const c10::optional<at::Tensor>& mask_opt, const at::Tensor& q,
                   int64_t S) {
  if (!mask_opt.has_value() || !mask_opt->defined()) return at::Tensor();
  at::Tensor mask = mask_opt->to(acc_type(q));
  TORCH_CHECK(mask.dim() == 4 && mask.size(0) * mask.size(1) == q.size(0) &&
                  mask.size(2) == q.size(1) && mask.size(3) == S,
              "expected an (n0, n1, T, S) mask with n0 n1 = BH");
  return mask;
}

std::vector<at::Tensor> forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const c10::optional<at::Tensor>& mask_opt, bool causal,
                                double scale, int64_t bq, int64_t bk, double dropout_p,
                                int64_t seed) {
  check_inputs(q, k, v);
  choose_blocks(q.size(1), bq, bk);
  at::Tensor mask = mask_in(mask_opt, q, k.size(1));
  at::Tensor out = at::empty({q.size(0), q.size(1), v.size(2)}, q.options());
  at::Tensor lse = at::empty({q.size(0), q.size(1)}, q.options().dtype(acc_type(q)));
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, q.scalar_type(), "fused_attention_fwd", [&] {
    forward_kernel<scalar_t>(q, k, v, mask, causal, scale, bq, bk, Dropout(dropout_p, seed), out,
                             lse);
  });
  return {out, lse};
}

std::vector<at::Tensor> backward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const c10::optional<at::Tensor>& mask_opt,
                                 const at::Tensor& out, const at::Tensor& lse,
                                 const at::Tensor& dout, bool causal, double scale, int64_t bq,
                                 int64_t bk, double dropout_p, int64_t seed) {
  check_inputs(q, k, v);
  TORCH_CHECK(dout.is_contiguous() && dout.sizes() == out.sizes(), "expected dout like out");
  choose_blocks(q.size(1), bq, bk);
  at::Tensor mask = mask_in(mask_opt, q, k.size(1));
  const auto acc = acc_type(q);
  at::Tensor lse_c = lse.to(acc).contiguous(), out_c = out.contiguous();
  const bool direct = q.scalar_type() == acc;  // float/double: accumulate into the outputs
  at::Tensor dq = direct ? at::zeros_like(q) : at::empty_like(q);
  at::Tensor dk = direct ? at::zeros_like(k) : at::empty_like(k);
  at::Tensor dv = direct ? at::zeros_like(v) : at::empty_like(v);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, q.scalar_type(), "fused_attention_bwd", [&] {
    backward_kernel<scalar_t>(q, k, v, mask, out_c, lse_c, dout, causal, scale, bq, bk,
                              Dropout(dropout_p, seed), dq, dk, dv);
  });
  return {dq, dk, dv};
}

// The multipliers z (0 or 1 / (1 - p)) the kernel applies under (p, seed), as a (BH, T, S)
// float64 tensor: for tests (out = (softmax(s) z) v).
at::Tensor dropout_multipliers(int64_t BH, int64_t T, int64_t S, double p, int64_t seed) {
  at::Tensor z = at::ones({BH, T, S}, at::TensorOptions().dtype(at::kDouble));
  const Dropout drop(p, seed);
  double* data = z.data_ptr<double>();
  for (int64_t row = 0; row < BH * T; ++row) drop.apply(data + row * S, S, row, 0);
  return z;
}

// GFLOP/s of the tile GEMM itself (float32, m = n = k = size), every thread running its own:
// the peak the kernel's GEMMs can reach, for the benchmark's "% of peak".
double gemm_gflops(int64_t size, int64_t repeats) {
  const int threads = at::get_num_threads();
  std::vector<double> seconds(threads, 0.0);
  at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      std::vector<float> a(size * size, 0.5f), b(size * size, 0.25f), c(size * size, 0.f);
      mm(size, size, size, a.data(), size, b.data(), size, c.data(), size, false);  // warm-up
      const auto start = std::chrono::steady_clock::now();
      for (int64_t r = 0; r < repeats; ++r) {
        mm(size, size, size, a.data(), size, b.data(), size, c.data(), size, true);
      }
      seconds[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  });
  const double slowest = *std::max_element(seconds.begin(), seconds.end());
  return threads * repeats * 2.0 * size * size * size / slowest / 1e9;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "fused attention forward (out, lse)");
  m.def("backward", &backward, "fused attention backward (dq, dk, dv)");
  m.def("dropout_multipliers", &dropout_multipliers, "the dropout mask the kernel uses");
  m.def("gemm_gflops", &gemm_gflops, "GFLOP/s of the tile GEMM on all threads");
}

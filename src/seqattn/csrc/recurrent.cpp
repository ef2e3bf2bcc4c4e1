// Fast path of seqattn's recurrent layers: the time loop of one layer and direction in C++.
//
// The Python reference (seqattn/nn/recurrent/layers.py) pays per step for the Python
// interpreter and for six to ten small ATen ops. Here each step is one GEMM (oneDNN through
// torch's mkldnn::_linear_pointwise when available for float32, else at::mm_out) plus one pass
// of a fused, vectorised gate kernel over the B x G*H gates. The backward through time is
// hand-written: one GEMM and one fused kernel per step; the caller does the weight gradient
// dW_hh = sum_t dgates_t^T h_{t-1} as a single matmul after the loop.
//
// The algorithm is mirrored line by line in seqattn/nn/recurrent/fast.py (the pure-Python
// engine used when this file cannot be compiled); keep the two in step. The fused float32
// LSTM kernels below (forward and backward) compute the same equations in another order and
// with their own GEMM; the Python engine has no counterpart of their organisation.
//
// Layout (no proj_size; P = H):
//   xp    (T, B, G*H)  input projections W_ih x_t + b_ih (+ b_hh for RNN and LSTM, folded)
//   hs    (T, B, H)    hs[t] = state after time t; the previous state of time t is
//                      hs[t-1] (forward direction) or hs[t+1] (reverse), h0 at the start.
//                      Without lengths hs is the layer's output as it is. The reverse
//                      direction runs t = T-1 .. 0 and needs no gather: with padding at the
//                      end, freezing the rows with t >= len[b] starts each sequence at its end.
//   cs    (T, B, H)    LSTM cell states, same indexing, c0 at the start.
//   act   (T, B, 4H)   saved for backward. LSTM: sigma(i), sigma(f), tanh(g), sigma(o).
//                      GRU: r, z, n and W_hn h + b_hn.
//   tc    (T, B, H)    LSTM: tanh(c_t).
// A row b is live at time t iff t < len[b] (no lengths: always). Dead rows keep their state,
// and get zero gradients through the gates; the state gradient passes through them.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/cpu/vec/vec.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
#include <immintrin.h>
#endif

namespace {

using at::Tensor;

enum Mode : int64_t { RNN_TANH = 0, RNN_RELU = 1, LSTM = 2, GRU = 3 };

int64_t gates_of(int64_t mode) { return mode == LSTM ? 4 : (mode == GRU ? 3 : 1); }

// y = x @ W^T for a fixed weight W (N, K), many times. float32 on CPU uses oneDNN with the
// weight reordered once (about 1.6x the throughput of MKL's sgemm for these small shapes on
// the AMD machine this was tuned on); anything else uses at::mm_out into a reused buffer.
// The oneDNN-reordered weight for a batch size (about 0.7 ms for a 1024 x 384 float weight on
// the dev machine: at T = 64 a tenth of an LSTM layer's inference), or an undefined tensor
// where oneDNN does not apply. Reused across calls through `packed` (see pack() below).
Tensor pack_weight(const Tensor& weight, int64_t batch, bool allow_onednn) {
  if (!allow_onednn || weight.scalar_type() != at::kFloat || !weight.device().is_cpu()) {
    return Tensor();
  }
  auto& d = c10::Dispatcher::singleton();
  auto lin = d.findSchema({"mkldnn::_linear_pointwise", ""});
  auto reorder = d.findSchema({"mkldnn::_reorder_linear_weight", ""});
  if (!lin || !reorder) return Tensor();
  std::vector<c10::IValue> stack{weight.contiguous(), c10::IValue(batch)};
  reorder->callBoxed(&stack);
  return stack[0].toTensor();
}

class Gemm {
 public:
  // `packed`: pack_weight(weight, batch, true) from an earlier call, or undefined.
  Gemm(const Tensor& weight, int64_t batch, bool allow_onednn, const Tensor& bias = Tensor(),
       const Tensor& packed = Tensor())
      : w_t_(weight.t()), bias_(bias) {
    packed_ = packed.defined() && allow_onednn ? packed : pack_weight(weight, batch, allow_onednn);
    if (packed_.defined()) {
      linear_ = c10::Dispatcher::singleton().findSchema({"mkldnn::_linear_pointwise", ""});
    }
    out_ = at::empty({batch, weight.size(0)}, weight.options());
  }

  // Returns x @ W^T (B, N), contiguous; valid until the next call.
  const Tensor& operator()(const Tensor& x) {
    if (linear_) {
      c10::IValue b = bias_.defined() ? c10::IValue(bias_) : c10::IValue();
      std::vector<c10::IValue> stack{x, packed_, b, std::string("none"),
                                     c10::List<std::optional<at::Scalar>>(), std::string("")};
      linear_->callBoxed(&stack);
      result_ = stack[0].toTensor();
      return result_;
    }
    if (bias_.defined()) {
      at::addmm_out(out_, bias_, x, w_t_);
    } else {
      at::mm_out(out_, x, w_t_);
    }
    return out_;
  }

 private:
  Tensor w_t_, bias_, packed_, out_, result_;
  std::optional<c10::OperatorHandle> linear_;
};

// ------------------------------------------------------------------------ workspace pool
// The big per-call buffers (states, saved activations, gate gradients: (T, B, 4H) float32 is
// 32 MB at T = 256) come from glibc's malloc, which maps large blocks fresh from the OS and
// unmaps them on free, so every call page-faults them in again: measured on the dev machine,
// filling a fresh 32 MB tensor took 14 ms against 0.9 ms for a reused one, and in a T = 256
// LSTM training step (about 100 ms) the faults cost more than the recurrent GEMMs. Blocks of
// at least 1 MB freed by our tensors go back to this pool, bounded by a byte cap
// (SEQATTN_WORKSPACE_MB, default 512; 0 turns the pool off), and serve later requests of the
// same size class (up to 25% larger). Only buffers this extension allocates are pooled: the
// process's malloc is left alone.
class Workspace {
 public:
  static Workspace& get() {
    static Workspace* pool = new Workspace();  // never destroyed: tensors may outlive statics
    return *pool;
  }

  at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& opts) {
    int64_t numel = 1;
    for (int64_t n : sizes) numel *= n;
    const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(opts.dtype().toScalarType());
    if (cap_ == 0 || bytes < kMinBytes || !opts.device().is_cpu()) return at::empty(sizes, opts);
    size_t real = 0;
    void* p = take(bytes, &real);
    if (p == nullptr) {
      real = bytes;
      if (posix_memalign(&p, 64, real) != 0) return at::empty(sizes, opts);  // let torch fail
    }
    return at::from_blob(p, sizes, [real](void* q) { Workspace::get().give(q, real); }, opts);
  }

  void clear() {
    std::lock_guard<std::mutex> guard(mu_);
    for (auto& kv : free_) std::free(kv.second);
    free_.clear();
    cached_ = 0;
  }

  size_t cached_bytes() {
    std::lock_guard<std::mutex> guard(mu_);
    return cached_;
  }

  size_t cap_bytes() const { return cap_; }

 private:
  static constexpr size_t kMinBytes = size_t(1) << 20;

  Workspace() {
    const char* v = std::getenv("SEQATTN_WORKSPACE_MB");
    const long long mb = v != nullptr ? std::atoll(v) : 512;
    cap_ = mb > 0 ? static_cast<size_t>(mb) << 20 : 0;
  }

  void* take(size_t bytes, size_t* real) {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = free_.lower_bound(bytes);
    if (it == free_.end() || it->first > bytes + bytes / 4) return nullptr;
    void* p = it->second;
    *real = it->first;
    cached_ -= it->first;
    free_.erase(it);
    return p;
  }

  void give(void* p, size_t real) {
    {
      std::lock_guard<std::mutex> guard(mu_);
      if (cached_ + real <= cap_) {
        free_.emplace(real, p);
        cached_ += real;
        return;
      }
    }
    std::free(p);
  }

  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
  size_t cap_ = 0;
};

inline at::Tensor pooled_empty(at::IntArrayRef sizes, const at::TensorOptions& opts) {
  return Workspace::get().empty(sizes, opts);
}

template <typename T>
using Vec = at::vec::Vectorized<T>;

// exp: SLEEF's (1 ulp) for double, which the float64 parity tests need; for float ATen's
// inlined polynomial exp_u20 (20 ulp, about 1e-6 relative), three times cheaper than a SLEEF
// call per vector, which made the LSTM gate kernel cost as much as the step's GEMM.
template <typename T>
inline Vec<T> vexp(const Vec<T>& x) {
  return x.exp();
}
template <>
inline Vec<float> vexp<float>(const Vec<float>& x) {
  return x.exp_u20();
}

template <typename T>
inline Vec<T> vsigmoid(const Vec<T>& x) {
  const Vec<T> one(T(1));
  return one / (one + vexp(x.neg()));
}

// tanh(x) = 2 sigmoid(2x) - 1: one exp instead of SLEEF's tanh, about twice as fast; the
// absolute error stays at the rounding of the type (it saturates correctly: exp -> 0 or inf).
template <typename T>
inline Vec<T> vtanh(const Vec<T>& x) {
  const Vec<T> one(T(1)), two(T(2));
  return two / (one + vexp(x * Vec<T>(T(-2)))) - one;
}

// Runs f(b) for every row, in parallel when a step has enough work to pay for the threads.
template <typename F>
inline void for_rows(int64_t batch, int64_t row_work, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row_work));
  at::parallel_for(0, batch, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) f(b);
  });
}

inline bool live(const int64_t* lens, int64_t t, int64_t b) { return lens == nullptr || t < lens[b]; }

// ---------------------------------------------------------------- forward kernels (one row)
template <typename T>
void rnn_fwd_row(bool relu, int64_t H, const T* m, const T* x, const T* hp, T* hq) {
  constexpr int64_t V = Vec<T>::size();
  for (int64_t j = 0; j < H; j += V) {
    const int64_t n = std::min(V, H - j);
    Vec<T> pre = x ? Vec<T>::loadu(m + j, n) + Vec<T>::loadu(x + j, n) : Vec<T>::loadu(m + j, n);
    Vec<T> h = relu ? at::vec::maximum(pre, Vec<T>(T(0))) : vtanh(pre);
    h.store(hq + j, n);
  }
  (void)hp;
}

template <typename T>
void lstm_fwd_row(int64_t H, const T* m, const T* x, const T* cp, T* hq, T* cq, T* act, T* tc) {
  constexpr int64_t V = Vec<T>::size();
  for (int64_t j = 0; j < H; j += V) {
    const int64_t n = std::min(V, H - j);
    Vec<T> pi = Vec<T>::loadu(m + j, n), pf = Vec<T>::loadu(m + H + j, n);
    Vec<T> pg = Vec<T>::loadu(m + 2 * H + j, n), po = Vec<T>::loadu(m + 3 * H + j, n);
    if (x) {
      pi = pi + Vec<T>::loadu(x + j, n);
      pf = pf + Vec<T>::loadu(x + H + j, n);
      pg = pg + Vec<T>::loadu(x + 2 * H + j, n);
      po = po + Vec<T>::loadu(x + 3 * H + j, n);
    }
    Vec<T> i = vsigmoid(pi), f = vsigmoid(pf), g = vtanh(pg), o = vsigmoid(po);
    Vec<T> c = f * Vec<T>::loadu(cp + j, n) + i * g;
    Vec<T> t = vtanh(c);
    c.store(cq + j, n);
    (o * t).store(hq + j, n);
    i.store(act + j, n);
    f.store(act + H + j, n);
    g.store(act + 2 * H + j, n);
    o.store(act + 3 * H + j, n);
    t.store(tc + j, n);
  }
}

template <typename T>
void gru_fwd_row(int64_t H, const T* m, const T* x, const T* bias, const T* hp, T* hq, T* act) {
  constexpr int64_t V = Vec<T>::size();
  const Vec<T> zero(T(0));
  for (int64_t j = 0; j < H; j += V) {
    const int64_t n = std::min(V, H - j);
    Vec<T> br = bias ? Vec<T>::loadu(bias + j, n) : zero;
    Vec<T> bz = bias ? Vec<T>::loadu(bias + H + j, n) : zero;
    Vec<T> bn = bias ? Vec<T>::loadu(bias + 2 * H + j, n) : zero;
    Vec<T> r = vsigmoid(Vec<T>::loadu(x + j, n) + (Vec<T>::loadu(m + j, n) + br));
    Vec<T> z = vsigmoid(Vec<T>::loadu(x + H + j, n) + (Vec<T>::loadu(m + H + j, n) + bz));
    Vec<T> hn = Vec<T>::loadu(m + 2 * H + j, n) + bn;
    Vec<T> nn = vtanh(Vec<T>::loadu(x + 2 * H + j, n) + r * hn);
    Vec<T> h = Vec<T>::loadu(hp + j, n);
    (nn + z * (h - nn)).store(hq + j, n);
    r.store(act + j, n);
    z.store(act + H + j, n);
    nn.store(act + 2 * H + j, n);
    hn.store(act + 3 * H + j, n);
  }
}

// ------------------------------------------------- fused LSTM forward (float32, AVX2/AVX-512)
// The per-step GEMM of the generic loop goes through oneDNN's linear, one call per step. With
// two threads, oneDNN's per-call set-up, its own fork/join and the separate parallel gate pass
// after it cost more than torch's fused LSTM primitive spends on the whole step. Here the whole
// time loop runs in one OpenMP parallel region with one barrier per step. Each thread owns a
// block of hidden units and computes, for every batch row, the four gate pre-activations of
// those units with a register-tiled GEMM ([x_t, h_{t-1}] against the thread's panel of
// [W_ih, W_hh]), then the cell update from the registers: no gates buffer, no second pass.
//
// The weight is packed once into panels (H/W, I+H, 4, W): panel p holds, for each k, the W
// columns of gates i, f, g, o of units p*W .. p*W+W-1, so one row of accumulators is the four
// gates of W units. Same sums as the generic path, in another order: float32 results agree to
// rounding (about 1e-6), not bit for bit.
//
// The accumulators are raw intrinsic vectors, not ATen's Vectorized<float>: GCC 12 kept an
// array of Vectorized<float> on the stack and stored all 24 accumulators back on every k
// (the first version ran at 1.9-2.4x torch's time); arrays of __m512 in fully unrolled loops
// stay in registers.
#if defined(CPU_CAPABILITY_AVX512)
using Reg = __m512;
constexpr int64_t kLanes = 16;
constexpr int kRows = 6;  // 6 rows x 4 gates = 24 accumulators + 4 weights + 1 broadcast <= 32
inline Reg reg_load(const float* p) { return _mm512_loadu_ps(p); }
inline Reg reg_set1(float v) { return _mm512_set1_ps(v); }
inline Reg reg_fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
#define SEQATTN_FUSED_LSTM 1
#elif defined(CPU_CAPABILITY_AVX2)
using Reg = __m256;
constexpr int64_t kLanes = 8;
constexpr int kRows = 2;  // 8 accumulators + 4 weights + 1 broadcast <= 16 registers
inline Reg reg_load(const float* p) { return _mm256_loadu_ps(p); }
inline Reg reg_set1(float v) { return _mm256_set1_ps(v); }
inline Reg reg_fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
#define SEQATTN_FUSED_LSTM 1
#endif

#ifdef SEQATTN_FUSED_LSTM
static_assert(kLanes == Vec<float>::size(), "register width and Vectorized<float> differ");

// One batch row of a tile: where its inputs come from and its outputs go (unit block applied).
struct RowPtrs {
  const float* x;   // x_t of the row (I)
  const float* hp;  // h_{t-1} of the row (H), unit offset not applied: the GEMM reads all of it
  const float* cp;  // c_{t-1} of the row at the unit block
  float* hq;        // h_t, c_t at the unit block
  float* cq;
  float* act;       // saved activations at the unit block (gate g at + g*H), or null
  float* tc;        // saved tanh(c_t) at the unit block, or null
  bool live;
};

// R rows x one unit block: GEMM into registers, then the LSTM cell update.
template <int R>
inline void lstm_tile(int64_t I, int64_t H, const RowPtrs* rows, const float* panel,
                      const float* bias) {
  Reg acc[R][4];
  for (int g = 0; g < 4; ++g) {
    const Reg b = reg_load(bias + g * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r][g] = b;
  }
  const float* w = panel;
  const float* a[R];
  for (int seg = 0; seg < 2; ++seg) {  // k over x_t (I columns), then over h_{t-1} (H)
    const int64_t K = seg == 0 ? I : H;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) a[r] = seg == 0 ? rows[r].x : rows[r].hp;
    for (int64_t k = 0; k < K; ++k, w += 4 * kLanes) {
      const Reg w0 = reg_load(w), w1 = reg_load(w + kLanes);
      const Reg w2 = reg_load(w + 2 * kLanes), w3 = reg_load(w + 3 * kLanes);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const Reg av = reg_set1(a[r][k]);
        acc[r][0] = reg_fmadd(av, w0, acc[r][0]);
        acc[r][1] = reg_fmadd(av, w1, acc[r][1]);
        acc[r][2] = reg_fmadd(av, w2, acc[r][2]);
        acc[r][3] = reg_fmadd(av, w3, acc[r][3]);
      }
    }
  }
  using V = Vec<float>;
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const RowPtrs& p = rows[r];
    if (!p.live) continue;  // past this sequence's end: the caller copies the state
    const V i = vsigmoid(V(acc[r][0])), f = vsigmoid(V(acc[r][1]));
    const V g = vtanh(V(acc[r][2])), o = vsigmoid(V(acc[r][3]));
    const V c = f * V::loadu(p.cp) + i * g;
    const V t = vtanh(c);
    c.store(p.cq);
    (o * t).store(p.hq);
    if (p.act) {
      i.store(p.act);
      f.store(p.act + H);
      g.store(p.act + 2 * H);
      o.store(p.act + 3 * H);
      t.store(p.tc);
    }
  }
}

// The team of the fused kernels: one thread per unit block at most (torch's thread count,
// one inside another parallel region), and the contiguous range of unit blocks this thread
// owns (called inside the region).
inline int team_size(int64_t blocks) {
  const int threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, blocks)));
}

inline std::pair<int64_t, int64_t> my_blocks(int64_t blocks) {
#ifdef _OPENMP
  const int64_t tid = omp_get_thread_num(), team = omp_get_num_threads();
#else
  const int64_t tid = 0, team = 1;
#endif
  return {tid * blocks / team, (tid + 1) * blocks / team};
}

// Is the fused kernel built for this machine and usable for this layer?
bool fused_lstm_fits(int64_t H) { return H % kLanes == 0; }

// [W_ih, W_hh] (4H, I+H) -> panels (H/W, I+H, 4, W): panels[p][k][g][v] = W[g*H + p*W + v][k].
// A gather straight into a pooled buffer (training packs on every call; a cat, then a
// permuted copy, cost two fresh buffers of page faults).
Tensor pack_lstm_weight(const Tensor& w_ih_, const Tensor& w_hh_) {
  const Tensor w_ih = w_ih_.contiguous(), w_hh = w_hh_.contiguous();
  const int64_t H = w_hh.size(1), I = w_ih.size(1), K = I + H, blocks = H / kLanes;
  Tensor panels = pooled_empty({blocks, K, 4, kLanes}, w_hh.options());
  const float* wi = w_ih.data_ptr<float>();
  const float* wh = w_hh.data_ptr<float>();
  float* out = panels.data_ptr<float>();
  at::parallel_for(0, blocks * 4, 1, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t p = q / 4, g = q % 4;
      for (int64_t v = 0; v < kLanes; ++v) {
        const int64_t row = g * H + p * kLanes + v;
        float* dst = out + (p * K * 4 + g) * kLanes + v;  // then + k * 4 * kLanes
        for (int64_t k = 0; k < I; ++k) dst[k * 4 * kLanes] = wi[row * I + k];
        for (int64_t k = 0; k < H; ++k) dst[(I + k) * 4 * kLanes] = wh[row * H + k];
      }
    }
  });
  return panels;
}

// W_hh (4H, H) -> panels (H/W, 4H, W): panels[p][k][v] = W_hh[k][p*W + v].
Tensor pack_lstm_backward_weight(const Tensor& w_hh_) {
  const Tensor w_hh = w_hh_.contiguous();
  const int64_t H = w_hh.size(1), K = 4 * H, blocks = H / kLanes;
  Tensor panels = pooled_empty({blocks, K, kLanes}, w_hh.options());
  const float* w = w_hh.data_ptr<float>();
  float* out = panels.data_ptr<float>();
  at::parallel_for(0, blocks, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t k = 0; k < K; ++k)
        std::memcpy(out + (p * K + k) * kLanes, w + k * H + p * kLanes, kLanes * sizeof(float));
  });
  return panels;
}

void fused_lstm_forward(bool reverse, const Tensor& x_in, const Tensor& panels,
                        const Tensor& b_in, const Tensor& h0, const Tensor& c0, Tensor& hs,
                        Tensor& cs, Tensor& act, Tensor& tc, const int64_t* lens, bool save) {
  const int64_t steps = hs.size(0), batch = hs.size(1), H = hs.size(2), I = x_in.size(2);
  const int64_t blocks = H / kLanes;
  // bias in panel order (blocks, 4, W); zero without one
  const Tensor bias = b_in.defined()
                          ? b_in.view({4, blocks, kLanes}).permute({1, 0, 2}).contiguous()
                          : at::zeros({blocks, 4, kLanes}, hs.options());
  const float* X = x_in.data_ptr<float>();
  const float* P = panels.data_ptr<float>();
  const float* Bp = bias.data_ptr<float>();
  const float* H0 = h0.data_ptr<float>();
  const float* C0 = c0.data_ptr<float>();
  float* HS = hs.data_ptr<float>();
  float* CS = cs.data_ptr<float>();
  float* A = save ? act.data_ptr<float>() : nullptr;
  float* TC = save ? tc.data_ptr<float>() : nullptr;
  const int64_t panel_size = (I + H) * 4 * kLanes;
#ifdef _OPENMP
#pragma omp parallel num_threads(team_size(blocks))
#endif
  {
    const auto [blk0, blk1] = my_blocks(blocks);
    RowPtrs rows[kRows];
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = reverse ? steps - 1 - s : s;
      const int64_t p = reverse ? t + 1 : t - 1;  // index of the previous state
      const bool first = s == 0;
      const float* hprev = first ? H0 : HS + p * batch * H;
      const float* cprev = first ? C0 : CS + p * batch * H;
      for (int64_t blk = blk0; blk < blk1; ++blk) {
        const int64_t u0 = blk * kLanes;
        auto row = [&](int64_t b) {
          RowPtrs r;
          r.x = X + (t * batch + b) * I;
          r.hp = hprev + b * H;
          r.cp = cprev + b * H + u0;
          r.hq = HS + (t * batch + b) * H + u0;
          r.cq = CS + (t * batch + b) * H + u0;
          r.act = A ? A + (t * batch + b) * 4 * H + u0 : nullptr;
          r.tc = A ? TC + (t * batch + b) * H + u0 : nullptr;
          r.live = live(lens, t, b);
          return r;
        };
        const float* panel = P + blk * panel_size;
        const float* bias_blk = Bp + blk * 4 * kLanes;
        int64_t b = 0;
        for (; b + kRows <= batch; b += kRows) {
          for (int r = 0; r < kRows; ++r) rows[r] = row(b + r);
          lstm_tile<kRows>(I, H, rows, panel, bias_blk);
        }
        for (; b < batch; ++b) {
          rows[0] = row(b);
          lstm_tile<1>(I, H, rows, panel, bias_blk);
        }
        // rows past their sequence's end keep their state (their tiles skipped the update)
        for (int64_t d = 0; lens != nullptr && d < batch; ++d) {
          if (live(lens, t, d)) continue;
          std::memcpy(HS + (t * batch + d) * H + u0, hprev + d * H + u0, kLanes * sizeof(float));
          std::memcpy(CS + (t * batch + d) * H + u0, cprev + d * H + u0, kLanes * sizeof(float));
        }
      }
#ifdef _OPENMP
#pragma omp barrier
#endif
    }
  }
}

// Fused LSTM backward through time, organised like the forward: one parallel region, each
// thread owns a range of unit blocks, one barrier per step. At step t a thread computes its
// units' part of dh_t = dgates_{t+1} W_hh (register tiles of R rows x NV unit blocks, K = 4H)
// and, from the registers, the gate gradients of its units at t. The weight is W_hh packed as
// panels (H/W, 4H, W), so a tile's NV weight vectors at each k are contiguous per panel.
struct BwdRow {
  const float* dg_next;  // dgates_{t+1} of the row (4H), or null on the backward's first step
  const float* carry0;   // dh_n of the row (offset 0; first step only)
  const float* dout;     // dL/dh_t of the row at the unit offset 0, or null
  const float* act;      // saved sigma(i), sigma(f), tanh(g), sigma(o) of (t, b) (offset 0)
  const float* tc;       // saved tanh(c_t) of (t, b) (offset 0)
  const float* cp;       // c_{t-1} of the row (offset 0)
  float* extra;          // the part of dh_t that does not go through W_hh (offset 0)
  float* dcc;            // dL/dc_t carried from the later step (offset 0)
  float* dg;             // dgates_t of (t, b), written (offset 0)
  float* out;            // final phase only: dh_{first} W_hh of the row goes here (offset 0)
  bool live;
};

template <int R, int NV>
inline void lstm_bwd_tile(int64_t H, int64_t u0, const BwdRow* rows, const float* panels) {
  Reg acc[R][NV];
  const bool gemm = rows[0].dg_next != nullptr;
  if (gemm) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = reg_set1(0.f);
    const int64_t K = 4 * H, stride = K * kLanes;  // one panel
    const float* w = panels + (u0 / kLanes) * stride;
    for (int64_t k = 0; k < K; ++k, w += kLanes) {
      Reg wv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) wv[v] = reg_load(w + v * stride);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const Reg av = reg_set1(rows[r].dg_next[k]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = reg_fmadd(av, wv[v], acc[r][v]);
      }
    }
  } else {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = reg_load(rows[r].carry0 + u0 + v * kLanes);
  }
  using V = Vec<float>;
  const V one(1.f), zero(0.f);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const BwdRow& p = rows[r];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int64_t j = u0 + v * kLanes;
      const V carry(acc[r][v]);
      if (p.out) {  // final phase: dh of the forward's first step, before h0
        carry.store(p.out + j);
        continue;
      }
      if (!p.live) {  // state passed through unchanged; the output was zero
        (V::loadu(p.extra + j) + carry).store(p.extra + j);
        for (int g = 0; g < 4; ++g) zero.store(p.dg + g * H + j);
        continue;
      }
      V dh = carry + V::loadu(p.extra + j);
      if (p.dout) dh = dh + V::loadu(p.dout + j);
      const V i = V::loadu(p.act + j), f = V::loadu(p.act + H + j);
      const V g = V::loadu(p.act + 2 * H + j), o = V::loadu(p.act + 3 * H + j);
      const V t = V::loadu(p.tc + j);
      const V dc = V::loadu(p.dcc + j) + dh * o * (one - t * t);
      (dc * g * i * (one - i)).store(p.dg + j);
      (dc * V::loadu(p.cp + j) * f * (one - f)).store(p.dg + H + j);
      (dc * i * (one - g * g)).store(p.dg + 2 * H + j);
      (dh * t * o * (one - o)).store(p.dg + 3 * H + j);
      (dc * f).store(p.dcc + j);
      zero.store(p.extra + j);
    }
  }
}

template <int R>
inline void lstm_bwd_tiles(int64_t H, int64_t blk, int64_t nblk, const BwdRow* rows,
                           const float* panels) {
  for (int64_t done = 0; done < nblk;) {  // up to 4 unit blocks per tile
    const int64_t u0 = (blk + done) * kLanes, left = nblk - done;
    if (left >= 4) {
      lstm_bwd_tile<R, 4>(H, u0, rows, panels);
      done += 4;
    } else if (left >= 2) {
      lstm_bwd_tile<R, 2>(H, u0, rows, panels);
      done += 2;
    } else {
      lstm_bwd_tile<R, 1>(H, u0, rows, panels);
      done += 1;
    }
  }
}

// Weight gradients inside the backward loop: at step t each thread adds, for the dW rows of its
// own units (gate g, unit u: row g*H + u), dgates_t[:, row]^T [x_t, h_{t-1}] to dW_ih and
// dW_hh, while dgates_t is still in its cache; no separate GEMM over all steps (which needs
// the transposed copy of an operand) after the loop. kDwRows rows x CV vectors of columns of
// dW are accumulated in registers over the batch.
#if defined(CPU_CAPABILITY_AVX512)
constexpr int kDwRows = 4;  // 16 accumulators + 4 inputs + 1 broadcast
#else
constexpr int kDwRows = 2;  // 8 + 4 + 1 of 16 registers
#endif

template <int RR, int CV>
inline void dw_tile(int64_t batch, const float* dg, int64_t dg_stride, const float* a,
                    int64_t a_stride, float* out, int64_t out_stride) {
  Reg acc[RR][CV];
#pragma GCC unroll 8
  for (int r = 0; r < RR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < CV; ++v) acc[r][v] = reg_load(out + r * out_stride + v * kLanes);
  for (int64_t b = 0; b < batch; ++b) {
    Reg av[CV];
#pragma GCC unroll 4
    for (int v = 0; v < CV; ++v) av[v] = reg_load(a + b * a_stride + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < RR; ++r) {
      const Reg d = reg_set1(dg[b * dg_stride + r]);
#pragma GCC unroll 4
      for (int v = 0; v < CV; ++v) acc[r][v] = reg_fmadd(d, av[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < CV; ++v) {
      float* o = out + r * out_stride + v * kLanes;
      Vec<float>(acc[r][v]).store(o);
    }
}

// out (RR rows, row stride `cols`) += dg[:, 0..RR)^T a (batch x cols, row stride `cols`).
template <int RR>
inline void dw_rows(int64_t batch, const float* dg, int64_t dg_stride, const float* a,
                    int64_t cols, float* out) {
  int64_t c = 0;
  for (; c + 4 * kLanes <= cols; c += 4 * kLanes)
    dw_tile<RR, 4>(batch, dg, dg_stride, a + c, cols, out + c, cols);
  for (; c + kLanes <= cols; c += kLanes)
    dw_tile<RR, 1>(batch, dg, dg_stride, a + c, cols, out + c, cols);
  for (; c < cols; ++c) {  // the tail of an input size that is not a multiple of the width
    for (int r = 0; r < RR; ++r) {
      float sum = 0.f;
      for (int64_t b = 0; b < batch; ++b) sum += dg[b * dg_stride + r] * a[b * cols + c];
      out[r * cols + c] += sum;
    }
  }
}

// dxp (T, B, 4H) receives dgates; carry: dh_n in, dgates_{first} W_hh out; extra, dc_carry
// as in backward_impl.
// With x defined, also dw_ih (4H, I), dw_hh (4H, H) and db (4H,) (zeroed by the caller).
void fused_lstm_backward(bool reverse, const Tensor& dout, Tensor& carry, Tensor& extra,
                         Tensor& dc_carry, const Tensor& c0, const Tensor& cs,
                         const Tensor& act, const Tensor& tc, const Tensor& w_hh, Tensor& dxp,
                         const int64_t* lens, const Tensor& x_in, const Tensor& h0,
                         const Tensor& hs, Tensor& dw_ih, Tensor& dw_hh, Tensor& db) {
  const int64_t steps = dxp.size(0), batch = dxp.size(1), H = cs.size(2);
  const int64_t blocks = H / kLanes;
  const Tensor panels = pack_lstm_backward_weight(w_hh);
  const float* P = panels.data_ptr<float>();
  const float* DOUT = dout.defined() ? dout.data_ptr<float>() : nullptr;
  const float* CS = cs.data_ptr<float>();
  const float* C0 = c0.data_ptr<float>();
  const float* A = act.data_ptr<float>();
  const float* TC = tc.data_ptr<float>();
  float* CARRY = carry.data_ptr<float>();
  float* EX = extra.data_ptr<float>();
  float* DCC = dc_carry.data_ptr<float>();
  float* DG = dxp.data_ptr<float>();
  const bool dw = x_in.defined();
  const int64_t I = dw ? x_in.size(2) : 0;
  const float* X = dw ? x_in.data_ptr<float>() : nullptr;
  const float* H0 = h0.data_ptr<float>();
  const float* HS = hs.data_ptr<float>();
  float* DWI = dw ? dw_ih.data_ptr<float>() : nullptr;
  float* DWH = dw ? dw_hh.data_ptr<float>() : nullptr;
  float* DB = dw ? db.data_ptr<float>() : nullptr;
#ifdef _OPENMP
#pragma omp parallel num_threads(team_size(blocks))
#endif
  {
    const auto [blk0, blk1] = my_blocks(blocks);
    BwdRow rows[kRows];
    for (int64_t s = 0; s <= steps; ++s) {  // s == steps: the final phase (dh before h0)
      const bool final_phase = s == steps;
      const int64_t t = reverse ? s : steps - 1 - s;  // the forward's order, backwards
      const int64_t later = reverse ? t - 1 : t + 1;  // the step whose dgates feed this one
      const int64_t p = reverse ? t + 1 : t - 1;      // the previous state's index
      const bool first = s == steps - 1;              // the forward's first step
      auto row = [&](int64_t b) {
        BwdRow r{};
        r.dg_next = s == 0 ? nullptr : DG + (later * batch + b) * 4 * H;
        r.carry0 = CARRY + b * H;  // read on s == 0 only, overwritten in the final phase
        if (final_phase) {
          r.out = CARRY + b * H;
          return r;
        }
        r.dout = DOUT ? DOUT + (t * batch + b) * H : nullptr;
        r.act = A + (t * batch + b) * 4 * H;
        r.tc = TC + (t * batch + b) * H;
        r.cp = first ? C0 + b * H : CS + (p * batch + b) * H;
        r.extra = EX + b * H;
        r.dcc = DCC + b * H;
        r.dg = DG + (t * batch + b) * 4 * H;
        r.live = live(lens, t, b);
        return r;
      };
      if (!(final_phase && steps == 0)) {
        int64_t b = 0;
        for (; b + kRows <= batch; b += kRows) {
          for (int r = 0; r < kRows; ++r) rows[r] = row(b + r);
          lstm_bwd_tiles<kRows>(H, blk0, blk1 - blk0, rows, P);
        }
        for (; b < batch; ++b) {
          rows[0] = row(b);
          lstm_bwd_tiles<1>(H, blk0, blk1 - blk0, rows, P);
        }
      }
      if (dw && !final_phase) {  // this thread's dW rows += dgates_t^T [x_t, h_{t-1}]
        const float* dgt = DG + t * batch * 4 * H;
        const float* xt = X + t * batch * I;
        const float* hprev = first ? H0 : HS + p * batch * H;
        for (int64_t blk = blk0; blk < blk1; ++blk) {
          for (int64_t g = 0; g < 4; ++g) {
            const int64_t r0 = g * H + blk * kLanes;  // kLanes rows of dW
            for (int64_t rr = 0; rr < kLanes; rr += kDwRows) {
              dw_rows<kDwRows>(batch, dgt + r0 + rr, 4 * H, xt, I, DWI + (r0 + rr) * I);
              dw_rows<kDwRows>(batch, dgt + r0 + rr, 4 * H, hprev, H, DWH + (r0 + rr) * H);
            }
            Vec<float> sum = Vec<float>::loadu(DB + r0);
            for (int64_t b = 0; b < batch; ++b) sum = sum + Vec<float>::loadu(dgt + b * 4 * H + r0);
            sum.store(DB + r0);
          }
        }
      }
#ifdef _OPENMP
#pragma omp barrier
#endif
    }
  }
}
#else
bool fused_lstm_fits(int64_t) { return false; }
#endif  // SEQATTN_FUSED_LSTM

template <typename T>
void forward_impl(int64_t mode, bool reverse, const Tensor& xp, const Tensor& h0,
                  const Tensor& c0, Tensor& hs, Tensor& cs, Tensor& act, Tensor& tc,
                  const Tensor& w_hh, const Tensor& b_hh, const int64_t* lens, bool save,
                  bool allow_onednn, const Tensor& x_in, const Tensor& w_ih,
                  const Tensor& b_in, const Tensor& packed) {
  const int64_t steps = hs.size(0), batch = hs.size(1), H = hs.size(2);
  const int64_t G = gates_of(mode);
  // Merged: one GEMM per step, [x_t, h_{t-1}] [W_ih, W_hh]^T + b, instead of a separate
  // projection of all steps (whose (T, B, G*H) result streams through memory once more).
  const bool merged = x_in.defined();
  const int64_t I = merged ? x_in.size(2) : 0;
  // with a packed weight from an earlier call the concatenation is only for the MKL path's
  // shape: skip it
  Gemm gemm(merged ? (packed.defined() ? w_hh : at::cat({w_ih, w_hh}, 1)) : w_hh, batch,
            allow_onednn, merged ? b_in : Tensor(), packed);
  Tensor xh = merged ? at::empty({batch, I + H}, hs.options()) : Tensor();
  T* xh_ptr = merged ? xh.data_ptr<T>() : nullptr;
  const T* xin_ptr = merged ? x_in.data_ptr<T>() : nullptr;
  const T* bias = b_hh.defined() ? b_hh.data_ptr<T>() : nullptr;
  const T* xp_ptr = merged ? nullptr : xp.data_ptr<T>();
  T* hs_ptr = hs.data_ptr<T>();
  T* cs_ptr = cs.defined() ? cs.data_ptr<T>() : nullptr;
  const T* h0_ptr = h0.data_ptr<T>();
  const T* c0_ptr = c0.defined() ? c0.data_ptr<T>() : nullptr;
  const int64_t act_width = mode == LSTM ? 4 * H : (mode == GRU ? 4 * H : 0);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    const int64_t p = reverse ? t + 1 : t - 1;  // index of the previous state
    const bool first = s == 0;
    if (merged) {
      for (int64_t b = 0; b < batch; ++b) {
        std::memcpy(xh_ptr + b * (I + H), xin_ptr + (t * batch + b) * I, I * sizeof(T));
        const T* hp = first ? h0_ptr + b * H : hs_ptr + (p * batch + b) * H;
        std::memcpy(xh_ptr + b * (I + H) + I, hp, H * sizeof(T));
      }
    }
    const Tensor& m_t = gemm(merged ? xh : (first ? h0 : hs[p]));
    const T* m = m_t.data_ptr<T>();
    T* act_t = act_width ? act.data_ptr<T>() + (save ? t : 0) * batch * act_width : nullptr;
    T* tc_t = mode == LSTM ? tc.data_ptr<T>() + (save ? t : 0) * batch * H : nullptr;
    for_rows(batch, G * H, [&](int64_t b) {
      const T* hp = first ? h0_ptr + b * H : hs_ptr + (p * batch + b) * H;
      const T* cp = c0_ptr ? (first ? c0_ptr + b * H : cs_ptr + (p * batch + b) * H) : nullptr;
      T* hq = hs_ptr + (t * batch + b) * H;
      if (!live(lens, t, b)) {  // past this sequence's end: keep the state
        std::memcpy(hq, hp, H * sizeof(T));
        if (cp) std::memcpy(cs_ptr + (t * batch + b) * H, cp, H * sizeof(T));
        return;
      }
      const T* x = xp_ptr ? xp_ptr + (t * batch + b) * G * H : nullptr;
      const T* mb = m + b * G * H;
      if (mode == LSTM) {
        lstm_fwd_row<T>(H, mb, x, cp, hq, cs_ptr + (t * batch + b) * H,
                        act_t + b * act_width, tc_t + b * H);
      } else if (mode == GRU) {
        gru_fwd_row<T>(H, mb, x, bias, hp, hq, act_t + b * act_width);
      } else {
        rnn_fwd_row<T>(mode == RNN_RELU, H, mb, x, hp, hq);
      }
    });
  }
}

// --------------------------------------------------------------- backward kernels (one row)
// dh = carry (from the GEMM of the later step) + extra (the part of dh_{t} that does not go
// through W_hh) + dout_t. Each kernel writes the new `extra` for the earlier step.
template <typename T>
void rnn_bwd_row(bool relu, int64_t H, const T* carry, T* extra, const T* dout, const T* hq,
                 T* dpre) {
  constexpr int64_t V = Vec<T>::size();
  const Vec<T> zero(T(0)), one(T(1));
  for (int64_t j = 0; j < H; j += V) {
    const int64_t n = std::min(V, H - j);
    Vec<T> dh = Vec<T>::loadu(carry + j, n) + Vec<T>::loadu(extra + j, n);
    if (dout) dh = dh + Vec<T>::loadu(dout + j, n);
    Vec<T> h = Vec<T>::loadu(hq + j, n);
    Vec<T> d = relu ? Vec<T>::blendv(zero, dh, h > zero) : dh * (one - h * h);
    d.store(dpre + j, n);
    zero.store(extra + j, n);
  }
}

template <typename T>
void lstm_bwd_row(int64_t H, const T* carry, T* extra, const T* dout, T* dc_carry, const T* cp,
                  const T* act, const T* tc, T* dg) {
  constexpr int64_t V = Vec<T>::size();
  const Vec<T> zero(T(0)), one(T(1));
  for (int64_t j = 0; j < H; j += V) {
    const int64_t n = std::min(V, H - j);
    Vec<T> dh = Vec<T>::loadu(carry + j, n) + Vec<T>::loadu(extra + j, n);
    if (dout) dh = dh + Vec<T>::loadu(dout + j, n);
    Vec<T> i = Vec<T>::loadu(act + j, n), f = Vec<T>::loadu(act + H + j, n);
    Vec<T> g = Vec<T>::loadu(act + 2 * H + j, n), o = Vec<T>::loadu(act + 3 * H + j, n);
    Vec<T> t = Vec<T>::loadu(tc + j, n);
    Vec<T> dc = Vec<T>::loadu(dc_carry + j, n) + dh * o * (one - t * t);
    (dc * g * i * (one - i)).store(dg + j, n);
    (dc * Vec<T>::loadu(cp + j, n) * f * (one - f)).store(dg + H + j, n);
    (dc * i * (one - g * g)).store(dg + 2 * H + j, n);
    (dh * t * o * (one - o)).store(dg + 3 * H + j, n);
    (dc * f).store(dc_carry + j, n);
    zero.store(extra + j, n);
  }
}

template <typename T>
void gru_bwd_row(int64_t H, const T* carry, T* extra, const T* dout, const T* hp, const T* act,
                 T* dx, T* dhp) {
  constexpr int64_t V = Vec<T>::size();
  const Vec<T> one(T(1));
  for (int64_t j = 0; j < H; j += V) {
    const int64_t n = std::min(V, H - j);
    Vec<T> dh = Vec<T>::loadu(carry + j, n) + Vec<T>::loadu(extra + j, n);
    if (dout) dh = dh + Vec<T>::loadu(dout + j, n);
    Vec<T> r = Vec<T>::loadu(act + j, n), z = Vec<T>::loadu(act + H + j, n);
    Vec<T> nn = Vec<T>::loadu(act + 2 * H + j, n), hn = Vec<T>::loadu(act + 3 * H + j, n);
    Vec<T> h = Vec<T>::loadu(hp + j, n);
    Vec<T> dn = dh * (one - z) * (one - nn * nn);
    Vec<T> dr = dn * hn * r * (one - r);
    Vec<T> dz = dh * (h - nn) * z * (one - z);
    dr.store(dx + j, n);
    dz.store(dx + H + j, n);
    dn.store(dx + 2 * H + j, n);
    dr.store(dhp + j, n);
    dz.store(dhp + H + j, n);
    (dn * r).store(dhp + 2 * H + j, n);
    (dh * z).store(extra + j, n);
  }
}

template <typename T>
void backward_impl(int64_t mode, bool reverse, const Tensor& dout, Tensor& carry, Tensor& extra,
                   Tensor& dc_carry, const Tensor& h0, const Tensor& c0, const Tensor& hs,
                   const Tensor& cs, const Tensor& act,
                   const Tensor& tc, const Tensor& w_hh, Tensor& dxp, Tensor& dhp,
                   const int64_t* lens, bool allow_onednn) {
  const int64_t steps = dxp.size(0), batch = dxp.size(1), H = hs.size(2);
  const int64_t G = gates_of(mode);
  // dh_{t-1} = dgates_t @ W_hh: a linear map with weight W_hh^T (H, G*H).
  Gemm gemm(w_hh.t().contiguous(), batch, allow_onednn);
  const T* dout_ptr = dout.defined() ? dout.data_ptr<T>() : nullptr;
  const T* hs_ptr = hs.data_ptr<T>();
  const T* cs_ptr = cs.defined() ? cs.data_ptr<T>() : nullptr;
  const T* h0_ptr = h0.data_ptr<T>();
  const T* c0_ptr = c0.defined() ? c0.data_ptr<T>() : nullptr;
  const T* act_ptr = act.defined() ? act.data_ptr<T>() : nullptr;
  const T* tc_ptr = tc.defined() ? tc.data_ptr<T>() : nullptr;
  T* extra_ptr = extra.data_ptr<T>();
  T* dcc_ptr = dc_carry.defined() ? dc_carry.data_ptr<T>() : nullptr;
  T* dxp_ptr = dxp.data_ptr<T>();
  T* dhp_ptr = dhp.data_ptr<T>();
  Tensor carry_t = carry;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? s : steps - 1 - s;  // the forward's order, backwards
    const int64_t p = reverse ? t + 1 : t - 1;
    const bool first = s == steps - 1;  // the forward's first step
    const T* cptr = carry_t.data_ptr<T>();
    for_rows(batch, G * H, [&](int64_t b) {
      T* dx = dxp_ptr + (t * batch + b) * G * H;
      T* dh_pre = dhp_ptr + (t * batch + b) * G * H;
      const T* cb = cptr + b * H;
      T* ex = extra_ptr + b * H;
      if (!live(lens, t, b)) {  // state passed through unchanged; the output was zero
        std::memset(dx, 0, G * H * sizeof(T));
        if (dh_pre != dx) std::memset(dh_pre, 0, G * H * sizeof(T));
        for (int64_t j = 0; j < H; ++j) ex[j] += cb[j];
        return;
      }
      const T* dout_b = dout_ptr ? dout_ptr + (t * batch + b) * H : nullptr;
      if (mode == LSTM) {
        const T* cp = first ? c0_ptr + b * H : cs_ptr + (p * batch + b) * H;
        lstm_bwd_row<T>(H, cb, ex, dout_b, dcc_ptr + b * H, cp,
                        act_ptr + (t * batch + b) * 4 * H, tc_ptr + (t * batch + b) * H, dx);
      } else if (mode == GRU) {
        gru_bwd_row<T>(H, cb, ex, dout_b, first ? h0_ptr + b * H : hs_ptr + (p * batch + b) * H,
                       act_ptr + (t * batch + b) * 4 * H, dx, dh_pre);
      } else {
        rnn_bwd_row<T>(mode == RNN_RELU, H, cb, ex, dout_b, hs_ptr + (t * batch + b) * H, dx);
      }
    });
    carry_t = gemm(dhp[t]);
  }
  carry = carry_t;
}

void check_cpu(const Tensor& t, const char* name) {
  TORCH_CHECK(!t.defined() || (t.device().is_cpu() && t.is_contiguous()), name,
              ": expected a contiguous CPU tensor");
}

}  // namespace

// Returns {hs, cs, act, tc} (cs/tc undefined unless LSTM; act undefined for RNN).
using Opt = std::optional<Tensor>;

// xp: the input projections (T, B, G*H); or, for RNN/LSTM, xp = None and x (T, B, I), w_ih
// (G*H, I) and b_in (G*H,) or None for the merged per-step GEMM.
std::vector<Tensor> forward(int64_t mode, bool reverse, const Opt& xp_, const Tensor& h0,
                            const Opt& c0_, const Tensor& w_hh, const Opt& b_hh_,
                            const Opt& lengths_, bool save, bool allow_onednn, const Opt& x_,
                            const Opt& w_ih_, const Opt& b_in_, const Opt& packed_) {
  const Tensor c0 = c0_.value_or(Tensor()), b_hh = b_hh_.value_or(Tensor());
  const Tensor lengths = lengths_.value_or(Tensor()), xp = xp_.value_or(Tensor());
  const Tensor x_in = x_.value_or(Tensor()), w_ih = w_ih_.value_or(Tensor());
  const Tensor b_in = b_in_.value_or(Tensor()), packed = packed_.value_or(Tensor());
  TORCH_CHECK(xp.defined() != x_in.defined(), "expected exactly one of xp and x");
  TORCH_CHECK(!x_in.defined() || (w_ih.defined() && mode != GRU), "x needs w_ih, not GRU");
  check_cpu(xp, "xp");
  check_cpu(x_in, "x");
  check_cpu(w_ih, "w_ih");
  check_cpu(b_in, "b_in");
  check_cpu(h0, "h0");
  check_cpu(c0, "c0");
  check_cpu(w_hh, "w_hh");
  check_cpu(b_hh, "b_hh");
  check_cpu(lengths, "lengths");
  const Tensor& any = xp.defined() ? xp : x_in;
  const int64_t steps = any.size(0), batch = any.size(1), H = h0.size(1);
  auto opts = any.options();
  Tensor hs = pooled_empty({steps, batch, H}, opts);
  Tensor cs, act, tc;
  if (mode == LSTM) {
    cs = pooled_empty({steps, batch, H}, opts);
    tc = pooled_empty({save ? steps : 1, batch, H}, opts);
  }
  if (mode == LSTM || mode == GRU) act = pooled_empty({save ? steps : 1, batch, 4 * H}, opts);
  const int64_t* lens = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
#ifdef SEQATTN_FUSED_LSTM
  // `packed` from pack_lstm (4-d panels) selects the fused LSTM kernel; pack() gives 2-d
  // oneDNN weights for the generic loop.
  if (mode == LSTM && packed.defined() && packed.dim() == 4 && x_in.defined()) {
    TORCH_CHECK(any.scalar_type() == at::kFloat && packed.scalar_type() == at::kFloat &&
                    fused_lstm_fits(H) && packed.size(0) == H / kLanes &&
                    packed.size(1) == x_in.size(2) + H,
                "fused LSTM: expected float32 panels of shape (", H / kLanes, ", ",
                x_in.size(2) + H, ", 4, ", kLanes, "), got ", packed.sizes());
    check_cpu(packed, "packed");
    fused_lstm_forward(reverse, x_in, packed, b_in, h0, c0, hs, cs, act, tc, lens, save);
    return {hs, cs, act, tc};
  }
#endif
  AT_DISPATCH_FLOATING_TYPES(any.scalar_type(), "seqattn_recurrent_forward", [&] {
    forward_impl<scalar_t>(mode, reverse, xp, h0, c0, hs, cs, act, tc, w_hh, b_hh, lens, save,
                           allow_onednn, x_in, w_ih, b_in, packed);
  });
  return {hs, cs, act, tc};
}

// Returns {dxp, dhp, dh0, dc0}: gradients of the input-side and hidden-side gate
// pre-activations (the same tensor except for the GRU), of h0 and (LSTM) c0; then
// {dW_ih, dW_hh, db} where the fused kernel computed them, else undefined. `fused`: a float32
// LSTM may take the fused kernel (when the build and the hidden size allow); with x (the layer
// input, T x B x I) it also accumulates the weight and bias gradients inside its loop.
std::vector<Tensor> backward(int64_t mode, bool reverse, const Opt& dout_, const Opt& dh_n_,
                             const Opt& dc_n_, const Tensor& h0, const Opt& c0_, const Tensor& hs, const Opt& cs_, const Opt& act_,
                             const Opt& tc_, const Tensor& w_hh,
                             const Opt& lengths_, bool allow_onednn, bool fused,
                             const Opt& x_) {
  const Tensor dout = dout_.value_or(Tensor()), dh_n = dh_n_.value_or(Tensor());
  const Tensor dc_n = dc_n_.value_or(Tensor()), cs = cs_.value_or(Tensor());
  const Tensor act = act_.value_or(Tensor()), tc = tc_.value_or(Tensor());
  const Tensor lengths = lengths_.value_or(Tensor()), c0 = c0_.value_or(Tensor());
  for (const Tensor* t : {&dout, &dh_n, &dc_n, &h0, &c0, &hs, &cs, &act, &tc, &w_hh, &lengths})
    check_cpu(*t, "backward input");
  const int64_t steps = hs.size(0), batch = hs.size(1), H = hs.size(2);
  const int64_t G = gates_of(mode);
  auto opts = hs.options();
  Tensor dxp = pooled_empty({steps, batch, G * H}, opts);
  Tensor dhp = mode == GRU ? pooled_empty({steps, batch, G * H}, opts) : dxp;
  Tensor carry = dh_n.defined() ? dh_n.clone() : at::zeros({batch, H}, opts);
  Tensor extra = at::zeros({batch, H}, opts);
  Tensor dc_carry;
  if (mode == LSTM) dc_carry = dc_n.defined() ? dc_n.clone() : at::zeros({batch, H}, opts);
  const int64_t* lens = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
#ifdef SEQATTN_FUSED_LSTM
  if (fused && mode == LSTM && hs.scalar_type() == at::kFloat && fused_lstm_fits(H) &&
      w_hh.scalar_type() == at::kFloat && steps > 0) {
    const Tensor x_in = x_.value_or(Tensor());
    Tensor dw_ih, dw_hh, db;
    if (x_in.defined()) {
      check_cpu(x_in, "x");
      TORCH_CHECK(x_in.scalar_type() == at::kFloat && x_in.dim() == 3 &&
                      x_in.size(0) == steps && x_in.size(1) == batch,
                  "fused LSTM backward: expected x of shape (", steps, ", ", batch,
                  ", I) float32, got ", x_in.sizes(), " ", x_in.scalar_type());
      dw_ih = pooled_empty({4 * H, x_in.size(2)}, opts).zero_();
      dw_hh = pooled_empty({4 * H, H}, opts).zero_();
      db = at::zeros({4 * H}, opts);
    }
    fused_lstm_backward(reverse, dout, carry, extra, dc_carry, c0, cs, act, tc, w_hh, dxp, lens,
                        x_in, h0, hs, dw_ih, dw_hh, db);
    return {dxp, dhp, carry + extra, dc_carry, dw_ih, dw_hh, db};
  }
#endif
  (void)fused;
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "seqattn_recurrent_backward", [&] {
    backward_impl<scalar_t>(mode, reverse, dout, carry, extra, dc_carry, h0, c0, hs, cs, act, tc,
                            w_hh, dxp, dhp, lens, allow_onednn);
  });
  Tensor dh0 = carry + extra;
  // The weight gradients (dW = sum_t dgates_t^T [x_t, h_{t-1}]) are matmuls over all steps,
  // done by the caller (oneDNN's strided GEMM); the fused LSTM path above returns them.
  return {dxp, dhp, dh0, dc_carry, Tensor(), Tensor(), Tensor()};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "seqattn recurrent fast path: per-layer time loops with fused gate kernels";
  m.def("forward", &forward, "time loop of one layer and direction (forward)");
  m.def(
      "pack",
      [](const Tensor& weight, int64_t batch) {
        Tensor p = pack_weight(weight, batch, true);
        return p.defined() ? std::optional<Tensor>(p) : std::nullopt;
      },
      "the per-step GEMM's weight, reordered for oneDNN once (None where oneDNN does not apply)");
  m.def(
      "pack_lstm",
      [](const Tensor& w_ih, const Tensor& w_hh) -> std::optional<Tensor> {
#ifdef SEQATTN_FUSED_LSTM
        if (w_ih.scalar_type() == at::kFloat && w_hh.scalar_type() == at::kFloat &&
            w_ih.device().is_cpu() && w_hh.device().is_cpu() && fused_lstm_fits(w_hh.size(1))) {
          return pack_lstm_weight(w_ih, w_hh);
        }
#endif
        (void)w_ih;
        (void)w_hh;
        return std::nullopt;
      },
      "[W_ih, W_hh] packed for the fused LSTM forward (None where it does not apply: not "
      "float32, hidden size not a multiple of the vector width, no AVX2/AVX-512)");
  m.def(
      "workspace",
      [](bool clear) {
        if (clear) Workspace::get().clear();
        return std::vector<int64_t>{static_cast<int64_t>(Workspace::get().cached_bytes()),
                                    static_cast<int64_t>(Workspace::get().cap_bytes())};
      },
      "[bytes cached, cap] of the pool of large buffers; clear=True frees the cached blocks");
  m.def("backward", &backward, "backward through time of one layer and direction");
}

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
// engine used when this file cannot be compiled); keep the two in step.
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

#include <cstring>
#include <optional>
#include <vector>

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
  Tensor hs = at::empty({steps, batch, H}, opts);
  Tensor cs, act, tc;
  if (mode == LSTM) {
    cs = at::empty({steps, batch, H}, opts);
    tc = at::empty({save ? steps : 1, batch, H}, opts);
  }
  if (mode == LSTM || mode == GRU) act = at::empty({save ? steps : 1, batch, 4 * H}, opts);
  const int64_t* lens = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(any.scalar_type(), "seqattn_recurrent_forward", [&] {
    forward_impl<scalar_t>(mode, reverse, xp, h0, c0, hs, cs, act, tc, w_hh, b_hh, lens, save,
                           allow_onednn, x_in, w_ih, b_in, packed);
  });
  return {hs, cs, act, tc};
}

// Returns {dxp, dhp, dh0, dc0}: gradients of the input-side and hidden-side gate
// pre-activations (the same tensor except for the GRU), of h0 and (LSTM) c0.
std::vector<Tensor> backward(int64_t mode, bool reverse, const Opt& dout_, const Opt& dh_n_,
                             const Opt& dc_n_, const Tensor& h0, const Opt& c0_, const Tensor& hs, const Opt& cs_, const Opt& act_,
                             const Opt& tc_, const Tensor& w_hh,
                             const Opt& lengths_, bool allow_onednn) {
  const Tensor dout = dout_.value_or(Tensor()), dh_n = dh_n_.value_or(Tensor());
  const Tensor dc_n = dc_n_.value_or(Tensor()), cs = cs_.value_or(Tensor());
  const Tensor act = act_.value_or(Tensor()), tc = tc_.value_or(Tensor());
  const Tensor lengths = lengths_.value_or(Tensor()), c0 = c0_.value_or(Tensor());
  for (const Tensor* t : {&dout, &dh_n, &dc_n, &h0, &c0, &hs, &cs, &act, &tc, &w_hh, &lengths})
    check_cpu(*t, "backward input");
  const int64_t steps = hs.size(0), batch = hs.size(1), H = hs.size(2);
  const int64_t G = gates_of(mode);
  auto opts = hs.options();
  Tensor dxp = at::empty({steps, batch, G * H}, opts);
  Tensor dhp = mode == GRU ? at::empty({steps, batch, G * H}, opts) : dxp;
  Tensor carry = dh_n.defined() ? dh_n.clone() : at::zeros({batch, H}, opts);
  Tensor extra = at::zeros({batch, H}, opts);
  Tensor dc_carry;
  if (mode == LSTM) dc_carry = dc_n.defined() ? dc_n.clone() : at::zeros({batch, H}, opts);
  const int64_t* lens = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "seqattn_recurrent_backward", [&] {
    backward_impl<scalar_t>(mode, reverse, dout, carry, extra, dc_carry, h0, c0, hs, cs, act, tc,
                            w_hh, dxp, dhp, lens, allow_onednn);
  });
  Tensor dh0 = carry + extra;
  // The weight gradients (dW = sum_t dgates_t^T [x_t, h_{t-1}]) are one matmul over all
  // steps, done by the caller: it has x, and it can reach oneDNN's strided GEMM.
  return {dxp, dhp, dh0, dc_carry};
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
  m.def("backward", &backward, "backward through time of one layer and direction");
}

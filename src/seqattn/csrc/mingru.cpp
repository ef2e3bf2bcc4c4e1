// Fused CPU kernels of seqattn's minGRU / minLSTM layers (seqattn/nn/mingru.py).
//
// The Python path computes the gates with separate ATen ops, transposes to time-major, runs a
// per-step addcmul loop and, in backward, the reversed recurrence with flip/cat copies: about 30
// passes over (B, T, H) tensors, which at T = 4096 (67 MB each in float32) are memory-bound.
// Here one pass over time computes the gates and the recurrence (forward), and one reverse pass
// computes the gradients of the pre-activations and the bias (backward), reading the (B, T, G*H)
// projection x W^T in place (the bias added on the fly), batch-major, with no transposes and no
// temporaries of size T.
//
// Per step and element (k: the projection, G: dL/dh_t in total, h': the previous state):
//   minGRU   z = sigmoid(k_z)                 a = 1 - z     b = z * h~
//            dk_z = G (h~ - h') z (1 - z)      dh~ = G z
//   minLSTM  u = softplus(-k_i) - softplus(-k_f)   (= log sigmoid(k_f) - log sigmoid(k_i))
//            f' = sigmoid(u)                   a = f'        b = (1 - f') h~
//            du = G (h' - h~) f' (1 - f')
//            dk_f = du sigmoid(-k_f)  dk_i = -du sigmoid(-k_i)  dh~ = G (1 - f')
//   h_t = a h' + b;  backward: G_t = g_t + a_{t+1} G_{t+1}, dL/dh_0 = a_1 G_1.
//
// Lengths (right padding): row b runs its first len[b] steps; the reverse direction runs
// t = len[b]-1 .. 0. Outputs and gradients at padded steps are zero; `last` is the state after
// the row's final step (h0 for an empty row). Backward saves nothing but the projection and the
// outputs (the gates are recomputed: a few exps per element, cheaper than a pass through memory).
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace {

using at::Tensor;

template <typename T>
using Vec = at::vec::Vectorized<T>;

enum Kind : int64_t { MINGRU = 0, MINLSTM = 1 };

// A new (B, T, *) buffer that will be written once, front to back. Large ones come straight
// from mmap, and the kernel faults them in 4 KiB pages, zeroing each: at T = 4096 that cost as
// much as the whole gate + recurrence pass (measured: filling a fresh 134 MB tensor 53 ms, a
// used one 12 ms). With SEQATTN_HUGEPAGES=1 this buffer alone asks for transparent huge pages
// (the "madvise" policy honours it), 512 times fewer faults. Opt-in: alone it made a training
// step 1.3-1.5x faster, but in a process with other large allocations the median varied
// 1.6x from run to run (more system time: the kernel compacting memory for huge pages).
Tensor fresh(at::IntArrayRef sizes, const at::TensorOptions& options) {
  Tensor t = at::empty(sizes, options);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t huge = uintptr_t(2) << 20;
  const size_t bytes = t.numel() * t.element_size();
  static const bool on = [] {
    const char* v = std::getenv("SEQATTN_HUGEPAGES");
    return v != nullptr && std::string(v) != "" && std::string(v) != "0";
  }();
  if (on && bytes >= 4 * huge) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(t.data_ptr());
    const uintptr_t first = (p + huge - 1) & ~(huge - 1), last = (p + bytes) & ~(huge - 1);
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
#endif
  return t;
}

template <typename T>
inline Vec<T> vsigmoid(const Vec<T>& x) {
  const Vec<T> one(T(1));
  return one / (one + x.neg().exp());
}

// softplus(y) = max(y, 0) + log1p(exp(-|y|)): no overflow for either sign.
template <typename T>
inline Vec<T> vsoftplus(const Vec<T>& y) {
  return at::vec::maximum(y, Vec<T>(T(0))) + y.abs().neg().exp().log1p();
}

// The pre-activation k = (x W^T)[j] + bias[j]: the bias is added here rather than by addmm,
// which would first copy the broadcast bias into the whole (B, T, G*H) output (one more pass).
template <typename T>
inline Vec<T> load_k(const T* p, const T* bias, int64_t j, int64_t n) {
  const Vec<T> k = Vec<T>::loadu(p + j, n);
  return bias ? k + Vec<T>::loadu(bias + j, n) : k;
}

// Work split: rows b, and within a row blocks of the H features (so a batch smaller than the
// thread count still uses every thread). Each unit walks the whole time axis.
struct Split {
  int64_t blocks, width;
};

template <typename T>
Split split_of(int64_t batch, int64_t H) {
  constexpr int64_t V = Vec<T>::size();
  const int64_t threads = at::get_num_threads();
  int64_t blocks = 1;
  if (batch < threads) blocks = std::min<int64_t>((H + V - 1) / V, (threads + batch - 1) / batch);
  int64_t width = (H + blocks - 1) / blocks;
  width = (width + V - 1) / V * V;
  blocks = std::max<int64_t>(1, (H + width - 1) / width);
  return {blocks, width};
}

template <typename F>
void for_units(int64_t batch, const Split& s, int64_t work_per_unit, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, work_per_unit));
  at::parallel_for(0, batch * s.blocks, grain, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / s.blocks, j0 = (u % s.blocks) * s.width;
      f(b, j0);
    }
  });
}

template <typename T>
void forward_impl(int64_t kind, bool reverse, const Tensor& proj, const Tensor& bias,
                  const Tensor& h0, const int64_t* lens, Tensor& out, Tensor& last) {
  const int64_t B = proj.size(0), steps = proj.size(1), H = out.size(2);
  const int64_t GH = proj.size(2);
  constexpr int64_t V = Vec<T>::size();
  const T* P = proj.data_ptr<T>();
  const T* H0 = h0.data_ptr<T>();
  const T* BI = bias.defined() ? bias.data_ptr<T>() : nullptr;
  T* O = out.data_ptr<T>();
  T* LAST = last.data_ptr<T>();
  const Split s = split_of<T>(B, H);
  for_units(B, s, steps * s.width * (kind == MINGRU ? 2 : 3), [&](int64_t b, int64_t j0) {
    const int64_t j1 = std::min(H, j0 + s.width);
    const int64_t L = lens ? lens[b] : steps;
    const T* hp = H0 + b * H;
    const Vec<T> one(T(1));
    for (int64_t i = 0; i < L; ++i) {
      const int64_t t = reverse ? L - 1 - i : i;
      const T* p = P + (b * steps + t) * GH;
      T* q = O + (b * steps + t) * H;
      for (int64_t j = j0; j < j1; j += V) {
        const int64_t n = std::min(V, j1 - j);
        const Vec<T> h = Vec<T>::loadu(hp + j, n);
        Vec<T> a, c;
        if (kind == MINGRU) {
          const Vec<T> z = vsigmoid(load_k(p, BI, j, n));
          a = one - z;
          c = z * load_k(p, BI, H + j, n);
        } else {
          const Vec<T> kf = load_k(p, BI, j, n), ki = load_k(p, BI, H + j, n);
          a = vsigmoid(vsoftplus(ki.neg()) - vsoftplus(kf.neg()));
          c = (one - a) * load_k(p, BI, 2 * H + j, n);
        }
        (c + a * h).store(q + j, n);
      }
      hp = q;
    }
    for (int64_t t = L; t < steps; ++t) {
      std::fill(O + (b * steps + t) * H + j0, O + (b * steps + t) * H + j1, T(0));
    }
    std::copy(hp + j0, hp + j1, LAST + b * H + j0);
  });
}

template <typename T>
void backward_impl(int64_t kind, bool reverse, const Tensor& proj, const Tensor& bias,
                   const Tensor& out, const Tensor& h0, const int64_t* lens, const Tensor& gout,
                   const Tensor& glast, Tensor& dproj, Tensor& dh0, Tensor& dbias_rows) {
  const int64_t B = proj.size(0), steps = proj.size(1), H = out.size(2);
  const int64_t GH = proj.size(2);
  constexpr int64_t V = Vec<T>::size();
  const T* P = proj.data_ptr<T>();
  const T* O = out.data_ptr<T>();
  const T* H0 = h0.data_ptr<T>();
  const T* GO = gout.defined() ? gout.data_ptr<T>() : nullptr;
  const int64_t gs0 = GO ? gout.stride(0) : 0, gs1 = GO ? gout.stride(1) : 0;  // any strides
  const T* GL = glast.defined() ? glast.data_ptr<T>() : nullptr;
  const T* BI = bias.defined() ? bias.data_ptr<T>() : nullptr;
  T* DB = dbias_rows.defined() ? dbias_rows.data_ptr<T>() : nullptr;
  T* DP = dproj.data_ptr<T>();
  T* DH0 = dh0.data_ptr<T>();
  const Split s = split_of<T>(B, H);
  for_units(B, s, steps * s.width * (kind == MINGRU ? 3 : 5), [&](int64_t b, int64_t j0) {
    const int64_t j1 = std::min(H, j0 + s.width), w = j1 - j0;
    const int64_t L = lens ? lens[b] : steps;
    // G, the running dL/dh_t of this unit's features: stays in L1 for the whole reverse walk
    std::vector<T> carry(w, T(0));
    T* G = carry.data() - j0;  // indexed by the feature j
    if (GL) std::copy(GL + b * H + j0, GL + b * H + j1, carry.begin());
    // per-row sums of the pre-activation gradients over time: this row's share of dbias
    const int64_t G_ = GH / H;
    std::vector<T> sums(DB ? G_ * w : 0, T(0));
    T* S = DB ? sums.data() - j0 : nullptr;  // S[k * w + j]: gate k, feature j
    const Vec<T> one(T(1));
    for (int64_t i = L - 1; i >= 0; --i) {
      const int64_t t = reverse ? L - 1 - i : i;
      const T* p = P + (b * steps + t) * GH;
      const T* hp = i == 0 ? H0 + b * H : O + (b * steps + (reverse ? t + 1 : t - 1)) * H;
      const T* g = GO ? GO + b * gs0 + t * gs1 : nullptr;
      T* d = DP + (b * steps + t) * GH;
      for (int64_t j = j0; j < j1; j += V) {
        const int64_t n = std::min(V, j1 - j);
        Vec<T> Gv = Vec<T>::loadu(G + j, n);
        if (g) Gv = Gv + Vec<T>::loadu(g + j, n);
        const Vec<T> h = Vec<T>::loadu(hp + j, n);
        Vec<T> d0, d1, d2;
        if (kind == MINGRU) {
          const Vec<T> z = vsigmoid(load_k(p, BI, j, n));
          const Vec<T> ht = load_k(p, BI, H + j, n);
          d0 = Gv * (ht - h) * z * (one - z);
          d1 = Gv * z;
          Gv = Gv * (one - z);
        } else {
          const Vec<T> kf = load_k(p, BI, j, n), ki = load_k(p, BI, H + j, n);
          const Vec<T> ht = load_k(p, BI, 2 * H + j, n);
          const Vec<T> f = vsigmoid(vsoftplus(ki.neg()) - vsoftplus(kf.neg()));
          const Vec<T> du = Gv * (h - ht) * f * (one - f);
          d0 = du * vsigmoid(kf.neg());
          d1 = du.neg() * vsigmoid(ki.neg());
          d2 = Gv * (one - f);
          d2.store(d + 2 * H + j, n);
          Gv = Gv * f;
        }
        d0.store(d + j, n);
        d1.store(d + H + j, n);
        if (S) {
          (Vec<T>::loadu(S + j, n) + d0).store(S + j, n);
          (Vec<T>::loadu(S + w + j, n) + d1).store(S + w + j, n);
          if (kind == MINLSTM) (Vec<T>::loadu(S + 2 * w + j, n) + d2).store(S + 2 * w + j, n);
        }
        Gv.store(G + j, n);
      }
    }
    for (int64_t t = L; t < steps; ++t) {
      T* d = DP + (b * steps + t) * GH;
      for (int64_t k = 0; k < G_; ++k) std::fill(d + k * H + j0, d + k * H + j1, T(0));
    }
    std::copy(carry.begin(), carry.end(), DH0 + b * H + j0);
    for (int64_t k = 0; DB && k < G_; ++k) {
      std::copy(sums.begin() + k * w, sums.begin() + (k + 1) * w, DB + b * GH + k * H + j0);
    }
  });
}

void check(const Tensor& proj, const std::optional<Tensor>& bias, const Tensor& h0,
           const std::optional<Tensor>& lengths, int64_t kind) {
  TORCH_CHECK(kind == MINGRU || kind == MINLSTM, "expected kind 0 (minGRU) or 1 (minLSTM), got ",
              kind);
  TORCH_CHECK(proj.device().is_cpu() && proj.dim() == 3 && proj.is_contiguous(),
              "expected a contiguous CPU projection (B, T, G*H), got ", proj.sizes());
  const int64_t G = kind == MINGRU ? 2 : 3;
  TORCH_CHECK(proj.size(2) % G == 0, "expected a projection of ", G, "*H features, got ",
              proj.size(2));
  const int64_t H = proj.size(2) / G;
  TORCH_CHECK(h0.dim() == 2 && h0.size(0) == proj.size(0) && h0.size(1) == H &&
                  h0.is_contiguous() && h0.scalar_type() == proj.scalar_type(),
              "expected a contiguous h0 of shape (", proj.size(0), ", ", H, "), got ", h0.sizes());
  if (bias) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == proj.size(2) && bias->is_contiguous() &&
                    bias->scalar_type() == proj.scalar_type(),
                "expected a contiguous bias of shape (", proj.size(2), "), got ", bias->sizes());
  }
  if (lengths) {
    TORCH_CHECK(lengths->scalar_type() == at::kLong && lengths->dim() == 1 &&
                    lengths->size(0) == proj.size(0) && lengths->is_contiguous(),
                "expected int64 lengths of shape (B,)");
  }
}

std::vector<Tensor> forward(const Tensor& proj, const std::optional<Tensor>& bias,
                            const Tensor& h0, const std::optional<Tensor>& lengths, int64_t kind,
                            bool reverse) {
  check(proj, bias, h0, lengths, kind);
  const Tensor bias_t = bias ? *bias : Tensor();
  const int64_t H = proj.size(2) / (kind == MINGRU ? 2 : 3);
  Tensor out = fresh({proj.size(0), proj.size(1), H}, proj.options());
  Tensor last = at::empty({proj.size(0), H}, proj.options());
  const int64_t* lens = lengths ? lengths->data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(proj.scalar_type(), "seqattn_mingru_forward", [&] {
    forward_impl<scalar_t>(kind, reverse, proj, bias_t, h0, lens, out, last);
  });
  return {out, last};
}

// Returns dproj (the gradient of the pre-activations, so also of x W^T), dh0 and dbias
// (undefined without a bias).
std::vector<Tensor> backward(const Tensor& proj, const std::optional<Tensor>& bias,
                             const Tensor& out, const Tensor& h0,
                             const std::optional<Tensor>& lengths,
                             const std::optional<Tensor>& grad_out,
                             const std::optional<Tensor>& grad_last, int64_t kind, bool reverse) {
  check(proj, bias, h0, lengths, kind);
  const Tensor bias_t = bias ? *bias : Tensor();
  TORCH_CHECK(out.is_contiguous() && out.dim() == 3, "expected the contiguous forward output");
  Tensor gout, glast;
  if (grad_out) {
    gout = grad_out->stride(2) == 1 ? *grad_out : grad_out->contiguous();
    TORCH_CHECK(gout.sizes() == out.sizes() && gout.scalar_type() == out.scalar_type(),
                "expected grad_out like the output, got ", gout.sizes());
  }
  if (grad_last) {
    glast = grad_last->contiguous();
    TORCH_CHECK(glast.sizes() == h0.sizes(), "expected grad_last like h0, got ", glast.sizes());
  }
  Tensor dproj = fresh(proj.sizes(), proj.options());
  Tensor dh0 = at::empty_like(h0);
  Tensor dbias_rows = bias ? at::empty({proj.size(0), proj.size(2)}, proj.options()) : Tensor();
  const int64_t* lens = lengths ? lengths->data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(proj.scalar_type(), "seqattn_mingru_backward", [&] {
    backward_impl<scalar_t>(kind, reverse, proj, bias_t, out, h0, lens, gout, glast, dproj, dh0,
                            dbias_rows);
  });
  return {dproj, dh0, bias ? dbias_rows.sum(0) : Tensor()};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "seqattn minGRU/minLSTM: fused gates + recurrence, forward and backward, on CPU";
  m.def("fresh", [](const Tensor& like, std::vector<int64_t> sizes) {
          return fresh(sizes, like.options());
        }, "empty tensor of like's dtype and device, huge pages asked for where large");
  m.def("forward", &forward, "gates and recurrence of one layer and direction");
  m.def("backward", &backward, "gradients of the projection and h0, one reverse pass");
}

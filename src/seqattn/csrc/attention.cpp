// Fused exact attention on CPU (FlashAttention-2 schedule), tiles computed with ATen GEMMs.
//
// forward(q, k, v, mask, causal, scale, bq, bk) -> (out, lse)
//   q (BH, T, Dh), k (BH, S, Dh), v (BH, S, Dv) contiguous; mask: an additive float tensor
//   broadcast to (BH, T, S) (any strides) or an undefined tensor. Parallel over BH x query
//   blocks. Per tile: s = q k^T (scaled), running max / sum (online softmax), o += p v.
//   Fully masked rows give zeros and lse = 0.
// backward(q, k, v, mask, out, lse, dout, causal, scale, bq, bk) -> (dq, dk, dv)
//   recomputes p = exp(s - lse) per tile; parallel over BH (dk, dv accumulate over query blocks).
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <limits>
#include <vector>

namespace {

using at::indexing::Slice;

at::Tensor tile_scores(const at::Tensor& qs, const at::Tensor& kb, const at::Tensor& mask,
                       int64_t b, int64_t i0, int64_t i1, int64_t j0, int64_t j1, bool causal) {
  at::Tensor s = at::mm(qs, kb.t());
  if (mask.defined()) s.add_(mask[b].slice(0, i0, i1).slice(1, j0, j1));
  if (causal && j1 - 1 > i0) {  // top-left alignment: query t sees keys s <= t
    auto opts = at::TensorOptions().dtype(at::kLong);
    auto rows = at::arange(i0, i1, opts).unsqueeze(1);
    auto cols = at::arange(j0, j1, opts).unsqueeze(0);
    s.masked_fill_(cols > rows, -std::numeric_limits<double>::infinity());
  }
  return s;
}

at::Tensor finite_or_zero(const at::Tensor& x) {
  return at::where(at::isfinite(x), x, at::zeros_like(x));
}

std::vector<at::Tensor> forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const c10::optional<at::Tensor>& mask_opt, bool causal,
                                double scale, int64_t bq, int64_t bk) {
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, "expected 3-D q, k, v");
  TORCH_CHECK(q.is_contiguous() && k.is_contiguous() && v.is_contiguous(),
              "expected contiguous q, k, v");
  const int64_t BH = q.size(0), T = q.size(1), S = k.size(1), Dv = v.size(2);
  at::Tensor mask = mask_opt.has_value() ? *mask_opt : at::Tensor();
  at::Tensor out = at::zeros({BH, T, Dv}, q.options());
  at::Tensor lse = at::zeros({BH, T}, q.options());
  const int64_t nqb = (T + bq - 1) / bq;
  at::parallel_for(0, BH * nqb, 1, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      const int64_t b = w / nqb, i0 = (w % nqb) * bq, i1 = std::min(T, i0 + bq);
      at::Tensor qs = q[b].slice(0, i0, i1) * scale;
      at::Tensor m = at::full({i1 - i0}, -std::numeric_limits<double>::infinity(), q.options());
      at::Tensor l = at::zeros({i1 - i0}, q.options());
      at::Tensor o = at::zeros({i1 - i0, Dv}, q.options());
      const int64_t jend = causal ? std::min(S, i1) : S;
      for (int64_t j0 = 0; j0 < jend; j0 += bk) {
        const int64_t j1 = std::min(S, j0 + bk);
        at::Tensor s = tile_scores(qs, k[b].slice(0, j0, j1), mask, b, i0, i1, j0, j1, causal);
        at::Tensor m_new = at::maximum(m, std::get<0>(s.max(1)));
        at::Tensor shift = finite_or_zero(m_new);
        at::Tensor p = s.sub_(shift.unsqueeze(1)).exp_();
        at::Tensor alpha = at::exp(m - shift);
        l.mul_(alpha).add_(p.sum(1));
        o.mul_(alpha.unsqueeze(1)).addmm_(p, v[b].slice(0, j0, j1));
        m = m_new;
      }
      at::Tensor visible = l > 0;
      at::Tensor safe_l = at::where(visible, l, at::ones_like(l));
      out[b].slice(0, i0, i1).copy_(o / safe_l.unsqueeze(1));
      lse[b].slice(0, i0, i1).copy_(
          at::where(visible, finite_or_zero(m) + at::log(safe_l), at::zeros_like(l)));
    }
  });
  return {out, lse};
}

std::vector<at::Tensor> backward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const c10::optional<at::Tensor>& mask_opt,
                                 const at::Tensor& out, const at::Tensor& lse,
                                 const at::Tensor& dout, bool causal, double scale, int64_t bq,
                                 int64_t bk) {
  const int64_t BH = q.size(0), T = q.size(1), S = k.size(1);
  at::Tensor mask = mask_opt.has_value() ? *mask_opt : at::Tensor();
  at::Tensor dq = at::zeros_like(q), dk = at::zeros_like(k), dv = at::zeros_like(v);
  at::Tensor delta = (dout * out).sum(2);  // rowsum(dO * O), (BH, T)
  at::parallel_for(0, BH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      for (int64_t i0 = 0; i0 < T; i0 += bq) {
        const int64_t i1 = std::min(T, i0 + bq);
        at::Tensor qs = q[b].slice(0, i0, i1) * scale;
        at::Tensor dob = dout[b].slice(0, i0, i1);
        at::Tensor lb = lse[b].slice(0, i0, i1).unsqueeze(1);
        at::Tensor db = delta[b].slice(0, i0, i1).unsqueeze(1);
        at::Tensor dqb = dq[b].slice(0, i0, i1);
        const int64_t jend = causal ? std::min(S, i1) : S;
        for (int64_t j0 = 0; j0 < jend; j0 += bk) {
          const int64_t j1 = std::min(S, j0 + bk);
          at::Tensor kb = k[b].slice(0, j0, j1), vb = v[b].slice(0, j0, j1);
          at::Tensor p = tile_scores(qs, kb, mask, b, i0, i1, j0, j1, causal).sub_(lb).exp_();
          dv[b].slice(0, j0, j1).addmm_(p.t(), dob);
          at::Tensor ds = at::mm(dob, vb.t()).sub_(db).mul_(p);
          dqb.addmm_(ds, kb, 1.0, scale);
          dk[b].slice(0, j0, j1).addmm_(ds.t(), qs);
        }
      }
    }
  });
  return {dq, dk, dv};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "fused attention forward (out, lse)");
  m.def("backward", &backward, "fused attention backward (dq, dk, dv)");
}

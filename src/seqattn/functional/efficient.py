"""Exact attention in O(n) memory: online softmax over key blocks, with a recomputing backward.

This is the FlashAttention algorithm (Dao et al. 2022; the online softmax of Milakov &
Gimelshein 2018 and Rabe & Staats 2021) written in PyTorch. The forward pass walks over blocks
of keys, keeping for every query a running maximum m, a running normaliser l and an
unnormalised output o:

    s = q k_j^T · scale            (T × block scores, never T × S)
    m' = max(m, rowmax(s));  p = exp(s - m')
    l' = l · exp(m - m') + rowsum(p);   o' = o · exp(m - m') + p v_j

and returns o / l, storing only the log-sum-exp L = m + log l per query. The backward pass
recomputes each block's probabilities p = exp(s - L) instead of storing the T × S matrix:

    dV_j = p^T dO;  dP = dO V_j^T;  dS = p ⊙ (dP - rowsum(dO ⊙ O));
    dQ += dS K_j · scale;  dK_j = dS^T Q · scale

Peak memory is O(T · block) per (batch, head) instead of O(T · S). Fully masked queries get a
zero output and zero gradients, never NaN.

This file is the readable reference (``backend="reference"``). On CPU, ``backend="auto"`` (the
default) runs the same algorithm as a fused C++ kernel (:mod:`seqattn.functional._fused`)
wherever it applies: float32, bfloat16 or float64 inputs with the same leading dims, and no
mask gradient; everything else runs this code.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from seqattn.functional import _fused
from seqattn.functional.attention import check_qkv
from seqattn.functional.masks import causal_mask, check_mask

__all__ = ["efficient_attention"]

log = logging.getLogger(__name__)


def _block_scores(q_scaled, k_blk, mask, is_causal, j0, j1):
    """Scores of all (pre-scaled) queries against keys j0:j1, the mask applied as -inf."""
    s = q_scaled @ k_blk.transpose(-2, -1)  # (..., T, bk), a fresh tensor: safe to edit in place
    if mask is not None:
        blk = mask if mask.shape[-1] == 1 else mask[..., j0:j1]
        # the mask broadcasts to the scores (checked up front), so in place is safe
        s = s.masked_fill_(~blk, float("-inf")) if blk.dtype == torch.bool else s.add_(blk)
    if is_causal:
        allowed = causal_mask(q_scaled.shape[-2], j1 - j0, device=q_scaled.device, offset=-j0)
        s = s.masked_fill_(~allowed, float("-inf"))
    return s


def _finite_or_zero(x: Tensor) -> Tensor:
    return torch.where(torch.isfinite(x), x, torch.zeros_like(x))


def _last_block(q_len: int, k_len: int, is_causal: bool) -> int:
    # top-left causal alignment: key s is visible to some query only if s <= T - 1
    return min(k_len, q_len) if is_causal else k_len


class _EfficientAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale, block_size):
        q_len, k_len = q.shape[-2], k.shape[-2]
        qs = q * scale  # scale once, not every block's scores
        out = q.new_zeros(*q.shape[:-1], v.shape[-1])
        m = q.new_full((*q.shape[:-1], 1), float("-inf"))
        l = q.new_zeros((*q.shape[:-1], 1))
        for j0 in range(0, _last_block(q_len, k_len, is_causal), block_size):
            j1 = min(k_len, j0 + block_size)
            s = _block_scores(qs, k[..., j0:j1, :], mask, is_causal, j0, j1)
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
            shift = _finite_or_zero(m_new)  # rows with nothing visible yet stay at -inf
            p = s.sub_(shift).exp_()  # in place: the block's scores become probabilities
            alpha = torch.exp(m - shift)  # exp(-inf) = 0 on the first visible block
            l = l.mul_(alpha).add_(p.sum(dim=-1, keepdim=True))
            out = out.mul_(alpha).add_(p @ v[..., j0:j1, :])
            m = m_new
        visible = l > 0
        out = out / torch.where(visible, l, torch.ones_like(l))
        lse = torch.where(
            visible, _finite_or_zero(m) + torch.log(torch.where(visible, l, 1.0)), 0.0
        )
        ctx.save_for_backward(q, k, v, out, lse, mask)
        ctx.is_causal, ctx.scale, ctx.block_size = is_causal, scale, block_size
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        q, k, v, out, lse, mask = ctx.saved_tensors
        is_causal, scale, block_size = ctx.is_causal, ctx.scale, ctx.block_size
        q_len, k_len = q.shape[-2], k.shape[-2]
        qs = q * scale
        grad_out = grad_out.contiguous()
        delta = (grad_out * out).sum(dim=-1, keepdim=True)  # rowsum(dO ⊙ O), (..., T, 1)
        dq = torch.zeros_like(q)
        dk = torch.zeros_like(k)
        dv = torch.zeros_like(v)
        want_mask_grad = mask is not None and ctx.needs_input_grad[3]
        dmask = [] if want_mask_grad else None
        for j0 in range(0, _last_block(q_len, k_len, is_causal), block_size):
            j1 = min(k_len, j0 + block_size)
            k_blk, v_blk = k[..., j0:j1, :], v[..., j0:j1, :]
            p = _block_scores(qs, k_blk, mask, is_causal, j0, j1).sub_(lse).exp_()  # recomputed
            dv[..., j0:j1, :] = p.transpose(-2, -1) @ grad_out
            ds = (grad_out @ v_blk.transpose(-2, -1)).sub_(delta).mul_(p)  # dS = P ⊙ (dP - Δ)
            dq += ds @ k_blk
            dk[..., j0:j1, :] = ds.transpose(-2, -1) @ qs  # = (dS^T Q) · scale
            if dmask is not None:
                dmask.append(ds)
        dq *= scale
        grad_mask = None
        if dmask is not None:
            full = torch.cat(dmask, dim=-1) if dmask else q.new_zeros(*q.shape[:-1], 0)
            pad = k_len - full.shape[-1]  # causal: unreachable key blocks get zero gradient
            if pad:
                full = torch.cat([full, full.new_zeros(*full.shape[:-1], pad)], dim=-1)
            grad_mask = full.sum_to_size(mask.shape)
        return dq, dk, dv, grad_mask, None, None, None


def efficient_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    block_size: int | None = None,
    backend: str = "auto",
) -> Tensor:
    """Exact softmax attention in O(T · block_size) memory per (batch, head).

    Same inputs and result as ``F.scaled_dot_product_attention`` without dropout.

    Args:
        query: (..., T, Dh). key: (..., S, Dh). value: (..., S, Dv); same leading dims.
        attn_mask: bool (True = may attend) or float (added), broadcastable to (..., T, S).
            A float mask that requires grad gets its gradient (this costs O(T · S)).
        is_causal: top-left aligned causal mask (query t sees keys s <= t).
        scale: default 1/sqrt(Dh).
        block_size: keys per block; None: 128 in the reference, 512 in the fused kernel.
        backend: "auto" (the fused CPU kernel where it applies, else the reference),
            "fused" (the kernel, or an error saying why not) or "reference" (this file).

    Returns:
        (..., T, Dv). A query with no visible key gets zeros.

    Example:
        >>> q, k, v = (torch.randn(2, 4, 100, 16) for _ in range(3))
        >>> ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        >>> out = efficient_attention(q, k, v, is_causal=True, block_size=32)
        >>> bool(torch.allclose(out, ref, atol=1e-5))
        True
    """
    check_qkv(query, key, value)
    if query.shape[:-2] != key.shape[:-2] or key.shape[:-1] != value.shape[:-1]:
        raise ValueError(
            f"expected query (..., T, Dh), key (..., S, Dh), value (..., S, Dv) with the same "
            f"leading dims, got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"expected query and key with the same Dh, got {query.shape[-1]} and {key.shape[-1]}"
        )
    if is_causal and attn_mask is not None:
        raise ValueError("expected attn_mask=None with is_causal=True, got both")
    _fused.check_backend(backend)
    if block_size is not None and (
        isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1
    ):
        raise ValueError(f"expected block_size to be a positive int or None, got {block_size!r}")
    if attn_mask is not None:
        scores_shape = (*query.shape[:-1], key.shape[-2])
        check_mask(attn_mask, scores_shape, "attn_mask")
        if torch.broadcast_shapes(attn_mask.shape, scores_shape) != scores_shape:
            raise ValueError(
                f"expected attn_mask broadcastable to the scores' shape {scores_shape} without "
                f"enlarging it, got shape {tuple(attn_mask.shape)}"
            )
    if scale is None:  # Dh = 0: every score is 0 whatever the scale
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    scale = float(scale)
    if backend != "reference":
        reason = _fused.why_not(query, key, value, attn_mask)
        if reason is None:
            return _fused.attention(query, key, value, attn_mask, is_causal, scale,
                                    block_k=block_size)  # fmt: skip
        if backend == "fused":
            raise RuntimeError(f"efficient_attention: backend='fused' does not apply: {reason}")
        log.debug("efficient_attention: the reference path: %s", reason)
    block = 128 if block_size is None else block_size
    return _EfficientAttention.apply(query, key, value, attn_mask, is_causal, scale, block)

"""Banded (sliding-window) attention in O(n · w) time and memory.

Query i attends to the keys j with |i - j| <= w (``causal=True``: i - w <= j <= i), as in the
local attention of Longformer / Mistral's sliding window::

    a_ij = softmax_j(q_i · k_j · scale) over the allowed j,   out_i = Σ_j a_ij v_j

Blocked: the queries are cut into blocks of ``block_size`` rows; each block attends only to its
key band (the block's keys widened by w on the allowed sides: block_size + 2w keys, block_size + w
when causal), read as a strided view of the padded keys. Scores and weights are
(..., n / block_size, block_size, block_size + 2w): O(n · (block_size + 2w)), never n × n. Queries
and keys are aligned by index (query i sits at key position i); n may differ from the key count.
Fully masked rows (every key in the band masked) give zeros and finite gradients.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["sliding_window_attention"]


def _band_softmax(scores: Tensor, allowed: Tensor) -> Tensor:
    """masked_softmax with one saved buffer: torch's softmax over the allowed keys; a row with
    no allowed key is softmaxed unmasked, then zeroed (zeros and zero, finite gradients)."""
    live = allowed.any(-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(~(allowed | ~live), float("-inf")), -1)
    return weights * live


def _check(q: Tensor, k: Tensor, v: Tensor, window, causal, mask, block_size) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, Tensor):
            raise TypeError(f"expected {name} to be a Tensor, got {type(x).__name__}")
        if not x.is_floating_point() or x.dim() < 2:
            raise ValueError(
                f"expected {name} floating point of shape (..., L, D), got {x.dtype} "
                f"{tuple(x.shape)}"
            )
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(f"expected q, k, v of one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-1] != k.shape[:-1] or k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"expected q (..., n, D), k (..., m, D), v (..., m, Dv) with the same leading dims, "
            f"got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    for name, x, low in (("window", window, 0), ("block_size", block_size, 1)):
        if x is not None and (isinstance(x, bool) or not isinstance(x, int) or x < low):
            raise ValueError(f"expected {name} to be an int >= {low}, got {x!r}")
    if window is None:
        raise ValueError("expected window to be an int >= 0, got None")
    if not isinstance(causal, bool):
        raise TypeError(f"expected causal to be a bool, got {type(causal).__name__}")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise TypeError(f"expected a bool key mask (True = may attend), got {got}")
        try:
            torch.broadcast_shapes(mask.shape, (*k.shape[:-2], k.shape[-2]))
        except RuntimeError:
            ok = False
        else:
            ok = mask.dim() <= k.dim() - 1 and mask.shape[-1] == k.shape[-2]
        if not ok:
            raise ValueError(
                f"expected a key mask broadcastable to (..., m) = "
                f"{(*k.shape[:-2], k.shape[-2])}, got {tuple(mask.shape)}"
            )


def sliding_window_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    window: int,
    causal: bool = False,
    mask: Tensor | None = None,
    scale: float | None = None,
    block_size: int | None = None,
) -> Tensor:
    """Attention of each query to the keys within ``window`` positions of it, O(n · w).

    Args:
        q: (..., n, D) queries. k: (..., m, D) keys. v: (..., m, Dv) values (e.g. (B, H, n, Dh)).
        window: w >= 0, the half-width: query i sees keys i - w .. i + w (2w + 1 keys).
        causal: only keys i - w .. i (w + 1 keys).
        mask: bool key mask broadcastable to (..., m), True = may attend (a padding mask
            (B, 1, m) for (B, H, ...) inputs); None = every key.
        scale: score scale, default 1/sqrt(D) (1 when D = 0).
        block_size: query rows per block (default max(w, 32), at most n); memory is
            O(n · (block_size + 2w)).

    Returns:
        (..., n, Dv); a query with no allowed key gets zeros.

    Example:
        >>> q = torch.randn(2, 10, 4)
        >>> sliding_window_attention(q, q, q, window=2, causal=True).shape
        torch.Size([2, 10, 4])
    """
    _check(q, k, v, window, causal, mask, block_size)
    n, m, dim = q.shape[-2], k.shape[-2], q.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(dim) if dim else 1.0
    block = max(1, min(block_size or max(window, 32), n))
    blocks = max(1, math.ceil(n / block))
    left, right = window, 0 if causal else window
    band = block + left + right  # keys seen by one query block
    keep = min(m, blocks * block + right)  # keys past the last band are never seen
    total = blocks * block + left + right
    if mask is None:
        mask = torch.ones(m, dtype=torch.bool, device=q.device)
    mask = mask.expand(*k.shape[:-2], m)[..., :keep]
    pad = (left, total - left - keep)
    kb = F.pad(k[..., :keep, :], (0, 0, *pad)).unfold(-2, band, block)  # (..., nb, D, band)
    vb = F.pad(v[..., :keep, :], (0, 0, *pad)).unfold(-2, band, block)  # (..., nb, Dv, band)
    mb = F.pad(mask, pad, value=False).unfold(-1, band, block)  # (..., nb, band)
    qb = F.pad(q, (0, 0, 0, blocks * block - n)).unflatten(-2, (blocks, block))  # (..., nb, bq, D)
    # i - j for query row r and band column c is r - c + left, the same in every block
    diff = torch.arange(block, device=q.device).unsqueeze(-1) - torch.arange(band, device=q.device)
    diff = diff + left
    in_band = (diff >= 0) & (diff <= window) if causal else diff.abs() <= window  # (bq, band)
    allowed = in_band & mb.unsqueeze(-2)  # (..., nb, bq, band)
    weights = _band_softmax((qb @ kb) * scale, allowed)
    out = weights @ vb.transpose(-2, -1)  # (..., nb, bq, Dv)
    return out.flatten(-3, -2)[..., :n, :]

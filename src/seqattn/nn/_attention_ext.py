"""The fused CPU attention kernel (``seqattn/csrc/attention.cpp``), built on first use.

Forward: tiles over queries and keys, GEMM + online softmax + GEMM per tile, the log-sum-exp
saved; backward: the FlashAttention-2 recomputation from it. Parallel (``at::parallel_for``)
over batch x heads x query blocks (forward) and batch x heads (backward). Built like the
recurrent layers' extension (:mod:`seqattn.nn.recurrent._extension`: same flags, same cache,
``SEQATTN_NO_EXT=1`` disables it); when it is unavailable :func:`fused_attention` runs
:func:`seqattn.functional.efficient_attention` (the Python reference) and the reason is logged.

Not yet wired into ``efficient_attention``: ``functional`` may not import ``nn`` (the layering
of tests/test_package.py), so the build helper has to move to a shared module first.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import torch
from torch import Tensor

from seqattn.functional.efficient import efficient_attention
from seqattn.nn.recurrent import _extension as _recurrent_ext

__all__ = ["load", "unavailable_reason", "fused_attention"]

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).resolve().parents[1] / "csrc" / "attention.cpp"
_lock = threading.Lock()
_state: dict = {}


def load():
    """The compiled module (``forward``/``backward``), or None with the reason logged once."""
    fallback = "attention runs the Python efficient_attention"
    return _recurrent_ext.build_once(
        _state, _lock, _SOURCE, "seqattn_attention_", "attention", fallback, log
    )


def unavailable_reason() -> str | None:
    """Why the extension is not in use (None when it is loaded), after :func:`load`."""
    load()
    return _state.get("reason")


class _FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale, bq, bk):
        ext = load()
        out, lse = ext.forward(q, k, v, mask, is_causal, scale, bq, bk)
        ctx.save_for_backward(q, k, v, mask, out, lse)
        ctx.args = (is_causal, scale, bq, bk)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, mask, out, lse = ctx.saved_tensors
        dq, dk, dv = load().backward(q, k, v, mask, out, lse, grad_out.contiguous(), *ctx.args)
        return dq, dk, dv, None, None, None, None, None


def _why_python(query, key, value, attn_mask) -> str | None:
    if load() is None:
        return f"extension unavailable ({_state.get('reason')})"
    if query.device.type != "cpu":
        return f"device {query.device.type} (the kernel is CPU-only)"
    if query.dtype not in (torch.float32, torch.float64):
        return f"dtype {query.dtype} (the kernel takes float32/float64)"
    if not (query.dtype == key.dtype == value.dtype):
        return "q, k, v of different dtypes"
    if attn_mask is not None and attn_mask.requires_grad:
        return "a mask that requires grad (the kernel gives no mask gradient)"
    if torch.is_grad_enabled() and any(t.dim() > 0 and t.shape[-1] == 0 for t in (query, value)):
        return "an empty head dim"
    return None


def fused_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                    is_causal: bool = False, scale: float | None = None,
                    block_q: int = 64, block_k: int = 128) -> Tensor:  # fmt: skip
    """``efficient_attention`` through the fused C++ kernel where it applies.

    Args:
        query: (..., T, Dh). key: (..., S, Dh). value: (..., S, Dv); same leading dims.
        attn_mask: bool (True = may attend) or float (added), broadcastable to (..., T, S).
        is_causal: top-left aligned causal mask. scale: default 1/sqrt(Dh).
        block_q, block_k: queries and keys per tile.

    Returns:
        (..., T, Dv); a query with no visible key gets zeros. Falls back to the Python path
        (the reason logged at DEBUG level) for what the kernel does not cover.
    """
    reason = _why_python(query, key, value, attn_mask)
    if reason is None and (query.numel() == 0 or key.shape[-2] == 0):
        reason = "an empty input"
    if reason is not None:
        log.debug("fused_attention: Python path: %s", reason)
        return efficient_attention(query, key, value, attn_mask, is_causal, scale)
    # the Python entry point validates shapes and masks (same errors) on zero queries: no cost
    small = attn_mask
    if attn_mask is not None and attn_mask.dim() >= 2 and attn_mask.shape[-2] != 1:
        small = attn_mask[..., :0, :]
    efficient_attention(query[..., :0, :], key, value, small, is_causal, scale)
    lead = query.shape[:-2]
    q_len, k_len = query.shape[-2], key.shape[-2]
    mask = None
    if attn_mask is not None:
        mask = attn_mask
        if mask.dtype == torch.bool:
            mask = torch.zeros((), dtype=query.dtype).masked_fill(~mask, float("-inf"))
        mask = mask.to(query.dtype).expand(*lead, q_len, k_len).reshape(-1, q_len, k_len)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    q = query.reshape(-1, q_len, query.shape[-1]).contiguous()
    k = key.reshape(-1, k_len, key.shape[-1]).contiguous()
    v = value.reshape(-1, k_len, value.shape[-1]).contiguous()
    out = _FusedAttention.apply(q, k, v, mask, bool(is_causal), float(scale), block_q, block_k)
    return out.reshape(*lead, q_len, value.shape[-1])

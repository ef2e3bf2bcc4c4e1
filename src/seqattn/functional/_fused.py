"""The fused CPU attention kernel (``seqattn/csrc/attention.cpp``), built on first use.

The FlashAttention-2 schedule in C++: tiles of queries x keys, one GEMM for the scores, the
online softmax (running max and sum, vectorised exp) and one GEMM into the output per tile,
the log-sum-exp saved; the backward recomputes each tile's probabilities from it (five GEMMs
per tile). Parallel over batch x heads x query blocks (forward) and batch x heads (backward);
blocks wholly above the diagonal are skipped under ``is_causal``. float32 and bfloat16 inputs
accumulate in float32 (float64 in float64). The GEMMs are ATen's ``cpublas::brgemm`` (oneDNN's
micro-kernel where the CPU has it, else the BLAS); float64 goes through ``at::mm``.

:func:`efficient_attention` and :func:`scaled_dot_product_attention` run it by default on CPU
(``backend="auto"``) where it applies (:func:`why_not` says when it does not), and keep their
PyTorch code as the readable reference (``backend="reference"``). Built like the recurrent
layers' extension (:mod:`seqattn._extension`: same flags, same cache, ``SEQATTN_NO_EXT=1``
disables it).
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import torch
from torch import Tensor

from seqattn import _extension

__all__ = ["BACKENDS", "load", "unavailable_reason", "why_not", "attention", "check_backend",
           "dropout_multipliers"]  # fmt: skip

log = logging.getLogger(__name__)

#: ``backend`` values of the attention functions: the fused kernel where it applies, else the
#: PyTorch reference ("auto"); the kernel or an error ("fused"); the PyTorch code ("reference").
BACKENDS = ("auto", "fused", "reference")

_SOURCE = Path(__file__).resolve().parents[1] / "csrc" / "attention.cpp"
_lock = threading.Lock()
_state: dict = {}


def load():
    """The compiled module (``forward``/``backward``), or None with the reason logged once."""
    return _extension.build_once(_state, _lock, _SOURCE, "seqattn_attention_", "attention",
                                 "attention runs its PyTorch reference", log)  # fmt: skip


def unavailable_reason() -> str | None:
    """Why the extension is not in use (None when it is loaded), after :func:`load`."""
    load()
    return _state.get("reason")


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"expected backend in {BACKENDS}, got {backend!r}")


class _FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale, bq, bk, dropout_p, seed):
        out, lse = load().forward(q, k, v, mask, is_causal, scale, bq, bk, dropout_p, seed)
        ctx.save_for_backward(q, k, v, mask, out, lse)
        ctx.args = (is_causal, scale, bq, bk, dropout_p, seed)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, mask, out, lse = ctx.saved_tensors
        dq, dk, dv = load().backward(q, k, v, mask, out, lse, grad_out.contiguous(), *ctx.args)
        return dq, dk, dv, None, None, None, None, None, None, None


def why_not(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None) -> str | None:
    """Why the kernel does not apply to these (validated) inputs, or None when it does."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return "tracing, export or compilation (the graph gets the PyTorch ops)"
    if query.device.type != "cpu":
        return f"device {query.device.type} (the kernel is CPU-only)"
    if query.dtype not in (torch.float32, torch.float64, torch.bfloat16):
        return f"dtype {query.dtype} (the kernel takes float32, float64 and bfloat16)"
    if not (query.dtype == key.dtype == value.dtype):
        return "q, k, v of different dtypes"
    if query.shape[:-2] != key.shape[:-2] or key.shape[:-2] != value.shape[:-2]:
        return "broadcast leading dims"
    if query.shape[-1] != key.shape[-1]:
        return "query and key of different head dims"
    if query.numel() == 0 or key.numel() == 0 or value.numel() == 0:
        return "an empty input"
    if attn_mask is not None:
        if attn_mask.requires_grad:
            return "a mask that requires grad (the kernel gives no mask gradient)"
        scores = (*query.shape[:-1], key.shape[-2])
        try:
            grows = torch.broadcast_shapes(attn_mask.shape, scores) != scores
        except RuntimeError:
            grows = True
        if grows or attn_mask.dim() > len(scores):
            return "a mask not broadcastable to the scores' shape"
        if attn_mask.device != query.device:
            return "a mask on another device"
    if load() is None:
        return f"extension unavailable ({_state.get('reason')})"
    return None


def _mask_4d(attn_mask: Tensor, lead: tuple[int, ...], q_len: int, k_len: int, acc) -> Tensor:
    """The additive mask as an (n0, n1, T, S) view over the flattened leading dims (strides
    kept: a (B, 1, 1, S) padding mask stays B x S in memory)."""
    mask = attn_mask
    if mask.dtype == torch.bool:
        mask = torch.zeros((), dtype=acc).masked_fill(~mask, float("-inf"))
    mask = mask.to(acc).expand(*lead, q_len, k_len)
    if len(lead) == 0:
        return mask.reshape(1, 1, q_len, k_len)
    if len(lead) == 1:
        return mask.unsqueeze(0)
    if len(lead) > 2:  # collapse all but the last leading dim (a view when it can be)
        mask = mask.reshape(-1, lead[-1], q_len, k_len)
    return mask


def attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
              is_causal: bool = False, scale: float | None = None, dropout_p: float = 0.0,
              block_q: int | None = None, block_k: int | None = None) -> Tensor:  # fmt: skip
    """softmax(q k^T scale + mask) v through the kernel, for inputs :func:`why_not` accepts.

    Args:
        query: (..., T, Dh). key: (..., S, Dh). value: (..., S, Dv); the same leading dims.
        attn_mask: bool (True = may attend) or float (added), broadcastable to (..., T, S).
        is_causal: top-left aligned causal mask. scale: default 1/sqrt(Dh).
        dropout_p: dropout on the weights, as ``F.dropout`` after the softmax (always applied
            when > 0, as in torch). The mask comes from a counter-based hash of a seed drawn
            from torch's default generator, so ``torch.manual_seed`` makes it reproducible; the
            backward regenerates it (:func:`dropout_multipliers` shows it).
        block_q, block_k: queries and keys per tile; None: torch's CPU split sizes (queries
            32, 64 or 256 by length, keys 512).

    Returns:
        (..., T, Dv); a query with no visible key gets zeros (and finite gradients).
    """
    lead = tuple(query.shape[:-2])
    q_len, k_len = query.shape[-2], key.shape[-2]
    acc = torch.float64 if query.dtype == torch.float64 else torch.float32
    mask = None if attn_mask is None else _mask_4d(attn_mask, lead, q_len, k_len, acc)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    q = query.reshape(-1, q_len, query.shape[-1]).contiguous()
    k = key.reshape(-1, k_len, key.shape[-1]).contiguous()
    v = value.reshape(-1, k_len, value.shape[-1]).contiguous()
    bq, bk = block_q or -1, block_k or -1
    seed = int(torch.randint(0, 2**62, ()).item()) if dropout_p > 0 else 0
    out = _FusedAttention.apply(q, k, v, mask, bool(is_causal), float(scale), bq, bk,
                                float(dropout_p), seed)  # fmt: skip
    return out.reshape(*lead, q_len, value.shape[-1])


def dropout_multipliers(shape: tuple[int, ...], dropout_p: float, seed: int) -> Tensor:
    """The multipliers (0 or 1 / (1 - p)) the kernel applies to the weights of an attention
    of scores shape ``(..., T, S)`` under ``(dropout_p, seed)``, float64 (for tests)."""
    *lead, t, s = shape
    bh = math.prod(lead)
    return load().dropout_multipliers(bh, t, s, float(dropout_p), int(seed)).reshape(shape)

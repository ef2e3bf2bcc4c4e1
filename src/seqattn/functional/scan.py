"""The linear recurrence h_t = a_t * h_{t-1} + b_t, computed four ways, with an exact backward.

minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?") drop the recurrent matmul:
their gates depend on the input only, so the hidden state obeys an element-wise *linear*
recurrence. A linear recurrence is associative, (a2, b2) o (a1, b1) = (a2 a1, a2 b1 + b2), so it
can be evaluated as a prefix scan instead of a loop. Which evaluation is fastest depends on the
machine, not the maths:

* ``sequential``: one fused multiply-add per step, on a (B, D) slice that stays in cache. T
  steps of tiny ops, each paying a few microseconds of launch overhead: measured the fastest
  on a 2-core CPU at every T from 64 to 4096 (benchmarks/scan.py), so the CPU default.
* ``chunked``: split T into chunks of C steps; scan every chunk at once (C steps over tensors
  T/C times larger), then carry the chunk-final states across chunks (T/C small steps), then
  add each chunk's carried-in state times the running product of ``a``. About C + T/C sequential
  steps (128 at T = 4096) but ~3 passes over the whole (T, B, D) tensors: on the CPU the memory
  traffic costs more than the launches it saves (measured 1.1-1.5x slower than sequential).
* ``scan``: Hillis-Steele, log2(T) steps over the whole sequence; O(T log T) work, so it pays
  only where thousands of lanes run in parallel (a GPU).
* ``auto``: ``scan`` on CUDA, ``sequential`` elsewhere.

Every mode multiplies and adds the same numbers (no division, no logarithms; the log-space
formulation of the paper loses float32 precision at long T), so they agree to rounding.

The backward pass is the same recurrence run backwards in time: with G_t = dL/dh_t in total,
G_t = g_t + a_{t+1} G_{t+1}; then dL/db_t = G_t, dL/da_t = G_t h_{t-1} and dL/dh_0 = a_1 G_1.
So :func:`linear_recurrence` is a custom autograd function that saves only ``a`` and the
outputs, and scans once forward and once backward with the chosen mode.

Shape:
    a, b: (B, T, D) (any number of trailing feature dims); h0: (B, D) or None (zeros).
    Returns h: (B, T, D), h[:, t] the state after step t.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MODES = ("auto", "sequential", "chunked", "scan")


def _resolve(mode: str, device: torch.device) -> str:
    if mode not in MODES:
        raise ValueError(f"expected mode in {MODES}, got {mode!r}")
    if mode == "auto":
        return "scan" if device.type == "cuda" else "sequential"
    return mode


# -- kernels: time-major (T, B, *F), no autograd -------------------------------------------------


def _sequential(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    out = torch.empty_like(b)
    h = h0
    for t in range(a.shape[0]):
        h = torch.addcmul(b[t], a[t], h, out=out[t])
    return out


def _hillis_steele(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    b = b.clone()
    b[0] = torch.addcmul(b[0], a[0], h0)  # fold the initial state into the first step
    a = a.clone()
    d, T = 1, a.shape[0]
    while d < T:
        # position t combines with t - d: (a, b)_t <- (a_t a_{t-d}, a_t b_{t-d} + b_t)
        b_new = torch.addcmul(b[d:], a[d:], b[:-d])
        a_new = a[d:] * a[:-d]
        b = torch.cat([b[:d], b_new])
        a = torch.cat([a[:d], a_new])
        d *= 2
    return b


def default_chunk(T: int) -> int:
    """About sqrt(T): balances the C in-chunk steps against the T / C carry steps."""
    return max(1, int(math.isqrt(max(T, 1))))


def _chunked(a: Tensor, b: Tensor, h0: Tensor, chunk: int) -> Tensor:
    T = a.shape[0]
    C = min(chunk, T)
    n = -(-T // C)
    pad = n * C - T
    if pad:  # identity steps (a = 1, b = 0) at the end leave every real state unchanged
        a = torch.cat([a, a.new_ones((pad, *a.shape[1:]))])
        b = torch.cat([b, b.new_zeros((pad, *b.shape[1:]))])
    rest = a.shape[1:]
    # (C, n, B, *F): the in-chunk step index first, so each step's slice is contiguous
    a = a.reshape(n, C, *rest).transpose(0, 1).contiguous()
    b = b.reshape(n, C, *rest).transpose(0, 1).contiguous()
    local = torch.empty_like(b)  # each chunk scanned from a zero state
    prod = torch.empty_like(a)  # running product of a within each chunk
    local[0], prod[0] = b[0], a[0]
    for c in range(1, C):
        torch.addcmul(b[c], a[c], local[c - 1], out=local[c])
        torch.mul(a[c], prod[c - 1], out=prod[c])
    carry = torch.empty((n, *rest), dtype=b.dtype, device=b.device)  # state entering chunk k
    h = h0
    for k in range(n):
        carry[k] = h
        h = torch.addcmul(local[C - 1, k], prod[C - 1, k], h)
    out = torch.addcmul(local, prod, carry.unsqueeze(0))  # (C, n, B, *F)
    return out.transpose(0, 1).reshape(n * C, *rest)[:T]


def _run(a: Tensor, b: Tensor, h0: Tensor, mode: str, chunk: int | None) -> Tensor:
    if a.shape[0] == 0:
        return torch.empty_like(b)
    if mode == "sequential":
        return _sequential(a, b, h0)
    if mode == "scan":
        return _hillis_steele(a, b, h0)
    return _chunked(a, b, h0, chunk or default_chunk(a.shape[0]))


class _LinearRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0, mode, chunk):  # a, b: (T, B, *F) time-major
        h = _run(a, b, h0, mode, chunk)
        ctx.save_for_backward(a, h, h0)
        ctx.mode, ctx.chunk = mode, chunk
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        T = a.shape[0]
        if T == 0:
            return torch.zeros_like(a), torch.zeros_like(a), torch.zeros_like(h0), None, None
        # G_t = g_t + a_{t+1} G_{t+1}: the forward recurrence on the time-reversed sequences
        a_next = torch.cat([a[1:], a.new_zeros((1, *a.shape[1:]))])
        G = _run(a_next.flip(0), grad_h.flip(0), torch.zeros_like(h0), ctx.mode, ctx.chunk)
        G = G.flip(0)
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])
        grad_a = G * h_prev if ctx.needs_input_grad[0] else None
        grad_h0 = a[0] * G[0] if ctx.needs_input_grad[2] else None
        return grad_a, G, grad_h0, None, None


def linear_recurrence(
    a: Tensor,
    b: Tensor,
    h0: Tensor | None = None,
    *,
    mode: str = "auto",
    chunk_size: int | None = None,
    batch_first: bool = True,
) -> Tensor:
    """All states of h_t = a_t * h_{t-1} + b_t (element-wise), differentiable in a, b and h0.

    Args:
        a: the decay (forget) coefficients, (B, T, *F) (``batch_first``) or (T, B, *F).
        b: the inputs, same shape as ``a``.
        h0: the state before the first step, (B, *F); None means zeros.
        mode: ``"sequential"``, ``"chunked"``, ``"scan"`` or ``"auto"`` (see the module notes).
        chunk_size: C for ``chunked`` (default about sqrt(T)).
        batch_first: layout of ``a``, ``b`` and the result.

    Shape:
        a, b: (B, T, *F); h0: (B, *F). Returns (B, T, *F) with out[:, t] = h_{t+1} (the state
        after step t).

    Example:
        >>> a, b = torch.full((1, 3, 1), 0.5), torch.ones(1, 3, 1)
        >>> linear_recurrence(a, b, mode="sequential").flatten().tolist()
        [1.0, 1.5, 1.75]
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"expected tensors a and b, got {type(a).__name__}, {type(b).__name__}")
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(
            f"expected a and b of one shape (B, T, ...), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"expected chunk_size to be a positive int, got {chunk_size!r}")
    mode = _resolve(mode, a.device)
    if batch_first:
        a, b = a.transpose(0, 1), b.transpose(0, 1)
    a, b = a.contiguous(), b.contiguous()
    state_shape = (a.shape[1], *a.shape[2:])
    if h0 is None:
        h0 = a.new_zeros(state_shape)
    elif tuple(h0.shape) != state_shape:
        raise ValueError(f"expected h0 of shape {state_shape}, got {tuple(h0.shape)}")
    h0 = h0.to(a.dtype).contiguous()
    h = _LinearRecurrence.apply(a, b, h0, mode, chunk_size)
    return h.transpose(0, 1) if batch_first else h


def linear_recurrence_reference(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """The definition, one step at a time with plain autograd: the tests' reference.

    Shape: as :func:`linear_recurrence` with ``batch_first=True``.
    """
    h = a.new_zeros((a.shape[0], *a.shape[2:])) if h0 is None else h0
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1) if out else torch.empty_like(b)

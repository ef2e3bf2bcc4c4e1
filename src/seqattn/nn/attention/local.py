"""Luong local attention: attend to a window [p_t - D, p_t + D] around an aligned position.

Luong, Pham & Manning (2015), section 3.2:

* local-m (monotonic): p_t = t, the window around the current target step;
* local-p (predictive): p_t = S · sigmoid(v_p^T tanh(W_p h_t)) (eq. 9), and the alignment is
  multiplied by a Gaussian centred at p_t with σ = D/2 (eq. 10):
  a_t(s) = align(h_t, h̄_s) · exp(-(s - p_t)² / (2σ²)).

As in the paper, the local-p weights are not renormalised after the Gaussian (they sum to at
most 1); pass ``renormalize=True`` to renormalise them.

Cost. The default ``backend="window"`` computes only the window: for each query it gathers the
W = min(2D + 1, S) keys and values at positions ceil(p_t - D) + 0..W-1, scores them, takes the
masked softmax over them (times the Gaussian) and the weighted sum, so a step costs O(W · Dk)
instead of O(S · Dk) (memory (B, T, W, ·)). The weights are scattered back to (B, T, S) for the
returned full row (a zero fill, no scores); :meth:`LocalAttention.attend_window` returns the
(B, T, W) weights and their positions instead. ``backend="reference"`` is the full-row
formulation (scores for every source position, then the window mask), kept as the readable
definition: both give the same numbers up to rounding (tests/nn/test_local_window.py, float64).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.softmax import masked_softmax
from seqattn.nn.attention._common import key_mask, prepare_inputs
from seqattn.nn.attention.multiplicative import LuongAttention
from seqattn.nn.attention.scored import ScoredAttention

__all__ = ["LocalAttention", "LocalWindow", "LOCAL_BACKENDS"]

LOCAL_BACKENDS = ("window", "reference")


class LocalWindow(NamedTuple):
    """:meth:`LocalAttention.attend_window`'s result: context (B, [T,] Dv), weights and
    index (B, [T,] W): the weight of source position ``index`` (0 where the position is outside
    the window, the source or the mask; such an index is clamped into [0, S - 1])."""

    context: Tensor
    weights: Tensor
    index: Tensor


class LocalAttention(ScoredAttention):
    """Luong local attention (``"local-m"`` or ``"local-p"``) with a Luong score.

    Args:
        query_dim: Dq. key_dim: Dk (default Dq).
        window: D, the half-width of the window (2D + 1 positions).
        mode: ``"local-p"`` (predicted position, Gaussian) or ``"local-m"`` (p_t = t).
        score: Luong score ``"dot"``, ``"general"`` (default) or ``"concat"``.
        attn_dim: size of the concat score's and the position predictor's hidden layer.
        renormalize: renormalise local-p weights after the Gaussian.
        backend: ``"window"`` (default: only the 2D + 1 window is computed) or ``"reference"``
            (the full S-length score row, masked outside the window).

    Shape:
        query (B, Dq) or (B, T, Dq); key (B, S, Dk); value (B, S, Dv), default the key;
        mask (B, S) (True = real source position; its count is the source length S used by
        local-p); position: local-m only, (B,) or (B, T) target steps, default 0..T-1.
        Returns (context, weights).

    Example:
        >>> att = LocalAttention(6, window=2, mode="local-p")
        >>> ctx, w = att(torch.randn(2, 6), torch.randn(2, 9, 6))
        >>> int((w[0] > 0).sum()) <= 5
        True
    """

    def __init__(
        self, query_dim: int, key_dim: int | None = None, window: int = 10,
        mode: str = "local-p", score: str = "general", attn_dim: int | None = None,
        renormalize: bool = False, device=None, dtype=None, backend: str = "window",
    ) -> None:  # fmt: skip
        super().__init__()
        if mode not in ("local-m", "local-p"):
            raise ValueError(f"expected mode 'local-m' or 'local-p', got {mode!r}")
        if backend not in LOCAL_BACKENDS:
            raise ValueError(f"expected backend in {LOCAL_BACKENDS}, got {backend!r}")
        self.backend = backend
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise ValueError(f"expected window D to be an int >= 0, got {window!r}")
        factory = {"device": device, "dtype": dtype}
        self.mode, self.window, self.renormalize = mode, window, renormalize
        self.score = LuongAttention(score, query_dim, key_dim, attn_dim, **factory)
        self.query_dim, self.key_dim = self.score.query_dim, self.score.key_dim
        self.key_proj_dim = self.score.key_proj_dim
        if mode == "local-p":
            hidden = attn_dim or query_dim
            self.position_proj = nn.Linear(query_dim, hidden, bias=False, **factory)  # W_p
            self.position_v = nn.Linear(hidden, 1, bias=False, **factory)  # v_p

    def project_keys(self, key: Tensor) -> Tensor:
        """The Luong score's key side (see :meth:`LuongAttention.project_keys`)."""
        return self.score.project_keys(key)

    def scores(self, query: Tensor, key_proj: Tensor) -> Tensor:
        """The Luong score's (B, T, S) scores, before the window."""
        return self.score.scores(query, key_proj)

    def predict_position(self, query: Tensor, source_lengths: Tensor) -> Tensor:
        """local-p's p_t = S · sigmoid(v_p^T tanh(W_p h_t)), (B, T) for queries (B, T, Dq)."""
        gate = torch.sigmoid(self.position_v(torch.tanh(self.position_proj(query)))).squeeze(-1)
        return source_lengths.to(gate.dtype).unsqueeze(-1) * gate

    def forward(self, query: Tensor, key: Tensor, value: Tensor | None = None,
                mask: Tensor | None = None, key_proj: Tensor | None = None,
                position: Tensor | int | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
        """:meth:`ScoredAttention.forward` with local-m's ``position`` (see the class).

        Returns context (B, [T,] Dv) and the full-row weights (B, [T,] S)."""
        if self.backend == "reference":
            return super().forward(query, key, value, mask, key_proj, position=position)
        out = self.attend_window(query, key, value, mask, key_proj, position)
        src, lead = key.shape[1], out.weights.shape[:-1]
        full = out.weights.new_zeros(*lead, src).scatter_add(-1, out.index, out.weights)
        return out.context, full

    def attend_window(self, query: Tensor, key: Tensor, value: Tensor | None = None,
                      mask: Tensor | None = None, key_proj: Tensor | None = None,
                      position: Tensor | int | None = None) -> LocalWindow:  # fmt: skip
        """The window computation alone (any backend): context, the (B, [T,] W) weights and
        their source positions, W = min(2D + 1, S), without the (B, [T,] S) row."""
        name = type(self).__name__
        q, one_step, value, kp = prepare_inputs(self, query, key, value, key_proj, name)
        m = key_mask(mask, q.shape[0], q.shape[1], key.shape[1], name)  # (B, 1 or T, S)
        p = self._position(q, m, key.shape[1], one_step, position)  # (B, T)
        start, width = self._window_start(p, key.shape[1])
        s = start.unsqueeze(-1) + torch.arange(width, device=q.device)  # (B, T, W) positions
        index = s.clamp(0, max(key.shape[1] - 1, 0))
        rows = torch.arange(q.shape[0], device=q.device).view(-1, 1, 1)
        dist = s.to(q.dtype) - p.unsqueeze(-1)  # as the reference's arange(S) - p_t
        allowed = (dist.detach().abs() <= self.window) & (s >= 0) & (s < key.shape[1])
        if m is not None:
            allowed = allowed & m.expand(-1, q.shape[1], -1).gather(-1, index)
        weights = self._finish(masked_softmax(self._window_scores(q, kp[rows, index]), allowed),
                               dist)  # fmt: skip
        context = (weights.unsqueeze(-2) @ value[rows, index]).squeeze(-2)  # (B, T, Dv)
        if one_step:
            return LocalWindow(context.squeeze(1), weights.squeeze(1), index.squeeze(1))
        return LocalWindow(context, weights, index)

    def _window_start(self, p: Tensor, src: int) -> tuple[Tensor, int]:
        """The first position ceil(p_t - D) of each window (B, T) (0 when the window covers
        the source) and the window width W; clamped so that far-off positions stay outside."""
        width = min(2 * self.window + 1, src)
        if width == src:
            return torch.zeros(p.shape, dtype=torch.long, device=p.device), width
        first = torch.nan_to_num(torch.ceil(p.detach() - self.window), nan=float(src))
        return first.clamp(-width, src).long(), width

    def _window_scores(self, q: Tensor, kp_window: Tensor) -> Tensor:
        """The Luong score of queries (B, T, Dq) against their gathered keys (B, T, W, ·)."""
        att = self.score
        if att.mode == "concat":
            qp = F.linear(q, att.weight[:, : att.query_dim])  # (B, T, A)
            return torch.tanh(qp.unsqueeze(-2) + kp_window) @ att.v  # (B, T, W)
        return (kp_window @ q.unsqueeze(-1)).squeeze(-1)  # q·(W_a) k for each window key

    def _position(self, q: Tensor, m: Tensor | None, src: int, one_step: bool, position):
        """p_t (B, T): local-p's prediction from the source lengths, or local-m's steps."""
        batch, steps = q.shape[0], q.shape[1]
        if self.mode == "local-p":
            if position is not None:
                name = type(self).__name__
                raise ValueError(f"{name}: local-p predicts its position; expected position=None")
            lengths = torch.full((batch,), src, device=q.device) if m is None else m.any(1).sum(-1)
            return self.predict_position(q, lengths)  # real-valued
        return self._monotonic_position(position, batch, steps, one_step, q)

    def _finish(self, weights: Tensor, dist: Tensor) -> Tensor:
        """local-p: the window softmax times the Gaussian exp(-dist² / 2σ²), σ = D/2
        (renormalised if asked); local-m: the softmax itself."""
        if self.mode != "local-p":
            return weights
        sigma = self.window / 2.0
        gauss = torch.exp(-(dist**2) / (2 * sigma**2)) if sigma > 0 else (dist == 0).to(dist.dtype)
        weights = weights * gauss
        if self.renormalize:
            total = weights.sum(-1, keepdim=True)
            weights = weights / torch.where(total > 0, total, torch.ones_like(total))
        return weights

    def weights(
        self, query: Tensor, key_proj: Tensor, mask: Tensor | None, one_step: bool,
        position: Tensor | int | None = None,
    ) -> Tensor:  # fmt: skip
        """The reference (full-row) weights (B, T, S): the softmax of the scores inside the
        window around p_t (times the Gaussian for local-p)."""
        src = key_proj.shape[1]
        p = self._position(query, mask, src, one_step, position)  # (B, T)
        s = torch.arange(src, device=query.device, dtype=query.dtype)  # source positions
        dist = s.view(1, 1, src) - p.unsqueeze(-1)  # (B, T, S)
        in_window = dist.detach().abs() <= self.window
        allowed = in_window if mask is None else in_window & mask
        return self._finish(masked_softmax(self.scores(query, key_proj), allowed), dist)

    def _monotonic_position(self, position, batch: int, steps: int, one_step: bool, q: Tensor):
        """local-m's p_t (B, T) from ``position`` (B,) or (B, T), default 0..T-1."""
        name = type(self).__name__
        if position is None:
            if one_step:
                raise ValueError(f"{name}: local-m needs position (the target step t)")
            position = torch.arange(steps, device=q.device).expand(batch, steps)
        p = torch.as_tensor(position, device=q.device, dtype=q.dtype)
        p = p.expand(batch) if p.dim() == 0 else p
        p = p.unsqueeze(-1).expand(batch, steps) if p.dim() == 1 else p
        if p.shape != (batch, steps):
            raise ValueError(
                f"{name}: expected position of shape ({batch},) or ({batch}, {steps}), "
                f"got {tuple(p.shape)}"
            )
        return p

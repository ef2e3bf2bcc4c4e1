"""Luong local attention: attend to a window [p_t - D, p_t + D] around an aligned position.

Luong, Pham & Manning (2015), section 3.2:

* local-m (monotonic): p_t = t, the window around the current target step;
* local-p (predictive): p_t = S · sigmoid(v_p^T tanh(W_p h_t)) (eq. 9), and the alignment is
  multiplied by a Gaussian centred at p_t with σ = D/2 (eq. 10):
  a_t(s) = align(h_t, h̄_s) · exp(-(s - p_t)² / (2σ²)).

As in the paper, the local-p weights are not renormalised after the Gaussian (they sum to at
most 1); pass ``renormalize=True`` to renormalise them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqattn.functional.softmax import masked_softmax
from seqattn.nn.attention.multiplicative import LuongAttention
from seqattn.nn.attention.scored import ScoredAttention

__all__ = ["LocalAttention"]


class LocalAttention(ScoredAttention):
    """Luong local attention (``"local-m"`` or ``"local-p"``) with a Luong score.

    Args:
        query_dim: Dq. key_dim: Dk (default Dq).
        window: D, the half-width of the window (2D + 1 positions).
        mode: ``"local-p"`` (predicted position, Gaussian) or ``"local-m"`` (p_t = t).
        score: Luong score ``"dot"``, ``"general"`` (default) or ``"concat"``.
        attn_dim: size of the concat score's and the position predictor's hidden layer.
        renormalize: renormalise local-p weights after the Gaussian.

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
        renormalize: bool = False, device=None, dtype=None,
    ) -> None:  # fmt: skip
        super().__init__()
        if mode not in ("local-m", "local-p"):
            raise ValueError(f"expected mode 'local-m' or 'local-p', got {mode!r}")
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
        """:meth:`ScoredAttention.forward` with local-m's ``position`` (see the class)."""
        return super().forward(query, key, value, mask, key_proj, position=position)

    def weights(
        self, query: Tensor, key_proj: Tensor, mask: Tensor | None, one_step: bool,
        position: Tensor | int | None = None,
    ) -> Tensor:  # fmt: skip
        """The softmax of the scores inside the window around p_t (times the Gaussian for
        local-p), (B, T, S)."""
        q, m, name = query, mask, type(self).__name__
        batch, steps, src = q.shape[0], q.shape[1], key_proj.shape[1]
        lengths = torch.full((batch,), src, device=q.device) if m is None else m.any(1).sum(-1)
        if self.mode == "local-p":
            if position is not None:
                raise ValueError(f"{name}: local-p predicts its position; expected position=None")
            p = self.predict_position(q, lengths)  # (B, T), real-valued
        else:
            p = self._monotonic_position(position, batch, steps, one_step, q)
        s = torch.arange(src, device=q.device, dtype=q.dtype)  # source positions
        dist = s.view(1, 1, src) - p.unsqueeze(-1)  # (B, T, S)
        in_window = dist.detach().abs() <= self.window
        allowed = in_window if m is None else in_window & m
        weights = masked_softmax(self.scores(q, key_proj), allowed)
        if self.mode == "local-p":
            sigma = self.window / 2.0
            gauss = torch.exp(-(dist**2) / (2 * sigma**2)) if sigma > 0 else (dist == 0).to(q.dtype)
            weights = weights * gauss
            if self.renormalize:
                total = weights.sum(-1, keepdim=True)
                weights = weights / torch.where(total > 0, total, torch.ones_like(total))
        return weights

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

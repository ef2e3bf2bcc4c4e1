"""Luong (multiplicative and concat) global attention.

Luong, Pham & Manning (2015), "Effective approaches to attention-based neural machine
translation", eq. 8:

    dot:      score(h_t, h̄_s) = h_t^T h̄_s
    general:  score(h_t, h̄_s) = h_t^T W_a h̄_s
    concat:   score(h_t, h̄_s) = v_a^T tanh(W_a [h_t; h̄_s])

followed by a softmax over the source positions and the context c_t = Σ_s a_t(s) h̄_s. (The
attentional hidden state h̃_t = tanh(W_c [c_t; h_t]) belongs to the decoder.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.scores import dot_score, tanh_score
from seqattn.nn.attention.scored import ScoredAttention

__all__ = ["LuongAttention", "LUONG_MODES"]

LUONG_MODES = ("dot", "general", "concat")


class LuongAttention(ScoredAttention):
    """Luong global attention with ``mode`` in ``"dot"``, ``"general"``, ``"concat"``.

    The key side of the score (W_a h̄_s for general, the key half of W_a [.; h̄_s] for concat)
    does not depend on the query: compute it once with :meth:`project_keys` and pass it back as
    ``key_proj``.

    Args:
        mode: ``"dot"`` (needs key_dim == query_dim), ``"general"`` or ``"concat"``.
        query_dim: Dq. key_dim: Dk (default Dq). attn_dim: A for concat (default Dq).

    Shape:
        query (B, Dq) or (B, T, Dq); key (B, S, Dk); value (B, S, Dv), default the key;
        mask (B, S) or (B, T, S), True = may attend. Returns (context, weights).

    Example:
        >>> att = LuongAttention("general", 6, 8)
        >>> ctx, w = att(torch.randn(2, 3, 6), torch.randn(2, 7, 8))
        >>> ctx.shape, w.shape
        (torch.Size([2, 3, 8]), torch.Size([2, 3, 7]))
    """

    def __init__(
        self, mode: str, query_dim: int, key_dim: int | None = None,
        attn_dim: int | None = None, device=None, dtype=None,
    ) -> None:  # fmt: skip
        super().__init__()
        if mode not in LUONG_MODES:
            raise ValueError(f"expected mode in {LUONG_MODES}, got {mode!r}")
        key_dim = query_dim if key_dim is None else key_dim
        if mode == "dot" and key_dim != query_dim:
            raise ValueError(
                f"dot attention needs key_dim == query_dim, got key_dim={key_dim}, "
                f"query_dim={query_dim}; use mode='general'"
            )
        factory = {"device": device, "dtype": dtype}
        self.mode, self.query_dim, self.key_dim = mode, query_dim, key_dim
        self.attn_dim = attn_dim or query_dim
        # size of project_keys' output: the key itself (dot), W_a k (general), W_k k (concat)
        self.key_proj_dim = {"dot": key_dim, "general": query_dim}.get(mode, self.attn_dim)
        if mode == "general":
            self.weight = nn.Parameter(torch.empty(query_dim, key_dim, **factory))  # W_a
            nn.init.xavier_uniform_(self.weight)
        elif mode == "concat":
            self.weight = nn.Parameter(torch.empty(self.attn_dim, query_dim + key_dim, **factory))
            self.v = nn.Parameter(torch.empty(self.attn_dim, **factory))
            nn.init.xavier_uniform_(self.weight)
            nn.init.uniform_(self.v, -(self.attn_dim**-0.5), self.attn_dim**-0.5)

    def project_keys(self, key: Tensor) -> Tensor:
        """The query-independent key side: h̄_s (dot), W_a h̄_s (general), W_k h̄_s (concat)."""
        if self.mode == "dot":
            return key
        if self.mode == "general":
            return F.linear(key, self.weight)  # (B, S, Dq)
        return F.linear(key, self.weight[:, self.query_dim :])  # (B, S, A)

    def scores(self, query: Tensor, key_proj: Tensor) -> Tensor:
        """Scores (B, T, S) of queries (B, T, Dq) against projected keys."""
        if self.mode == "concat":
            return tanh_score(F.linear(query, self.weight[:, : self.query_dim]), key_proj, self.v)
        return dot_score(query, key_proj)

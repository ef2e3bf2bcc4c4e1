"""Bahdanau (additive) attention: e_ts = v^T tanh(W_q q_t + W_k k_s + b).

Bahdanau, Cho & Bengio (2015), "Neural machine translation by jointly learning to align and
translate", eq. 6 and appendix A.1.2 (there W_a s_{i-1} + U_a h_j).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqattn.functional.scores import tanh_score
from seqattn.nn.attention.scored import ScoredAttention

__all__ = ["AdditiveAttention"]


class AdditiveAttention(ScoredAttention):
    """Additive attention over keys (B, S, Dk) for queries (B, Dq) or (B, T, Dq).

    The key projection W_k k (+ b) is independent of the query: compute it once per source
    with :meth:`project_keys` and pass it back as ``key_proj`` at every decoder step.

    Args:
        query_dim: Dq. key_dim: Dk. attn_dim: A (the tanh layer's size).
        bias: the bias b (added on the key side).

    Shape:
        query (B, Dq) or (B, T, Dq); key (B, S, Dk); value (B, S, Dv), default the key;
        mask (B, S) or (B, T, S), True = may attend. Returns context (B, [T,] Dv) and
        weights (B, [T,] S).

    Example:
        >>> att = AdditiveAttention(6, 8, 10)
        >>> keys = torch.randn(2, 7, 8)
        >>> kp = att.project_keys(keys)          # once per source sentence
        >>> ctx, w = att(torch.randn(2, 6), keys, key_proj=kp)
        >>> ctx.shape, w.shape
        (torch.Size([2, 8]), torch.Size([2, 7]))
    """

    def __init__(
        self, query_dim: int, key_dim: int, attn_dim: int, bias: bool = True,
        device=None, dtype=None,
    ) -> None:  # fmt: skip
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.query_dim, self.key_dim, self.attn_dim = query_dim, key_dim, attn_dim
        self.key_proj_dim = attn_dim
        self.query_proj = nn.Linear(query_dim, attn_dim, bias=False, **factory)
        self.key_proj = nn.Linear(key_dim, attn_dim, bias=bias, **factory)
        self.v = nn.Parameter(torch.empty(attn_dim, **factory))
        nn.init.uniform_(self.v, -(attn_dim**-0.5), attn_dim**-0.5)

    def project_keys(self, key: Tensor) -> Tensor:
        """W_k k + b for every key, (B, S, A)."""
        return self.key_proj(key)

    def scores(self, query: Tensor, key_proj: Tensor) -> Tensor:
        """e_ts = v^T tanh(W_q q_t + W_k k_s + b), (B, T, S) for queries (B, T, Dq)."""
        return tanh_score(self.query_proj(query), key_proj, self.v)

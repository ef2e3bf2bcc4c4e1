"""Luong location-based attention: the weights come from the target state alone.

Luong, Pham & Manning (2015), "Effective approaches to attention-based neural machine
translation", §3.1 (eq. 8, last line):

    a_t = softmax(W_a h_t)

W_a has one row per source *position* (up to a fixed maximum S_max), so the decoder learns
where to look from its own state, without comparing it with any source state: the score of
position s is ``w_s^T h_t``. Here the rows past a sentence's length S are dropped and padded
positions are masked, so the softmax runs over the sentence's real positions; the context is
still ``c_t = Σ_s a_t(s) h̄_s``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn.attention.scored import ScoredAttention

__all__ = ["LocationAttention"]


class LocationAttention(ScoredAttention):
    """Location-based attention ``a_t = softmax(W_a h_t)`` over at most ``max_source_len`` keys.

    Args:
        query_dim: Dq. key_dim: Dk (the values' size when no value is passed; default Dq).
        max_source_len: S_max, the rows of W_a; longer sources are an error.

    Shape:
        query (B, Dq) or (B, T, Dq); key (B, S, Dk) with S <= S_max; value (B, S, Dv),
        default the key; mask (B, S) or (B, T, S), True = may attend. Returns context
        (B, [T,] Dv) and weights (B, [T,] S).

    Example:
        >>> att = LocationAttention(6, 8, max_source_len=10)
        >>> ctx, w = att(torch.randn(2, 6), torch.randn(2, 7, 8))
        >>> ctx.shape, w.shape, bool(torch.allclose(w.sum(-1), torch.ones(2)))
        (torch.Size([2, 8]), torch.Size([2, 7]), True)
    """

    def __init__(
        self, query_dim: int, key_dim: int | None = None, max_source_len: int = 128,
        device=None, dtype=None,
    ) -> None:  # fmt: skip
        super().__init__()
        for name, value in (("query_dim", query_dim), ("max_source_len", max_source_len)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        self.query_dim = query_dim
        self.key_dim = self.key_proj_dim = query_dim if key_dim is None else key_dim
        self.max_source_len = max_source_len
        self.weight = nn.Parameter(torch.empty(max_source_len, query_dim, device=device,
                                               dtype=dtype))  # fmt: skip  # W_a
        nn.init.xavier_uniform_(self.weight)

    def project_keys(self, key: Tensor) -> Tensor:
        """The keys themselves: the score does not read them (only their positions)."""
        return key

    def scores(self, query: Tensor, key_proj: Tensor) -> Tensor:
        """e_ts = (W_a h_t)_s for the first S positions, (B, T, S)."""
        src = key_proj.shape[1]
        if src > self.max_source_len:
            raise ValueError(
                f"{type(self).__name__}: expected a source of at most max_source_len="
                f"{self.max_source_len} positions, got {src}"
            )
        return F.linear(query, self.weight[:src])  # (B, T, S)

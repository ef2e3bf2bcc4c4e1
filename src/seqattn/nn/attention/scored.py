"""The forward that every scored attention shares: check, score, normalise, weight the values.

Bahdanau (additive), Luong (dot / general / concat), Luong local and Luong location attention
differ only in their score ``e_ts`` and in how the scores become weights; the rest is one
computation::

    q, k, v, key_proj  = checked inputs (one decoder step (B, Dq) is a T = 1 sequence)
    e   = scores(q, key_proj)              # (B, T, S)
    a   = masked_softmax(e, mask)          # (B, T, S), 0 where the mask is False
    c   = a @ v                            # (B, T, Dv)

A subclass gives :meth:`~ScoredAttention.project_keys` (the query-independent key side, computed
once per source and passed back as ``key_proj`` at every decoder step) and
:meth:`~ScoredAttention.scores`; one whose weights are more than a masked softmax of its scores
(local attention's window and Gaussian) overrides :meth:`~ScoredAttention.weights`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from seqattn.functional.softmax import masked_softmax
from seqattn.nn.attention._common import key_mask, prepare_inputs

__all__ = ["ScoredAttention"]


class ScoredAttention(nn.Module):
    """Base class of attention defined by a score ``e_ts = score(q_t, k_s)``.

    Subclasses set ``query_dim`` (Dq), ``key_dim`` (Dk) and ``key_proj_dim`` (the last size of
    :meth:`project_keys`' output) and implement :meth:`project_keys` and :meth:`scores`.

    Shape:
        query (B, Dq) or (B, T, Dq); key (B, S, Dk); value (B, S, Dv), default the key;
        mask (B, S) or (B, T, S), True = may attend; key_proj (B, S, key_proj_dim) from
        :meth:`project_keys`, computed when None. Returns context (B, [T,] Dv) and
        weights (B, [T,] S) (zero at masked positions; a fully masked row is all zero).
    """

    query_dim: int
    key_dim: int
    key_proj_dim: int

    def project_keys(self, key: Tensor) -> Tensor:
        """The query-independent side of the score for every key, (B, S, key_proj_dim)."""
        raise NotImplementedError

    def scores(self, query: Tensor, key_proj: Tensor) -> Tensor:
        """Scores (B, T, S) of queries (B, T, Dq) against projected keys (B, S, ·)."""
        raise NotImplementedError

    def weights(
        self, query: Tensor, key_proj: Tensor, mask: Tensor | None, one_step: bool, **options: Any
    ) -> Tensor:
        """Attention weights (B, T, S): the masked softmax of :meth:`scores`.

        ``mask`` is (B, 1 or T, S) or None; ``one_step`` says the query was one decoder step;
        ``options`` are the extra keyword arguments of the subclass's forward.
        """
        return masked_softmax(self.scores(query, key_proj), mask)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor | None = None,
        mask: Tensor | None = None,
        key_proj: Tensor | None = None,
        **options: Any,
    ) -> tuple[Tensor, Tensor]:
        name = type(self).__name__
        q, one_step, value, kp = prepare_inputs(self, query, key, value, key_proj, name)
        m = key_mask(mask, q.shape[0], q.shape[1], key.shape[1], name)  # (B, 1 or T, S)
        weights = self.weights(q, kp, m, one_step, **options)  # (B, T, S)
        context = weights @ value  # (B, T, Dv)
        if one_step:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

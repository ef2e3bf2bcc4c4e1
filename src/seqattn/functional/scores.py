"""Attention score functions: how well does each query match each key?

All take queries (..., T, Dq) and keys (..., S, Dk) and return scores (..., T, S). Parameters
are arguments (this module owns none); the modules in :mod:`seqattn.nn.attention` hold them and
precompute the key side once per source.

* dot (Luong et al. 2015):              q·k
* scaled dot (Vaswani et al. 2017):     q·k / sqrt(d)
* general (Luong et al. 2015):          q^T W k
* additive (Bahdanau et al. 2015):      v^T tanh(W_q q + W_k k)
* concat (Luong et al. 2015):           v^T tanh(W [q; k])   (= additive with W = [W_q W_k])
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "dot_score",
    "scaled_dot_score",
    "general_score",
    "additive_score",
    "concat_score",
    "tanh_score",
    "SCORES",
]


def _check_qk(query: Tensor, key: Tensor, same_dim: bool) -> None:
    if query.dim() < 2 or key.dim() < 2:
        raise ValueError(
            f"expected query (..., T, D) and key (..., S, D) of rank >= 2, got shapes "
            f"{tuple(query.shape)} and {tuple(key.shape)}"
        )
    if same_dim and query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"expected query and key with the same feature size, got {query.shape[-1]} "
            f"(query {tuple(query.shape)}) and {key.shape[-1]} (key {tuple(key.shape)})"
        )


def dot_score(query: Tensor, key: Tensor) -> Tensor:
    """q·k: (..., T, D), (..., S, D) -> (..., T, S).

    Example:
        >>> dot_score(torch.ones(2, 3, 4), torch.ones(2, 5, 4)).shape
        torch.Size([2, 3, 5])
    """
    _check_qk(query, key, same_dim=True)
    return query @ key.transpose(-2, -1)


def scaled_dot_score(query: Tensor, key: Tensor, scale: float | None = None) -> Tensor:
    """q·k · scale, scale = 1/sqrt(D) by default (Vaswani et al. 2017, eq. 1)."""
    _check_qk(query, key, same_dim=True)
    if scale is None:  # D = 0: every score is 0 whatever the scale (as in torch's sdpa)
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    return (query @ key.transpose(-2, -1)) * scale


def general_score(query: Tensor, key: Tensor, weight: Tensor) -> Tensor:
    """q^T W k with W of shape (Dq, Dk) (Luong et al. 2015, eq. 8 "general")."""
    _check_qk(query, key, same_dim=False)
    if weight.shape != (query.shape[-1], key.shape[-1]):
        raise ValueError(
            f"expected weight of shape (Dq, Dk) = {(query.shape[-1], key.shape[-1])}, "
            f"got {tuple(weight.shape)}"
        )
    return dot_score(query, F.linear(key, weight))  # W k for every key, then dot with q


def tanh_score(query_proj: Tensor, key_proj: Tensor, v: Tensor) -> Tensor:
    """v^T tanh(qp + kp) for projected queries (..., T, A) and keys (..., S, A) -> (..., T, S).

    The shared core of additive and concat scoring; memory (..., T, S, A).
    """
    if query_proj.shape[-1] != key_proj.shape[-1] or v.shape != (query_proj.shape[-1],):
        raise ValueError(
            f"expected projected query/key with the same size A and v of shape (A,), got "
            f"{tuple(query_proj.shape)}, {tuple(key_proj.shape)} and {tuple(v.shape)}"
        )
    # in place on the fresh sum: one (..., T, S, A) buffer instead of two (the largest tensor
    # of a decoding step); autograd allows it, as the sum's backward does not need the sum
    hidden = (query_proj.unsqueeze(-2) + key_proj.unsqueeze(-3)).tanh_()  # (..., T, S, A)
    return hidden @ v


def additive_score(
    query: Tensor,
    key: Tensor,
    w_q: Tensor,
    w_k: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
) -> Tensor:
    """Bahdanau et al. (2015), eq. 6 / appendix A.1.2: v^T tanh(W_q q + W_k k + b).

    Args:
        query: (..., T, Dq). key: (..., S, Dk). w_q: (A, Dq). w_k: (A, Dk). v: (A,).
        bias: optional (A,).
    """
    _check_qk(query, key, same_dim=False)
    return tanh_score(F.linear(query, w_q, bias), F.linear(key, w_k), v)


def concat_score(query: Tensor, key: Tensor, weight: Tensor, v: Tensor) -> Tensor:
    """Luong et al. (2015), eq. 8 "concat": v^T tanh(W [q; k]), W of shape (A, Dq + Dk)."""
    _check_qk(query, key, same_dim=False)
    dq = query.shape[-1]
    if weight.shape[-1] != dq + key.shape[-1]:
        raise ValueError(
            f"expected weight of shape (A, Dq + Dk = {dq + key.shape[-1]}), "
            f"got {tuple(weight.shape)}"
        )
    # W [q; k] = W_q q + W_k k: the concatenation never needs to be built for every (t, s).
    return tanh_score(F.linear(query, weight[:, :dq]), F.linear(key, weight[:, dq:]), v)


SCORES = {
    "dot": dot_score,
    "scaled_dot": scaled_dot_score,
    "general": general_score,
    "additive": additive_score,
    "concat": concat_score,
}

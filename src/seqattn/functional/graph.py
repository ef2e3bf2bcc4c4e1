"""Sparse graph attention maths: softmax over each node's incoming edges, O(E) memory.

A graph is an ``edge_index`` of shape (2, E), int64: row 0 the source node j of each edge,
row 1 its destination (target) node i, so messages flow ``j -> i`` (PyTorch Geometric's
convention). Attention normalises over the edges that share a destination, with
``scatter_reduce``/``index_add`` only: no dense N x N matrix, no ``torch_scatter``.

>>> edge_index = torch.tensor([[0, 1, 2, 0], [1, 1, 1, 2]])
>>> segment_softmax(torch.tensor([1.0, 2.0, 3.0, 5.0]), edge_index[1], 3)
tensor([0.0900, 0.2447, 0.6652, 1.0000])
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "check_edge_index",
    "segment_softmax",
    "scatter_sum",
    "remove_self_loops",
    "add_self_loops",
    "in_degree",
]


def check_edge_index(
    edge_index: object, num_src: int, num_dst: int | None = None, *, name: str = "edge_index"
) -> Tensor:
    """Validate a (2, E) int64 edge index against the node counts; return it unchanged.

    Args:
        edge_index: the edges, row 0 source ids, row 1 destination ids.
        num_src: number of source nodes (ids in ``[0, num_src)``).
        num_dst: number of destination nodes (default ``num_src``).
        name: what to call the tensor in error messages.

    Raises:
        TypeError: not a tensor, or not int64.
        ValueError: not of shape (2, E), or an id out of range.

    >>> check_edge_index(torch.tensor([[0, 3]]), 4)
    Traceback (most recent call last):
    ...
    ValueError: expected edge_index of shape (2, E), got (1, 2)
    """
    num_dst = num_src if num_dst is None else num_dst
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"expected {name} as a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.dtype != torch.int64:
        raise TypeError(f"expected {name} of dtype torch.int64, got {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"expected {name} of shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.shape[1]:
        lo, hi = edge_index.amin(dim=1).tolist(), edge_index.amax(dim=1).tolist()
        for row, what, n in ((0, "source", num_src), (1, "destination", num_dst)):
            if lo[row] < 0 or hi[row] >= n:
                raise ValueError(
                    f"expected {what} node ids of {name} in [0, {n - 1}] ({n} nodes), "
                    f"got ids from {lo[row]} to {hi[row]}"
                )
    return edge_index


def _check_index(index: Tensor, src: Tensor, num_segments: int) -> None:
    if index.dtype != torch.int64:
        raise TypeError(f"expected index of dtype torch.int64, got {index.dtype}")
    if index.dim() != 1 or src.dim() == 0 or index.shape[0] != src.shape[0]:
        raise ValueError(
            f"expected index of shape (E,) matching src's first dim, got index "
            f"{tuple(index.shape)} and src {tuple(src.shape)}"
        )
    if num_segments < 0:
        raise ValueError(f"expected num_segments >= 0, got {num_segments}")


def _expand(index: Tensor, like: Tensor) -> Tensor:
    return index.view(-1, *([1] * (like.dim() - 1))).expand_as(like)


def scatter_sum(src: Tensor, index: Tensor, num_segments: int) -> Tensor:
    """Sum the rows of ``src`` into ``num_segments`` buckets: ``out[index[e]] += src[e]``.

    Args:
        src: (E, *) values.
        index: (E,) int64 segment of each row, in ``[0, num_segments)``.
        num_segments: number of output rows (segments without rows stay 0).

    Shape:
        src (E, *), index (E,) -> (num_segments, *).
    """
    _check_index(index, src, num_segments)
    return src.new_zeros((num_segments, *src.shape[1:])).index_add(0, index, src)


def segment_softmax(scores: Tensor, index: Tensor, num_segments: int) -> Tensor:
    """Softmax of ``scores`` within each segment (edges with the same destination node).

    ``alpha_e = exp(s_e - m_i) / sum_{e' : index[e'] = i} exp(s_e' - m_i)`` with ``i = index[e]``
    and ``m_i`` the segment's maximum (per trailing column, e.g. per head), as in the
    neighbourhood softmax of GAT (Velickovic et al. 2018, eq. 3). The maximum is subtracted
    for stability and carries no gradient (the softmax does not depend on it). Entries of
    -inf get weight 0; a segment whose entries are all -inf gets zeros, never NaN, and a
    segment with no entries (a node without incoming edges) simply has none.

    Args:
        scores: (E,) or (E, H) unnormalised scores.
        index: (E,) int64 destination node of each edge, in ``[0, num_segments)``.
        num_segments: number of destination nodes N.

    Shape:
        scores (E, *), index (E,) -> (E, *).

    Returns:
        Weights of the shape of ``scores`` that sum to 1 over each non-empty segment
        (per trailing column).
    """
    _check_index(index, scores, num_segments)
    shape = (num_segments, *scores.shape[1:])
    expanded = _expand(index, scores)
    seg_max = scores.new_full(shape, float("-inf")).scatter_reduce(
        0, expanded, scores.detach(), reduce="amax", include_self=True
    )
    # A segment of -inf scores only: shift by 0 so exp gives exact zeros instead of NaN.
    seg_max = torch.where(torch.isfinite(seg_max), seg_max, torch.zeros_like(seg_max))
    e = torch.exp(scores - seg_max.index_select(0, index))  # (E, *)
    total = scores.new_zeros(shape).index_add(0, index, e).index_select(0, index)
    return e / torch.where(total > 0, total, torch.ones_like(total))


def remove_self_loops(edge_index: Tensor) -> tuple[Tensor, Tensor]:
    """Drop edges ``i -> i``; return the kept edges and the boolean mask that kept them."""
    keep = edge_index[0] != edge_index[1]
    return edge_index[:, keep], keep


def add_self_loops(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Append one loop ``i -> i`` for every node ``0..num_nodes-1`` (after the given edges)."""
    loops = torch.arange(num_nodes, dtype=edge_index.dtype, device=edge_index.device)
    return torch.cat([edge_index, loops.expand(2, -1)], dim=1)


def in_degree(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Number of incoming edges of each node, (N,) int64."""
    return torch.bincount(edge_index[1], minlength=num_nodes)

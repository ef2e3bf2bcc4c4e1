"""GATv2 (Brody, Alon, Yahav 2022, "How Attentive are Graph Attention Networks?"), PyG-compatible.

GAT's score ``a^T LeakyReLU-free [W h_i || W h_j]`` ranks the neighbours j the same way for
every query i ("static" attention). GATv2 moves the nonlinearity between W and a:

    e_ij = a^T LeakyReLU_0.2(W_dst h_i + W_src h_j)         (eq. 7; W [h_i || h_j] split)
    alpha_ij = softmax_j(e_ij) over the neighbours j of i
    h'_i = ||_k sum_j alpha^k_ij W^k_src h_j  (concat heads)  or  mean_k (...)

so the ranking of the j can depend on i ("dynamic" attention). ``share_weights=True`` uses one
W for both roles (the paper's W [h_i || h_j] with tied halves). Computed per edge over the edge
list with :func:`~seqattn.functional.graph.segment_softmax`: memory O(E * H * C).

Constructor arguments, parameter names (``lin_l`` source, ``lin_r`` destination, ``att``,
``res``, ``bias``) and outputs mirror ``torch_geometric.nn.GATv2Conv``, so a PyG state dict
loads with ``strict=True``. Not mirrored: edge features (``edge_dim``), ``SparseTensor``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.graph import (
    add_self_loops,
    check_edge_index,
    remove_self_loops,
    scatter_sum,
    segment_softmax,
)
from seqattn.nn.graph.gat import _check_features, _glorot_

__all__ = ["GATv2Conv"]


def _glorot_linear(lin: nn.Linear) -> None:
    _glorot_(lin.weight)
    if lin.bias is not None:
        nn.init.zeros_(lin.bias)


class GATv2Conv(nn.Module):
    """Multi-head dynamic graph attention over an edge list; see ``torch_geometric.nn.GATv2Conv``.

    Args:
        in_channels: input features F, or ``(F_src, F_dst)`` for a bipartite graph.
        out_channels: features C per head.
        heads: H attention heads.
        concat: concatenate the heads' outputs (H*C features) or average them (C).
        negative_slope: LeakyReLU slope inside the score (0.2 in the paper).
        dropout: dropout on the normalised attention coefficients in training.
        add_self_loops: remove any self-loops, then add one per node.
        bias: learn additive biases (in both projections and on the output, as PyG).
        share_weights: one projection for sources and destinations (``lin_r`` is ``lin_l``).
        residual: add a learned linear projection of the destination inputs to the output.

    Shape:
        x (N, F) or a pair ``(x_src (N_src, F_src), x_dst (N_dst, F_dst))``; edge_index
        (2, E) int64, row 0 source j, row 1 destination i. Output (N_dst, H*C) with ``concat``
        else (N_dst, C).

    Returns:
        The output; with ``return_attention_weights=True`` also ``(edge_index, alpha)``, the
        edges used (self-loops appended when ``add_self_loops``) and their (E', H)
        coefficients after attention dropout, as PyG.

    Example:
        >>> conv = GATv2Conv(4, 3, heads=2)
        >>> x, edge_index = torch.randn(5, 4), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
        >>> conv(x, edge_index).shape
        torch.Size([5, 6])
    """

    def __init__(
        self,
        in_channels: int | tuple[int, int],
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        bias: bool = True,
        share_weights: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        bipartite = isinstance(in_channels, tuple | list)
        sizes = tuple(in_channels) if bipartite else (in_channels,) * 2
        if len(sizes) != 2 or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ValueError(
                f"expected in_channels as a positive int or a pair of them, got {in_channels!r}"
            )
        for name, value in (("out_channels", out_channels), ("heads", heads)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"expected dropout in [0, 1), got {dropout}")
        if share_weights and sizes[0] != sizes[1]:
            raise ValueError(
                f"expected equal source and destination features with share_weights, "
                f"got in_channels {in_channels!r}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.add_self_loops = add_self_loops
        self.share_weights = share_weights
        hc = heads * out_channels
        self.lin_l = nn.Linear(sizes[0], hc, bias=bias)  # sources j
        self.lin_r = self.lin_l if share_weights else nn.Linear(sizes[1], hc, bias=bias)
        self.att = nn.Parameter(self.lin_l.weight.new_empty(1, heads, out_channels))
        out_size = hc if concat else out_channels
        self.res = nn.Linear(sizes[1], out_size, bias=False) if residual else None
        if bias:
            self.bias = nn.Parameter(self.lin_l.weight.new_empty(out_size))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform projections and attention vector, zero biases (as PyG)."""
        _glorot_linear(self.lin_l)
        _glorot_linear(self.lin_r)
        if self.res is not None:
            _glorot_linear(self.res)
        _glorot_(self.att)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _inputs(self, x: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        if isinstance(x, tuple):
            if len(x) != 2:
                raise ValueError(f"expected x as a pair (x_src, x_dst), got {len(x)} tensors")
            x_src = _check_features(x[0], "x_src", self.lin_l.in_features)
            return x_src, _check_features(x[1], "x_dst", self.lin_r.in_features)
        if self.lin_l.in_features != self.lin_r.in_features:
            raise ValueError(
                f"expected a pair (x_src, x_dst) for a bipartite GATv2Conv with in_channels "
                f"{self.in_channels}, got one tensor"
            )
        x = _check_features(x, "x", self.lin_l.in_features)
        return x, x

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor],
        edge_index: Tensor,
        *,
        return_attention_weights: bool = False,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """Attend over each node's incoming edges; see the class docstring for shapes."""
        x_src, x_dst = self._inputs(x)
        if x_src.is_sparse or x_dst.is_sparse:
            raise TypeError("expected dense x for GATv2Conv, got a sparse tensor")
        h, c = self.heads, self.out_channels
        p_src = self.lin_l(x_src).view(-1, h, c)  # (N_src, H, C)
        p_dst = self.lin_r(x_dst).view(-1, h, c)  # (N_dst, H, C)
        n_src, n_dst = p_src.shape[0], p_dst.shape[0]
        check_edge_index(edge_index, n_src, n_dst)
        if self.add_self_loops:
            edge_index, _ = remove_self_loops(edge_index)
            edge_index = add_self_loops(edge_index, min(n_src, n_dst))
        src, dst = edge_index[0], edge_index[1]
        x_j = p_src.index_select(0, src)  # (E, H, C)
        # The nonlinearity sits between W and a: the score no longer splits per node.
        hidden = F.leaky_relu(x_j + p_dst.index_select(0, dst), self.negative_slope)
        scores = (hidden * self.att).sum(-1)  # (E, H)
        alpha = segment_softmax(scores, dst, n_dst)  # (E, H)
        if self.training and self.dropout:
            alpha = F.dropout(alpha, self.dropout)
        out = scatter_sum(alpha.unsqueeze(-1) * x_j, dst, n_dst)  # (N_dst, H, C)
        out = out.reshape(n_dst, h * c) if self.concat else out.mean(1)
        if self.res is not None:
            out = out + self.res(x_dst)
        if self.bias is not None:
            out = out + self.bias
        if return_attention_weights:
            return out, (edge_index, alpha)
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, heads={self.heads}, concat={self.concat}, "
            f"dropout={self.dropout}, add_self_loops={self.add_self_loops}, "
            f"share_weights={self.share_weights}"
        )

"""Graph attention layer (Velickovic et al. 2018, "Graph Attention Networks"), PyG-compatible.

    e_ij = LeakyReLU_0.2(a^T [W h_i || W h_j]) = LeakyReLU(a_dst . W h_i + a_src . W h_j)
    alpha_ij = softmax_j(e_ij) over the neighbours j of i                        (eq. 3)
    h'_i = ||_k sum_j alpha^k_ij W^k h_j    (concat heads)  or  mean_k (...)   (eq. 5, 6)

Computed sparsely over the edge list with the functional core's
:func:`~seqattn.functional.graph.segment_softmax`: memory O(E * H * C), never N x N.

Constructor arguments, defaults, forward signature, return values and parameter names mirror
``torch_geometric.nn.GATConv`` (``lin`` or ``lin_src``/``lin_dst``, ``att_src``, ``att_dst``,
``bias``), so a PyG state dict loads with ``strict=True`` and the outputs agree. Not mirrored:
edge features (``edge_dim``), ``residual`` and ``SparseTensor`` adjacency. Added: optional
dropout on the layer's input features (``input_dropout``; the paper drops the inputs of every
layer, PyG leaves that to the model).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.graph import (
    add_self_loops,
    check_edge_index,
    remove_self_loops,
    scatter_sum,
    segment_softmax,
)

__all__ = ["GATConv"]


def _glorot_(t: Tensor) -> None:
    # PyG's glorot: U(-a, a), a = sqrt(6 / (fan_in + fan_out)) from the last two dims.
    a = math.sqrt(6.0 / (t.size(-2) + t.size(-1)))
    with torch.no_grad():
        t.uniform_(-a, a)


def _check_features(x: object, name: str, in_channels: int) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"expected {name} as a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"expected {name} of a floating dtype, got {x.dtype}")
    if x.dim() != 2 or x.shape[1] != in_channels:
        raise ValueError(f"expected {name} of shape (N, {in_channels}), got {tuple(x.shape)}")
    if x.layout not in (torch.strided, torch.sparse_coo):
        raise TypeError(f"expected {name} dense or sparse COO, got layout {x.layout}")
    return x.coalesce() if x.is_sparse else x


def _dropout(x: Tensor, p: float) -> Tensor:
    if not p:
        return x
    if x.is_sparse:
        # Dropping a zero changes nothing: drop the stored values only (bag-of-words features
        # are ~1% non-zero, so this is ~100x less work than a dense mask).
        return torch.sparse_coo_tensor(x.indices(), F.dropout(x.values(), p), x.shape,
                                       is_coalesced=True, check_invariants=False)  # fmt: skip
    return F.dropout(x, p)


def _linear(lin: nn.Linear, x: Tensor) -> Tensor:
    return torch.sparse.mm(x, lin.weight.T) if x.is_sparse else lin(x)


class GATConv(nn.Module):
    """Multi-head graph attention over an edge list; see ``torch_geometric.nn.GATConv``.

    Args:
        in_channels: input features F, or ``(F_src, F_dst)`` for a bipartite graph (separate
            projections ``lin_src``/``lin_dst``).
        out_channels: features C per head.
        heads: H attention heads.
        concat: concatenate the heads' outputs (H*C features) or average them (C).
        negative_slope: LeakyReLU slope of the scores (0.2 in the paper).
        dropout: dropout on the normalised attention coefficients in training.
        add_self_loops: remove any self-loops, then add one per node, so every node attends
            to itself (as in the paper and PyG).
        bias: learn an additive output bias.
        input_dropout: dropout on the input features in training (not in PyG; default 0).

    Shape:
        x (N, F) dense or sparse COO (sparse bag-of-words features make the input dropout and
        projection cheap), or a pair ``(x_src (N_src, F_src), x_dst (N_dst, F_dst))``;
        edge_index (2, E) int64, row 0 source j, row 1 destination i.
        Output (N_dst, H*C) with ``concat`` else (N_dst, C).

    Returns:
        The output; with ``return_attention_weights=True`` also ``(edge_index, alpha)``:
        the edges actually used (self-loops removed and appended at the end when
        ``add_self_loops``) and their coefficients (E', H), after attention dropout, as PyG.
        A node without incoming edges gets zeros (plus the bias).

    Example:
        >>> conv = GATConv(4, 3, heads=2)
        >>> x, edge_index = torch.randn(5, 4), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
        >>> out, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
        >>> out.shape, ei.shape, alpha.shape
        (torch.Size([5, 6]), torch.Size([2, 9]), torch.Size([9, 2]))
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
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        bipartite = isinstance(in_channels, tuple | list)
        sizes = tuple(in_channels) if bipartite else (in_channels,)
        if len(sizes) not in (1, 2) or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ValueError(
                f"expected in_channels as a positive int or a pair of them, got {in_channels!r}"
            )
        for name, value in (("out_channels", out_channels), ("heads", heads)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        for name, p in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"expected {name} in [0, 1), got {p}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.add_self_loops = add_self_loops
        hc = heads * out_channels
        self.lin: nn.Linear | None = None
        self.lin_src: nn.Linear | None = None
        self.lin_dst: nn.Linear | None = None
        if bipartite:
            self.lin_src = nn.Linear(sizes[0], hc, bias=False)
            self.lin_dst = nn.Linear(sizes[1], hc, bias=False)
        else:
            self.lin = nn.Linear(sizes[0], hc, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        if bias:
            self.bias = nn.Parameter(torch.empty(hc if concat else out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform projections and attention vectors, zero bias (as PyG)."""
        for lin in (self.lin, self.lin_src, self.lin_dst):
            if lin is not None:
                _glorot_(lin.weight)
        _glorot_(self.att_src)
        _glorot_(self.att_dst)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _project(self, x: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = self.heads, self.out_channels
        if isinstance(x, tuple):
            if len(x) != 2:
                raise ValueError(f"expected x as a pair (x_src, x_dst), got {len(x)} tensors")
            f_src, f_dst = (
                (self.lin.in_features,) * 2
                if self.lin is not None
                else (self.lin_src.in_features, self.lin_dst.in_features)
            )
            x_src = _check_features(x[0], "x_src", f_src)
            x_dst = _check_features(x[1], "x_dst", f_dst)
        else:
            f = self.lin.in_features if self.lin is not None else self.lin_src.in_features
            if self.lin is None and self.lin_dst.in_features != f:
                raise ValueError(
                    f"expected a pair (x_src, x_dst) for a bipartite GATConv with in_channels "
                    f"{self.in_channels}, got one tensor"
                )
            x_src = x_dst = _check_features(x, "x", f)
        same = x_src is x_dst
        drop = self.input_dropout if self.training else 0.0
        x_src = _dropout(x_src, drop)
        x_dst = x_src if same else _dropout(x_dst, drop)
        if self.lin is not None:
            p_src = _linear(self.lin, x_src).view(-1, h, c)  # (N_src, H, C)
            p_dst = p_src if same else _linear(self.lin, x_dst).view(-1, h, c)  # (N_dst, H, C)
        else:
            p_src = _linear(self.lin_src, x_src).view(-1, h, c)
            p_dst = _linear(self.lin_dst, x_dst).view(-1, h, c)
        return p_src, p_dst

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor],
        edge_index: Tensor,
        *,
        return_attention_weights: bool = False,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """Attend over each node's incoming edges; see the class docstring for shapes."""
        p_src, p_dst = self._project(x)
        n_src, n_dst = p_src.shape[0], p_dst.shape[0]
        check_edge_index(edge_index, n_src, n_dst)
        if self.add_self_loops:
            edge_index, _ = remove_self_loops(edge_index)
            edge_index = add_self_loops(edge_index, min(n_src, n_dst))
        src, dst = edge_index[0], edge_index[1]
        # a^T [W h_i || W h_j] splits into a per-destination and a per-source term: compute
        # both per node (N, H), then gather per edge, instead of concatenating per edge.
        score_src = (p_src * self.att_src).sum(-1)  # (N_src, H)
        score_dst = (p_dst * self.att_dst).sum(-1)  # (N_dst, H)
        scores = score_src.index_select(0, src) + score_dst.index_select(0, dst)  # (E, H)
        scores = F.leaky_relu(scores, self.negative_slope)
        alpha = segment_softmax(scores, dst, n_dst)  # (E, H)
        alpha = F.dropout(alpha, self.dropout, training=self.training)
        messages = alpha.unsqueeze(-1) * p_src.index_select(0, src)  # (E, H, C)
        out = scatter_sum(messages, dst, n_dst)  # (N_dst, H, C)
        out = out.reshape(n_dst, -1) if self.concat else out.mean(dim=1)
        if self.bias is not None:
            out = out + self.bias
        if return_attention_weights:
            return out, (edge_index, alpha)
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, heads={self.heads}, concat={self.concat}, "
            f"dropout={self.dropout}, add_self_loops={self.add_self_loops}"
        )

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
layer, PyG leaves that to the model), and the authors' TensorFlow dataflow as an option
(``dropout_style="authors"``, ``attention_bias=True``, ``reset_parameters(init="authors")``;
see docs/gat.md): each head draws its own input-dropout mask and drops its projected features
W h_j again before aggregating them, and each head's two score terms carry a scalar bias.
"""

from __future__ import annotations

import math
import warnings

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

DROPOUT_STYLES = ("pyg", "authors")
INITS = ("pyg", "authors")


def _glorot_(t: Tensor, fan_in: int | None = None, fan_out: int | None = None) -> None:
    # PyG's glorot: U(-a, a), a = sqrt(6 / (fan_in + fan_out)), fans from the last two dims.
    fan_in = t.size(-2) if fan_in is None else fan_in
    fan_out = t.size(-1) if fan_out is None else fan_out
    a = math.sqrt(6.0 / (fan_in + fan_out))
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
        dropout_style: ``"pyg"`` (default): one ``input_dropout`` mask shared by all heads, as
            a model around PyG's layer drops its inputs. ``"authors"``: the authors' code
            (``attn_head`` in PetarV-/GAT): every head draws its own input mask, and its
            projected features W h_j are dropped again (p = ``input_dropout``, a fresh mask
            per head) after the scores are computed and before aggregation. Identical in eval.
        attention_bias: a learned scalar per head in each score term (zero-initialised), as
            the authors' 1 x 1 convolutions ``f_1``, ``f_2``:
            ``e_ij = LeakyReLU(a_dst . W h_i + b_dst + a_src . W h_j + b_src)``. The shift sits
            inside the LeakyReLU, so it changes the attention. Parameters ``att_src_bias``,
            ``att_dst_bias`` (H,); not in PyG.

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
        dropout_style: str = "pyg",
        attention_bias: bool = False,
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
        if dropout_style not in DROPOUT_STYLES:
            raise ValueError(f"expected dropout_style in {DROPOUT_STYLES}, got {dropout_style!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.dropout_style = dropout_style
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
        if attention_bias:
            self.att_src_bias = nn.Parameter(torch.empty(heads))
            self.att_dst_bias = nn.Parameter(torch.empty(heads))
        else:
            self.register_parameter("att_src_bias", None)
            self.register_parameter("att_dst_bias", None)
        if bias:
            self.bias = nn.Parameter(torch.empty(hc if concat else out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self, init: str = "pyg") -> None:
        """Glorot-uniform projections and attention vectors, zero biases.

        Args:
            init: ``"pyg"``: Glorot over the whole (H*C, F) projection and over (H, C) for
                the attention vectors, as PyG. ``"authors"``: Glorot per head, as TensorFlow
                initialises each head's 1 x 1 convolutions: U(-a, a) with
                a = sqrt(6 / (F + C)) for W^k and sqrt(6 / (C + 1)) for a^k.
        """
        if init not in INITS:
            raise ValueError(f"expected init in {INITS}, got {init!r}")
        c = self.out_channels
        for lin in (self.lin, self.lin_src, self.lin_dst):
            if lin is not None:
                if init == "authors":
                    _glorot_(lin.weight, fan_in=lin.in_features, fan_out=c)
                else:
                    _glorot_(lin.weight)
        for att in (self.att_src, self.att_dst):
            if init == "authors":
                _glorot_(att, fan_in=c, fan_out=1)
            else:
                _glorot_(att)
        for b in (self.att_src_bias, self.att_dst_bias, self.bias):
            if b is not None:
                nn.init.zeros_(b)

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
        if self.dropout_style == "authors" and drop:
            # One input mask per head: project head by head (the same flops as one matmul).
            lin_src = self.lin if self.lin is not None else self.lin_src
            lin_dst = self.lin if self.lin is not None else self.lin_dst
            p_src = self._project_per_head(lin_src, x_src, drop)
            p_dst = p_src if same else self._project_per_head(lin_dst, x_dst, drop)
            return p_src, p_dst
        x_src = _dropout(x_src, drop)
        x_dst = x_src if same else _dropout(x_dst, drop)
        if self.lin is not None:
            p_src = _linear(self.lin, x_src).view(-1, h, c)  # (N_src, H, C)
            p_dst = p_src if same else _linear(self.lin, x_dst).view(-1, h, c)  # (N_dst, H, C)
        else:
            p_src = _linear(self.lin_src, x_src).view(-1, h, c)
            p_dst = _linear(self.lin_dst, x_dst).view(-1, h, c)
        return p_src, p_dst

    def _project_per_head(self, lin: nn.Linear, x: Tensor, p: float) -> Tensor:
        """Head k projects its own dropped copy of x with its rows W^k of ``lin``: (N, H, C)."""
        h, c = self.heads, self.out_channels
        if not x.is_sparse:
            xs = _dropout(x.expand(h, *x.shape), p)  # (H, N, F): an independent mask per head
            w = lin.weight.view(h, c, -1)  # (H, C, F)
            return torch.bmm(xs, w.transpose(1, 2)).transpose(0, 1)  # (N, H, C)
        # Sparse: H products of a CSR matrix (the same structure, head k's dropped values) with
        # W^k: the flops of one product over all heads; CSR because CPU COO products (one call
        # per head, or one on H stacked copies) were 1.6x-3x slower. Only stored values drop.
        with warnings.catch_warnings():  # torch warns once that CSR support is "beta"
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            csr = x.to_sparse_csr()
        crow, col = csr.crow_indices(), csr.col_indices()
        vals = _dropout(csr.values().expand(h, -1), p)  # (H, nnz): an independent mask per head
        w = lin.weight.view(h, c, -1)  # (H, C, F)
        heads = [torch.sparse.mm(torch.sparse_csr_tensor(crow, col, vals[k], x.shape,
                                                          check_invariants=False), w[k].T)
                 for k in range(h)]  # fmt: skip
        return torch.stack(heads, dim=1)  # (N, H, C)

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
        if self.att_src_bias is not None:
            score_src = score_src + self.att_src_bias
            score_dst = score_dst + self.att_dst_bias
        scores = score_src.index_select(0, src) + score_dst.index_select(0, dst)  # (E, H)
        scores = F.leaky_relu(scores, self.negative_slope)
        alpha = segment_softmax(scores, dst, n_dst)  # (E, H)
        alpha = _dropout(alpha, self.dropout if self.training else 0.0)
        values = p_src  # (N_src, H, C)
        if self.dropout_style == "authors" and self.training:
            # The authors drop W h_j again, per node (not per edge), after the scores used it.
            values = _dropout(values, self.input_dropout)
        messages = alpha.unsqueeze(-1) * values.index_select(0, src)  # (E, H, C)
        out = scatter_sum(messages, dst, n_dst)  # (N_dst, H, C)
        out = out.reshape(n_dst, self.heads * self.out_channels) if self.concat else out.mean(1)
        if self.bias is not None:
            out = out + self.bias
        if return_attention_weights:
            return out, (edge_index, alpha)
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, heads={self.heads}, concat={self.concat}, "
            f"dropout={self.dropout}, add_self_loops={self.add_self_loops}"
            + (f", dropout_style={self.dropout_style!r}" if self.dropout_style != "pyg" else "")
            + (", attention_bias=True" if self.att_src_bias is not None else "")
        )

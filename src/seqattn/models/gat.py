"""Graph attention network for node classification (Velickovic et al. 2018, section 3.3).

The transductive model of the paper: ``num_layers - 1`` multi-head :class:`GATConv` layers
(heads concatenated, ELU), then one output layer whose heads are averaged into class logits.
Every layer drops its input features and its attention coefficients (p = 0.6 in the paper).
``dropout_style="authors"``, ``attention_bias=True`` and ``init="authors"`` follow the
authors' TensorFlow code instead of PyG's layer (see :class:`~seqattn.nn.graph.GATConv` and
docs/gat.md). ``layer="gatv2"`` stacks :class:`~seqattn.nn.graph.GATv2Conv` instead (Brody et
al. 2022, dynamic attention; the model drops each layer's inputs, sparse features are dropped
on their non-zeros, then made dense). ``residual`` and ``norm`` are options of a tuned recipe
(off by default: the paper's model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn.graph import GATConv, GATv2Conv

__all__ = ["GAT", "GATConfig"]

LAYERS = ("gat", "gatv2")
NORMS = ("none", "layer", "batch")


@dataclass(frozen=True)
class GATConfig:
    """The paper's Cora/CiteSeer setting by default: 2 layers, 8 heads x 8 features, 1 output
    head, dropout 0.6 on inputs and attention.

    Args:
        in_channels: node features F.
        num_classes: output classes.
        hidden_channels: features per head in the hidden layers.
        heads: heads of each hidden layer (concatenated).
        out_heads: heads of the output layer (averaged).
        num_layers: GAT layers, >= 1.
        dropout: dropout on every layer's input features.
        attention_dropout: dropout on the attention coefficients.
        negative_slope: LeakyReLU slope of the attention scores.
        add_self_loops: every node attends to itself.
        dropout_style: ``"pyg"`` (one input mask shared by the heads) or ``"authors"`` (a mask
            per head, and the projected features dropped again before aggregation); GAT only.
        attention_bias: a scalar bias per head in each attention score term (authors' code);
            GAT only.
        init: ``"pyg"`` or ``"authors"`` (Glorot per head); see ``GATConv.reset_parameters``;
            GAT only.
        layer: ``"gat"`` (:class:`GATConv`) or ``"gatv2"`` (:class:`GATv2Conv`, PyG's layer:
            needs ``dropout_style="pyg"``, ``attention_bias=False``, ``init="pyg"``).
        residual: add a projection of each layer's (dropped) input to its output, as the
            authors' ``attn_head(residual=True)``: the identity when the widths match, else a
            bias-free linear map.
        norm: ``"none"``, ``"layer"`` (LayerNorm) or ``"batch"`` (BatchNorm over the nodes)
            on every hidden layer's output, before the ELU.
    """

    in_channels: int
    num_classes: int
    hidden_channels: int = 8
    heads: int = 8
    out_heads: int = 1
    num_layers: int = 2
    dropout: float = 0.6
    attention_dropout: float = 0.6
    negative_slope: float = 0.2
    add_self_loops: bool = True
    dropout_style: str = "pyg"
    attention_bias: bool = False
    init: str = "pyg"
    layer: str = "gat"
    residual: bool = False
    norm: str = "none"

    def __post_init__(self) -> None:
        for name in ("in_channels", "num_classes", "hidden_channels", "heads", "out_heads",
                     "num_layers"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"expected {name} in [0, 1), got {getattr(self, name)}")
        for name, allowed in (("dropout_style", ("pyg", "authors")), ("init", ("pyg", "authors")),
                              ("layer", LAYERS), ("norm", NORMS)):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise ValueError(f"expected {name} in {allowed}, got {getattr(self, name)!r}")
        if not isinstance(self.residual, bool):
            raise TypeError(f"expected residual to be a bool, got {self.residual!r}")
        authors = (self.dropout_style, self.attention_bias, self.init) != ("pyg", False, "pyg")
        if self.layer == "gatv2" and authors:
            raise ValueError(
                "expected dropout_style='pyg', attention_bias=False, init='pyg' with "
                f"layer='gatv2', got {self.dropout_style!r}, {self.attention_bias}, {self.init!r}"
            )


def _drop(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout; a sparse COO ``x`` keeps its zeros and drops its stored values only."""
    if not (training and p):
        return x
    if x.is_sparse:
        x = x.coalesce()
        return torch.sparse_coo_tensor(x.indices(), F.dropout(x.values(), p), x.shape,
                                       is_coalesced=True, check_invariants=False)  # fmt: skip
    return F.dropout(x, p)


class _Residual(nn.Module):
    """The identity, or a bias-free projection (sparse-aware) when the widths differ."""

    def __init__(self, width: int, out: int) -> None:
        super().__init__()
        self.lin = nn.Linear(width, out, bias=False) if width != out else None

    def forward(self, x: Tensor) -> Tensor:
        if self.lin is None:
            return x.to_dense() if x.is_sparse else x
        return torch.sparse.mm(x, self.lin.weight.T) if x.is_sparse else self.lin(x)


class GAT(nn.Module):
    """Stacked graph attention for node classification (the paper's transductive GAT).

    Args:
        config: a :class:`GATConfig`.

    Shape:
        x (N, F) dense or sparse COO, edge_index (2, E) int64 (row 0 source, row 1
        destination) -> logits (N, num_classes).

    Returns:
        The logits; with ``return_attention_weights=True`` also one ``(edge_index, alpha)``
        per layer, alpha (E', H_layer).

    Example:
        >>> import torch
        >>> model = GAT(GATConfig(in_channels=5, num_classes=3)).eval()
        >>> x, edge_index = torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> logits, att = model(x, edge_index, return_attention_weights=True)
        >>> logits.shape, [a.shape for _, a in att]
        (torch.Size([4, 3]), [torch.Size([7, 8]), torch.Size([7, 1])])
    """

    def __init__(self, config: GATConfig) -> None:
        super().__init__()
        self.config = c = config
        self.layers = nn.ModuleList()
        sizes = [c.in_channels] + [c.heads * c.hidden_channels] * (c.num_layers - 1)
        outs = [(c.hidden_channels, c.heads, True)] * (c.num_layers - 1)
        outs.append((c.num_classes, c.out_heads, False))
        for width, (out, heads, concat) in zip(sizes, outs, strict=True):
            self.layers.append(self._conv(width, out, heads, concat))
        if c.init != "pyg":
            for layer in self.layers:
                layer.reset_parameters(init=c.init)
        # Created after the layers' initialisation: the default model draws nothing more.
        self.residuals = None
        if c.residual:
            widths = [o * h if cat else o for o, h, cat in outs]
            self.residuals = nn.ModuleList(
                _Residual(w, o) for w, o in zip(sizes, widths, strict=True)
            )
        self.norms = None
        if c.norm != "none":
            norm = nn.LayerNorm if c.norm == "layer" else nn.BatchNorm1d
            self.norms = nn.ModuleList(norm(w) for w in sizes[1:])

    def _conv(self, width: int, out: int, heads: int, concat: bool) -> nn.Module:
        c = self.config
        if c.layer == "gatv2":
            return GATv2Conv(width, out, heads=heads, concat=concat,
                             negative_slope=c.negative_slope, dropout=c.attention_dropout,
                             add_self_loops=c.add_self_loops)  # fmt: skip
        return GATConv(width, out, heads=heads, concat=concat, negative_slope=c.negative_slope,
                       dropout=c.attention_dropout, add_self_loops=c.add_self_loops,
                       input_dropout=c.dropout, dropout_style=c.dropout_style,
                       attention_bias=c.attention_bias)  # fmt: skip

    def _layer(self, i: int, x: Tensor, edge_index: Tensor) -> tuple[Tensor, tuple]:
        """Layer i on x: its input dropout (GATv2; GATConv drops its own), residual, norm."""
        layer, c = self.layers[i], self.config
        if c.layer == "gatv2":
            x = _drop(x, c.dropout, self.training)
            x = x.to_dense() if x.is_sparse else x
            x_res = x
        elif self.residuals is not None:
            x_res = _drop(x, c.dropout, self.training)  # the authors' residual sees a dropped x
        out, att = layer(x, edge_index, return_attention_weights=True)
        if self.residuals is not None:
            out = out + self.residuals[i](x_res)
        if self.norms is not None and i < len(self.layers) - 1:
            out = self.norms[i](out)
        return out, att

    def forward(
        self, x: Tensor, edge_index: Tensor, *, return_attention_weights: bool = False
    ) -> Tensor | tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        attention = []
        for i in range(len(self.layers)):
            x, att = self._layer(i, x, edge_index)
            attention.append(att)
            if i < len(self.layers) - 1:
                x = F.elu(x)
        return (x, attention) if return_attention_weights else x

"""Graph attention network for node classification (Velickovic et al. 2018, section 3.3).

The transductive model of the paper: ``num_layers - 1`` multi-head :class:`GATConv` layers
(heads concatenated, ELU), then one output layer whose heads are averaged into class logits.
Every layer drops its input features and its attention coefficients (p = 0.6 in the paper).
``dropout_style="authors"``, ``attention_bias=True`` and ``init="authors"`` follow the
authors' TensorFlow code instead of PyG's layer (see :class:`~seqattn.nn.graph.GATConv` and
docs/gat.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn.graph import GATConv

__all__ = ["GAT", "GATConfig"]


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
            per head, and the projected features dropped again before aggregation).
        attention_bias: a scalar bias per head in each attention score term (authors' code).
        init: ``"pyg"`` or ``"authors"`` (Glorot per head); see ``GATConv.reset_parameters``.
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

    def __post_init__(self) -> None:
        for name in ("in_channels", "num_classes", "hidden_channels", "heads", "out_heads",
                     "num_layers"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"expected {name} in [0, 1), got {getattr(self, name)}")
        for name, allowed in (("dropout_style", ("pyg", "authors")), ("init", ("pyg", "authors"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"expected {name} in {allowed}, got {getattr(self, name)!r}")


class GAT(nn.Module):
    """Stacked graph attention for node classification (the paper's transductive GAT).

    Args:
        config: a :class:`GATConfig`.

    Shape:
        x (N, F), edge_index (2, E) int64 (row 0 source, row 1 destination) -> logits
        (N, num_classes).

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
        width = c.in_channels
        common = dict(negative_slope=c.negative_slope, dropout=c.attention_dropout,
                      add_self_loops=c.add_self_loops, input_dropout=c.dropout,
                      dropout_style=c.dropout_style, attention_bias=c.attention_bias)  # fmt: skip
        for _ in range(c.num_layers - 1):
            self.layers.append(GATConv(width, c.hidden_channels, heads=c.heads, concat=True,
                                       **common))  # fmt: skip
            width = c.heads * c.hidden_channels
        self.layers.append(GATConv(width, c.num_classes, heads=c.out_heads, concat=False,
                                   **common))  # fmt: skip
        if c.init != "pyg":
            for layer in self.layers:
                layer.reset_parameters(init=c.init)

    def forward(
        self, x: Tensor, edge_index: Tensor, *, return_attention_weights: bool = False
    ) -> Tensor | tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        attention = []
        for i, layer in enumerate(self.layers):
            x, att = layer(x, edge_index, return_attention_weights=True)
            attention.append(att)
            if i < len(self.layers) - 1:
                x = F.elu(x)
        return (x, attention) if return_attention_weights else x

"""A Transformer encoder layer built from our MultiHeadAttention (Vaswani et al. 2017, §3.1).

Mirrors ``torch.nn.TransformerEncoderLayer`` (arguments, parameter names, post-norm by default,
pre-norm with ``norm_first=True``) so its state dict loads both ways, and can also return the
attention weights for inspection.

    post-norm: x = LN(x + Drop(SelfAttn(x)));  x = LN(x + Drop(FFN(x)))
    pre-norm:  x = x + Drop(SelfAttn(LN(x)));  x = x + Drop(FFN(LN(x)))
    FFN(x) = W_2 Drop(act(W_1 x + b_1)) + b_2
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn.attention.multihead import MultiHeadAttention

__all__ = ["TransformerEncoderLayer", "TransformerEncoder"]

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class TransformerEncoderLayer(nn.Module):
    """Self-attention + feed-forward block; see :class:`torch.nn.TransformerEncoderLayer`.

    Args:
        d_model: D. nhead: H. dim_feedforward: FFN width (2048). dropout: 0.1.
        activation: ``"relu"``, ``"gelu"`` or a callable. layer_norm_eps: 1e-5.
        batch_first: (B, T, D) instead of (T, B, D). norm_first: pre-norm. bias: all biases.

    Shape:
        src (T, B, D) or (B, T, D); src_mask (T, T) or (B*H, T, T) (torch's convention: bool
        True = not allowed, or float added); src_key_padding_mask (B, T) (True = padding).
        Returns the output like src, and with ``need_weights=True`` also the weights
        (B, H, T, T).

    Example:
        >>> layer = TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
        >>> out, w = layer(torch.randn(2, 5, 16), need_weights=True)
        >>> out.shape, w.shape
        (torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]))
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiHeadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **factory
        )
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(
                    f"expected activation in {sorted(_ACTIVATIONS)}, got {activation!r}"
                )
            activation = _ACTIVATIONS[activation]
        self.activation = activation
        self.batch_first = batch_first

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        x = src
        if self.norm_first:
            attn, weights = self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + attn
            x = x + self._ff(self.norm2(x))
        else:
            attn, weights = self._sa(x, src_mask, src_key_padding_mask, is_causal)
            x = self.norm1(x + attn)
            x = self.norm2(x + self._ff(x))
        return (x, weights) if need_weights else x

    def _sa(self, x, attn_mask, key_padding_mask, is_causal):
        out, weights = self.self_attn(
            x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
            need_weights=True, average_attn_weights=False, is_causal=is_causal,
        )  # fmt: skip
        return self.dropout1(out), weights

    def _ff(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(nn.Module):
    """A stack of ``num_layers`` copies of an encoder layer, with an optional final norm.

    Mirrors :class:`torch.nn.TransformerEncoder` (parameter names ``layers.0...``, ``norm``).
    ``forward(..., need_weights=True)`` also returns every layer's weights (a list).
    """

    def __init__(
        self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: nn.Module | None = None
    ) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"expected num_layers to be a positive int, got {num_layers!r}")
        self.layers = nn.ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        x, all_weights = src, []
        for layer in self.layers:
            x, w = layer(x, mask, src_key_padding_mask, is_causal=is_causal, need_weights=True)
            all_weights.append(w)
        if self.norm is not None:
            x = self.norm(x)
        return (x, all_weights) if need_weights else x

"""The ``recall`` experiment's models: one wrapper, seven sequence mixers, matched sizes.

Every model is the same stack (the Zoology setup, Arora et al. 2023)::

    token embedding (+ learned positions for the attention mixers)
    L x [ x = x + mixer(LayerNorm(x));  x = x + MLP(LayerNorm(x)) ]   (MLP: D -> 2D -> D, GELU)
    LayerNorm -> linear head over the vocabulary

so only the mixer differs. Sizes are matched by parameter count: the softmax-attention model at
the nominal width D sets the target and every other mixer gets the width d (a multiple of 8)
whose whole model comes closest to it (:func:`matched_width`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqattn.nn import (
    GRU,
    LSTM,
    MLSTM,
    CausalLinearAttention,
    Mamba,
    MinGRU,
    MultiHeadAttention,
    sinusoidal_encoding,
)

__all__ = ["MIXERS", "RecallModel", "matched_width", "parameter_count"]

MIXERS = ("lstm", "gru", "mingru", "mamba", "mlstm", "linear_attention", "softmax_attention")
_POSITIONAL = ("linear_attention", "softmax_attention")  # the others see order by recurrence
_WIDTH_STEP = 8


class _Mixer(nn.Module):
    """One mixer behind a common ``(B, T, D) -> (B, T, D)`` interface."""

    def __init__(self, kind: str, dim: int, heads: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "lstm":
            self.layer: nn.Module = LSTM(dim, dim, batch_first=True)
        elif kind == "gru":
            self.layer = GRU(dim, dim, batch_first=True)
        elif kind == "mingru":
            self.layer = MinGRU(dim, dim)
        elif kind == "mamba":
            self.layer = Mamba(dim)
        elif kind == "mlstm":
            self.layer = MLSTM(dim, heads)
        elif kind == "linear_attention":
            self.layer = CausalLinearAttention(dim, heads)
        elif kind == "softmax_attention":
            self.layer = MultiHeadAttention(dim, heads, batch_first=True)
        else:
            raise ValueError(f"expected a mixer from {list(MIXERS)}, got {kind!r}")

    def forward(self, x: Tensor) -> Tensor:  # (B, T, D)
        if self.kind == "softmax_attention":
            return self.layer(x, x, x, need_weights=False, is_causal=True)[0]
        if self.kind == "mamba":
            # the loop is the fastest exact form on a CPU at these sizes (T <= 512: the chunked
            # and scan forms materialise (B, T, 2D, N) and were 4-6x slower when measured)
            return self.layer(x, mode="sequential")[0]
        return self.layer(x)[0]


class _Block(nn.Module):
    def __init__(self, kind: str, dim: int, heads: int, mlp: bool) -> None:
        super().__init__()
        self.norm1, self.mixer = nn.LayerNorm(dim), _Mixer(kind, dim, heads)
        self.mlp = None
        if mlp:
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x))
        return x if self.mlp is None else x + self.mlp(self.norm2(x))


class RecallModel(nn.Module):
    """Embedding -> ``layers`` residual blocks around ``mixer`` -> vocabulary logits.

    Args:
        mixer: one of :data:`MIXERS`.
        vocab_size: input and output tokens.
        dim: D, the model width.
        layers: residual blocks.
        heads: H of the multi-head mixers (mLSTM, linear and softmax attention).
        max_len: the longest sequence (the positional table of the attention mixers).
        mlp: whether each block has an MLP after the mixer.
        positions: the attention mixers' position signal, ``"sinusoidal"`` (fixed, Vaswani et
            al. 2017; no parameters) or ``"learned"`` (a table of ``max_len`` x D).

    Shape:
        tokens (B, T) long -> logits (B, T, vocab_size).
    """

    def __init__(self, mixer: str, vocab_size: int, dim: int, *, layers: int = 2,
                 heads: int = 2, max_len: int = 512, mlp: bool = True,
                 positions: str = "sinusoidal") -> None:  # fmt: skip
        super().__init__()
        if mixer not in MIXERS:
            raise ValueError(f"expected a mixer from {list(MIXERS)}, got {mixer!r}")
        if dim % heads:
            raise ValueError(f"expected dim divisible by heads, got {dim} and {heads}")
        if positions not in ("sinusoidal", "learned"):
            raise ValueError(f"expected positions 'sinusoidal' or 'learned', got {positions!r}")
        self.mixer_name, self.dim, self.max_len = mixer, dim, max_len
        self.embed = nn.Embedding(vocab_size, dim)
        if mixer in _POSITIONAL and positions == "learned":
            self.pos: Tensor | None = nn.Parameter(0.02 * torch.randn(max_len, dim))
        elif mixer in _POSITIONAL:
            self.register_buffer("pos", sinusoidal_encoding(max_len, dim), persistent=False)
        else:
            self.pos = None
        self.blocks = nn.ModuleList(_Block(mixer, dim, heads, mlp) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.embed(tokens)  # (B, T, D)
        if self.pos is not None:
            if tokens.shape[1] > self.max_len:
                raise ValueError(f"expected T <= {self.max_len}, got {tokens.shape[1]}")
            x = x + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def matched_width(mixer: str, target: int, **model_kw) -> int:
    """The width d (a multiple of 8 and of ``heads``) whose :class:`RecallModel` has the
    parameter count closest to ``target`` (ties: the smaller d).

    Args:
        mixer: one of :data:`MIXERS`.
        target: the parameter count to match.
        model_kw: the other :class:`RecallModel` arguments (vocab_size, layers, heads, ...).
    """
    if not isinstance(target, int) or target < 1:
        raise ValueError(f"expected target as a positive int, got {target!r}")
    heads = model_kw.get("heads", 2)
    step = math.lcm(_WIDTH_STEP, heads)
    best, best_gap, d = step, None, step
    while True:  # parameter counts grow with d: walk up until past the target
        gap = abs(parameter_count(RecallModel(mixer, dim=d, **model_kw)) - target)
        if best_gap is not None and gap > best_gap:
            return best
        best, best_gap, d = d, gap, d + step

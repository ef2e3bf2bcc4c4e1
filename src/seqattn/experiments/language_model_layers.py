"""The ``language-model`` experiment's modern layers: one residual stack, streamed by ``step``.

Every modern model (and ``gru_stack``, a GRU baseline in the same stack) is::

    character embedding (V -> D)
    L x [ x = x + mixer(LayerNorm(x));  x = x + MLP(LayerNorm(x)) ]   (MLP: D -> 2D -> D, GELU)
    LayerNorm -> linear head over the vocabulary

as in the ``recall`` experiment (:mod:`seqattn.experiments.recall_models`), so only the mixer
differs. No position signal: the recurrent mixers see order through their state; linear
attention sees it only through causality (its state is a sum over the prefix), which is its
published form without positions.

Training and scoring run the mixers' fastest exact whole-sequence form (``chunked`` for the
matrix-state layers, the loop for Mamba and sLSTM, the fused scan for minGRU); generation runs
the one streaming state API of issue 24, ``init_state(batch)`` and ``step(x_t, state)``, one
character at a time at O(1) cost per character, through :meth:`CharMixerLM.step`.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor, nn

from seqattn.nn import (
    GRU,
    MLSTM,
    SLSTM,
    CausalLinearAttention,
    DeltaNet,
    GatedLinearAttention,
    Mamba,
    MinGRU,
)
from seqattn.viz.table import Column

__all__ = ["MODERN", "SPEED_COLUMNS", "CharMixerLM", "build_model", "check_mixer_config", "speeds"]

MODERN = ("gru_stack", "mingru", "mamba", "mlstm", "slstm", "deltanet", "gla", "linear_attention")
_ROW_ON_DIM1 = ("gru_stack", "mingru")  # their states are (num_layers, B, D): moved to (B, 1, D)

SPEED_COLUMNS = [
    Column("train_tokens_per_s", "train tok/s", ",.0f"),
    Column("gen_tokens_per_s", "stream gen tok/s", ",.0f"),
]


def check_mixer_config(cfg: Any) -> None:
    """ValueError unless the ``mixer_*`` fields of the experiment's Config are usable."""
    for name in ("mixer_d_model", "mixer_layers", "mixer_heads"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be a positive int, got {value!r}")
    if cfg.mixer_d_model % cfg.mixer_heads:
        raise ValueError(
            f"expected mixer_d_model divisible by mixer_heads, got "
            f"{cfg.mixer_d_model}/{cfg.mixer_heads}"
        )
    if not cfg.mixer_lr > 0:
        raise ValueError(f"expected mixer_lr > 0, got {cfg.mixer_lr}")


def _layer(kind: str, dim: int, heads: int) -> nn.Module:
    if kind == "gru_stack":
        return GRU(dim, dim, batch_first=True)
    if kind == "mingru":
        return MinGRU(dim, dim)
    if kind == "mamba":
        return Mamba(dim)
    if kind == "mlstm":
        return MLSTM(dim, heads)
    if kind == "slstm":
        return SLSTM(dim, dim, heads)
    if kind == "deltanet":
        return DeltaNet(dim, heads)
    if kind == "gla":
        return GatedLinearAttention(dim, heads)
    if kind == "linear_attention":
        return CausalLinearAttention(dim, heads)
    raise ValueError(f"expected a layer from {list(MODERN)}, got {kind!r}")


class _Mixer(nn.Module):
    """One layer behind ``forward (B, T, D) -> (B, T, D)`` and a row-major streaming step."""

    def __init__(self, kind: str, dim: int, heads: int) -> None:
        super().__init__()
        self.kind, self.layer = kind, _layer(kind, dim, heads)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "mamba":  # the loop: the fastest exact form on a CPU at T <= 512
            return self.layer(x, mode="sequential")[0]
        return self.layer(x)[0]

    def init_state(self, batch: int, dtype=None, device=None):
        """The layer's zero state, every tensor with the batch row on dim 0."""
        state = self.layer.init_state(batch, dtype=dtype, device=device)
        return state.transpose(0, 1) if self.kind in _ROW_ON_DIM1 else state

    def step(self, x_t: Tensor, state):
        """x_t (B, D) -> (y_t (B, D), state), through the layer's own ``step``."""
        if self.kind in _ROW_ON_DIM1:
            y, h = self.layer.step(x_t, state.transpose(0, 1).contiguous())
            return y, h.transpose(0, 1)
        return self.layer.step(x_t, state)


class _Block(nn.Module):
    def __init__(self, kind: str, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.mixer = nn.LayerNorm(dim), _Mixer(kind, dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def step(self, x_t: Tensor, state):
        y, state = self.mixer.step(self.norm1(x_t), state)
        x_t = x_t + y
        return x_t + self.mlp(self.norm2(x_t)), state


class CharMixerLM(nn.Module):
    """Character LM: embedding -> ``layers`` residual blocks around ``kind`` -> logits.

    Args:
        kind: one of :data:`MODERN`.
        vocab_size: V.
        dim: D, the model width (each mixer maps D -> D; Mamba's inner width is 2 D).
        layers: residual blocks.
        heads: H of the multi-head mixers (mLSTM, sLSTM, DeltaNet, GLA, linear attention).

    Shape:
        ``forward(x (B, T) long)`` -> logits (B, T, V). ``step(tokens (N,), state)`` ->
        (log-probs (N, V), state, None) for :mod:`seqattn.decoding`; every tensor of the
        state keeps the row on dim 0, so the searches' default row selection applies.
    """

    def __init__(self, kind: str, vocab_size: int, dim: int, layers: int = 2, heads: int = 4):
        super().__init__()
        if kind not in MODERN:
            raise ValueError(f"expected kind from {list(MODERN)}, got {kind!r}")
        self.kind, self.vocab_size = kind, vocab_size
        self.embed = nn.Embedding(vocab_size, dim)
        self.blocks = nn.ModuleList(_Block(kind, dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype != torch.long or x.dim() != 2:
            raise ValueError(f"expected x as (B, T) long ids, got {x.dtype} {tuple(x.shape)}")
        h = self.embed(x)  # (B, T, D)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))  # (B, T, V)

    def initial_state(self, batch: int) -> tuple:
        """The zero state of every block's mixer, for :meth:`step`."""
        p = self.head.weight
        return tuple(b.mixer.init_state(batch, p.dtype, p.device) for b in self.blocks)

    def step(self, tokens: Tensor, state: tuple) -> tuple[Tensor, tuple, None]:
        """One character: (N,) ids -> (N, V) log-probs, through each mixer's ``step``."""
        h, new = self.embed(tokens.view(-1)), []
        for block, s in zip(self.blocks, state, strict=True):
            h, s = block.step(h, s)
            new.append(s)
        return torch.log_softmax(self.head(self.norm(h)), dim=-1), tuple(new), None


def build_model(kind: str, cfg: Any, vocab_size: int) -> CharMixerLM:
    """The :class:`CharMixerLM` of the experiment's Config (its ``mixer_*`` fields)."""
    return CharMixerLM(kind, vocab_size, cfg.mixer_d_model, cfg.mixer_layers, cfg.mixer_heads)


@torch.no_grad()
def stream_tokens_per_s(model: nn.Module, chars: int, batch: int = 1) -> float:
    """Greedy generation of ``chars`` characters through ``model.step``: characters per second.

    ``batch`` streams at once (characters counted per stream, times ``batch``); starts from
    token 0 and the model's ``initial_state``; no sampling, so no random draw.
    """
    was_training = model.training
    model.eval()
    state = model.initial_state(batch)
    tok = torch.zeros(batch, dtype=torch.long)
    started = time.perf_counter()
    for _ in range(chars):
        log_probs, state, _ = model.step(tok, state)
        tok = log_probs.argmax(-1)
    seconds = time.perf_counter() - started
    model.train(was_training)
    return batch * chars / seconds


def speeds(model: nn.Module, trained: dict[str, Any], chars: int) -> dict[str, float]:
    """Training characters per second (wall clock, periodic curve scoring included) and
    streaming generation characters per second (batch 1, ``chars`` steps)."""
    return {
        "train_tokens_per_s": trained["chars_seen"] / max(trained["train_seconds"], 1e-9),
        "gen_tokens_per_s": stream_tokens_per_s(model, chars),
    }

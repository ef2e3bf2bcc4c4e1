"""Sequence classifier (embedding, encoder, pooling head, linear): the chapter's running example.

A recurrent sentiment classifier that reads the last hidden state forgets an early decisive word
("I loved the first half, then ... ... ..."): h_T remembers mostly the last words. The seed tries
two fixes and then attention:

* Fix 1, ``concat``: pad/truncate the states to a fixed length ``max_length`` and flatten
  them, so the classifier sees every step; its weight matrix has ``max_length * D`` columns, so
  its parameter count grows with the maximum length, and steps past it are lost.
* Fix 2, ``mean`` (or ``max``): average the states over the real steps; size-independent, but
  every step counts alike.
* ``attention``: soft attention pooling (Yang et al. 2016; Lin et al. 2017), a learned weight
  per step, c = Σ_t a_t h_t with a = softmax(v^T tanh(W h_t + b)) over the real steps.

Encoders: ``rnn``, ``lstm``, ``gru`` and the bidirectional ``bilstm``, ``bigru`` (our own
recurrent layers, run with ``lengths=``); ``transformer`` (pre-norm Transformer encoder with
sinusoidal positions and a key padding mask; Vaswani et al. 2017); ``tcn`` (dilated causal
convolutions, WaveNet / Bai et al. 2018); ``mingru``, ``minlstm``, ``bimingru`` (Feng et al.
2024: input-only gates, an element-wise linear recurrence computed as a scan). Padding never
influences the output: every encoder and every head sees only each sequence's real steps.

Encoders and heads are registries (:data:`ENCODER_BUILDERS`, :data:`HEADS`): a new one is a
builder or class with its registration, and the config, the CLI's choices and the sentiment
experiment follow.

Shape glossary: B batch, T time steps, D the encoder's output features (``num_directions *
hidden_size`` for recurrent encoders, ``hidden_size`` otherwise), C classes; sizes named by
their config field (``embed_dim``, ``hidden_size``, ``max_length``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn._registry import Registry
from seqattn.functional.masks import padding_mask
from seqattn.nn import (
    GRU,
    LSTM,
    RNN,
    AttentionPooling,
    MinGRU,
    MinLSTM,
    SinusoidalPositionalEncoding,
    TemporalConvNet,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "ENCODERS",
    "HEADS",
    "ENCODER_BUILDERS",
    "ClassifierHead",
    "ClassifierConfig",
    "ClassifierOutput",
    "SequenceClassifier",
]


# -- encoders ---------------------------------------------------------------------------------
# Every encoder takes the embedded batch x (B, T, embed_dim), lengths (B,) and the padding mask
# (B, T) (True = real step) and returns (states (B, T, D), zero at padded steps; last (B, D),
# the state the "last" head reads), and has an ``output_size`` D.


def _gather_last(states: Tensor, lengths: Tensor) -> Tensor:
    """states[b, lengths[b] - 1] (B, D); zeros for an empty sequence."""
    index = (lengths - 1).clamp(min=0)  # (B,)
    last = states[torch.arange(states.shape[0], device=states.device), index]  # (B, D)
    return last.masked_fill((lengths == 0)[:, None], 0.0)


class _RecurrentEncoder(nn.Module):
    """seqattn.nn RNN/LSTM/GRU over a right-padded batch; "last" reads the final states h_n."""

    def __init__(self, layer: type[nn.Module], cfg: ClassifierConfig, bidirectional: bool):
        super().__init__()
        self.rnn = layer(
            cfg.embed_dim, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, bidirectional=bidirectional,
        )  # fmt: skip
        self.bidirectional = bidirectional
        self.output_size = cfg.hidden_size * (2 if bidirectional else 1)

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        # The recurrent layers need length >= 1; an empty sequence runs one (masked) step.
        out, state = self.rnn(x, lengths=lengths.clamp(min=1))  # (B, T, D)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers*dirs, B, hidden_size)
        # The top layer's final states: the forward direction at each sequence's own last step,
        # the backward direction at step 0 (it read the sequence from its own end).
        last = torch.cat([h_n[-2], h_n[-1]], dim=-1) if self.bidirectional else h_n[-1]
        states = out.masked_fill(~mask[..., None], 0.0)
        return states, last.masked_fill((lengths == 0)[:, None], 0.0)


def _min(layer: type[nn.Module]) -> Callable[..., nn.Module]:
    return functools.partial(layer, memory_bias=2.0)


class _TransformerClassifierEncoder(nn.Module):
    """Linear embed_dim -> hidden_size (if they differ), sinusoidal positions, pre-norm
    Transformer encoder."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        d = cfg.hidden_size
        self.proj = nn.Linear(cfg.embed_dim, d) if cfg.embed_dim != d else nn.Identity()
        self.positions = SinusoidalPositionalEncoding(d, batch_first=True)
        layer = TransformerEncoderLayer(
            d, cfg.num_heads, cfg.ffn_size, dropout=cfg.dropout, batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.encoder = TransformerEncoder(layer, cfg.num_layers, norm=nn.LayerNorm(d))
        self.output_size = d

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        h = self.positions(self.proj(x))  # (B, T, D)
        h = self.encoder(h, src_key_padding_mask=~mask)  # torch's convention: True = padding
        states = h.masked_fill(~mask[..., None], 0.0)  # padded queries computed, then dropped
        return states, _gather_last(states, lengths)


class _TCNEncoder(nn.Module):
    """:class:`~seqattn.nn.TemporalConvNet`; by causality, step t sees only steps <= t."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.tcn = TemporalConvNet(
            cfg.embed_dim, cfg.hidden_size, num_layers=cfg.num_layers,
            kernel_size=cfg.kernel_size, dropout=cfg.dropout,
        )  # fmt: skip
        self.output_size = cfg.hidden_size

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        states = self.tcn(x, lengths=lengths)  # (B, T, D), zero at padding
        return states, _gather_last(states, lengths)


# name -> builder(config) -> encoder. Another encoder plugs in here: write a builder returning
# a module with the interface above, add it to this dict (the CLI's choices follow ENCODERS).
# minGRU/minLSTM start with memory_bias=2 (initial decay ~0.88 per step rather than ~0.5, so
# gradients reach early words; see seqattn.nn.MinGRU).
ENCODER_BUILDERS: dict[str, Callable[[ClassifierConfig], nn.Module]] = {
    "rnn": lambda cfg: _RecurrentEncoder(RNN, cfg, bidirectional=False),
    "lstm": lambda cfg: _RecurrentEncoder(LSTM, cfg, bidirectional=False),
    "gru": lambda cfg: _RecurrentEncoder(GRU, cfg, bidirectional=False),
    "bilstm": lambda cfg: _RecurrentEncoder(LSTM, cfg, bidirectional=True),
    "bigru": lambda cfg: _RecurrentEncoder(GRU, cfg, bidirectional=True),
    "transformer": _TransformerClassifierEncoder,
    "tcn": _TCNEncoder,
    "mingru": lambda cfg: _RecurrentEncoder(_min(MinGRU), cfg, bidirectional=False),
    "minlstm": lambda cfg: _RecurrentEncoder(_min(MinLSTM), cfg, bidirectional=False),
    "bimingru": lambda cfg: _RecurrentEncoder(_min(MinGRU), cfg, bidirectional=True),
}
ENCODERS = tuple(ENCODER_BUILDERS)


# -- heads ------------------------------------------------------------------------------------
# Every head is built as ``head(D, config)`` and called as ``head(states (B, T, D), last (B, D),
# lengths (B,), mask (B, T))`` -> (pooled (B, D_out), attention weights (B, T) or None); it has an
# ``output_size`` D_out. Another head plugs in with ``@HEADS.register("name")`` on its class.
class ClassifierHead(nn.Module):
    """A pooling head of :class:`SequenceClassifier` (see the comment above); D_out = D."""

    def __init__(self, input_size: int, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.output_size = input_size

    def forward(
        self, states: Tensor, last: Tensor, lengths: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError


#: name -> head class, in registration order (the CLI's ``--head`` choices follow it).
HEADS: Registry[Callable[[int, ClassifierConfig], nn.Module]] = Registry("head")


@HEADS.register("last")
class _LastHead(ClassifierHead):
    """The encoder's final state (each sequence's own last step)."""

    def forward(self, states, last, lengths, mask):
        return last, None


@HEADS.register("concat")
class _ConcatHead(ClassifierHead):
    """The states padded / truncated to ``max_length`` steps, flattened: D_out = max_length * D."""

    def __init__(self, input_size: int, cfg: ClassifierConfig) -> None:
        super().__init__(input_size, cfg)
        self.max_length = cfg.max_length
        self.output_size = input_size * cfg.max_length

    def forward(self, states, last, lengths, mask):
        n, steps = self.max_length, states.shape[1]
        fixed = states[:, :n] if steps >= n else F.pad(states, (0, 0, 0, n - steps))
        return fixed.flatten(1), None  # (B, max_length * D); padding steps are exact zeros


@HEADS.register("mean")
class _MeanHead(ClassifierHead):
    """The average of the states over the real steps (zeros for an empty sequence)."""

    def forward(self, states, last, lengths, mask):
        total = states.sum(dim=1)  # (B, D): padded steps are zeros
        return total / lengths.clamp(min=1)[:, None].to(states.dtype), None


@HEADS.register("max")
class _MaxHead(ClassifierHead):
    """The element-wise maximum over the real steps (zeros for an empty sequence)."""

    def forward(self, states, last, lengths, mask):
        peak = states.masked_fill(~mask[..., None], float("-inf")).amax(dim=1)  # (B, D)
        return torch.where((lengths > 0)[:, None], peak, torch.zeros_like(peak)), None


@HEADS.register("attention")
class _AttentionHead(AttentionPooling):
    """Soft attention pooling (:class:`~seqattn.nn.AttentionPooling` with a ``hidden_size``
    score layer); the pooling module itself, so its parameters keep their names ``pool.*``."""

    def __init__(self, input_size: int, cfg: ClassifierConfig) -> None:
        super().__init__(input_size, cfg.hidden_size)
        self.output_size = input_size

    def forward(self, states, last, lengths, mask):  # type: ignore[override]
        return super().forward(states, mask=mask)  # (B, D), (B, T)


# -- config -----------------------------------------------------------------------------------
_POSITIVE_INTS = (
    "vocab_size", "num_classes", "embed_dim", "hidden_size", "num_layers", "max_length",
    "num_heads", "ffn_size", "kernel_size",
)  # fmt: skip


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyperparameters of :class:`SequenceClassifier`, checked on construction.

    Args:
        vocab_size: V, rows of the embedding table.
        num_classes: C >= 2; binary tasks use C = 2 logits and cross-entropy.
        embed_dim: the embedding size (must equal a pretrained embedding's dimension).
        hidden_size: per direction for bi-encoders, d_model for the transformer, channels
            for the tcn.
        encoder: one of :data:`ENCODERS`. head: one of :data:`HEADS`.
        num_layers: stacked recurrent layers, transformer layers or tcn blocks.
        dropout: on the embeddings, between layers, inside transformer/tcn blocks and before
            the linear classifier.
        max_length: the concat head's fixed length (longer inputs truncated, shorter
            zero-padded).
        num_heads, ffn_size: transformer heads H (must divide hidden_size) and feed-forward
            width.
        kernel_size: tcn kernel size k.
        pad_id: the padding token (the fresh embedding's ``padding_idx``).
        freeze_embeddings: do not train the embedding table.

    Example:
        >>> cfg = ClassifierConfig(vocab_size=100, encoder="gru", head="mean")
        >>> ClassifierConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    vocab_size: int
    num_classes: int = 2
    embed_dim: int = 128
    hidden_size: int = 128
    encoder: str = "lstm"
    head: str = "attention"
    num_layers: int = 1
    dropout: float = 0.1
    max_length: int = 400
    num_heads: int = 4
    ffn_size: int = 256
    kernel_size: int = 3
    pad_id: int = 0
    freeze_embeddings: bool = False

    def __post_init__(self) -> None:
        for name in (*_POSITIVE_INTS, "pad_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"expected {name} to be an int, got {type(value).__name__}")
        for name in _POSITIVE_INTS:
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")
        if self.num_classes < 2:
            raise ValueError(
                f"expected num_classes >= 2 (binary tasks use 2 logits), got {self.num_classes}"
            )
        if self.encoder not in ENCODER_BUILDERS:
            raise ValueError(f"expected encoder in {tuple(ENCODER_BUILDERS)}, got {self.encoder!r}")
        HEADS.check(self.head)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float):
            raise TypeError(f"expected dropout to be a float, got {type(self.dropout).__name__}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"expected dropout in [0, 1), got {self.dropout}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(
                f"expected 0 <= pad_id < vocab_size ({self.vocab_size}), got {self.pad_id}"
            )
        if self.encoder == "transformer" and self.hidden_size % self.num_heads:
            raise ValueError(
                f"expected hidden_size divisible by num_heads ({self.num_heads}) for the "
                f"transformer, got hidden_size={self.hidden_size}"
            )
        if not isinstance(self.freeze_embeddings, bool):
            raise TypeError(
                f"expected freeze_embeddings to be a bool, "
                f"got {type(self.freeze_embeddings).__name__}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassifierConfig:
        """The config from :meth:`to_dict`'s output; unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a mapping, got {type(data).__name__}")
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(f"expected keys among {sorted(valid)}, got unknown key(s) {unknown}")
        if "vocab_size" not in data:
            raise ValueError("expected a 'vocab_size' key, got none")
        return cls(**data)


@dataclass
class ClassifierOutput:
    """What :meth:`SequenceClassifier.forward` returns.

    Attributes:
        logits: (B, C) unnormalised class scores.
        attention: (B, T) pooling weights for ``head="attention"`` (sum 1 over the real steps,
            0 at padding and all 0 for an empty sequence), else None.
        pooled: (B, D_out), the vector the linear classifier reads (D_out = max_length * D for
            concat).
    """

    logits: Tensor
    attention: Tensor | None
    pooled: Tensor


# -- model ------------------------------------------------------------------------------------
class SequenceClassifier(nn.Module):
    """Embedding -> encoder -> pooling head -> dropout -> linear, for padded token batches.

    Args:
        config: a :class:`ClassifierConfig`.
        embedding: an optional ``nn.Embedding`` to use instead of a fresh one, e.g. from
            :func:`seqattn.data.pretrained_embedding`; it must have ``config.vocab_size`` rows
            and ``config.embed_dim`` columns. ``config.freeze_embeddings=True`` freezes it;
            otherwise its own ``requires_grad`` is kept (a frozen pretrained table stays
            frozen, a trainable one is fine-tuned).

    Shape:
        tokens (B, T) int64, right-padded; lengths (B,) int64 in [0, T] (None = all T).
        Returns a :class:`ClassifierOutput`: logits (B, C), attention (B, T) or None,
        pooled (B, D_out).

    The classifier is ``Linear(D_out, C)`` with D_out = D for ``last``/``mean``/``max``/
    ``attention`` and D_out = max_length * D for ``concat``: only the concat head's parameter
    count grows with the maximum length.

    Example:
        >>> cfg = ClassifierConfig(vocab_size=50, embed_dim=8, hidden_size=8, head="attention")
        >>> model = SequenceClassifier(cfg)
        >>> out = model(torch.randint(1, 50, (3, 7)), lengths=torch.tensor([7, 4, 2]))
        >>> out.logits.shape, out.attention.shape, float(out.attention.detach()[2, 2:].sum())
        (torch.Size([3, 2]), torch.Size([3, 7]), 0.0)
    """

    def __init__(self, config: ClassifierConfig, embedding: nn.Embedding | None = None) -> None:
        super().__init__()
        if not isinstance(config, ClassifierConfig):
            raise TypeError(f"expected a ClassifierConfig, got {type(config).__name__}")
        self.config = cfg = config
        if embedding is None:
            embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=cfg.pad_id)
        else:
            if not isinstance(embedding, nn.Embedding):
                raise TypeError(f"expected an nn.Embedding, got {type(embedding).__name__}")
            if embedding.num_embeddings != cfg.vocab_size:
                raise ValueError(
                    f"expected an embedding with vocab_size={cfg.vocab_size} rows, "
                    f"got {embedding.num_embeddings}"
                )
            if embedding.embedding_dim != cfg.embed_dim:
                raise ValueError(
                    f"expected config.embed_dim to equal the embedding's dimension "
                    f"{embedding.embedding_dim} (set embed_dim={embedding.embedding_dim}), "
                    f"got {cfg.embed_dim}"
                )
        if cfg.freeze_embeddings:
            embedding.weight.requires_grad_(False)
        self.embedding = embedding
        self.embed_dropout = nn.Dropout(cfg.dropout)
        self.encoder = ENCODER_BUILDERS[cfg.encoder](cfg)
        self.pool = HEADS[cfg.head](self.encoder.output_size, cfg)
        self.output_size = self.pool.output_size
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(self.output_size, cfg.num_classes)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (only those with ``requires_grad`` if ``trainable_only``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def forward(
        self, tokens: Tensor, lengths: Tensor | Sequence[int] | None = None
    ) -> ClassifierOutput:
        """Classify a right-padded batch; padded steps never influence the output."""
        lengths = self._check_inputs(tokens, lengths)  # (B,)
        mask = padding_mask(lengths, tokens.shape[1])  # (B, T), True = real step
        x = self.embed_dropout(self.embedding(tokens))  # (B, T, embed_dim)
        states, last = self.encoder(x, lengths, mask)  # (B, T, D), (B, D)
        pooled, attention = self.pool(states, last, lengths, mask)  # (B, D_out), (B, T)
        logits = self.classifier(self.dropout(pooled))  # (B, C)
        return ClassifierOutput(logits=logits, attention=attention, pooled=pooled)

    def _check_inputs(self, tokens: Tensor, lengths: Tensor | Sequence[int] | None) -> Tensor:
        name = type(self).__name__
        if not isinstance(tokens, Tensor):
            raise TypeError(f"{name}: expected tokens to be a Tensor, got {type(tokens).__name__}")
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise TypeError(f"{name}: expected integer token ids, got dtype {tokens.dtype}")
        if tokens.dim() != 2 or tokens.shape[1] < 1:
            raise ValueError(
                f"{name}: expected tokens of shape (B, T) with T >= 1, got {tuple(tokens.shape)}"
            )
        batch, steps = tokens.shape
        vocab = self.config.vocab_size
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
            raise ValueError(
                f"{name}: expected token ids in [0, {vocab}), got min "
                f"{int(tokens.min())} and max {int(tokens.max())}"
            )
        if lengths is None:
            return torch.full((batch,), steps, dtype=torch.long, device=tokens.device)
        lengths = torch.as_tensor(lengths, device=tokens.device)
        if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
            raise TypeError(f"{name}: expected integer lengths, got dtype {lengths.dtype}")
        if tuple(lengths.shape) != (batch,):
            raise ValueError(
                f"{name}: expected lengths of shape ({batch},), got {tuple(lengths.shape)}"
            )
        lengths = lengths.long()
        if batch and (int(lengths.min()) < 0 or int(lengths.max()) > steps):
            raise ValueError(
                f"{name}: expected lengths in [0, {steps}] (T), got min {int(lengths.min())} "
                f"and max {int(lengths.max())}"
            )
        return lengths

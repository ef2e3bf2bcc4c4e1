"""Character-level language models: an LSTM (Karpathy's char-RNN) and a small causal Transformer.

Both model ``p(x_t | x_<t)`` over the characters of a text and are trained by minimising the
cross-entropy, reported in bits per character, ``bpc = -1/N sum_t log2 p(x_t | x_<t)``.

* :class:`CharLSTM` (Karpathy 2015, "The unreasonable effectiveness of recurrent neural
  networks"; Graves 2013): embedding, a stacked :class:`seqattn.nn.LSTM`, a linear read-out.
  Its context is its state, unbounded in principle.
* :class:`CharTransformer` (a decoder-only Transformer, Radford et al. 2018; Vaswani et al. 2017
  with the pre-norm blocks of Xiong et al. 2020): token + learned or sinusoidal position
  embeddings, pre-norm :class:`seqattn.nn.TransformerEncoderLayer` blocks with a causal mask
  (query t may attend to keys s <= t), a final LayerNorm and a linear read-out. Its context is
  the last ``context`` characters.

Both expose ``step(tokens, state) -> (log_probs, state, None)``, the step-function contract of
:mod:`seqattn.decoding`, so generation is ``seqattn.decoding.sample(model.step, ...)``; every
state tensor keeps its row on dim 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional import causal_mask
from seqattn.nn import (
    LSTM,
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    TransformerEncoderLayer,
)

__all__ = [
    "CharVocab",
    "CharLSTMConfig",
    "CharLSTM",
    "CharTransformerConfig",
    "CharTransformer",
    "POSITIONS",
]

POSITIONS = ("learned", "sinusoidal")
UNK = "\ufffd"  # id 0: characters of held-out text never seen in training


class CharVocab:
    """Characters <-> ids; id 0 is the unknown character (U+FFFD).

    Example:
        >>> v = CharVocab.from_text("hello")
        >>> v.decode(v.encode("hole!")), len(v)
        ('hole\ufffd', 5)
    """

    def __init__(self, chars: Iterable[str]) -> None:
        chars = [c for c in chars if c != UNK]
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("expected distinct single characters")
        self.itos = [UNK, *chars]
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The sorted set of characters of ``text`` (plus the unknown character)."""
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, char: str) -> bool:
        return char in self.stoi

    def encode(self, text: str) -> Tensor:
        """(len(text),) long ids; unseen characters map to 0."""
        return torch.tensor([self.stoi.get(c, 0) for c in text], dtype=torch.long)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        ids = ids.tolist() if isinstance(ids, Tensor) else ids
        return "".join(self.itos[i] for i in ids)

    def to_json(self) -> str:
        return json.dumps({"chars": self.itos[1:]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CharVocab:
        return cls(json.loads(text)["chars"])


def _positive(cfg: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be a positive int, got {value!r}")
    dropout = getattr(cfg, "dropout", 0.0)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"expected dropout in [0, 1), got {dropout}")


@dataclass(frozen=True)
class CharLSTMConfig:
    """Sizes of :class:`CharLSTM` (Karpathy's defaults are 2 x 128 to 3 x 512)."""

    vocab_size: int
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _positive(self, ("vocab_size", "embed_dim", "hidden_size", "num_layers"))


class CharLSTM(nn.Module):
    """Character LSTM language model: ``p(x_t | x_<t) = softmax(W h_t + b)``, h from an LSTM stack.

    Args:
        cfg: :class:`CharLSTMConfig`.

    Shape:
        ``forward(x (B, T) long, state=None)`` -> logits (B, T, V) and the final
        ``(h, c)``, each (num_layers, B, hidden_size) as :class:`seqattn.nn.LSTM` returns them.

    Example:
        >>> m = CharLSTM(CharLSTMConfig(vocab_size=10, hidden_size=16, num_layers=1))
        >>> logits, (h, c) = m(torch.randint(0, 10, (2, 7)))
        >>> logits.shape, h.shape
        (torch.Size([2, 7, 10]), torch.Size([1, 2, 16]))
    """

    def __init__(self, cfg: CharLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.lstm = LSTM(
            cfg.embed_dim, cfg.hidden_size, cfg.num_layers, batch_first=True, dropout=cfg.dropout
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        _check_ids(x, self.cfg.vocab_size, type(self).__name__)
        out, state = self.lstm(self.embed(x), state)  # (B, T, hidden_size)
        return self.head(self.drop(out)), state  # (B, T, V)

    def initial_state(self, batch: int) -> dict[str, Tensor]:
        """The zero state for :meth:`step`, row-major: h and c (B, num_layers, hidden_size)."""
        p = next(self.parameters())
        z = torch.zeros(
            batch, self.cfg.num_layers, self.cfg.hidden_size, dtype=p.dtype, device=p.device
        )
        return {"h": z, "c": z.clone()}

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict, None]:
        """One character for :mod:`seqattn.decoding`: (N,) ids -> (N, V) log-probs.

        The state keeps the row on dim 0 ((N, num_layers, hidden_size)); it is transposed to the
        LSTM's (num_layers, N, hidden_size) here, so the searches' default row selection applies.
        """
        hc = (state["h"].transpose(0, 1).contiguous(), state["c"].transpose(0, 1).contiguous())
        logits, (h, c) = self(tokens.view(-1, 1), hc)
        new = {"h": h.transpose(0, 1), "c": c.transpose(0, 1)}
        return torch.log_softmax(logits[:, -1], dim=-1), new, None


@dataclass(frozen=True)
class CharTransformerConfig:
    """Sizes of :class:`CharTransformer`; ``context`` is the attention window in characters."""

    vocab_size: int
    context: int = 128
    d_model: int = 128
    nhead: int = 4
    num_layers: int = 4
    dim_feedforward: int = 512
    dropout: float = 0.1
    positions: str = "learned"

    def __post_init__(self) -> None:
        _positive(
            self, ("vocab_size", "context", "d_model", "nhead", "num_layers", "dim_feedforward")
        )
        if self.d_model % self.nhead:
            raise ValueError(
                f"expected d_model divisible by nhead, got d_model={self.d_model}, "
                f"nhead={self.nhead}"
            )
        if self.positions not in POSITIONS:
            raise ValueError(f"expected positions in {POSITIONS}, got {self.positions!r}")


class CharTransformer(nn.Module):
    """Decoder-only causal Transformer over characters (pre-norm blocks, final LayerNorm).

    ``h_0 = E[x] + P``; ``h_l = Block_l(h_{l-1})`` with causal self-attention
    ``softmax(Q K^T / sqrt(Dh) + M) V``, ``M_ts = 0`` if s <= t else -inf;
    ``p(x_{t+1} | x_<=t) = softmax(W LN(h_L)_t + b)``.

    Args:
        cfg: :class:`CharTransformerConfig`.

    Shape:
        ``forward(x (B, T) long)`` with T <= context -> logits (B, T, V); with
        ``need_weights=True`` also every layer's attention (B, H, T, T).

    Example:
        >>> m = CharTransformer(CharTransformerConfig(vocab_size=10, context=8, d_model=16,
        ...                                           nhead=2, num_layers=1, dim_feedforward=32))
        >>> m(torch.randint(0, 10, (2, 5))).shape
        torch.Size([2, 5, 10])
    """

    def __init__(self, cfg: CharTransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        if cfg.positions == "learned":
            self.pos = LearnedPositionalEncoding(cfg.context, cfg.d_model, dropout=cfg.dropout)
        else:
            self.pos = SinusoidalPositionalEncoding(cfg.d_model, dropout=cfg.dropout)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                cfg.d_model,
                cfg.nhead,
                cfg.dim_feedforward,
                dropout=cfg.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )  # fmt: skip
            for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(
        self, x: Tensor, need_weights: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        name = type(self).__name__
        _check_ids(x, self.cfg.vocab_size, name)
        t = x.shape[1]
        if t > self.cfg.context:
            raise ValueError(f"{name}: expected at most context={self.cfg.context} tokens, got {t}")
        h = self.pos(self.embed(x))  # (B, T, D)
        # the encoder layer mirrors torch.nn: a bool mask there means True = NOT allowed
        not_allowed = ~causal_mask(t, device=x.device)  # (T, T)
        weights = []
        for layer in self.layers:
            h, w = layer(h, src_mask=not_allowed, need_weights=True)
            weights.append(w)
        logits = self.head(self.norm(h))  # (B, T, V)
        return (logits, weights) if need_weights else logits

    def initial_state(self, batch: int) -> dict[str, Tensor]:
        """The empty prefix for :meth:`step`: (B, 0) ids."""
        device = next(self.parameters()).device
        return {"prefix": torch.zeros(batch, 0, dtype=torch.long, device=device)}

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict, None]:
        """One character for :mod:`seqattn.decoding`: append, re-read the last ``context``.

        No key/value cache: the state is the prefix itself (N, t), so the searches reorder it
        like any other tensor; each step costs one forward pass over at most ``context``
        characters.
        """
        prefix = torch.cat([state["prefix"], tokens.view(-1, 1)], dim=1)[:, -self.cfg.context :]
        logits = self(prefix)
        return torch.log_softmax(logits[:, -1], dim=-1), {"prefix": prefix}, None


def _check_ids(x: Tensor, vocab: int, name: str) -> None:
    if x.dtype != torch.long or x.dim() != 2:
        raise ValueError(f"{name}: expected (B, T) long ids, got {x.dtype} {tuple(x.shape)}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab):
        raise ValueError(
            f"{name}: expected ids in [0, {vocab}), got [{int(x.min())}, {int(x.max())}]"
        )


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def config_dict(cfg: CharLSTMConfig | CharTransformerConfig) -> dict:
    return {"kind": "lstm" if isinstance(cfg, CharLSTMConfig) else "transformer", **asdict(cfg)}


def cross_entropy_bits(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy in bits: ``-mean log2 p(target)``; logits (..., V), targets (...)."""
    nats = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return nats / torch.log(torch.tensor(2.0, dtype=nats.dtype))

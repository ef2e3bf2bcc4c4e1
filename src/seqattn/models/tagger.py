"""Sequence tagger (token classification): embedding, BiLSTM, a score per tag and token, and a
softmax or linear-chain CRF head (Huang et al., 2015; Lample et al., 2016).

One tag per token (named entities in BIO tags, parts of speech): the BiLSTM's state at step t
has read the whole sentence, left of t forwards and right of t backwards, and a linear layer
turns it into emission scores e_t (K,). The ``softmax`` head picks every tag on its own
(cross-entropy per token, argmax per token); the ``crf`` head (:class:`~seqattn.nn.CRF`) scores
whole tag paths, so it learns which tag may follow which (I-PER after B-PER, not after B-LOC),
is trained by the sequence's negative log-likelihood and decodes by Viterbi.

Shape glossary: B batch, T time steps (tokens), D the encoder's features
(``2 * hidden_size``), K tags (``num_tags``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.config import ConfigDict
from seqattn.functional.masks import padding_mask
from seqattn.nn import CRF, LSTM

__all__ = ["TaggerConfig", "SequenceTagger"]

_POSITIVE_INTS = ("vocab_size", "num_tags", "embed_dim", "hidden_size", "num_layers")


@dataclass(frozen=True)
class TaggerConfig(ConfigDict):
    """Hyperparameters of :class:`SequenceTagger`, checked on construction.

    Args:
        vocab_size: V, rows of the embedding table. num_tags: K >= 1.
        embed_dim: the embedding size. hidden_size: the BiLSTM's, per direction.
        num_layers: stacked BiLSTM layers.
        dropout: on the embeddings, between layers and before the tag scores.
        crf: a CRF head (sequence NLL, Viterbi) instead of a softmax per token.
        pad_id: the padding token (the embedding's ``padding_idx``).

    Example:
        >>> cfg = TaggerConfig(vocab_size=100, num_tags=5, crf=False)
        >>> TaggerConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    vocab_size: int
    num_tags: int = 2
    embed_dim: int = 100
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.2
    crf: bool = True
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in (*_POSITIVE_INTS, "pad_id"):
            _check_int(name, getattr(self, name), 0 if name == "pad_id" else 1)
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(
                f"expected 0 <= pad_id < vocab_size ({self.vocab_size}), got {self.pad_id}"
            )
        rate = self.dropout
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise TypeError(f"expected dropout to be a float, got {type(rate).__name__}")
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"expected dropout in [0, 1), got {rate}")
        if not isinstance(self.crf, bool):
            raise TypeError(f"expected crf to be a bool, got {type(self.crf).__name__}")


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected {name} to be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"expected {name} >= {low}, got {value}")


class SequenceTagger(nn.Module):
    """Embedding -> BiLSTM (:class:`seqattn.nn.LSTM`) -> linear tag scores -> softmax or CRF.

    Args:
        config: a :class:`TaggerConfig`.

    Shape:
        tokens (B, T) int64 ids, right-padded; lengths (B,) real tokens per row (>= 1); tags
        (B, T) int64 tag ids (any value at padding). :meth:`emissions` (B, T, K).

    Example:
        >>> model = SequenceTagger(TaggerConfig(vocab_size=10, num_tags=3, embed_dim=4,
        ...                                     hidden_size=4))
        >>> tokens, lengths = torch.tensor([[2, 3, 4], [5, 6, 0]]), torch.tensor([3, 2])
        >>> [len(p) for p in model.decode(tokens, lengths)]
        [3, 2]
        >>> bool(model.loss(tokens, lengths, torch.zeros(2, 3, dtype=torch.long)) > 0)
        True
    """

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        if not isinstance(config, TaggerConfig):
            raise TypeError(f"expected a TaggerConfig, got {type(config).__name__}")
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=c.pad_id)
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = LSTM(
            c.embed_dim, c.hidden_size, num_layers=c.num_layers, batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0, bidirectional=True,
        )  # fmt: skip
        self.scores = nn.Linear(2 * c.hidden_size, c.num_tags)
        self.crf = CRF(c.num_tags) if c.crf else None

    def _mask(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
            got = (f"{tokens.dtype} of shape {tuple(tokens.shape)}" if isinstance(tokens, Tensor)
                   else type(tokens).__name__)  # fmt: skip
            raise ValueError(f"expected tokens as an int64 tensor (B, T), got {got}")
        lengths = torch.as_tensor(lengths, device=tokens.device)
        if lengths.shape != tokens.shape[:1]:
            raise ValueError(
                f"expected lengths of shape {tuple(tokens.shape[:1])}, got {tuple(lengths.shape)}"
            )
        if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > tokens.shape[1]):
            raise ValueError(
                f"expected lengths in [1, {tokens.shape[1]}] (T), got values from "
                f"{int(lengths.min())} to {int(lengths.max())}"
            )
        return padding_mask(lengths, tokens.shape[1])  # (B, T), True = real token

    def _forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        mask = self._mask(tokens, lengths)
        x = self.dropout(self.embedding(tokens))  # (B, T, embed_dim)
        states, _ = self.encoder(x, lengths=mask.sum(1))  # (B, T, D), zero past each length
        return self.scores(self.dropout(states)), mask  # (B, T, K), (B, T)

    def emissions(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The tag scores e (B, T, K) of every token."""
        return self._forward(tokens, lengths)[0]

    def loss(self, tokens: Tensor, lengths: Tensor, tags: Tensor) -> Tensor:
        """The training loss per real token: the CRF's sequence NLL summed over the batch and
        divided by the number of tokens, or the mean token cross-entropy (softmax head)."""
        e, mask = self._forward(tokens, lengths)
        if self.crf is not None:
            return self.crf(e, tags, mask, reduction="token_mean")
        if tags.shape != tokens.shape:
            raise ValueError(f"expected tags of shape {tuple(tokens.shape)}, got "
                             f"{tuple(tags.shape)}")  # fmt: skip
        return F.cross_entropy(e[mask], tags[mask])

    def decode(self, tokens: Tensor, lengths: Tensor) -> list[list[int]]:
        """The predicted tag ids of every sequence (ragged): Viterbi with the CRF head,
        the argmax per token with the softmax head."""
        with torch.no_grad():
            e, mask = self._forward(tokens, lengths)
            if self.crf is not None:
                return self.crf.decode(e, mask)
            best = e.argmax(-1).tolist()
        return [row[:n] for row, n in zip(best, mask.sum(1).tolist(), strict=True)]

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

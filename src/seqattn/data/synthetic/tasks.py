"""Seeded synthetic tasks: the offline defaults of the experiments.

Every generator takes an explicit ``torch.Generator`` (or seed) so the same seed gives the same
data on every machine, and returns tensors ready for a model.

* :func:`position_probe`: sentiment with one decisive word at a controlled position p among
  neutral and misleading distractors (the chapter's "love" early in a long tweet).
* :func:`copy_task`, :func:`reverse_task`, :func:`sort_task`: sequence-to-sequence drills.
* :func:`adding_problem`: Hochreiter & Schmidhuber (1997); Le et al. (2015).
* :func:`associative_recall`: key-value pairs, then a query key; answer its value.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "ProbeVocab",
    "position_probe",
    "copy_task",
    "reverse_task",
    "sort_task",
    "adding_problem",
    "associative_recall",
]


def _gen(seed_or_gen: int | torch.Generator) -> torch.Generator:
    if isinstance(seed_or_gen, torch.Generator):
        return seed_or_gen
    return torch.Generator().manual_seed(int(seed_or_gen))


@dataclass(frozen=True)
class ProbeVocab:
    """Token ids of the position probe: 0 = pad, then positive, negative, misleading, neutral.

    Misleading words are sentiment-looking words whose polarity is cancelled ("not bad" style
    fillers); they appear on both classes equally, so only the decisive word tells the label.
    """

    positive: int = 4
    negative: int = 4
    misleading: int = 8
    neutral: int = 40

    @property
    def size(self) -> int:
        return 1 + self.positive + self.negative + self.misleading + self.neutral

    def ranges(self) -> dict[str, range]:
        start, out = 1, {}
        for name in ("positive", "negative", "misleading", "neutral"):
            n = getattr(self, name)
            out[name] = range(start, start + n)
            start += n
        return out


def position_probe(
    n: int,
    length: int,
    position: int | None = None,
    vocab: ProbeVocab = ProbeVocab(),
    misleading_rate: float = 0.1,
    seed: int | torch.Generator = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Binary sentiment decided by one word at position p.

    Returns:
        tokens (n, length) int64, labels (n,) in {0 (negative), 1 (positive)}, positions (n,)
        of the decisive word (``position``, or uniform over the sequence when None).
    """
    if length < 1 or n < 0:
        raise ValueError(f"expected length >= 1 and n >= 0, got length={length}, n={n}")
    if position is not None and not 0 <= position < length:
        raise ValueError(f"expected 0 <= position < length={length}, got {position}")
    g = _gen(seed)
    r = vocab.ranges()
    neutral = torch.randint(r["neutral"].start, r["neutral"].stop, (n, length), generator=g)
    misleading = torch.randint(
        r["misleading"].start, r["misleading"].stop, (n, length), generator=g
    )
    use_mis = torch.rand(n, length, generator=g) < misleading_rate
    tokens = torch.where(use_mis, misleading, neutral)
    labels = torch.randint(0, 2, (n,), generator=g)
    pos = (
        torch.full((n,), position, dtype=torch.long)
        if position is not None
        else torch.randint(0, length, (n,), generator=g)
    )
    pos_word = torch.randint(r["positive"].start, r["positive"].stop, (n,), generator=g)
    neg_word = torch.randint(r["negative"].start, r["negative"].stop, (n,), generator=g)
    tokens[torch.arange(n), pos] = torch.where(labels == 1, pos_word, neg_word)
    return tokens, labels, pos


def _symbols(n: int, length: int, vocab: int, g: torch.Generator) -> Tensor:
    if vocab < 1:
        raise ValueError(f"expected vocab >= 1, got {vocab}")
    return torch.randint(0, vocab, (n, length), generator=g)


def copy_task(n: int, length: int, vocab: int = 10, seed: int | torch.Generator = 0):
    """(source, target) with target == source, shapes (n, length)."""
    src = _symbols(n, length, vocab, _gen(seed))
    return src, src.clone()


def reverse_task(n: int, length: int, vocab: int = 10, seed: int | torch.Generator = 0):
    """(source, target) with target = source reversed."""
    src = _symbols(n, length, vocab, _gen(seed))
    return src, src.flip(-1)


def sort_task(n: int, length: int, vocab: int = 10, seed: int | torch.Generator = 0):
    """(source, target) with target = source sorted ascending."""
    src = _symbols(n, length, vocab, _gen(seed))
    return src, src.sort(-1).values


def adding_problem(n: int, length: int, seed: int | torch.Generator = 0) -> tuple[Tensor, Tensor]:
    """The adding problem: inputs (n, length, 2) = (value ~ U[0,1], marker); two markers, one in
    each half of the sequence; the target (n,) is the sum of the two marked values.
    Predicting 1.0 always gives MSE ~ 0.167, the baseline to beat."""
    if length < 2:
        raise ValueError(f"expected length >= 2, got {length}")
    g = _gen(seed)
    values = torch.rand(n, length, generator=g)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, length, (n,), generator=g)
    markers = torch.zeros(n, length)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), target


def associative_recall(
    n: int, pairs: int, num_keys: int = 16, num_values: int = 16, seed: int | torch.Generator = 0
) -> tuple[Tensor, Tensor]:
    """Sequence k1 v1 k2 v2 ... kP vP ? kq -> value of kq.

    Token ids: keys 0..K-1, values K..K+V-1, the query marker K+V. Returns tokens
    (n, 2P + 2) and targets (n,) as value ids in 0..V-1.
    """
    if pairs > num_keys:
        raise ValueError(f"expected pairs <= num_keys (distinct keys), got {pairs} > {num_keys}")
    g = _gen(seed)
    keys = torch.rand(n, num_keys, generator=g).argsort(-1)[:, :pairs]
    values = torch.randint(0, num_values, (n, pairs), generator=g)
    which = torch.randint(0, pairs, (n,), generator=g)
    rows = torch.arange(n)
    seq = torch.stack([keys, values + num_keys], dim=-1).flatten(1)  # (n, 2P)
    marker = torch.full((n, 1), num_keys + num_values)
    tokens = torch.cat([seq, marker, keys[rows, which].unsqueeze(1)], dim=1)
    return tokens, values[rows, which]

"""Recall drills that separate attention from fixed-state recurrences.

* :func:`mqar_batch`: multi-query associative recall (Arora et al. 2023, "Zoology", Sec. 3):
  key-value pairs, then several queries of those keys later in the sequence; the model must
  output each queried key's value at the query's position.
* :func:`selective_copy_batch`: selective copying (Gu & Dao 2023, "Mamba", Sec. 3.1): data
  tokens scattered among noise tokens, reproduced in order at the end.

Both return ``(inputs, targets)`` of shape (B, T), long; ``targets`` holds
:data:`IGNORE_INDEX` (``F.cross_entropy``'s default ``ignore_index``) where nothing is asked, so
``F.cross_entropy(logits.transpose(1, 2), targets)`` is the loss. Every draw goes through the
given ``torch.Generator``: the same seed gives the same batch on every machine.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "IGNORE_INDEX",
    "mqar_batch",
    "mqar_vocab_size",
    "selective_copy_batch",
    "selective_copy_vocab_size",
]

IGNORE_INDEX = -100


def _positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be a positive int, got {value!r}")


def mqar_vocab_size(num_keys: int, num_values: int) -> int:
    """Tokens of :func:`mqar_batch`: 0 (blank), keys 1..K, values K+1..K+V."""
    return 1 + num_keys + num_values


def mqar_batch(
    batch_size: int,
    seq_len: int,
    num_pairs: int,
    num_keys: int,
    num_values: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """One batch of multi-query associative recall (MQAR).

    Layout of each sequence (Zoology's, with uniform query positions): positions 0..2P-1 hold
    ``k_1 v_1 k_2 v_2 ... k_P v_P`` (P distinct keys, values drawn with replacement); every
    key is then queried once, in a random order, at P distinct random positions of the rest,
    which is blank (token 0) elsewhere. The target at a query position is that key's value.

    Args:
        batch_size: B. seq_len: T >= 3 P. num_pairs: P, the pairs (and queries) per sequence.
        num_keys: K >= P, the key alphabet. num_values: V, the value alphabet.
        generator: torch generator for reproducible draws.

    Shape:
        Returns inputs (B, T) in [0, 1 + K + V) and targets (B, T), a value token at the P
        query positions of each row, :data:`IGNORE_INDEX` elsewhere.

    Example:
        >>> x, y = mqar_batch(1, 12, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> pairs = dict(zip(x[0, 0:6:2].tolist(), x[0, 1:6:2].tolist()))
        >>> asked = y[0] != IGNORE_INDEX
        >>> all(pairs[k] == v for k, v in zip(x[0][asked].tolist(), y[0][asked].tolist()))
        True
    """
    _positive(batch_size=batch_size, seq_len=seq_len, num_pairs=num_pairs,
              num_keys=num_keys, num_values=num_values)  # fmt: skip
    if num_keys < num_pairs:
        raise ValueError(f"expected num_keys >= num_pairs (distinct keys), got {num_keys}")
    if seq_len < 3 * num_pairs:
        raise ValueError(f"expected seq_len >= 3 * num_pairs = {3 * num_pairs}, got {seq_len}")
    B, T, P = batch_size, seq_len, num_pairs
    keys = torch.rand(B, num_keys, generator=generator).argsort(-1)[:, :P] + 1  # (B, P)
    values = torch.randint(num_values, (B, P), generator=generator) + 1 + num_keys
    inputs = torch.zeros(B, T, dtype=torch.long)
    inputs[:, 0 : 2 * P : 2], inputs[:, 1 : 2 * P : 2] = keys, values
    order = torch.rand(B, P, generator=generator).argsort(-1)  # which key each query asks
    slots = torch.rand(B, T - 2 * P, generator=generator).argsort(-1)[:, :P] + 2 * P  # (B, P)
    targets = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
    inputs.scatter_(1, slots, keys.gather(1, order))
    targets.scatter_(1, slots, values.gather(1, order))
    return inputs, targets


def selective_copy_vocab_size(num_symbols: int) -> int:
    """Tokens of :func:`selective_copy_batch`: 0 (noise), data 1..V, V+1 (the answer marker)."""
    return num_symbols + 2


def selective_copy_batch(
    batch_size: int,
    seq_len: int,
    num_tokens: int,
    num_symbols: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """One batch of selective copying.

    Each sequence: a region of T - n positions, noise (token 0) except n data tokens (drawn
    from 1..V) at random distinct positions, then n answer markers (token V + 1). The target
    at the j-th marker is the j-th data token of the region, in order of position.

    Args:
        batch_size: B. seq_len: T >= 2 n. num_tokens: n, the data tokens to copy.
        num_symbols: V, the data alphabet (16 in Gu & Dao's setting).
        generator: torch generator for reproducible draws.

    Shape:
        Returns inputs (B, T) in [0, V + 2) and targets (B, T): the data tokens at the last n
        positions, :data:`IGNORE_INDEX` elsewhere.

    Example:
        >>> x, y = selective_copy_batch(1, 10, 3, 4, generator=torch.Generator().manual_seed(0))
        >>> data = x[0, :7][x[0, :7] != 0]
        >>> data.tolist() == y[0, 7:].tolist(), x[0, 7:].tolist()
        (True, [5, 5, 5])
    """
    _positive(batch_size=batch_size, seq_len=seq_len, num_tokens=num_tokens,
              num_symbols=num_symbols)  # fmt: skip
    if seq_len < 2 * num_tokens:
        raise ValueError(f"expected seq_len >= 2 * num_tokens = {2 * num_tokens}, got {seq_len}")
    B, T, n = batch_size, seq_len, num_tokens
    region = T - n
    where = torch.rand(B, region, generator=generator).argsort(-1)[:, :n].sort(-1).values
    data = torch.randint(num_symbols, (B, n), generator=generator) + 1  # (B, n)
    inputs = torch.zeros(B, T, dtype=torch.long)
    inputs.scatter_(1, where, data)
    inputs[:, region:] = num_symbols + 1
    targets = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
    targets[:, region:] = data
    return inputs, targets

"""Batching variable-length sequences: padding collate with lengths, length-bucketed batches.

Recurrent layers take ``lengths=`` (see :mod:`seqattn.nn.recurrent`) and attention takes masks
built from lengths (:func:`seqattn.functional.lengths_to_mask`), so every collate here returns the
true lengths beside the padded tensor. Bucketing puts sequences of similar length in the same
batch, which cuts the padding (and the wasted compute) of a random batch by a large factor; the
batches themselves are shuffled, so training still sees a random order of lengths.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["pad_sequences", "PadCollate", "BucketBatchSampler", "padding_fraction"]


def _as_tensor(seq: Any) -> Tensor:
    if isinstance(seq, Tensor):
        return seq
    return torch.as_tensor(seq)


def pad_sequences(
    sequences: Sequence[Any], pad_value: float = 0, batch_first: bool = True
) -> tuple[Tensor, Tensor]:
    """Pad a list of sequences (lists or tensors of shape ``(L_i, *)``) to the longest.

    Returns:
        ``(padded, lengths)``: ``padded`` is ``(B, L, *)`` (``(L, B, *)`` if not batch_first),
        ``lengths`` is int64 ``(B,)``.

    Example:
        >>> padded, lengths = pad_sequences([[5, 6, 7], [8]], pad_value=0)
        >>> padded.tolist(), lengths.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    if len(sequences) == 0:
        raise ValueError("expected at least one sequence, got an empty batch")
    tensors = [_as_tensor(s) for s in sequences]
    for i, t in enumerate(tensors):
        if t.dim() == 0:
            raise ValueError(f"expected sequences with a length dimension, got a scalar at {i}")
        if t.shape[1:] != tensors[0].shape[1:]:
            raise ValueError(
                f"expected every sequence to have trailing shape {tuple(tensors[0].shape[1:])}, "
                f"got {tuple(t.shape[1:])} at {i}"
            )
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.long)
    longest = int(lengths.max())
    out = tensors[0].new_full((len(tensors), longest, *tensors[0].shape[1:]), pad_value)
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
    if not batch_first:
        out = out.transpose(0, 1)
    return out, lengths


class PadCollate:
    """A ``collate_fn`` that pads the variable-length fields and returns their lengths.

    An example is a tuple ``(sequence, ..., label)`` or a dict. Fields whose values are
    sequences (lists or tensors with a length dimension) are padded with ``pad_value``; for a
    dict field ``name`` the lengths are returned as ``name + "_lengths"``, for a tuple the
    padded field is replaced by ``(padded, lengths)``. Scalars are stacked.

    Args:
        pad_value: the pad id (a vocabulary's ``pad_id``).
        seq_fields: which dict keys / tuple positions are sequences (default: every field
            whose first example is a list or a tensor of dim >= 1).
        batch_first: layout of the padded tensors.

    Example:
        >>> collate = PadCollate(pad_value=0)
        >>> batch = collate([{"tokens": [4, 5, 6], "label": 1}, {"tokens": [7], "label": 0}])
        >>> batch["tokens"].tolist(), batch["tokens_lengths"].tolist(), batch["label"].tolist()
        ([[4, 5, 6], [7, 0, 0]], [3, 1], [1, 0])
        >>> (x, lengths), y = collate([([1, 2], 1), ([3], 0)])
        >>> x.tolist(), lengths.tolist(), y.tolist()
        ([[1, 2], [3, 0]], [2, 1], [1, 0])
    """

    def __init__(
        self,
        pad_value: float = 0,
        seq_fields: Sequence[str | int] | None = None,
        batch_first: bool = True,
    ) -> None:
        self.pad_value, self.batch_first = pad_value, batch_first
        self.seq_fields = None if seq_fields is None else set(seq_fields)

    def _is_seq(self, key: str | int, value: Any) -> bool:
        if self.seq_fields is not None:
            return key in self.seq_fields
        if isinstance(value, Tensor):
            return value.dim() >= 1
        return isinstance(value, list | tuple)

    def _field(self, key: str | int, values: list[Any]):
        if self._is_seq(key, values[0]):
            return pad_sequences(values, self.pad_value, self.batch_first)
        if isinstance(values[0], Tensor):
            return torch.stack(values)
        return torch.as_tensor(values)

    def __call__(self, batch: Sequence[Any]) -> Any:
        if len(batch) == 0:
            raise ValueError("expected at least one example, got an empty batch")
        first = batch[0]
        if isinstance(first, Mapping):
            out: dict[str, Any] = {}
            for key in first:
                value = self._field(key, [ex[key] for ex in batch])
                if isinstance(value, tuple):
                    out[key], out[f"{key}_lengths"] = value
                else:
                    out[key] = value
            return out
        if isinstance(first, tuple):
            return tuple(self._field(i, [ex[i] for ex in batch]) for i in range(len(first)))
        return self._field(0, list(batch))


class BucketBatchSampler:
    """Batches of indices grouped by length; deterministic per (seed, epoch).

    Each epoch: shuffle all indices, cut them into pools of ``batch_size * pool_batches``, sort
    each pool by length, cut pools into batches, then shuffle the order of all batches. Pools
    keep some randomness in which sequences meet (sorting the whole set would give the same
    batches every epoch). Usable as a DataLoader ``batch_sampler`` and by the
    :class:`~seqattn.training.Trainer` (``batch_sampler=``, which calls :meth:`batches`).

    Args:
        lengths: the length of each example.
        batch_size: examples per batch.
        pool_batches: batches per sorted pool (1: no bucketing, only the last-batch rule).
        shuffle: shuffle (otherwise: one global sort, longest first, fixed).
        drop_last: drop a final short batch of each pool's tail.
        seed: the base seed; :meth:`set_epoch` picks the epoch.

    Example:
        >>> lengths = [5, 1, 4, 2, 3, 6]
        >>> s = BucketBatchSampler(lengths, batch_size=2, shuffle=False)
        >>> [[lengths[i] for i in b] for b in s]
        [[6, 5], [4, 3], [2, 1]]
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        pool_batches: int = 50,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"expected batch_size to be a positive int, got {batch_size!r}")
        if not isinstance(pool_batches, int) or pool_batches < 1:
            raise ValueError(f"expected pool_batches to be a positive int, got {pool_batches!r}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size, self.pool_batches = batch_size, pool_batches
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.epoch = 0

    @classmethod
    def from_dataset(cls, dataset: Sequence[Any], batch_size: int, key=None, **kwargs):
        """Lengths from ``key(example)`` (default: ``len`` of the example's first field)."""
        if key is None:

            def key(ex):
                if isinstance(ex, Mapping):
                    return len(next(iter(ex.values())))
                return len(ex[0]) if isinstance(ex, tuple) else len(ex)

        return cls([key(dataset[i]) for i in range(len(dataset))], batch_size, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """All batches of ``epoch`` (default: the one set by :meth:`set_epoch`)."""
        epoch = self.epoch if epoch is None else epoch
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = sorted(range(n), key=lambda i: (-self.lengths[i], i))
            out = [order[i : i + bs] for i in range(0, n, bs)]
            return [b for b in out if len(b) == bs or not self.drop_last]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=gen).tolist()
        pool = bs * self.pool_batches
        out: list[list[int]] = []
        for p in range(0, n, pool):
            chunk = sorted(order[p : p + pool], key=lambda i: self.lengths[i])
            for i in range(0, len(chunk), bs):
                b = chunk[i : i + bs]
                if len(b) == bs or not self.drop_last:
                    out.append(b)
        perm = torch.randperm(len(out), generator=gen).tolist()
        return [out[i] for i in perm]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        n, bs = len(self.lengths), self.batch_size
        if not self.drop_last:
            if not self.shuffle:
                return math.ceil(n / bs)
            pool = bs * self.pool_batches
            return sum(math.ceil(min(pool, n - p) / bs) for p in range(0, n, pool))
        return len(self.batches())


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Fraction of the padded batch cells that are padding.

    Example:
        >>> padding_fraction([4, 1, 3], [[0, 1], [2]])  # 3 pad cells of 8 + 3
        0.2727...
    """
    total = pad = 0
    for b in batches:
        longest = max(lengths[i] for i in b)
        total += longest * len(b)
        pad += sum(longest - lengths[i] for i in b)
    return pad / total if total else 0.0

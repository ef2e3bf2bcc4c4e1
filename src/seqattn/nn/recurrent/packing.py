"""Variable-length batches: validated lengths and packing helpers.

torch's :func:`torch.nn.utils.rnn.pack_padded_sequence` raises a ``RuntimeError`` for
unsorted lengths under ``enforce_sorted=True`` and accepts lengths the tensor cannot hold only
partly checked; these helpers check first and raise a ``ValueError`` that names what was
expected and what was received.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn.utils import rnn as _rnn

__all__ = ["as_lengths", "length_mask", "reverse_index", "pack_padded_sequence"]


def as_lengths(lengths: Tensor | Sequence[int], batch: int, max_len: int) -> Tensor:
    """Validate per-sequence lengths and return them as a CPU int64 tensor of shape (B,).

    Raises:
        ValueError: wrong count, a length < 1 or a length > ``max_len`` (T).
        TypeError: lengths that are not integers.
    """
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"expected integer lengths, got a tensor of dtype {lengths.dtype}")
        t = lengths.detach().to("cpu", torch.int64)
    else:
        try:
            t = torch.as_tensor(list(lengths), dtype=torch.int64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"expected a sequence of int lengths, got {lengths!r}") from err
    if t.dim() != 1 or t.numel() != batch:
        raise ValueError(
            f"expected {batch} lengths (one per sequence in the batch), got shape {tuple(t.shape)}"
        )
    if batch and int(t.min()) < 1:
        raise ValueError(f"expected every length >= 1, got min length {int(t.min())}")
    if batch and int(t.max()) > max_len:
        raise ValueError(
            f"expected every length <= {max_len} (the padded time dimension T), "
            f"got max length {int(t.max())}"
        )
    return t


def length_mask(lengths: Tensor, max_len: int, device=None) -> Tensor:
    """Boolean mask (T, B): True where step t < length of sequence b (a real step)."""
    steps = torch.arange(max_len, device=device)
    return steps[:, None] < lengths.to(device)[None, :]


def reverse_index(lengths: Tensor, max_len: int, device=None) -> Tensor:
    """Time index (T, B) reversing each sequence within its own length.

    Step t of sequence b maps to ``lengths[b] - 1 - t`` for real steps and to itself for
    padding, so gathering with it twice is the identity and the padding stays at the end.
    """
    steps = torch.arange(max_len, device=device)[:, None]  # (T, 1)
    lens = lengths.to(device)[None, :]  # (1, B)
    return torch.where(steps < lens, lens - 1 - steps, steps)


def pack_padded_sequence(
    input: Tensor,
    lengths: Tensor | Sequence[int],
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> _rnn.PackedSequence:
    """:func:`torch.nn.utils.rnn.pack_padded_sequence` with lengths validated first.

    Raises:
        ValueError: lengths of the wrong count or range, or lengths not in decreasing order
            when ``enforce_sorted=True``.
    """
    if input.dim() < 2:
        raise ValueError(f"expected a padded batch of rank >= 2, got shape {tuple(input.shape)}")
    batch, max_len = (input.shape[0], input.shape[1]) if batch_first else input.shape[:2][::-1]
    lens = as_lengths(lengths, batch, max_len)
    if enforce_sorted and bool((lens[1:] > lens[:-1]).any()):
        raise ValueError(
            "expected lengths sorted in decreasing order with enforce_sorted=True, got "
            f"{lens.tolist()}; sort the batch or pass enforce_sorted=False"
        )
    return _rnn.pack_padded_sequence(input, lens, batch_first, enforce_sorted)

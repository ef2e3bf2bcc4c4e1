"""NTM associative recall and priority sort (Graves, Wayne & Danihelka 2014, sections 4.3, 4.5).

Time-major batches of random bit vectors, as :mod:`seqattn.data.synthetic.ntm_copy`: the input
``x`` (T, B, channels) and the target ``y`` (T_answer, B, width), which the model emits during
the last ``T_answer`` steps, when the input is all zero.

* **Associative recall**: ``items`` items of ``item_length`` random ``width``-bit vectors, each
  announced by an *item delimiter* step (channel ``width``); then a *query delimiter* step
  (channel ``width + 1``), one of the items again (never the last), and the query delimiter
  once more. The target is the item that followed the query item in the sequence.
* **Priority sort**: ``length`` random ``width``-bit vectors, each with a scalar priority drawn
  uniformly from [-1, 1] on channel ``width``; then one delimiter step (channel ``width + 1``).
  The target is the ``outputs`` vectors of highest priority, the highest first.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["associative_recall_batch", "priority_sort_batch"]


def _positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"expected {name} to be a positive int, got {value!r}")


def associative_recall_batch(
    batch_size: int,
    items: int,
    item_length: int = 3,
    width: int = 6,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """One batch of associative-recall episodes, all with ``items`` items.

    Draws, in this order: the bits (items, item_length, B, width), then each sequence's query
    index uniformly in 0 .. items - 2.

    Args:
        batch_size: B. items: items per episode (>= 2; the paper trains on 2-6).
        item_length: vectors per item (3 in the paper). width: bits per vector (6).
        generator: torch generator for reproducible draws.

    Shape:
        Returns x (T, B, width + 2) with T = items (item_length + 1) + 2 item_length + 2, and
        y (item_length, B, width), float32; y is x's answer for the last item_length steps.

    Example:
        >>> x, y = associative_recall_batch(2, 3, generator=torch.Generator().manual_seed(0))
        >>> x.shape, y.shape
        (torch.Size([20, 2, 8]), torch.Size([3, 2, 6]))
        >>> x[0, :, 6].tolist(), x[12, :, 7].tolist(), x[16, :, 7].tolist()
        ([1.0, 1.0], [1.0, 1.0], [1.0, 1.0])
    """
    _positive(batch_size=batch_size, items=items, item_length=item_length, width=width)
    if items < 2:
        raise ValueError(f"expected items >= 2 (a query and the item after it), got {items}")
    bits = torch.randint(0, 2, (items, item_length, batch_size, width), generator=generator)
    bits = bits.float()
    query = torch.randint(0, items - 1, (batch_size,), generator=generator)
    step = item_length + 1
    n_steps = items * step + 2 * item_length + 2
    x = torch.zeros(n_steps, batch_size, width + 2)
    for i in range(items):
        x[i * step, :, width] = 1.0  # item delimiter, then the item's vectors
        x[i * step + 1 : (i + 1) * step, :, :width] = bits[i]
    q0 = items * step
    batch = torch.arange(batch_size)
    x[q0, :, width + 1] = 1.0  # query delimiter, the query item, the query delimiter again
    x[q0 + 1 : q0 + 1 + item_length, :, :width] = bits[query, :, batch].transpose(0, 1)
    x[q0 + 1 + item_length, :, width + 1] = 1.0
    y = bits[query + 1, :, batch].transpose(0, 1).contiguous()  # (item_length, B, width)
    return x, y


def priority_sort_batch(
    batch_size: int,
    length: int = 20,
    outputs: int = 16,
    width: int = 8,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """One batch of priority-sort sequences.

    Draws, in this order: the bits (length, B, width), then the priorities (length, B),
    uniform in [-1, 1].

    Args:
        batch_size: B. length: vectors in the input (20 in the paper).
        outputs: how many of the highest-priority vectors the target holds (16 in the paper).
        width: bits per vector (8). generator: torch generator for reproducible draws.

    Shape:
        Returns x (length + 1 + outputs, B, width + 2) and y (outputs, B, width), float32.

    Example:
        >>> x, y = priority_sort_batch(2, 5, 3, generator=torch.Generator().manual_seed(0))
        >>> x.shape, y.shape
        (torch.Size([9, 2, 10]), torch.Size([3, 2, 8]))
        >>> top = x[:5, 0, 8].argmax()
        >>> bool((y[0, 0] == x[top, 0, :8]).all()), x[5, :, 9].tolist()
        (True, [1.0, 1.0])
    """
    _positive(batch_size=batch_size, length=length, outputs=outputs, width=width)
    if outputs > length:
        raise ValueError(f"expected outputs <= length ({length}), got {outputs}")
    bits = torch.randint(0, 2, (length, batch_size, width), generator=generator).float()
    priority = torch.rand(length, batch_size, generator=generator) * 2.0 - 1.0
    x = torch.zeros(length + 1 + outputs, batch_size, width + 2)
    x[:length, :, :width] = bits
    x[:length, :, width] = priority
    x[length, :, width + 1] = 1.0
    order = priority.argsort(dim=0, descending=True)[:outputs]  # (outputs, B)
    y = bits.gather(0, order.unsqueeze(-1).expand(-1, -1, width))
    return x, y

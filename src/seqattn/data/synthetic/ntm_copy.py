"""The NTM copy task (Graves, Wayne & Danihelka 2014, section 4.1): random bit vectors.

``seqattn.data.synthetic.copy_task`` copies integer symbols; the NTM's task copies vectors of
independent random bits followed by a delimiter on its own channel, then reproduces them with
no input. Time-major, as the recurrent layers.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ntm_copy_batch"]


def ntm_copy_batch(
    batch_size: int, length: int, width: int = 8, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """One batch of copy sequences, all of the same length.

    Input: ``length`` random ``width``-bit vectors (channel ``width``, the delimiter, is 0),
    then one step with only the delimiter set, then ``length`` all-zero steps while the model
    answers. Target: the bit vectors, for the last ``length`` steps.

    Args:
        batch_size: B. length: T >= 1 vectors to copy. width: bits per vector (8 in the paper).
        generator: torch generator for reproducible draws.

    Shape:
        Returns x (2T+1, B, width+1) and target (T, B, width), float32 in {0, 1}.

    Example:
        >>> x, y = ntm_copy_batch(2, 3, generator=torch.Generator().manual_seed(0))
        >>> x.shape, y.shape, bool((x[:3, :, :8] == y).all()), x[3, :, 8].tolist()
        (torch.Size([7, 2, 9]), torch.Size([3, 2, 8]), True, [1.0, 1.0])
    """
    for name, value in (("batch_size", batch_size), ("length", length), ("width", width)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be a positive int, got {value!r}")
    bits = torch.randint(0, 2, (length, batch_size, width), generator=generator).float()
    x = torch.zeros(2 * length + 1, batch_size, width + 1)
    x[:length, :, :width] = bits
    x[length, :, width] = 1.0
    return x, bits

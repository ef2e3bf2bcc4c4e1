"""Shared argument checks of the streaming sequence layers (linear attention, SSD)."""

from __future__ import annotations

import torch
from torch import Tensor

MODES = ("sequential", "chunked")


def check_mode(mode: str, chunk_size: int) -> None:
    """Raise ValueError unless ``mode`` is one of MODES and ``chunk_size`` > 0."""
    if mode not in MODES:
        raise ValueError(f"expected mode in {MODES}, got {mode!r}")
    if chunk_size <= 0:
        raise ValueError(f"expected chunk_size > 0, got {chunk_size}")


def check_input(x: Tensor, embed_dim: int) -> tuple[int, int]:
    """Check x is (B, T, embed_dim); returns (B, T)."""
    if x.dim() != 3 or x.shape[-1] != embed_dim:
        raise ValueError(f"expected x of shape (B, T, {embed_dim}), got {tuple(x.shape)}")
    return x.shape[0], x.shape[1]


def valid_mask(lengths, batch: int, steps: int, device) -> Tensor | None:
    """(B, T) boolean mask of the valid steps of right-padded sequences, or None."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.shape != (batch,) or bool((lengths < 0).any()) or bool((lengths > steps).any()):
        raise ValueError(
            f"expected lengths of shape ({batch},) in [0, {steps}], got {lengths.tolist()}"
        )
    return torch.arange(steps, device=device)[None] < lengths[:, None]

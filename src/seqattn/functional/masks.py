"""Attention masks. Convention: boolean, **True = may attend** (as
``torch.nn.functional.scaled_dot_product_attention``); helpers convert to and from torch's other
conventions (``key_padding_mask`` with True = ignore, additive float masks with -inf).

Shape glossary: B batch, T queries, S keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "causal_mask",
    "padding_mask",
    "from_key_padding_mask",
    "to_key_padding_mask",
    "bool_to_additive",
    "additive_to_bool",
    "merge_masks",
    "check_mask",
]


def causal_mask(query_len: int, key_len: int | None = None, device=None, offset: int = 0) -> Tensor:
    """(T, S) mask letting query t attend to keys s <= t + offset.

    With ``offset=0`` this is the top-left aligned mask of ``is_causal=True`` in torch's
    ``scaled_dot_product_attention``.

    Example:
        >>> causal_mask(3).int()
        tensor([[1, 0, 0],
                [1, 1, 0],
                [1, 1, 1]], dtype=torch.int32)
    """
    key_len = query_len if key_len is None else key_len
    q = torch.arange(query_len, device=device)[:, None]
    k = torch.arange(key_len, device=device)[None, :]
    return k <= q + offset


def padding_mask(
    lengths: Tensor | Sequence[int], max_len: int | None = None, device=None
) -> Tensor:
    """(B, S) mask, True at the real (unpadded) positions s < lengths[b].

    Example:
        >>> padding_mask([3, 1]).int()
        tensor([[1, 1, 1],
                [1, 0, 0]], dtype=torch.int32)
    """
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.dim() != 1:
        raise ValueError(f"expected lengths of shape (B,), got shape {tuple(lengths.shape)}")
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"expected lengths >= 0, got min {int(lengths.min())}")
    max_len = int(lengths.max()) if max_len is None and lengths.numel() else (max_len or 0)
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def from_key_padding_mask(key_padding_mask: Tensor) -> Tensor:
    """torch's ``key_padding_mask`` (B, S) -> our (B, S) mask.

    torch's boolean ``key_padding_mask`` marks positions to **ignore** (True = padding); a float
    one is added to the scores. Ours marks positions that may be attended.
    """
    if key_padding_mask.dtype == torch.bool:
        return ~key_padding_mask
    return additive_to_bool(key_padding_mask)


def to_key_padding_mask(mask: Tensor) -> Tensor:
    """Our (B, S) mask (True = attend) -> torch's boolean ``key_padding_mask`` (True = ignore)."""
    return ~mask.bool()


def bool_to_additive(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """True = attend -> 0.0, False -> -inf (torch's additive float mask)."""
    out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return out.masked_fill(~mask, float("-inf"))


def additive_to_bool(mask: Tensor) -> Tensor:
    """Additive float mask -> boolean: True where the added value is not -inf."""
    return mask != float("-inf")


def merge_masks(*masks: Tensor | None) -> Tensor | None:
    """Logical AND of boolean masks that broadcast together; None entries are skipped."""
    out = None
    for m in masks:
        if m is None:
            continue
        out = m if out is None else out & m
    return out


def check_mask(mask: Tensor, scores_shape: Sequence[int], name: str = "mask") -> None:
    """Raise a clear error unless ``mask`` is a bool or float tensor broadcastable to scores."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"expected {name} to be a Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"expected {name} of dtype bool or float, got {mask.dtype}")
    if len(mask.shape) > len(scores_shape):
        raise ValueError(
            f"expected {name} of at most {len(scores_shape)} dims, got shape {tuple(mask.shape)}"
        )
    try:  # broadcastable *to* the scores: it may not grow them (a (1, 3) mask on (0, 1) scores)
        ok = torch.broadcast_shapes(tuple(mask.shape), tuple(scores_shape)) == tuple(scores_shape)
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"expected {name} broadcastable to the scores' shape {tuple(scores_shape)} "
            f"(..., T, S), got shape {tuple(mask.shape)}"
        )

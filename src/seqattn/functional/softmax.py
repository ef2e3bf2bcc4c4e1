"""Masked softmax that never returns NaN.

A fully masked row (every key masked out, or every score -inf) gives all-zero weights and
zero, finite gradients, where ``torch.softmax`` returns NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqattn.functional.masks import check_mask

__all__ = ["masked_softmax"]


def masked_softmax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """softmax(scores) over ``dim`` restricted to ``mask`` (True = may attend).

    Args:
        scores: any shape; entries may be -inf (an additive mask already applied).
        mask: boolean, broadcastable to ``scores``; None = no mask.
        dim: the key dimension.

    Returns:
        Weights of the shape of ``scores``, summing to 1 over the unmasked entries of each row
        and exactly 0 in rows with no unmasked entry.

    Example:
        >>> s = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
        >>> masked_softmax(s, torch.tensor([[True, True, False], [False, False, False]]))
        tensor([[0.2689, 0.7311, 0.0000],
                [0.0000, 0.0000, 0.0000]])
    """
    if not isinstance(scores, Tensor):
        raise TypeError(f"expected scores to be a Tensor, got {type(scores).__name__}")
    if not scores.is_floating_point():
        raise TypeError(f"expected floating-point scores, got dtype {scores.dtype}")
    rank = max(scores.dim(), 1)
    if isinstance(dim, bool) or not isinstance(dim, int) or not -rank <= dim < rank:
        raise ValueError(f"expected dim in [{-rank}, {rank - 1}], got {dim!r}")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise TypeError(f"expected a bool mask (True = may attend), got {got}")
        check_mask(mask, scores.shape, "mask")
        scores = scores.masked_fill(~mask, float("-inf"))
    if scores.dim() and scores.shape[dim] == 0:
        return torch.softmax(scores, dim)  # no keys: an empty result, as torch (amax would fail)
    # The shift is a constant for the softmax, so it carries no gradient; a row whose max is
    # -inf (fully masked) is shifted by 0 so that exp gives exact zeros instead of NaN.
    shift = scores.detach().amax(dim=dim, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    e = torch.exp(scores - shift)
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))

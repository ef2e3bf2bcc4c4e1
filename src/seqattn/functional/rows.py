"""Row-grouped state: the contract between a model's step function and the searches.

A decoder's state is a tree of tensors whose dim 0 is the row (one hypothesis). Per-input
constants (the encoder memory, its key projection, the source mask) go in a :class:`Shared`
dict with one row per *input*; a step with k hypotheses per input views its rows as (N, k, ...)
with :func:`group_rows`. Models build this state, :mod:`seqattn.decoding` reorders it; both
import it from here, the lowest layer, so models never import decoding.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["Shared", "group_rows"]


class Shared(dict):
    """A dict of per-input tensors that all hypotheses of one input share.

    Row i of every leaf belongs to input i. A state with ``k`` hypotheses per input has ``k``
    times as many rows in its other leaves as in a Shared one, grouped by input: rows
    ``i*k .. i*k+k-1`` belong to input i (a step reads the group size as
    ``rows // shared_rows``; see :func:`group_rows`). The searches' default row selection
    leaves Shared leaves alone when hypotheses are reordered within their inputs, and selects
    their rows only when inputs leave the search. With one row per input (greedy search,
    training) it behaves exactly like a dict.

    Example:
        >>> src = Shared(memory=torch.ones(2, 3, 2), src_mask=torch.ones(2, 3, dtype=torch.bool))
        >>> isinstance(src, dict), tuple(src["memory"].shape)  # a dict; 2 inputs, 2 rows
        (True, (2, 3, 2))
    """


def group_rows(x: Tensor, shared: Tensor) -> Tensor:
    """View per-hypothesis rows (N*k, ...) as (N, k, ...) against a (N, ...) shared leaf.

    Example:
        >>> group_rows(torch.zeros(6, 4), torch.zeros(2, 5, 4)).shape
        torch.Size([2, 3, 4])
    """
    n = shared.shape[0]
    if n == 0 or x.shape[0] % n:
        raise ValueError(
            f"expected a multiple of the {n} shared rows (k hypotheses per input), got "
            f"{x.shape[0]} rows"
        )
    return x.view(n, x.shape[0] // n, *x.shape[1:])

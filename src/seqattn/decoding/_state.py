"""Decoder state as a tree of tensors, and the shared pieces of every search.

The searches never look inside a model's state: they only select and repeat its rows. A state
is any nesting of tuples (named tuples included), lists and dicts whose tensor leaves carry the
row (hypothesis) on dim 0; other leaves (ints, strings, ``None``, 0-dim tensors) pass through
unchanged. Models whose tensors keep the row elsewhere pass their own ``reorder``.

Per-input constants (the encoder memory, its key projection, the source mask) go in a
:class:`Shared` dict: one row per *input*, not per hypothesis. Beam search then reorders only the
per-hypothesis leaves at every step and selects the shared rows only when inputs finish, instead
of copying the whole encoder memory for every hypothesis at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from seqattn.functional.rows import Shared, group_rows

__all__ = ["Hypotheses", "Shared", "State", "StepFn", "group_rows", "repeat_rows", "select_rows"]

State = Any
StepFn = Callable[[Tensor, State], tuple[Tensor, State, Tensor | None]]
Reorder = Callable[[State, Tensor], State]


def _keep(t: Tensor) -> Tensor:
    return t


def _map_tensors(
    state: State,
    fn: Callable[[Tensor], Tensor],
    shared_fn: Callable[[Tensor], Tensor] | None = None,
) -> State:
    """Apply ``fn`` to every tensor leaf with dim > 0, ``shared_fn`` (default ``fn``) to the
    leaves of :class:`Shared` dicts (``_keep`` leaves them and their dict untouched)."""
    if isinstance(state, Shared):
        if shared_fn is _keep:
            return state
        inner = fn if shared_fn is None else shared_fn
        return Shared((k, _map_tensors(v, inner)) for k, v in state.items())
    if isinstance(state, Tensor):
        return fn(state) if state.dim() > 0 else state
    if isinstance(state, tuple):
        items = [_map_tensors(s, fn, shared_fn) for s in state]
        # named tuples are rebuilt field by field, plain tuples from an iterable
        return type(state)(*items) if hasattr(state, "_fields") else type(state)(items)
    if isinstance(state, list):
        return [_map_tensors(s, fn, shared_fn) for s in state]
    if isinstance(state, dict):
        return type(state)((k, _map_tensors(v, fn, shared_fn)) for k, v in state.items())
    return state


def select_rows(state: State, idx: Tensor, dim: int = 0, shared_idx: Tensor | None = None) -> State:
    """Keep (and reorder) the rows ``idx`` of every tensor leaf of ``state``.

    Beam search calls this with the back-pointers of the surviving hypotheses, and every search
    calls it to drop finished rows.

    Args:
        state: a tensor, or a nesting of tuples/lists/dicts of tensors; non-tensor leaves and
            0-dim tensors are returned unchanged.
        idx: (N',) long indices into the row dimension; repeats are allowed.
        dim: the row dimension of every tensor leaf (``dim=1`` for (L, N, H) RNN states).
        shared_idx: the rows to keep of :class:`Shared` leaves (per input); default ``idx``,
            which is right when every input has one row.

    Returns:
        The state with the same structure, each tensor leaf ``leaf.index_select(dim, idx)``.

    Example:
        >>> s = {"h": torch.arange(6.0).view(3, 2), "step": 4}
        >>> select_rows(s, torch.tensor([2, 0]))["h"].tolist()
        [[4.0, 5.0], [0.0, 1.0]]
    """
    idx = idx.long()
    sidx = idx if shared_idx is None else shared_idx.long()
    return _map_tensors(state, lambda t: t.index_select(dim, idx.to(t.device)),
                        lambda t: t.index_select(dim, sidx.to(t.device)))  # fmt: skip


def reorder_hypotheses(state: State, idx: Tensor, inputs: Tensor | None) -> State:
    """Beam search's default reorder: select the per-hypothesis rows ``idx``, and the
    :class:`Shared` rows ``inputs`` (the inputs still searched), or none when ``inputs`` is
    None (no input left, so hypotheses only moved within their inputs)."""
    if inputs is None:
        idx = idx.long()
        return _map_tensors(state, lambda t: t.index_select(0, idx.to(t.device)), _keep)
    return select_rows(state, idx, shared_idx=inputs)


def repeat_rows(state: State, k: int, dim: int = 0) -> State:
    """Repeat each row ``k`` times in place (row ``b`` becomes rows ``b*k .. b*k+k-1``).

    This is how beam search turns B sentences into B*k hypotheses; it equals
    ``select_rows(state, arange(N).repeat_interleave(k), shared_idx=arange(N))``, which is
    how a custom ``reorder`` is used for the same purpose (without the ``shared_idx``).
    :class:`Shared` leaves keep one row per input.

    Example:
        >>> repeat_rows((torch.tensor([1, 2]), None), 2)[0].tolist()
        [1, 1, 2, 2]
    """
    if k < 1:
        raise ValueError(f"expected k >= 1, got {k}")
    return _map_tensors(state, lambda t: t.repeat_interleave(k, dim=dim), _keep)


@dataclass
class Hypotheses:
    """What a search returns, for a batch of B inputs and ``n_best`` hypotheses each.

    Attributes:
        tokens: ``tokens[b][i]`` is the i-th best token list of input b, without bos and ending
            before (excluding) eos; a hypothesis that hit ``max_len`` has no eos to drop.
        scores: (B, n_best) float: the sum of the model's log-probabilities of every emitted
            token, eos included, divided by the length penalty in beam search. Missing
            hypotheses (fewer than ``n_best`` exist) are ``-inf`` with an empty token list.
        attention: ``attention[b][i]`` is a (len, S) tensor whose row t is the attention the
            step returned while producing ``tokens[b][i][t]`` (so eos's row is not kept), or
            None when the step function returns no attention.
    """

    tokens: list[list[list[int]]]
    scores: Tensor
    attention: list[list[Tensor | None]] = field(default_factory=list)

    def best(self) -> list[list[int]]:
        """The first (best) hypothesis of each input: a list of B token lists."""
        return [hyps[0] for hyps in self.tokens]

    def __len__(self) -> int:
        return len(self.tokens)


def infer_batch_size(state: State, max_len: int | Tensor, batch_size: int | None) -> int:
    """B from the explicit argument, else a (B,) ``max_len``, else the first tensor leaf."""
    if batch_size is not None:
        if int(batch_size) < 1:
            raise ValueError(f"expected batch_size >= 1, got {batch_size}")
        return int(batch_size)
    if isinstance(max_len, Tensor) and max_len.dim() == 1:
        return max_len.shape[0]
    found: list[int] = []

    def visit(t: Tensor) -> Tensor:
        if not found:
            found.append(t.shape[0])
        return t

    _map_tensors(state, visit)
    if not found:
        raise ValueError(
            "expected a state with a tensor leaf, a (B,) max_len or batch_size= to know the "
            "batch size, got none of them"
        )
    return found[0]


def max_len_tensor(max_len: int | Tensor, batch: int) -> Tensor:
    """The per-row maximum number of generated tokens as a (B,) long CPU tensor."""
    if isinstance(max_len, Tensor):
        if max_len.dim() == 0:
            max_len = int(max_len)
        elif max_len.shape != (batch,):
            raise ValueError(
                f"expected max_len to be an int or a ({batch},) tensor, got shape "
                f"{tuple(max_len.shape)}"
            )
        else:
            out = max_len.detach().to("cpu").round().long()
            if (out < 0).any():
                raise ValueError(f"expected max_len >= 0, got {out.min().item()}")
            return out
    if not isinstance(max_len, int) or isinstance(max_len, bool):
        raise TypeError(f"expected max_len to be an int or a tensor, got {type(max_len).__name__}")
    if max_len < 0:
        raise ValueError(f"expected max_len >= 0, got {max_len}")
    return torch.full((batch,), max_len, dtype=torch.long)


def check_step_output(log_probs: Tensor, attn: Tensor | None, rows: int) -> None:
    """A step's output has one row per hypothesis."""
    if not isinstance(log_probs, Tensor) or log_probs.dim() != 2 or log_probs.shape[0] != rows:
        shape = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs)
        raise ValueError(f"expected step log_probs of shape ({rows}, V), got {shape}")
    if attn is not None and (attn.dim() != 2 or attn.shape[0] != rows):
        raise ValueError(f"expected step attention of shape ({rows}, S), got {tuple(attn.shape)}")


def check_eos(eos: int, vocab: int) -> None:
    """eos must be a token the step can emit (bos need not be: it is only ever an input)."""
    if not 0 <= eos < vocab:
        raise ValueError(f"expected eos in [0, {vocab}) (the step's vocabulary), got {eos}")

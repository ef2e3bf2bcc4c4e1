"""Truncated backpropagation through time, BPTT(k1, k2) (Williams & Peng 1990).

Every k1 steps the model makes an update: the loss of those k1 new steps is backpropagated
through the last k2 ≥ k1 steps and no farther; the state is carried from one window to the
next, detached. k1 = k2 gives the common "chunked" TBPTT; k1 = k2 = T is full BPTT.

With k2 > k1 consecutive windows overlap. Rather than keeping old graphs alive (which breaks
once the optimizer has changed the weights in place), each window is recomputed from the
detached state at its start, with the current weights, which is what Williams & Peng's
algorithm does. The cost is k2/k1 forward passes per step. A model with dropout draws new
masks in the recomputation.

The model is any recurrent module ``model(x_chunk, state) -> (output, state)``: ours or
torch.nn's layers, or a model wrapping one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["TBPTTResult", "tbptt", "detach_state"]


def detach_state(state):
    """Detach a state: a tensor, or a tuple/list of them, or None."""
    if state is None:
        return None
    if isinstance(state, tuple | list):
        return type(state)(detach_state(s) for s in state)
    return state.detach()


@dataclass(frozen=True)
class TBPTTResult:
    """Losses of each update and the final state (detached)."""

    losses: list[float]
    windows: list[tuple[int, int]]  # (start, end) of the steps each update backpropagated through
    state: object


def tbptt(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    k1: int,
    k2: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    state=None,
    time_dim: int = 0,
    after_backward: Callable[[], object] | None = None,
) -> TBPTTResult:
    """Run BPTT(k1, k2) over one long sequence.

    Args:
        model: ``model(x, state) -> (output, state)`` with time along ``time_dim``.
        inputs: (T, B, ...) (time along ``time_dim``).
        targets: aligned with the outputs along ``time_dim``.
        loss_fn: ``loss_fn(output_steps, target_steps) -> scalar`` for the new steps of an
            update.
        k1: steps between updates (≥ 1).
        k2: steps backpropagated through per update (k2 ≥ k1; default k1).
        optimizer: if given, ``zero_grad()`` before and ``step()`` after each update; if None,
            gradients accumulate in ``.grad`` over all updates.
        state: initial state (None for zeros).
        time_dim: 0 for time-major, 1 for batch-first.
        after_backward: called after each backward pass and before the step (clipping,
            a :class:`~seqattn.diagnostics.GradientHealthMonitor`).

    Returns:
        :class:`TBPTTResult`.
    """
    k2 = k1 if k2 is None else k2
    for name, value in (("k1", k1), ("k2", k2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be a positive int, got {value!r}")
    if k2 < k1:
        raise ValueError(f"expected k2 >= k1, got k1={k1}, k2={k2}")
    steps = inputs.shape[time_dim]
    if targets.shape[time_dim] != steps:
        raise ValueError(
            f"expected targets with {steps} steps along dim {time_dim}, "
            f"got shape {tuple(targets.shape)}"
        )
    ends = list(range(k1, steps, k1)) + [steps]
    starts = [max(0, end - k2) for end in ends]
    window_state = detach_state(state)  # the state at starts[i]
    losses, windows = [], []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        prev_end = ends[i - 1] if i else 0
        nxt = starts[i + 1] if i + 1 < len(ends) else end  # start of the next window
        outputs = []
        st = window_state
        # Two forward calls split at the next window's start, whose state we keep.
        for a, b in ((start, nxt), (nxt, end)):
            if b > a:
                out, st = model(inputs.narrow(time_dim, a, b - a), st)
                outputs.append(out)
            if b == nxt:
                window_state = detach_state(st)
        output = torch.cat(outputs, dim=time_dim)
        new = output.narrow(time_dim, prev_end - start, end - prev_end)
        loss = loss_fn(new, targets.narrow(time_dim, prev_end, end - prev_end))
        if optimizer is not None:
            optimizer.zero_grad()
        loss.backward()
        if after_backward is not None:
            after_backward()
        if optimizer is not None:
            optimizer.step()
        losses.append(float(loss.detach()))
        windows.append((start, end))
        final = st
    return TBPTTResult(losses, windows, detach_state(final))

"""The one optimisation loop: step, clip, schedule, budget, progress and callbacks.

Every experiment and pipeline that trains a model by gradient descent runs its steps through
:class:`TrainLoop` (the epoch-level :class:`~seqattn.training.Trainer` adds checkpoints,
resumption and distributed data on top of the same step, :func:`optimizer_step`). What is
particular to an experiment is declared, not re-coded: the batches, the loss, the clipping,
when to evaluate (a callback) and when to stop (steps, wall-clock budget, deadline).

One step is, in this order::

    loss = loss_fn(batch)            # forward
    optimizer.zero_grad()
    loss.backward()
    norm = clip(params)              # the pre-clip gradient norm (clip_norm) or None
    [callbacks.before_update]        # may veto the update (e.g. on a non-finite gradient)
    optimizer.step(); scheduler.step()
    [callbacks.after_step]           # evaluation, early stopping, logging

>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> x, y = torch.ones(4, 2), torch.zeros(4, 1)
>>> loop = TrainLoop(model.parameters(), opt, clip_norm=1.0, max_steps=3)
>>> state = loop.run(iter(lambda: (x, y), None), lambda b: ((model(b[0]) - b[1]) ** 2).mean())
>>> state.step, state.stopped_by, len(state.losses)
(3, 'max_steps', 3)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from seqattn.training.tensorboard import active_logger

__all__ = [
    "LoopState",
    "StepCallback",
    "TrainLoop",
    "clip_gradients",
    "optimizer_step",
    "seed_everything",
]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def clip_gradients(
    params: Sequence[Tensor], clip_norm: float | None = None, clip_value: float | None = None
) -> float | None:
    """Clip gradients in place: by global norm (returns the pre-clip norm), then by value.

    ``clip_norm=math.inf`` measures the norm without clipping. Returns None when no norm was
    asked for.
    """
    norm = None
    if clip_norm is not None:
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(params, clip_value)
    return norm


def optimizer_step(
    params: Sequence[Tensor],
    optimizer: torch.optim.Optimizer,
    loss: Tensor,
    *,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    scheduler: Any = None,
    before_update: Callable[[float | None], bool] | None = None,
) -> tuple[float | None, bool]:
    """One update from ``loss``: zero the gradients, backward, clip, step, schedule.

    Args:
        params: the parameters to clip (those of ``optimizer``).
        optimizer: any torch optimizer.
        loss: a scalar tensor with a graph.
        clip_norm, clip_value: see :func:`clip_gradients`.
        scheduler: a learning-rate scheduler stepped after the optimizer, or None.
        before_update: called with the pre-clip norm; returning False skips the update.

    Returns:
        ``(grad_norm, updated)``.
    """
    optimizer.zero_grad()
    loss.backward()
    norm = clip_gradients(params, clip_norm, clip_value)
    if before_update is not None and not before_update(norm):
        return norm, False
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return norm, True


@dataclass
class LoopState:
    """Where a :class:`TrainLoop` run stands; callbacks read and may set ``stop``.

    Attributes:
        step: optimizer steps taken so far (over every ``run`` of this loop).
        losses: the training loss of every step, as floats (if ``record_losses``).
        grad_norms: the pre-clip gradient norm of every step (if a norm is measured).
        stopped_by: why the last ``run`` ended early: "max_steps", "budget", "deadline",
            "nonfinite", "callback", or None (the batches ran out).
        seconds: wall time spent inside ``run`` (all calls together).
        stop: set True by a callback to end the run after this step.
    """

    step: int = 0
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    stopped_by: str | None = None
    seconds: float = 0.0
    stop: bool = False
    last_loss: float = math.nan
    last_norm: float | None = None


StepCallback = Callable[[LoopState, Any], Any]


class TrainLoop:
    """Step through batches with one optimizer, clipping, schedule, limits and callbacks.

    Args:
        params: the parameters being trained (an iterable is materialised once).
        optimizer: the optimizer over them.
        clip_norm: clip the global gradient norm to this (``math.inf``: measure only).
        clip_value: clip every gradient element to ``[-v, v]`` (after the norm clip).
        scheduler: stepped after every optimizer step.
        max_steps: stop after this many steps in total (over all ``run`` calls).
        budget_s: stop once this many seconds of wall time were spent in ``run``.
        deadline: stop once ``time.time()`` passes this (an absolute time; shared by
            workers that started together).
        stop_on_nonfinite: end the run, without updating, on a non-finite loss or norm.
        after_step: callbacks ``fn(state, batch)`` after every update (evaluation, logging);
            one may set ``state.stop = True``.
        record_losses: keep every step's loss in ``state.losses`` (a float each; this
            synchronises on the loss, which every experiment did anyway to log it).
        progress: a progress hook ``progress(iterable, desc, total)``.
        desc: the progress bar's label.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        optimizer: torch.optim.Optimizer,
        *,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        scheduler: Any = None,
        max_steps: int | None = None,
        budget_s: float | None = None,
        deadline: float | None = None,
        stop_on_nonfinite: bool = False,
        after_step: Sequence[StepCallback] = (),
        record_losses: bool = True,
        progress: Callable[..., Iterable] | None = None,
        desc: str = "train",
    ) -> None:
        if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 0):
            raise ValueError(f"expected max_steps as an int >= 0 or None, got {max_steps!r}")
        if budget_s is not None and not budget_s > 0:
            raise ValueError(f"expected budget_s > 0 or None, got {budget_s!r}")
        self.params = [p for p in params]
        self.optimizer, self.scheduler = optimizer, scheduler
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.max_steps, self.budget_s, self.deadline = max_steps, budget_s, deadline
        self.stop_on_nonfinite = stop_on_nonfinite
        self.after_step = list(after_step)
        self.record_losses = record_losses
        self.progress, self.desc = progress, desc
        self.state = LoopState()

    def _limit(self) -> str | None:
        s = self.state
        if self.max_steps is not None and s.step >= self.max_steps:
            return "max_steps"
        if self.budget_s is not None and s.seconds >= self.budget_s:
            return "budget"
        if self.deadline is not None and time.time() > self.deadline:
            return "deadline"
        return None

    def _finite(self, loss: float, norm: float | None) -> bool:
        return math.isfinite(loss) and (norm is None or math.isfinite(norm))

    def step(self, batch: Any, loss_fn: Callable[[Any], Tensor]) -> bool:
        """One step on ``batch``; False when the loop must stop (non-finite, a callback)."""
        s = self.state
        loss = loss_fn(batch)
        value = float(loss.detach()) if self.record_losses or self.stop_on_nonfinite else math.nan
        check = self.stop_on_nonfinite
        norm, updated = optimizer_step(
            self.params, self.optimizer, loss, clip_norm=self.clip_norm,
            clip_value=self.clip_value, scheduler=self.scheduler,
            before_update=(lambda n: self._finite(value, n)) if check else None,
        )  # fmt: skip
        s.last_loss, s.last_norm = value, norm
        if self.record_losses:
            s.losses.append(value)
        if norm is not None:
            s.grad_norms.append(norm)
        if not updated:
            s.stopped_by = "nonfinite"
            return False
        s.step += 1
        for callback in self.after_step:
            callback(s, batch)
        tracker = active_logger()  # seqattn run --tensorboard: every loop is tracked
        if tracker is not None:
            tracker.loop_step(self)
        if s.stop:
            s.stopped_by, s.stop = "callback", False
            return False
        return True

    def run(
        self, batches: Iterable[Any], loss_fn: Callable[[Any], Tensor], total: int | None = None
    ) -> LoopState:
        """Train on ``batches`` until they run out or a limit is reached; returns the state.

        The limits are checked before each batch is drawn, so a budget never costs a batch
        that is not trained on (and the batches' random draws stay those of the steps taken).
        """
        s = self.state
        s.stopped_by = None
        items = batches if self.progress is None else self.progress(batches, self.desc, total)
        iterator = iter(items)
        while True:
            started = time.perf_counter()
            reason = self._limit()
            if reason is not None:
                s.stopped_by = reason
                break
            try:
                batch = next(iterator)
            except StopIteration:
                break
            ok = self.step(batch, loss_fn)
            s.seconds += time.perf_counter() - started
            if not ok:
                break
        return s

"""Trainer callbacks: early stopping, and a progress bar showing loss, the last validation
metric and throughput.

The trainer never shows anything by itself; a progress bar appears only when the caller passes
one as a callback (the CLI does)::

    trainer = Trainer(..., callbacks=[ProgressBar(items_label="tok")])

Under torchrun only rank 0 draws it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["EarlyStopping", "ProgressBar"]


def _tqdm(**kwargs: Any) -> Any:
    from tqdm.auto import tqdm  # imported only when a bar is really drawn

    return tqdm(**kwargs)


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3g}"


class ProgressBar:
    """Show training progress, one tick per optimizer step, on rank 0.

    The postfix holds ``loss`` (mean since the last metric line), the last validation metric,
    ``ex/s`` (examples per second) and ``<items_label>/s`` (the ``n_items`` that ``loss_fn``
    returns: call them ``tok`` when they are tokens).

    Args:
        factory: makes the bar; called as ``factory(total=, initial=, desc=, unit=)`` and must
            return an object with ``update(n)``, ``set_postfix(dict)`` and ``close()``.
            Default: ``tqdm.auto.tqdm``, imported when training starts.
        metric: the validation metric to show; None shows the trainer's monitored metric when
            validation returns it, else the first one returned.
        items_label: the name of the loss items in the throughput (None: examples/s only).
        desc: the bar's label.
        budget_minutes: a wall-time budget the training stops at (``--max-minutes``): the bar
            then fills with the time used (its total is the budget, in seconds) and shows the
            step count, instead of a step total the budget may never reach.

    When training ends before its last step, the bar's label says why (``stopped:
    early_stopping``, ``stopped: time budget of 8 min``...: :attr:`Trainer.stop_reason`).

    Example:
        >>> bar = ProgressBar(items_label="tok", metric="val_acc")
        >>> bar.postfix({"loss": 0.25, "examples_per_s": 120.0, "items_per_s": 2400.0},
        ...             {"val_acc": 0.875})
        {'loss': '0.25', 'val_acc': '0.875', 'ex/s': '120', 'tok/s': '2400'}
    """

    def __init__(
        self,
        factory: Callable[..., Any] | None = None,
        metric: str | None = None,
        items_label: str | None = "items",
        desc: str | None = None,
        budget_minutes: float | None = None,
    ) -> None:
        if factory is not None and not callable(factory):
            raise TypeError(f"expected factory to be callable, got {type(factory).__name__}")
        if items_label is not None and not isinstance(items_label, str):
            raise TypeError(f"expected items_label to be a str or None, got {items_label!r}")
        self.factory = factory or _tqdm
        if budget_minutes is not None and not budget_minutes > 0:
            raise ValueError(f"expected budget_minutes > 0 or None, got {budget_minutes!r}")
        self.metric, self.items_label, self.desc = metric, items_label, desc
        self.budget_s = None if budget_minutes is None else 60.0 * budget_minutes
        self._start = 0.0
        self.bar: Any = None
        self._monitor: str | None = None
        self._logs: dict[str, Any] = {}

    def _metric_name(self, val: dict[str, float]) -> str | None:
        if self.metric is not None:
            return self.metric if self.metric in val else None
        if self._monitor in val:
            return self._monitor
        return next(iter(val), None)

    def postfix(self, logs: dict[str, Any], val: dict[str, float]) -> dict[str, str]:
        """The postfix for one step's ``logs`` and the last validation metrics."""
        out = {}
        if "loss" in logs:
            out["loss"] = _fmt(float(logs["loss"]))
        name = self._metric_name(val)
        if name is not None:
            out[name] = _fmt(float(val[name]))
        if "examples_per_s" in logs:
            out["ex/s"] = _fmt(float(logs["examples_per_s"]))
        if self.items_label and "items_per_s" in logs:
            out[f"{self.items_label}/s"] = _fmt(float(logs["items_per_s"]))
        return out

    def on_train_start(self, trainer: Any) -> None:
        if not trainer.is_main:
            return
        self._monitor = trainer.config.monitor
        self._start = time.perf_counter()
        if self.budget_s is None:
            self.bar = self.factory(total=trainer.total_steps(), initial=trainer.step,
                                    desc=self.desc, unit="step")  # fmt: skip
        else:
            self.bar = self.factory(total=round(self.budget_s), initial=0, desc=self.desc,
                                    unit="s")  # fmt: skip
        self._logs = {}

    def on_step_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        if self.bar is None:
            return
        self._logs = logs
        postfix = self.postfix(logs, trainer.last_val)
        if self.budget_s is None:
            self.bar.update(1)
        else:
            used = min(round(time.perf_counter() - self._start), round(self.budget_s))
            self.bar.update(used - self.bar.n)
            postfix = {"step": f"{trainer.step}/{trainer.total_steps()}", **postfix}
        self.bar.set_postfix(postfix)

    def on_epoch_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        if self.bar is not None:  # show the fresh validation metric before the next step
            self.bar.set_postfix(self.postfix(self._logs, trainer.last_val))

    def on_train_end(self, trainer: Any) -> None:
        if self.bar is not None:
            reason = getattr(trainer, "stop_reason", None)
            if trainer.should_stop:
                label = f"stopped: {reason or 'by a callback'}"
                self.bar.set_description(f"{self.desc} ({label})" if self.desc else label)
            self.bar.close()
            self.bar = None


class EarlyStopping:
    """Stop when the monitored metric has not improved for ``patience`` evaluations."""

    def __init__(self, monitor: str, mode: str = "min", patience: int = 3) -> None:
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best: float | None = None
        self.bad = 0

    def update(self, metrics: dict[str, float]) -> tuple[bool, bool]:
        """Return (improved, stop)."""
        if self.monitor not in metrics:
            raise KeyError(
                f"early stopping monitors {self.monitor!r}, but validation returned "
                f"{sorted(metrics)}"
            )
        value = float(metrics[self.monitor])
        better = self.best is None or (
            value < self.best if self.mode == "min" else value > self.best
        )
        if better:
            self.best, self.bad = value, 0
        else:
            self.bad += 1
        return better, self.bad >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad = state["best"], state["bad"]

"""What experiments share besides the training loop: repeats over seeds, mean ± std, a worker
map that leaves torch's thread count as it found it, and attention views.

An experiment is a declaration (a config dataclass, model and data builders, metrics, tables
and figures); the machinery lives here, in :mod:`seqattn.training.loop` (the one optimisation
loop), :mod:`seqattn.viz.table` (the one table object) and :mod:`seqattn.experiments.runner`
(the run lifecycle: config, results.json, metrics.jsonl, figures, report.html).
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import torch

from seqattn.experiments.base import Progress, no_progress

__all__ = [
    "HookProgress",
    "attention_view",
    "mean_std",
    "phase",
    "seeds",
    "torch_threads",
    "worker_map",
]

T = TypeVar("T")
R = TypeVar("R")


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0.0 for a single value), in float64.

    Non-finite values are kept (a diverged run shows as NaN rather than vanishing).

    >>> mean_std([1.0, 2.0, 3.0])
    (2.0, 1.0)
    >>> mean_std([5.0])
    (5.0, 0.0)
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("expected at least one value for mean_std, got none")
    if not all(math.isfinite(v) for v in vals):
        return math.nan, math.nan
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def seeds(first: int, count: int) -> list[int]:
    """The seeds of ``count`` repeats starting at ``first`` (the convention of every experiment).

    >>> seeds(3, 2)
    [3, 4]
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"expected a repeat count >= 1, got {count!r}")
    return [first + i for i in range(count)]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the caller's count.

    Experiments on tiny tensors use one thread (the others only spin-wait); the caller, a test
    suite or a notebook, gets its own setting back. ``None`` leaves the count alone.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _call_with_threads(fn: Callable[..., R], threads: int | None, args: tuple) -> R:
    with torch_threads(threads):
        return fn(*args)


def worker_map(
    fn: Callable[..., R],
    jobs: Sequence[tuple],
    *,
    workers: int = 1,
    threads: int | None = 1,
    progress: Progress = no_progress,
    desc: str = "",
) -> list[R]:
    """``[fn(*job) for job in jobs]``, in ``workers`` spawned processes when workers > 1.

    Results come back in job order. Each call runs with ``threads`` torch threads (None: as
    they are) and the count is restored afterwards, in this process too. Workers are spawned
    (fresh interpreters: a forked child would inherit this process's thread pool), so ``fn``
    and the jobs must be picklable: a module-level function and plain data or tensors.

    Args:
        fn: the work, a module-level function.
        jobs: the argument tuples.
        workers: processes; 1 runs in this process, in order.
        threads: torch threads per call.
        progress: a progress hook, advanced as jobs finish in order.
        desc: the progress label.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"expected workers as an int >= 1, got {workers!r}")
    jobs = list(jobs)
    if workers == 1 or len(jobs) <= 1:
        return [_call_with_threads(fn, threads, tuple(job))
                for job in progress(jobs, desc, len(jobs))]  # fmt: skip
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = [pool.submit(_call_with_threads, fn, threads, tuple(job)) for job in jobs]
        return [f.result() for f in progress(futures, desc, len(futures))]


@contextlib.contextmanager
def phase(progress: Progress, desc: str) -> Iterator[None]:
    """Announce a one-shot phase (an evaluation, a search over the test set) through the
    progress hook: one step that starts when the block does and ends with it, so a run never
    works silently for long (the CLI prints ``desc: started``, then ``desc: done ... in N s``).

    >>> with phase(no_progress, "beam search"):
    ...     pass
    """
    steps = iter(progress([None], desc, 1))
    next(steps, None)
    try:
        yield
    except BaseException:
        close = getattr(steps, "close", None)
        if close is not None:
            close()  # the hook says the phase stopped
        raise
    for _ in steps:  # the hook's end: ``done``
        pass


class HookProgress:
    """A trainer callback that advances a progress hook one step per optimizer step, for
    pipelines that train through :class:`~seqattn.training.Trainer` callbacks (the hook is
    the ``progress(iterable, desc, total)`` that :func:`run_experiment` passes).

    Args:
        progress: the hook.
        desc: its label.
    """

    def __init__(self, progress: Progress, desc: str) -> None:
        self.progress, self.desc = progress, desc
        self._steps: Iterator[Any] | None = None
        self._running = self._first = False

    def _ticks(self) -> Iterator[None]:
        while self._running:
            yield None

    def start(self, total: int | None = None) -> None:
        """Announce the start now (before the trainer's setup: data, vocabularies); the
        trainer's start then does not start it again."""
        if self._steps is None:
            self._running, self._first = True, True
            self._steps = iter(self.progress(self._ticks(), self.desc, total))
            next(self._steps, None)  # the hook's start line, not after the first step

    def on_train_start(self, trainer: Any) -> None:
        if getattr(trainer, "is_main", True):
            self.start(trainer.total_steps() if hasattr(trainer, "total_steps") else None)

    def on_step_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        # the hook counts an item when the next one is asked for: one step behind, so that
        # the end (on_train_end) completes the last step and the count equals the steps run
        if self._steps is not None and not self._first:
            next(self._steps, None)
        self._first = False

    def on_train_end(self, trainer: Any) -> None:
        if self._steps is not None:
            self._running = False
            for _ in self._steps:  # the ticks end: the hook says ``done``
                pass
            self._steps = None


def attention_view(
    weights: Any,
    *,
    keys: Sequence[Any] | None = None,
    queries: Sequence[Any] | None = None,
    title: str | None = None,
    head_names: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """An attention view for results.json and the report, checked by ``viz.AttentionView``.

    Shapes and labels are validated (weights (S,), (T, S) or (H, T, S), finite; one label per
    key, query and head) and the view comes back as the JSON-ready dict that the report reads,
    with the labels that were given (the report fills in default labels for the others).

    >>> attention_view([[0.25, 0.75]], keys=["a", "b"], queries=["q"], title="t")["weights"]
    [[0.25, 0.75]]
    """
    from seqattn.viz import AttentionView

    view = AttentionView(weights, keys=keys, queries=queries, title=title or "",
                         head_names=head_names)  # fmt: skip
    # the labels the caller gave, checked; defaults are left to the reader (as AttentionView)
    out: dict[str, Any] = {"weights": view.weights.tolist()}
    given = {"keys": keys, "queries": queries, "head_names": head_names}
    out.update({k: getattr(view, k) for k, v in given.items() if v is not None})
    if title is not None:
        out["title"] = view.title
    return out

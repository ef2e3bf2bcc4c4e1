"""Progress on the command line: a tqdm bar on a terminal; elsewhere (a log file, a pipe, CI)
plain lines, at most one every 30 seconds, so a long phase is never silent and a log is not
flooded with carriage-return redraws."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, TypeVar

__all__ = ["LineBar", "bar_factory", "progress", "progress_lines"]

T = TypeVar("T")
EVERY_S = 30.0


def progress(items: Iterable[T], desc: str = "", total: int | None = None) -> Iterable[T]:
    """The CLI's progress hook ``progress(iterable, desc, total)``: a tqdm bar on a terminal,
    :func:`progress_lines` elsewhere."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc, total=total, dynamic_ncols=True)
    return progress_lines(items, desc, total)


def progress_lines(
    items: Iterable[T],
    desc: str = "",
    total: int | None = None,
    every_s: float = EVERY_S,
    stream: TextIO | None = None,
) -> Iterator[T]:
    """Yield ``items``, writing ``desc: started``, then ``desc: i/total (s)`` at most every
    ``every_s`` seconds, then ``desc: done`` (or ``stopped``) lines to ``stream`` (stderr)."""
    stream = stream or sys.stderr
    start = last = time.monotonic()
    count, finished = 0, False
    of = f"/{total}" if total is not None else ""
    print(f"{desc}: started" + (f" ({total} steps)" if total is not None else ""),
          file=stream, flush=True)  # fmt: skip
    try:
        for count, item in enumerate(items, 1):  # noqa: B007 (count is read after the loop)
            yield item
            now = time.monotonic()
            if now - last >= every_s:
                print(f"{desc}: {count}{of} ({now - start:.0f} s)", file=stream, flush=True)
                last = now
        finished = True
    finally:
        word = "done" if finished else "stopped"
        print(f"{desc}: {word} after {count}{of} in {time.monotonic() - start:.0f} s",
              file=stream, flush=True)  # fmt: skip


class LineBar:
    """The tqdm surface the trainer's :class:`~seqattn.training.ProgressBar` uses (``n``,
    ``update``, ``set_postfix``, ``set_description``, ``close``), written as plain lines:
    ``desc: started (N step)``, ``desc: i/N step, loss=... (s)`` at most every ``every_s``
    seconds, and ``desc: done after i/N step in s`` (the description then says why it stopped
    early, as the bar's does).
    """

    def __init__(
        self,
        total: int | None = None,
        initial: int = 0,
        desc: str | None = None,
        unit: str = "it",
        every_s: float = EVERY_S,
        stream: TextIO | None = None,
    ) -> None:
        self.total, self.n, self.desc, self.unit = total, initial, desc or "progress", unit
        self.every_s, self.stream = every_s, stream or sys.stderr
        self._postfix: dict[str, Any] = {}
        self._start = self._last = time.monotonic()
        of = f" ({total} {unit})" if total is not None else ""
        at = f", from {initial}" if initial else ""
        self._print(f"{self.desc}: started{of}{at}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _state(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        post = "".join(f", {k}={v}" for k, v in self._postfix.items())
        return f"{self.n}{of} {self.unit}{post} ({time.monotonic() - self._start:.0f} s)"

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._print(f"{self.desc}: {self._state()}")
            self._last = now

    def set_postfix(self, postfix: dict[str, Any]) -> None:
        self._postfix = dict(postfix)

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        self._print(f"{self.desc}: done, {self._state()}")


def bar_factory() -> Callable[..., Any] | None:
    """The factory for :class:`~seqattn.training.ProgressBar`: None (its tqdm bar) on a
    terminal, :class:`LineBar` elsewhere."""
    return None if sys.stderr.isatty() else LineBar

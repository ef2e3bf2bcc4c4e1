"""What every experiment shares: the registry entry, results files, versions, progress hook."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import torch

from seqattn.io import atomic_write_json, atomic_write_text

T = TypeVar("T")
Progress = Callable[[Iterable[T], str, int], Iterable[T]]


def no_progress(items: Iterable[T], desc: str = "", total: int | None = None) -> Iterable[T]:
    """The library's default progress hook: none (the CLI passes a progress bar)."""
    return items


@dataclass(frozen=True)
class Experiment:
    """A runnable experiment, declared: its config, how to run it, its quick scale, its tables.

    Attributes:
        name: the registry name (``seqattn run NAME``).
        summary: one line for ``seqattn run --list``.
        config_cls: the frozen config dataclass (YAML and ``--set`` overrides load into it).
        run: ``run(cfg, out_dir, progress) -> results`` (a JSON-ready dict; ``figures`` and
            ``attention`` entries are embedded in the report).
        quick: full config -> quick (demo) config.
        tables: results -> the result tables (:class:`seqattn.viz.table.Table`, or free text
            blocks), rendered to Markdown for the terminal and to HTML for the report.
        table: results -> Markdown, for experiments that do not declare ``tables`` (default:
            the tables rendered to Markdown).
    """

    name: str
    summary: str
    config_cls: type
    run: Callable[..., dict[str, Any]]
    quick: Callable[[Any], Any]  # full config -> quick config
    table: Callable[[dict[str, Any]], str] | None = None  # results -> Markdown
    tables: Callable[[dict[str, Any]], list[Any]] | None = None  # results -> [Table | str]

    def __post_init__(self) -> None:
        if self.table is None and self.tables is None:
            raise TypeError(f"experiment {self.name!r}: expected `tables` or `table`, got neither")
        if self.table is None:
            from seqattn.viz.table import render_markdown

            tables = self.tables
            object.__setattr__(self, "table", lambda results: render_markdown(tables(results)))

    def result_tables(self, results: dict[str, Any]) -> list[Any]:
        """The tables for the report: declared ones, else the Markdown table as text."""
        return list(self.tables(results)) if self.tables is not None else []


def versions() -> dict[str, str]:
    """Versions and machine facts recorded with every result."""
    import numpy

    import seqattn

    return {
        "seqattn": seqattn.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "cuda": torch.version.cuda or "none",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON to ``path`` atomically (see :mod:`seqattn.io`)."""
    return atomic_write_json(path, payload)


_NOT_TABLES = ("metrics", "attention")  # lists of dicts that are not tables of results


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def _clean(value: Any) -> Any:
    # NaN/Inf are not JSON; a strict reader of metrics.jsonl would reject the whole line.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def metric_records(results: dict[str, Any], *, time: str | None = None) -> list[dict[str, Any]]:
    """Metric records for ``metrics.jsonl`` from an experiment's results dict.

    In order: the experiment's own ``results["metrics"]`` records (a list of dicts; put a
    numeric ``step`` in them to get a plot in the report), then one ``kind="row"`` record per
    row of every table (a top-level list of dicts, e.g. ``"table"`` or ``"rows"``, other than
    ``"attention"``; only scalar fields), then one ``kind="summary"`` record with the
    top-level scalars.

    Args:
        results: what ``Experiment.run`` returned.
        time: the timestamp stamped on records without one (default: now, UTC, ISO 8601).

    Returns:
        The records.

    >>> recs = metric_records({"experiment": "x", "seconds": 2.0,
    ...                        "table": [{"n": 1, "ms": 0.5, "curve": [1, 2]}]}, time="T")
    >>> recs[0]
    {'kind': 'row', 'table': 'table', 'index': 0, 'n': 1, 'ms': 0.5, 'time': 'T'}
    >>> recs[-1]
    {'kind': 'summary', 'experiment': 'x', 'seconds': 2.0, 'time': 'T'}
    """
    if not isinstance(results, dict):
        raise TypeError(f"expected results as a dict, got {type(results).__name__}")
    time = time or datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    own = results.get("metrics", [])
    if not isinstance(own, list) or not all(isinstance(r, dict) for r in own):
        raise TypeError(f'expected results["metrics"] as a list of dicts, got {own!r:.80}')
    for rec in own:
        records.append({**{k: _clean(v) for k, v in rec.items()}, "time": rec.get("time", time)})
    for key, rows in results.items():
        if key in _NOT_TABLES or not isinstance(rows, list) or not rows:
            continue
        if not all(isinstance(r, dict) for r in rows):
            continue
        for i, row in enumerate(rows):
            fields = {k: _clean(v) for k, v in row.items() if _scalar(v)}
            records.append({"kind": "row", "table": key, "index": i, **fields, "time": time})
    summary = {k: _clean(v) for k, v in results.items() if _scalar(v)}
    records.append({"kind": "summary", **summary, "time": time})
    return records


def write_metrics(
    out_dir: str | Path, results: dict[str, Any], *, since: float | None = None
) -> Path:
    """Write ``out_dir/metrics.jsonl`` from ``results`` unless the run already wrote one.

    A run that logs as it goes (the trainer appends to ``metrics.jsonl``) keeps its own file;
    every other run gets the records of :func:`metric_records`, written atomically.

    Args:
        out_dir: the run folder.
        results: what ``Experiment.run`` returned.
        since: when the run started (``time.time()``); an existing file last written before
            then is left over from an earlier run in the same folder and is replaced. None
            keeps any existing file.

    Returns:
        The path of ``metrics.jsonl``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_metrics(d, {"experiment": "x", "rows": [{"n": 1}, {"n": 2}]})
    ...     len(p.read_text().splitlines())
    3
    """
    path = Path(out_dir) / "metrics.jsonl"
    if path.exists() and (since is None or path.stat().st_mtime >= since):
        return path
    lines = [json.dumps(r, default=str) + "\n" for r in metric_records(results)]
    return atomic_write_text(path, "".join(lines))

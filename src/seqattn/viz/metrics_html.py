"""The run report's metrics section: the last records of ``metrics.jsonl`` as a table and a
plot of its series over ``step``."""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from seqattn.viz._html import _data_uri, _e, _fmt, _is_num, _missing  # noqa: E402

__all__ = ["read_metrics"]

log = logging.getLogger("seqattn.viz")

_METRIC_ROWS = 12  # the last records shown in the metrics table
_METRIC_SERIES = 8  # at most this many panels in the metrics plot
_CELL_CHARS = 40  # longer strings in the metrics table are cut (full text on hover)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Read a ``metrics.jsonl`` file: one JSON object per line; bad lines are logged and skipped.

    Args:
        path: the file.

    Returns:
        The records, in file order.
    """
    records, bad = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(rec, dict):
                records.append(rec)
            else:
                bad += 1
    if bad:
        log.warning("report: skipped %d malformed line(s) in %s", bad, path)
    return records


def _metric_series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list, list]]:
    """``{name: (steps, values)}`` for every numeric field logged at two or more steps."""
    series: dict[str, tuple[list, list]] = {}
    for rec in records:
        step = rec.get("step")
        if not _is_num(step):
            continue
        for key, value in rec.items():
            if key in ("step", "epoch") or not _is_num(value) or not math.isfinite(value):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(step)
            ys.append(value)
    return {k: v for k, v in series.items() if len(v[0]) >= 2}


def _metrics_plot(series: Mapping[str, tuple[list, list]]) -> str:
    names = list(series)[:_METRIC_SERIES]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    # Figure, not pyplot: no global figure state, nothing left open after an error.
    fig = Figure(figsize=(4.2 * cols, 2.9 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        xs, ys = series[name]
        ax.plot(xs, ys, linewidth=1.4, marker="." if len(xs) < 40 else None)
        positive = all(y > 0 for y in ys)
        if positive and max(ys) / min(ys) > 100:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    alt = "metrics over step: " + ", ".join(names)
    return (
        f'<figure><img src="{_data_uri(buf.getvalue(), "image/png")}" alt="{_e(alt)}"/>'
        f"<figcaption>{_e(alt)}</figcaption></figure>"
    )


def _metrics_html(path: str | Path | None) -> str:
    if path is None:
        return '<p class="note">This run logged no metrics.</p>'
    p = Path(path)
    try:
        records = read_metrics(p)
    except OSError as err:
        log.warning("report: metrics file %s is missing: %s", p, err)
        return _missing(f"metrics file not found: {p}")
    if not records:
        return f'<p class="note">{_e(p.name)} is empty.</p>'
    parts = [f'<p class="note">{len(records)} record(s) in {_e(p.name)}.</p>']
    series = _metric_series(records)
    if series:
        parts.append(_metrics_plot(series))
    last = records[-_METRIC_ROWS:]
    keys = list(dict.fromkeys(k for rec in last for k in rec))
    # A field equal in every shown record (a run's single timestamp) is said once, above.
    same = [k for k in keys if len(last) > 1 and all(k in r and r[k] == last[0][k] for r in last)]
    title = f"last {len(last)} record(s)" if len(records) > len(last) else "all records"
    parts.append(f"<h3>{_e(title)}</h3>")
    if same:
        parts.append(
            '<p class="note">In every record shown: '
            + ", ".join(f"{_e(k)} = {_e(_fmt(last[0][k]))}" for k in same)
            + "</p>"
        )
    # Records of different kinds (rows of two tables, a summary) get a table each, so no
    # table is mostly empty cells.
    groups: list[list[dict[str, Any]]] = []
    for rec in last:
        if groups and (rec.get("kind"), rec.get("table")) == (
            groups[-1][0].get("kind"),
            groups[-1][0].get("table"),
        ):
            groups[-1].append(rec)
        else:
            groups.append([rec])
    for group in groups:
        columns = [k for k in dict.fromkeys(k for r in group for k in r) if k not in same]
        head = "".join(f"<th>{_e(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(_metric_cell(r.get(c), c in r) for c in columns) + "</tr>"
            for r in group
        )
        parts.append(
            f'<div class="scroll"><table class="md metrics"><thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table></div>"
        )
    return "".join(parts)


def _metric_cell(value: Any, present: bool) -> str:
    if not present:
        return "<td></td>"
    if _is_num(value):
        return f'<td class="num">{_e(_fmt(value))}</td>'
    text = _fmt(value)
    if len(text) > _CELL_CHARS:  # long strings (a task description) would stretch the row
        return f'<td title="{_e(text)}">{_e(text[: _CELL_CHARS - 1])}…</td>'
    return f"<td>{_e(text)}</td>"

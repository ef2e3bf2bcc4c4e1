"""One table of results, rendered to Markdown (the terminal, docs), HTML (the run report) and
JSON (results.json, metrics): built once from rows, never parsed back from text.

>>> t = Table([Column("model"), Column("acc", "accuracy", ".1%")],
...           [{"model": "lstm", "acc": 0.912}, {"model": "gru", "acc": 0.9}],
...           title="Probe", notes=["3 seeds"])
>>> print(t.to_markdown())
Probe
<BLANKLINE>
| model | accuracy |
|---|---:|
| lstm | 91.2% |
| gru | 90.0% |
<BLANKLINE>
3 seeds
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Column", "Table", "render_markdown", "render_html"]

Formatter = str | Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Column:
    """One column: the row key it shows, its header and how a value is written.

    Args:
        key: the row field shown (a missing field shows as an empty cell).
        title: the header (default: the key).
        fmt: a format spec for the value (``".3f"``, or ``"{:.1f} ms"`` with braces), or a
            callable ``fmt(row)`` giving the cell (for cells built from several fields).
        align: "left" or "right"; default right for numbers, left otherwise (decided by the
            first non-empty value).
    """

    key: str
    title: str | None = None
    fmt: Formatter | None = None
    align: str | None = None

    def __post_init__(self) -> None:
        if self.align not in (None, "left", "right"):
            raise ValueError(f"expected align 'left', 'right' or None, got {self.align!r}")

    @property
    def header(self) -> str:
        return self.key if self.title is None else self.title

    def cell(self, row: Mapping[str, Any]) -> str:
        fmt = self.fmt
        if callable(fmt):
            return str(fmt(row))
        value = row.get(self.key)
        if value is None:
            return ""
        if isinstance(value, float) and math.isnan(value):
            return "n/a"
        if fmt is None:
            return f"{value:.4g}" if isinstance(value, float) else str(value)
        return fmt.format(value) if "{" in fmt else format(value, fmt)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class Table:
    """Rows of results with their columns, a title above and notes below.

    Args:
        columns: the columns, in order (a plain string is ``Column(key)``).
        rows: the rows, mappings from keys to values (extra fields are kept for JSON).
        title: a line above the table (Markdown) / a caption (HTML).
        notes: lines below it.
        name: the table's key in results (default: derived from the title).
    """

    columns: Sequence[Column | str]
    rows: Sequence[Mapping[str, Any]]
    title: str = ""
    notes: Sequence[str] = field(default_factory=tuple)
    name: str = ""

    def __post_init__(self) -> None:
        self.columns = [c if isinstance(c, Column) else Column(str(c)) for c in self.columns]
        if not self.columns:
            raise ValueError("expected at least one column, got none")
        bad = [type(r).__name__ for r in self.rows if not isinstance(r, Mapping)]
        if bad:
            raise TypeError(f"expected every row as a mapping, got {bad[0]}")
        self.rows = list(self.rows)
        self.notes = [str(n) for n in self.notes]

    def _align(self, col: Column) -> str:
        if col.align:
            return col.align
        first = next((r.get(col.key) for r in self.rows if r.get(col.key) is not None), None)
        return "right" if _numeric(first) else "left"

    def cells(self) -> list[list[str]]:
        """The body as text, one list of cells per row."""
        return [[c.cell(r) for c in self.columns] for r in self.rows]

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown: title, blank line, table, blank line, notes."""
        esc = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
        head = "| " + " | ".join(esc(c.header) for c in self.columns) + " |"
        rule = "|" + "|".join("---:" if self._align(c) == "right" else "---"
                              for c in self.columns) + "|"  # fmt: skip
        body = ["| " + " | ".join(esc(x) for x in row) + " |" for row in self.cells()]
        parts = ([self.title, ""] if self.title else []) + [head, rule, *body]
        if self.notes:
            parts += ["", *self.notes]
        return "\n".join(parts)

    def to_html(self) -> str:
        """The title and notes as paragraphs around an HTML table (the report's style), all
        text escaped; right-aligned (numeric) cells get ``class="num"``."""
        e = html.escape
        cls = ["" if self._align(c) == "left" else ' class="num"' for c in self.columns]

        def tr(tag: str, cells: Iterable[str]) -> str:
            inner = "".join(f"<{tag}{k}>{e(x)}</{tag}>" for x, k in zip(cells, cls, strict=True))
            return f"<tr>{inner}</tr>"

        head = tr("th", [c.header for c in self.columns])
        rows = "".join(tr("td", r) for r in self.cells())
        table = (f'<div class="scroll"><table class="md"><thead>{head}</thead>'
                 f"<tbody>{rows}</tbody></table></div>")  # fmt: skip
        title = f"<p>{e(self.title)}</p>" if self.title else ""
        return title + table + "".join(f"<p>{e(n)}</p>" for n in self.notes)

    def to_json(self) -> dict[str, Any]:
        """The table as data: title, columns (key and header), rows (as given), notes."""
        return {
            "name": self.name,
            "title": self.title,
            "columns": [{"key": c.key, "title": c.header} for c in self.columns],
            "rows": [dict(r) for r in self.rows],
            "notes": list(self.notes),
        }


def render_markdown(tables: Sequence[Table | str]) -> str:
    """Several tables (or free text blocks) as one Markdown text, blank lines between."""
    return "\n\n".join(t if isinstance(t, str) else t.to_markdown() for t in tables)


def render_html(tables: Sequence[Table | str]) -> str:
    """Several tables as HTML; free text blocks become escaped paragraphs."""
    return "".join(
        "".join(f"<p>{html.escape(line)}</p>" for line in t.splitlines() if line.strip())
        if isinstance(t, str)
        else t.to_html()
        for t in tables
    )

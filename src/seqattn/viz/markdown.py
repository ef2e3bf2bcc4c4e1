"""Markdown pipe tables as HTML, for text that arrives as Markdown (a saved table, an old
experiment's ``table`` function). Experiments build :class:`seqattn.viz.table.Table` objects,
which render to HTML directly; nothing of ours is parsed back from Markdown.
"""

from __future__ import annotations

import re

from seqattn.viz._html import _e

__all__ = ["markdown_tables_html"]


_SEP_CELL = re.compile(r"^\s*(:?)-+(:?)\s*$")


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells = re.split(r"(?<!\\)\|", line)
    return [c.strip().replace("\\|", "|") for c in cells]


def _alignments(line: str) -> list[str] | None:
    cells = _split_row(line)
    found = []
    for cell in cells:
        m = _SEP_CELL.match(cell)
        if not m:
            return None
        left, right = m.groups()
        found.append("center" if left and right else "num" if right else "")
    return found


def _table_html(header: list[str], align: list[str], body: list[list[str]]) -> str:
    def cell(tag: str, text: str, i: int) -> str:
        cls = align[i] if i < len(align) else ""
        attr = f' class="{cls}"' if cls else ""
        return f"<{tag}{attr}>{_e(text)}</{tag}>"

    head = "".join(cell("th", h, i) for i, h in enumerate(header))
    rows = []
    for r in body:
        r = (r + [""] * len(header))[: len(header)]  # ragged rows: pad or cut to the header
        rows.append("<tr>" + "".join(cell("td", c, i) for i, c in enumerate(r)) + "</tr>")
    return (
        f'<div class="scroll"><table class="md"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def markdown_tables_html(text: str) -> str:
    r"""Render Markdown pipe tables (and the plain lines between them) as escaped HTML.

    Only what experiment tables use: pipe tables with an alignment row (``---``, ``---:``,
    ``:---:``), ``#`` headings and plain paragraphs. Every piece of text is HTML-escaped.

    Args:
        text: Markdown, e.g. the output of an experiment's ``table`` function.

    Returns:
        An HTML fragment.

    >>> markdown_tables_html("| x | y |\n|---|---:|\n| <b> | 1.5 |")  # doctest: +ELLIPSIS
    '...<th>x</th><th class="num">y</th>...<td>&lt;b&gt;</td><td class="num">1.5</td>...'
    """
    if not isinstance(text, str):
        raise TypeError(f"expected Markdown text as str, got {type(text).__name__}")
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if "|" in line and "|" in nxt and _alignments(nxt) is not None:
            header, align = _split_row(line), _alignments(nxt)
            body, i = [], i + 2
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                body.append(_split_row(lines[i]))
                i += 1
            out.append(_table_html(header, align, body))
            continue
        stripped = line.strip()
        if stripped.startswith("#"):
            out.append(f"<h3>{_e(stripped.lstrip('#').strip())}</h3>")
        elif stripped:
            out.append(f"<p>{_e(stripped)}</p>")
        i += 1
    return "".join(out)

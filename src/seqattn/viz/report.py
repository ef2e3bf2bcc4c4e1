r"""A run report: one self-contained ``report.html`` with tables, plots, attention and provenance.

Everything the page shows is inside the file: images are base64 ``data:`` URIs, CSS is inline
and the only script is the tab switcher of multi-head attention views. The page can be mailed,
archived or opened from any folder and still shows every figure.

Sections: summary, results tables (the experiment's Markdown table), figures, attention views,
metrics (the last records of ``metrics.jsonl`` and a plot of its series over ``step``), the
exact command, the resolved config as YAML, versions and machine, and the raw results.

>>> page = render_report(title="demo", command="seqattn run demo --quick",
...                      config={"lr": 0.1}, results={"seconds": 1.5}, versions={"torch": "2"},
...                      table_markdown="| a | b |\n|---|---:|\n| 1 | 2 |")
>>> page.startswith("<!DOCTYPE html>") and '<td class="num">2</td>' in page
True
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import yaml  # noqa: E402

from seqattn.io import atomic_write_text, jsonable  # noqa: E402
from seqattn.viz._html import _data_uri, _e, _is_num, _kv_table, _missing, _section  # noqa: E402
from seqattn.viz.attention import _CSS as _ATTENTION_CSS  # noqa: E402
from seqattn.viz.attention import _JS as _ATTENTION_JS  # noqa: E402
from seqattn.viz.attention import AttentionView, _view_html  # noqa: E402
from seqattn.viz.markdown import markdown_tables_html  # noqa: E402
from seqattn.viz.metrics_html import _metrics_html, read_metrics  # noqa: E402
from seqattn.viz.table import render_html  # noqa: E402

__all__ = ["markdown_tables_html", "read_metrics", "render_report", "write_report"]

log = logging.getLogger("seqattn.viz")

_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
_RAW_LIMIT = 300_000  # characters of results.json shown in full; larger ones are cut

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;
  background:#fafafa;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:1.2em 1.6em 3em}
header{background:#24292f;color:#fff;padding:1.1em 1.6em}
header h1{margin:0;font-size:1.5em;font-weight:600}
header p{margin:.3em 0 0;color:#c9d1d9;font-size:.92em}
nav{background:#eef1f4;padding:.45em 1.6em;font-size:.92em;border-bottom:1px solid #d8dee4}
nav a{margin-right:1.1em;color:#0b5cad;text-decoration:none}
section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:.4em 1.2em 1em;
  margin:1.2em 0}
h2{font-size:1.2em;border-bottom:1px solid #eaecef;padding-bottom:.3em}
h3{font-size:1em}
table.md,table.kv{border-collapse:collapse;margin:.6em 0 1em;font-size:.9em}
table.md th,table.md td,table.kv th,table.kv td{border:1px solid #d0d7de;padding:.3em .65em}
table.md th{background:#f3f5f7}
table.md tr:nth-child(even) td{background:#fafbfc}
table.metrics td{white-space:nowrap}
table.kv th{text-align:left;background:#f3f5f7;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.center,th.center{text-align:center}
.scroll{overflow-x:auto}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:4px;padding:.7em .9em;
  overflow-x:auto;font-size:.86em;white-space:pre-wrap;word-break:break-word}
figure{margin:1em 0 1.6em}
figure img{max-width:100%;height:auto;border:1px solid #eee;background:#fff}
figcaption{font-size:.85em;color:#57606a;margin-top:.3em}
.missing{color:#9a3412;background:#fff7ed;border:1px solid #fdba74;border-radius:4px;
  padding:.45em .8em}
.note{color:#57606a;font-size:.9em}
iframe.view{width:100%;height:360px;border:1px solid #e1e4e8;border-radius:4px;
  margin-top:.8em}
details summary{cursor:pointer;color:#0b5cad}
"""


# -- images ---------------------------------------------------------------------------------------


def _resolve(path: str | Path, base_dir: Path | None) -> Path:
    """``path`` as given, else beside the report: a moved run folder keeps its figures."""
    p = Path(path)
    if p.exists() or base_dir is None:
        return p
    for candidate in (base_dir / p, base_dir / p.name):
        if candidate.exists():
            return candidate
    return p


def _image_html(path: str | Path, base_dir: Path | None, caption: str | None = None) -> str:
    p = _resolve(path, base_dir)
    mime = _MIME.get(p.suffix.lower())
    if mime is None:
        log.warning("report: %s is not an image the report can embed", path)
        return _missing(f"not an embeddable image (expected {', '.join(_MIME)}): {path}")
    try:
        data = p.read_bytes()
    except OSError as err:
        log.warning("report: figure %s is missing: %s", path, err)
        return _missing(f"figure not found: {path}")
    cap = _e(caption if caption is not None else p.name)
    return (
        f'<figure><img src="{_data_uri(data, mime)}" alt="{cap}"/>'
        f"<figcaption>{cap}</figcaption></figure>"
    )


# -- attention views ------------------------------------------------------------------------------

_VIEW_FIELDS = ("weights", "keys", "queries", "title", "head_names")
_FIT_FRAME = "try{this.style.height=(this.contentDocument.body.scrollHeight+48)+'px'}catch(e){}"


def _attention_html(views: Sequence[Any], base_dir: Path | None) -> str:
    parts = []
    for i, entry in enumerate(views):
        try:
            if isinstance(entry, AttentionView):
                parts.append(_view_html(entry, i))
            elif isinstance(entry, Mapping):
                unknown = set(entry) - set(_VIEW_FIELDS)
                if unknown:
                    raise ValueError(
                        f"expected keys from {list(_VIEW_FIELDS)}, got {sorted(unknown)}"
                    )
                parts.append(_view_html(AttentionView(**entry), i))
            elif isinstance(entry, str | Path):
                p = _resolve(entry, base_dir)
                if p.suffix.lower() in (".html", ".htm"):
                    try:
                        page = p.read_text(encoding="utf-8")
                    except OSError:
                        log.warning("report: attention view %s is missing", entry)
                        parts.append(_missing(f"attention view not found: {entry}"))
                        continue
                    # srcdoc keeps the saved page (its own CSS, script and ids) whole and
                    # isolated; onload fits the frame to the page, else it stays 360 px tall.
                    parts.append(
                        f'<iframe class="view" title="{_e(p.name)}" srcdoc="{_e(page)}" '
                        f'onload="{_FIT_FRAME}"></iframe><p class="note">{_e(p.name)}</p>'
                    )
                else:
                    parts.append(_image_html(entry, base_dir))
            else:
                raise TypeError(
                    "expected an AttentionView, a dict of its fields or a file path, "
                    f"got {type(entry).__name__}"
                )
        except (TypeError, ValueError) as err:
            log.warning("report: attention view %d cannot be shown: %s", i, err)
            parts.append(_missing(f"attention view {i} cannot be shown: {err}"))
    return "".join(parts)


# -- the page -------------------------------------------------------------------------------------


def _jsonable_or_text(obj: Any) -> Any:
    try:
        return jsonable(obj)
    except TypeError:
        # numpy arrays and scalars (an AttentionView's weights); anything else is shown as text
        return obj.tolist() if hasattr(obj, "tolist") else repr(obj)


def _plain(obj: Any) -> Any:
    """JSON-ready copy (tuples -> lists, tensors -> lists, paths -> str) for YAML and JSON."""
    return json.loads(json.dumps(obj, default=_jsonable_or_text))


def _sections(
    command: str,
    config: Mapping[str, Any],
    results: Mapping[str, Any],
    versions: Mapping[str, Any],
    results_html: str,
    figures: Sequence[str | Path],
    metrics_path: str | Path | None,
    attention: Sequence[Any],
    base: Path | None,
) -> list[tuple[str, str, str]]:
    """The report's sections as (id, title, HTML body), in page order."""
    sections = []
    summary = [(k, v) for k, v in results.items() if _is_num(v) or isinstance(v, str | bool)]
    sections.append(("summary", "Summary", _kv_table(summary) or '<p class="note">-</p>'))
    if results_html:
        sections.append(("results", "Results", results_html))
    figs = "".join(_image_html(f, base) for f in figures)
    sections.append(("figures", "Figures", figs or '<p class="note">No figures.</p>'))
    if attention:
        sections.append(("attention", "Attention", _attention_html(attention, base)))
    sections.append(("metrics", "Metrics", _metrics_html(metrics_path)))
    sections.append(("command", "Command", f"<pre>{_e(command)}</pre>"))
    config_yaml = yaml.safe_dump(_plain(dict(config)), sort_keys=False, allow_unicode=True)
    sections.append(("config", "Config", f"<pre>{_e(config_yaml)}</pre>"))
    env = _kv_table(versions.items()) or '<p class="note">No versions recorded.</p>'
    sections.append(("environment", "Environment", env))
    raw = json.dumps(_plain(dict(results)), indent=2, allow_nan=True)
    if len(raw) > _RAW_LIMIT:
        raw = raw[:_RAW_LIMIT] + f"\n... ({len(raw) - _RAW_LIMIT} more characters in results.json)"
    sections.append(
        ("raw", "Raw results", f"<details><summary>results (JSON)</summary><pre>{_e(raw)}</pre>"
         "</details>")
    )  # fmt: skip
    return sections


def render_report(
    *,
    title: str,
    command: str,
    config: Mapping[str, Any],
    results: Mapping[str, Any],
    versions: Mapping[str, Any],
    table_markdown: str = "",
    figures: Sequence[str | Path] = (),
    metrics_path: str | Path | None = None,
    attention: Sequence[Any] = (),
    base_dir: str | Path | None = None,
    tables: Sequence[Any] = (),
) -> str:
    """Render a run report as one self-contained HTML page.

    Args:
        title: the page title (e.g. the experiment's name).
        command: the exact command line that produced the run.
        config: the resolved config (shown as YAML).
        results: the experiment's results; its top-level scalars are the summary and the
            whole dict is shown as JSON at the end.
        versions: versions and machine facts (see ``seqattn.experiments.base.versions``).
        table_markdown: the experiment's Markdown table(s), for callers without
            ``tables`` (parsed into HTML tables).
        figures: image files (PNG, SVG, JPEG) to embed; missing ones are noted, not fatal.
        metrics_path: a ``metrics.jsonl`` file, or None.
        attention: attention views: ``AttentionView`` objects, dicts of its fields
            (``weights``, ``keys``, ``queries``, ``title``, ``head_names``), or paths of
            saved views (``.html`` from ``save_attention``, or images).
        base_dir: where relative paths that do not exist as given are looked up.
        tables: the results as :class:`seqattn.viz.table.Table` objects (and free text
            blocks), rendered directly; when given, ``table_markdown`` is not read.

    Returns:
        The HTML text.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"expected config as a mapping, got {type(config).__name__}")
    if not isinstance(results, Mapping):
        raise TypeError(f"expected results as a mapping, got {type(results).__name__}")
    if not isinstance(versions, Mapping):
        raise TypeError(f"expected versions as a mapping, got {type(versions).__name__}")
    if isinstance(figures, str | Path) or isinstance(attention, str | Path):
        raise TypeError("expected figures and attention as sequences, got a single path")
    base = Path(base_dir) if base_dir is not None else None
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    results_html = render_html(tables) if tables else markdown_tables_html(table_markdown)
    sections = _sections(command, config, results, versions, results_html, figures,
                         metrics_path, attention, base)  # fmt: skip
    nav = "".join(f'<a href="#{sid}">{_e(name)}</a>' for sid, name, _ in sections)
    body = "".join(_section(sid, name, content) for sid, name, content in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>{_e(title)}</title><style>{_ATTENTION_CSS}{_CSS}</style>"
        f"<script>{_ATTENTION_JS}</script></head><body>"
        f"<header><h1>{_e(title)}</h1><p>report generated {_e(generated)} by seqattn "
        f"{_e(versions.get('seqattn', ''))}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )


def write_report(out_dir: str | Path, *, filename: str = "report.html", **fields: Any) -> Path:
    """Write ``out_dir/report.html`` atomically.

    Args:
        out_dir: the run folder; relative figure paths are also looked up here (it is the
            report's ``base_dir``).
        filename: the report's file name.
        fields: the keyword arguments of :func:`render_report` (``title``, ``command``,
            ``config``, ``results``, ``versions``, ``tables``, ``figures``, ...).

    Returns:
        The path written.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_report(d, title="t", command="c", config={}, results={}, versions={},
    ...                      figures=["gone.png"])
    ...     "figure not found: gone.png" in p.read_text()
    True
    """
    out_dir = Path(out_dir)
    page = render_report(**fields, base_dir=out_dir)
    path = atomic_write_text(out_dir / filename, page)
    log.info("report: wrote %s (%d KiB)", path, len(page) // 1024)
    return path

"""One attention-inspection API for every model: heat maps (PNG/SVG) and a self-contained HTML view.

Every attention in seqattn returns its weights; hand them here with the labels of the keys
(and queries):

* (S,) query-free pooling: tokens shaded by weight;
* (T, S) an alignment (decoder step x source token, query x key, node x neighbour);
* (H, T, S) multi-head: one matrix per head (tabs in HTML, panels in the figure).

>>> view = AttentionView(torch.tensor([0.7, 0.2, 0.1]), keys=["love", "this", "film"])
>>> view.kind
'pooling'
>>> page = attention_html(view)   # one self-contained HTML page
>>> "love" in page and page.startswith("<!DOCTYPE html>")
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

__all__ = ["AttentionView", "attention_heatmap", "attention_html", "save_attention"]


@dataclass
class AttentionView:
    """Attention weights with the labels of their keys and queries.

    Args:
        weights: (S,), (T, S) or (H, T, S); a tensor or array.
        keys: S labels (default 0..S-1).
        queries: T labels (default 0..T-1); unused for pooling.
        title: shown above the view.
        head_names: H labels for multi-head weights (default "head 0" ...).
    """

    weights: object
    keys: Sequence[str] | None = None
    queries: Sequence[str] | None = None
    title: str = ""
    head_names: Sequence[str] | None = None

    def __post_init__(self) -> None:
        w = self.weights
        if isinstance(w, torch.Tensor):
            w = w.detach().to("cpu", torch.float64).numpy()
        w = np.asarray(w, dtype=np.float64)
        if w.ndim not in (1, 2, 3):
            raise ValueError(
                f"expected weights of shape (S,), (T, S) or (H, T, S), got shape {w.shape}"
            )
        if not np.isfinite(w).all():
            raise ValueError("expected finite attention weights, got NaN or Inf")
        self.weights = w
        s = w.shape[-1]
        self.keys = [str(k) for k in (self.keys if self.keys is not None else range(s))]
        if len(self.keys) != s:
            raise ValueError(f"expected {s} key labels, got {len(self.keys)}")
        if w.ndim >= 2:
            t = w.shape[-2]
            self.queries = [
                str(q) for q in (self.queries if self.queries is not None else range(t))
            ]
            if len(self.queries) != t:
                raise ValueError(f"expected {t} query labels, got {len(self.queries)}")
        if w.ndim == 3:
            h = w.shape[0]
            names = (
                self.head_names if self.head_names is not None else [f"head {i}" for i in range(h)]
            )
            self.head_names = [str(n) for n in names]
            if len(self.head_names) != h:
                raise ValueError(f"expected {h} head names, got {len(self.head_names)}")

    @property
    def kind(self) -> str:
        return {1: "pooling", 2: "alignment", 3: "multihead"}[self.weights.ndim]


def _as_view(v) -> AttentionView:
    return v if isinstance(v, AttentionView) else AttentionView(v)


# -- figures -----------------------------------------------------------------------------------


def attention_heatmap(view: AttentionView, path: str | Path, cmap: str = "viridis") -> Path:
    """Draw one view as a heat map; the suffix of ``path`` (.png, .svg, .pdf) picks the format."""
    view = _as_view(view)
    w = view.weights
    mats = [w[None, :]] if w.ndim == 1 else ([w] if w.ndim == 2 else list(w))
    titles = [view.title] if w.ndim < 3 else list(view.head_names)
    s = w.shape[-1]
    t = 1 if w.ndim == 1 else w.shape[-2]
    cell = 0.38
    width = max(3.0, min(18.0, cell * s + 1.8))
    height = max(1.6, min(14.0, cell * t + 1.6))
    fig, axes = plt.subplots(1, len(mats), figsize=(width * len(mats), height), squeeze=False)
    for ax, mat, title in zip(axes[0], mats, titles, strict=True):
        im = ax.imshow(mat, cmap=cmap, vmin=0.0, vmax=max(float(mat.max()), 1e-12), aspect="auto")
        ax.set_xticks(range(s), view.keys, rotation=60, ha="right", fontsize=8)
        if w.ndim == 1:
            ax.set_yticks([])
        else:
            ax.set_yticks(range(t), view.queries, fontsize=8)
        if title:
            ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if w.ndim == 3 and view.title:
        fig.suptitle(view.title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- HTML ----------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.view{margin-bottom:2em}
.tok{padding:2px 3px;margin:1px;border-radius:3px;display:inline-block}
table.att{border-collapse:collapse;font-size:12px}
table.att td,table.att th{border:1px solid #ddd;padding:2px 4px;text-align:center;min-width:1.6em}
table.att th.k{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal}
table.att th.q{text-align:right;font-weight:normal}
.tabs button{border:1px solid #bbb;background:#f4f4f4;padding:3px 8px;cursor:pointer}
.tabs button.on{background:#ddd;font-weight:bold}
.head{display:none}
.head.on{display:block}
"""

# No "<" or "&" in the script: the page stays well-formed XML as well as HTML.
_JS = """
function seqattnTab(id, h){
  var v=document.getElementById(id);
  var heads=v.getElementsByClassName('head');
  var btns=v.getElementsByTagName('button');
  for(var i=0;i!==heads.length;i++){heads[i].className=(i==h)?'head on':'head';}
  for(var j=0;j!==btns.length;j++){btns[j].className=(j==h)?'on':'';}
}
"""


def attention_image(view: AttentionView) -> np.ndarray:
    """The heat map of :func:`attention_heatmap` as an (H, W, 4) float array in [0, 1] (for
    TensorBoard images and the like)."""
    import tempfile

    import matplotlib.image

    with tempfile.TemporaryDirectory(prefix="seqattn-att-") as tmp:
        path = attention_heatmap(view, Path(tmp) / "attention.png")
        return np.asarray(matplotlib.image.imread(str(path)), dtype=np.float32)


def _shade(weight: float, top: float) -> str:
    alpha = 0.0 if top <= 0 else min(1.0, weight / top)
    return f"background:rgba(214,39,40,{alpha:.3f})"


def _pooling_html(view: AttentionView) -> str:
    w = view.weights
    top = float(w.max())
    spans = [
        f'<span class="tok" style="{_shade(float(x), top)}" title="{float(x):.4f}">'
        f"{html.escape(k)}</span>"
        for k, x in zip(view.keys, w, strict=True)
    ]
    return "<div>" + " ".join(spans) + "</div>"


def _matrix_html(mat: np.ndarray, view: AttentionView) -> str:
    top = float(mat.max())
    head = "".join(f'<th class="k">{html.escape(k)}</th>' for k in view.keys)
    rows = []
    for q, row in zip(view.queries, mat, strict=True):
        cells = "".join(
            f'<td style="{_shade(float(x), top)}" title="{float(x):.4f}">{float(x):.2f}</td>'
            for x in row
        )
        rows.append(f'<tr><th class="q">{html.escape(q)}</th>{cells}</tr>')
    return f'<table class="att"><tr><th></th>{head}</tr>{"".join(rows)}</table>'


def _view_html(view: AttentionView, index: int) -> str:
    vid = f"view{index}"
    title = f"<h3>{html.escape(view.title)}</h3>" if view.title else ""
    if view.kind == "pooling":
        body = _pooling_html(view)
    elif view.kind == "alignment":
        body = _matrix_html(view.weights, view)
    else:
        buttons = "".join(
            f'<button type="button" class="{"on" if h == 0 else ""}" '
            f"onclick=\"seqattnTab('{vid}',{h})\">{html.escape(name)}</button>"
            for h, name in enumerate(view.head_names)
        )
        panes = "".join(
            f'<div class="head{" on" if h == 0 else ""}">{_matrix_html(m, view)}</div>'
            for h, m in enumerate(view.weights)
        )
        body = f'<div class="tabs">{buttons}</div>{panes}'
    return f'<div class="view" id="{vid}" data-kind="{view.kind}">{title}{body}</div>'


def attention_html(views: Sequence[AttentionView] | AttentionView, title: str = "Attention") -> str:
    """A self-contained HTML page (no external files or scripts) showing every view."""
    if isinstance(views, AttentionView):
        views = [views]
    views = [_as_view(v) for v in views]
    if not views:
        raise ValueError("expected at least one attention view, got none")
    body = "".join(_view_html(v, i) for i, v in enumerate(views))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"/>'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{_JS}</script></head>"
        f"<body><h2>{html.escape(title)}</h2>{body}</body></html>\n"
    )


def save_attention(
    view: AttentionView,
    out_dir: str | Path,
    stem: str,
    formats: Sequence[str] = ("png", "svg", "html"),
) -> dict[str, Path]:
    """Write one view as ``stem.png``/``stem.svg``/``stem.html`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        if fmt == "html":
            path.write_text(attention_html([view], title=view.title or stem), encoding="utf-8")
        elif fmt in ("png", "svg", "pdf"):
            attention_heatmap(view, path)
        else:
            raise ValueError(f"expected formats from png, svg, pdf, html, got {fmt!r}")
        written[fmt] = path
    return written

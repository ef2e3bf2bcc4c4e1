"""Line plots of curves (gradient norms, Jacobian products, learning curves) to PNG/SVG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_panels"]

Curve = tuple[Sequence[float], Sequence[float]]


def plot_panels(
    panels: Mapping[str, Mapping[str, Curve]],
    path: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    logy: bool = False,
    logx: bool = False,
    sharey: bool = True,
    title: str | None = None,
    bands: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]] | None = None,
    xticklabels: Sequence[str] | None = None,
) -> Path:
    """One subplot per panel, one line per labelled curve; save to ``path`` (PNG or SVG).

    Args:
        panels: ``{panel title: {label: (x, y)}}``.
        path: output file; the suffix picks the format.
        logy: log-scale y axis. logx: log-scale (base 2) x axis.
        bands: optional ``{panel: {label: (low, high)}}`` shaded around the matching curve.
        xticklabels: names of the x positions 0, 1, ... (categories such as length buckets)
            instead of numbers.

    Returns:
        The path written.
    """
    n = len(panels)
    if n == 0:
        raise ValueError("expected at least one panel, got none")
    width = 4.2 * n if n > 1 else 6.4
    fig, axes = plt.subplots(1, n, figsize=(width, 3.8), sharey=sharey, squeeze=False)
    # one colour per label across panels, so a label means the same line everywhere
    labels = list(dict.fromkeys(label for curves in panels.values() for label in curves))
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    colour = {label: cycle[i % len(cycle)] for i, label in enumerate(labels)}
    for ax, (panel, curves) in zip(axes[0], panels.items(), strict=True):
        for label, (x, y) in curves.items():
            (line,) = ax.plot(x, y, label=label, linewidth=1.6, color=colour[label])
            band = (bands or {}).get(panel, {}).get(label)
            if band is not None:
                ax.fill_between(x, band[0], band[1], color=line.get_color(), alpha=0.18)
        ax.set_title(panel)
        ax.set_xlabel(xlabel)
        if xticklabels is not None:
            ax.set_xticks(range(len(xticklabels)), list(xticklabels), rotation=30, fontsize="small")
        if logy:
            ax.set_yscale("log")
        if logx:
            ax.set_xscale("log", base=2)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    same_labels = all(list(c) == labels for c in panels.values())
    for ax in axes[0][-1:] if same_labels else axes[0]:  # panels that differ get their own
        ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

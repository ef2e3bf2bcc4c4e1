"""The figures of the ``se`` experiment: the paper's Fig. 6 (mean excitation per class and
channel at several depths), the class specificity by depth, and the training loss."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor

from seqattn.data.datasets.fashion_mnist import FASHION_MNIST_CLASSES
from seqattn.evaluation.excitation import class_means, class_specificity

if TYPE_CHECKING:
    from seqattn.experiments.se import Config

__all__ = ["plots"]


def plots(cfg: Config, runs: list[dict], y_test: Tensor, spec: list[dict], out_dir: Path):
    """The per-class excitations (Fig. 6), the class specificity by depth, the training loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqattn.io import atomic_write

    def save(fig, name: str) -> str:
        path = atomic_write(out_dir / name, lambda f: fig.savefig(f, format="png", dpi=110))
        plt.close(fig)
        return str(path)

    figures = []
    # Fig. 6 analogue: the first seed of the first main reduction ratio
    main = next((r for r in runs if r["reduction"] is not None and r["seed"] == cfg.seed), None)
    if main is not None and "_excitations" in main:  # absent when re-plotting a results.json
        blocks = [b for b in cfg.plot_blocks if b in main["_excitations"]]
        cols = 3
        rows_n = math.ceil(len(blocks) / cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 3.2 * rows_n), squeeze=False)
        colours = plt.get_cmap("tab10")
        for ax, block in zip(axes.flat, blocks, strict=False):
            s = main["_excitations"][block]
            means = class_means(s, y_test, 10)  # (K, C)
            channels = range(s.shape[1])
            for k in range(10):
                ax.plot(channels, means[k], lw=1, color=colours(k), label=FASHION_MNIST_CLASSES[k])
            ax.plot(channels, s.mean(0), "k--", lw=1.4, label="all")
            eta = class_specificity(s, y_test, 10)
            ax.set_title(f"{block} (η² = {eta:.2f})", fontsize=10)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("channel")
        for ax in axes.flat[len(blocks) :]:
            ax.axis("off")
        for ax in axes[:, 0]:
            ax.set_ylabel("mean excitation")
        axes.flat[0].legend(fontsize=6, ncol=2, loc="lower left")
        fig.suptitle(
            f"Per-class mean excitation, {main['variant']}, seed {main['seed']} "
            f"({len(y_test)} test images)"
        )
        fig.tight_layout()
        figures.append(save(fig, "excitations_by_class.png"))

    if spec:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
        names = sorted({(r["variant"], r["seed"]) for r in spec}, key=str)
        for variant, seed in names:
            rows = [r for r in spec if (r["variant"], r["seed"]) == (variant, seed)]
            depth = [r["depth"] for r in rows]
            kw = {"marker": "o", "lw": 1.2, "label": f"{variant}, seed {seed}"}
            ax.plot(depth, [r["class_specificity"] for r in rows], **kw)
            ax2.plot(depth, [r["class_mean_spread"] for r in rows], **kw)
        ticks = [r for r in spec if (r["variant"], r["seed"]) == names[0]]
        for a in (ax, ax2):
            a.set_xticks([r["depth"] for r in ticks], [r["block"] for r in ticks], rotation=30)
            a.grid(alpha=0.3)
        ax.set_ylabel("η² (class share of the excitation variance)")
        ax2.set_ylabel("std over classes of the class-mean excitation")
        ax2.set_yscale("log")
        ax.legend(fontsize=7)
        fig.suptitle("How class-specific the excitations are, by depth")
        fig.tight_layout()
        figures.append(save(fig, "class_specificity.png"))

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for r in runs:
        ax.plot([e["epoch"] for e in r["epochs"]], [e["train_loss"] for e in r["epochs"]],
                lw=1.2, ls="-" if r["reduction"] is None else "--",
                label=f"{r['variant']}, seed {r['seed']}")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    figures.append(save(fig, "train_loss.png"))
    return figures

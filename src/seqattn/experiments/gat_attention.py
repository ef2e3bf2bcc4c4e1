"""What the GAT experiment's attention learned: per-node entropy against uniform attention, the
node to draw and its neighbourhood, every edge's coefficient as CSV, and the figures.

Shapes: N nodes, E edges (self-loops included), H heads; ``alpha`` is (E, H), one coefficient
per edge and head, each node's incoming coefficients summing to 1 per head.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from seqattn.data.graph import Graph  # noqa: E402
from seqattn.functional.graph import in_degree, scatter_sum  # noqa: E402
from seqattn.io import atomic_write  # noqa: E402

__all__ = ["attention_entropy", "edges_csv", "focus_node", "neighbourhood", "plot_entropy",
           "plot_neighbourhood"]  # fmt: skip


def attention_entropy(edge_index: Tensor, alpha: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """Per-node entropy of the attention over its incoming edges, and of uniform attention.

    Returns:
        (N, H) entropies ``-sum_j alpha_ij log alpha_ij`` (nats) and (N,) ``log deg_i``.
    """
    plogp = torch.where(alpha > 0, alpha * alpha.clamp_min(1e-300).log(), torch.zeros_like(alpha))
    entropy = -scatter_sum(plogp, edge_index[1], num_nodes)  # (N, H)
    deg = in_degree(edge_index, num_nodes).clamp_min(1).to(alpha.dtype)
    return entropy, deg.log()


def focus_node(focus: int, g: Graph, edge_index: Tensor, alpha: Tensor) -> int:
    """The node to draw: ``focus`` if >= 0, else the test node with 5 to 12 incoming edges
    (self-loop included) whose first-layer attention is furthest from uniform (largest mean KL
    divergence over heads); any node with the most edges when none qualifies."""
    n = g.x.shape[0]
    if focus >= 0:
        if focus >= n:
            raise ValueError(f"expected focus_node in [0, {n - 1}], got {focus}")
        return focus
    entropy, uniform = attention_entropy(edge_index, alpha, n)
    kl = uniform - entropy.mean(dim=1)  # KL(alpha || uniform) = log deg - H(alpha), head mean
    deg = in_degree(edge_index, n)
    ok = g.test_mask & (deg >= 5) & (deg <= 12)
    if not ok.any():
        return int(deg.argmax())
    return int(torch.where(ok, kl, torch.full_like(kl, -math.inf)).argmax())


def save_fig(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=120)
    plt.close(fig)
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def neighbourhood(g: Graph, node: int, layers: list[tuple[Tensor, Tensor]]) -> list[dict]:
    """Per layer: the neighbours of ``node`` (incoming edges) and their weights (H, deg)."""
    out = []
    for edge_index, alpha in layers:
        sel = (edge_index[1] == node).nonzero().squeeze(1)
        src = edge_index[0, sel]
        order = torch.argsort(src)
        src, w = src[order], alpha[sel][order].T  # (H, deg)
        labels = [f"{int(j)}{' (self)' if int(j) == node else ''} c{int(g.y[j])}" for j in src]
        out.append({"labels": labels, "weights": w})
    return out


def plot_neighbourhood(g: Graph, node: int, hood: list[dict], path: Path) -> Path:
    fig, axes = plt.subplots(1, len(hood), figsize=(5.2 * len(hood), 3.8), squeeze=False)
    for li, (ax, layer) in enumerate(zip(axes[0], hood, strict=True)):
        w = layer["weights"].numpy()  # (H, deg)
        h, deg = w.shape
        width = 0.8 / h
        for k in range(h):
            xs = [j + (k - (h - 1) / 2) * width for j in range(deg)]
            ax.bar(xs, w[k], width=width, label=f"head {k}")
        ax.axhline(1.0 / deg, color="black", linestyle="--", linewidth=1, label="uniform 1/deg")
        ax.set_xticks(range(deg))
        ax.set_xticklabels(layer["labels"], rotation=45, ha="right", fontsize="small")
        ax.set_title(f"layer {li + 1} ({h} head{'s' if h > 1 else ''})")
        ax.set_ylabel("attention alpha_ij")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].legend(fontsize="x-small", ncol=2)
    fig.suptitle(f"{g.name}: attention of node {node} (class {int(g.y[node])}) to its neighbours")
    fig.tight_layout()
    return save_fig(fig, path)


def plot_entropy(name: str, stats: list[dict], path: Path) -> Path:
    n = len(stats)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.6 * (n + 1), 3.6), squeeze=False)
    for li, (ax, s) in enumerate(zip(axes[0], stats, strict=False)):
        top = max(float(s["uniform"].max()), float(s["entropy"].max()), 1e-6)
        bins = torch.linspace(0, top, 31).tolist()
        ax.hist(s["uniform"].numpy(), bins=bins, alpha=0.5, label="uniform (log deg)")
        ax.hist(s["entropy"].flatten().numpy(), bins=bins, alpha=0.5,
                weights=[1.0 / s["entropy"].shape[1]] * s["entropy"].numel(),
                label="learned (per head, /H)")  # fmt: skip
        ax.set_title(f"layer {li + 1}")
        ax.set_xlabel("attention entropy per node (nats)")
        ax.grid(True, alpha=0.3)
    ax = axes[0][n]  # entropy relative to uniform, per node and head (nodes beyond self only)
    for li, s in enumerate(stats):
        multi = s["uniform"] > 0
        ratio = (s["entropy"][multi] / s["uniform"][multi, None]).flatten()
        ax.hist(ratio.numpy(), bins=40, range=(0.0, 1.0), alpha=0.5, density=True,
                label=f"layer {li + 1}")  # fmt: skip
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1, label="uniform")
    ax.set_title("entropy / log deg (per node and head)")
    ax.set_xlabel("1 = uniform, 0 = one neighbour")
    ax.set_ylabel("density")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    axes[0][0].set_ylabel("nodes")
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"{name}: entropy of each node's attention vs uniform attention")
    fig.tight_layout()
    return save_fig(fig, path)


def edges_csv(layers: list[tuple[Tensor, Tensor]]) -> str:
    lines = ["layer,src,dst,head,alpha"]
    for li, (edge_index, alpha) in enumerate(layers, start=1):
        src, dst = edge_index[0].tolist(), edge_index[1].tolist()
        for h, col in enumerate(alpha.T.tolist()):
            lines.extend(f"{li},{s},{d},{h},{a:.6g}" for s, d, a in zip(src, dst, col, strict=True))
    return "\n".join(lines) + "\n"

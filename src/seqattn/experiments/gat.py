"""Experiment ``gat``: graph attention networks on the Planetoid citation graphs.

The transductive setting of Velickovic et al. (2018), section 3.3: a two-layer GAT (8 heads x 8
features, ELU; an output layer of one head), dropout 0.6 on every layer's inputs and on the
attention coefficients (by default with the authors' dataflow: an input mask per head, the
projected features dropped again, a bias in the scores, Glorot per head; ``dropout_style=pyg``,
``attention_bias=false``, ``init=pyg`` give PyG's layer), Adam (lr 0.005, L2 5e-4), full-batch
training on the public Planetoid split (Cora: 140 training nodes, 500 validation, 1,000 test),
row-normalised bag-of-words features, self-loops. Early stopping as in the authors' code:
patience 100 epochs on the validation loss *and* accuracy (the counter resets when either
improves; the weights kept are those of the last epoch where both were at their best). Repeated
over seeds; mean ± std of the test accuracy against the paper's 83.0 ± 0.7 (Cora) and 72.5 ± 0.7
(CiteSeer).

What the attention learned, from the first seed's kept model: every edge's coefficient per
layer and head (``attention_edges.csv``), one node's neighbourhood attention per head (bar
chart and attention view), and the distribution of per-node attention entropy against the
entropy of uniform attention over the same neighbourhood (GAT on Cora learns close-to-uniform
attention: the degree-normalised averaging of a GCN).

Datasets: ``cora``, ``citeseer`` (the real data, :func:`seqattn.data.datasets.load_planetoid`)
and ``sbm`` (offline: a small stochastic block model with class-dependent noisy features).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402

from seqattn.experiments.base import Experiment, Progress, no_progress  # noqa: E402
from seqattn.functional.graph import check_edge_index, in_degree, scatter_sum  # noqa: E402
from seqattn.io import atomic_write, atomic_write_text  # noqa: E402
from seqattn.models.gat import GAT, GATConfig  # noqa: E402
from seqattn.viz import plot_panels  # noqa: E402

log = logging.getLogger("seqattn.experiments")

DATASETS = ("cora", "citeseer", "sbm")
#: Test accuracy (%) reported by Velickovic et al. (2018), Table 2: mean ± std over 100 runs.
PAPER = {"cora": (83.0, 0.7), "citeseer": (72.5, 0.7)}


@dataclass(frozen=True)
class Config:
    """Defaults: the paper's Cora setting with the authors' dataflow, 10 seeds."""

    dataset: str = "cora"
    seeds: int = 10
    seed: int = 0
    hidden_channels: int = 8
    heads: int = 8
    out_heads: int = 1
    dropout: float = 0.6
    attention_dropout: float = 0.6
    # "authors" (default): the authors' TF code, a mask per head and W h_j dropped again before
    # aggregation; Cora 83.45 ± 0.38 over 10 seeds against 82.96 ± 0.45 with "pyg", PyG's layer
    # (one input mask shared by the heads). See docs/gat.md.
    dropout_style: str = "authors"
    attention_bias: bool = True  # authors' code: a scalar bias per head in each score term
    init: str = "authors"  # Glorot per head, as TF initialises each head's convolutions
    lr: float = 0.005
    weight_decay: float = 5e-4
    patience: int = 100
    max_epochs: int = 5000  # the authors' code allows 100,000; early stopping ends far sooner
    normalize_features: bool = True
    sparse_features: bool = True  # same maths; input dropout and projection touch non-zeros only
    export_attention: bool = True
    focus_node: int = -1  # the node whose neighbourhood is drawn; -1 picks one (see _focus)
    # sbm (offline synthetic graph)
    sbm_nodes: int = 300
    sbm_classes: int = 3

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"expected dataset in {DATASETS}, got {self.dataset!r}")
        for name in ("seeds", "hidden_channels", "heads", "out_heads", "patience", "max_epochs",
                     "sbm_nodes", "sbm_classes"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"expected {name} in [0, 1), got {getattr(self, name)}")
        for name in ("dropout_style", "init"):
            if getattr(self, name) not in ("pyg", "authors"):
                raise ValueError(
                    f"expected {name} in ('pyg', 'authors'), got {getattr(self, name)!r}"
                )
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(
                f"expected lr > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}"
            )


def quick(cfg: Config) -> Config:
    """Demo scale: 2 seeds (a Cora seed takes a few seconds to a minute on 2 CPU cores)."""
    return dataclasses.replace(cfg, seeds=min(cfg.seeds, 2))


# -- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    name: str
    x: Tensor  # (N, F)
    y: Tensor  # (N,), -1 = unlabelled
    edge_index: Tensor  # (2, E)
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    num_classes: int


def row_normalize(x: Tensor) -> Tensor:
    """Divide each row by its sum (the authors' ``preprocess_features``); zero rows stay 0."""
    total = x.sum(dim=1, keepdim=True)
    return x / torch.where(total != 0, total, torch.ones_like(total))


def sbm_graph(num_nodes: int, num_classes: int, seed: int = 0) -> Graph:
    """A stochastic block model with noisy class-dependent binary features (offline test data).

    Nodes link within their class with probability 8/N and across with 1/N; each class owns 10
    of 60 feature words, present with probability 0.3 (others 0.1). 20 training nodes per class,
    a quarter of the rest for validation, the remainder for testing.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(num_nodes) % num_classes
    y = y[torch.randperm(num_nodes, generator=g)]
    same = y[:, None] == y[None, :]
    p = torch.where(same, 8.0 / num_nodes, 1.0 / num_nodes)
    adj = torch.rand(num_nodes, num_nodes, generator=g) < p
    adj = (adj.triu(1) | adj.triu(1).T).nonzero().T.contiguous()  # (2, E), both directions
    words = 10 * num_classes + 30
    own = torch.zeros(num_classes, words, dtype=torch.bool)
    for c in range(num_classes):
        own[c, 10 * c : 10 * c + 10] = True
    x = (torch.rand(num_nodes, words, generator=g) < torch.where(own[y], 0.3, 0.1)).float()
    order = torch.randperm(num_nodes, generator=g)
    train = torch.zeros(num_nodes, dtype=torch.bool)
    for c in range(num_classes):
        train[order[y[order] == c][:20]] = True
    rest = order[~train[order]]
    val = torch.zeros(num_nodes, dtype=torch.bool)
    val[rest[: len(rest) // 4]] = True
    test = ~(train | val)
    return Graph("sbm", x, y, adj, train, val, test, num_classes)


def load_graph(cfg: Config) -> Graph:
    if cfg.dataset == "sbm":
        g = sbm_graph(cfg.sbm_nodes, cfg.sbm_classes, seed=12345)
    else:
        from seqattn.data.datasets import load_planetoid

        p = load_planetoid(cfg.dataset)
        g = Graph(p.name, p.x, p.y, p.edge_index, p.train_mask, p.val_mask, p.test_mask,
                  p.num_classes)  # fmt: skip
    check_edge_index(g.edge_index, g.x.shape[0])
    if cfg.normalize_features:
        g = dataclasses.replace(g, x=row_normalize(g.x))
    if cfg.sparse_features:
        g = dataclasses.replace(g, x=g.x.to_sparse().coalesce())
    return g


# -- training -----------------------------------------------------------------------------------


def _evaluate(model: GAT, g: Graph) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        logits = model(g.x, g.edge_index)
    out = {}
    for split, mask in (("val", g.val_mask), ("test", g.test_mask)):
        out[f"{split}_loss"] = float(F.cross_entropy(logits[mask], g.y[mask]))
        out[f"{split}_acc"] = float((logits[mask].argmax(-1) == g.y[mask]).float().mean())
    return out


class EarlyStopping:
    """The stopping rule of the authors' ``execute_cora.py`` (PetarV-/GAT), kept exactly.

    Each epoch: if the validation accuracy is >= its best so far *or* the loss is <= its best,
    the patience counter resets, and the weights are saved only if *both* hold; otherwise the
    counter grows and training stops when it reaches ``patience``. The test accuracy is that
    of the last saved weights (not of the final or the best-loss epoch).
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_acc, self.best_loss, self.waited = -math.inf, math.inf, 0

    def step(self, val_acc: float, val_loss: float) -> tuple[bool, bool]:
        """Record one epoch; return (save these weights, stop now)."""
        up, down = val_acc >= self.best_acc, val_loss <= self.best_loss
        if up or down:
            self.best_acc, self.best_loss = (
                max(self.best_acc, val_acc),
                min(self.best_loss, val_loss),
            )
            self.waited = 0
            return up and down, False
        self.waited += 1
        return False, self.waited >= self.patience


def train_one(cfg: Config, g: Graph, seed: int) -> tuple[dict[str, Any], GAT, list[dict]]:
    """Train one GAT with the authors' early stopping; return its record, kept model, curve."""
    torch.manual_seed(seed)
    model = GAT(GATConfig(
        in_channels=g.x.shape[1], num_classes=g.num_classes, hidden_channels=cfg.hidden_channels,
        heads=cfg.heads, out_heads=cfg.out_heads, dropout=cfg.dropout,
        attention_dropout=cfg.attention_dropout, dropout_style=cfg.dropout_style,
        attention_bias=cfg.attention_bias, init=cfg.init,
    ))  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    stopper = EarlyStopping(cfg.patience)
    kept = {"epoch": 0, "state": copy.deepcopy(model.state_dict()), **_evaluate(model, g)}
    curve = []
    wall, cpu = time.perf_counter(), time.process_time()
    epoch = 0
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        logits = model(g.x, g.edge_index)
        loss = F.cross_entropy(logits[g.train_mask], g.y[g.train_mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        ev = _evaluate(model, g)
        curve.append({"step": epoch, "seed": seed, "train_loss": loss.item(), **ev})
        save, stop = stopper.step(ev["val_acc"], ev["val_loss"])
        if save:
            kept = {"epoch": epoch, "state": copy.deepcopy(model.state_dict()), **ev}
        if stop:
            break
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model.load_state_dict(kept.pop("state"))
    model.eval()
    record = {
        "seed": seed,
        "epochs": epoch,
        "kept_epoch": kept["epoch"],
        "val_acc": kept["val_acc"],
        "val_loss": kept["val_loss"],
        "test_acc": kept["test_acc"],
        "seconds": wall,
        "cpu_seconds": cpu,
        "ms_per_epoch": 1000 * wall / max(epoch, 1),  # wall: inflated on a busy machine
        "cpu_ms_per_epoch": 1000 * cpu / max(epoch, 1),  # training step + evaluation pass
    }
    log.info("gat %s seed %d: test acc %.4f after %d epochs", g.name, seed, kept["test_acc"], epoch)
    return record, model, curve


# -- attention analysis -------------------------------------------------------------------------


def attention_entropy(edge_index: Tensor, alpha: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """Per-node entropy of the attention over its incoming edges, and of uniform attention.

    Returns:
        (N, H) entropies ``-sum_j alpha_ij log alpha_ij`` (nats) and (N,) ``log deg_i``.
    """
    plogp = torch.where(alpha > 0, alpha * alpha.clamp_min(1e-300).log(), torch.zeros_like(alpha))
    entropy = -scatter_sum(plogp, edge_index[1], num_nodes)  # (N, H)
    deg = in_degree(edge_index, num_nodes).clamp_min(1).to(alpha.dtype)
    return entropy, deg.log()


def _focus(cfg: Config, g: Graph, edge_index: Tensor, alpha: Tensor) -> int:
    """The node to draw: ``cfg.focus_node``, else the test node with 5 to 12 incoming edges
    (self-loop included) whose first-layer attention is furthest from uniform (largest mean KL
    divergence over heads); any node with the most edges when none qualifies."""
    n = g.x.shape[0]
    if cfg.focus_node >= 0:
        if cfg.focus_node >= n:
            raise ValueError(f"expected focus_node in [0, {n - 1}], got {cfg.focus_node}")
        return cfg.focus_node
    entropy, uniform = attention_entropy(edge_index, alpha, n)
    kl = uniform - entropy.mean(dim=1)  # KL(alpha || uniform) = log deg - H(alpha), head mean
    deg = in_degree(edge_index, n)
    ok = g.test_mask & (deg >= 5) & (deg <= 12)
    if not ok.any():
        return int(deg.argmax())
    return int(torch.where(ok, kl, torch.full_like(kl, -math.inf)).argmax())


def _save_fig(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=120)
    plt.close(fig)
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def _neighbourhood(g: Graph, node: int, layers: list[tuple[Tensor, Tensor]]) -> list[dict]:
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


def _plot_neighbourhood(g: Graph, node: int, hood: list[dict], path: Path) -> Path:
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
    return _save_fig(fig, path)


def _plot_entropy(name: str, stats: list[dict], path: Path) -> Path:
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
    return _save_fig(fig, path)


def _edges_csv(layers: list[tuple[Tensor, Tensor]]) -> str:
    lines = ["layer,src,dst,head,alpha"]
    for li, (edge_index, alpha) in enumerate(layers, start=1):
        src, dst = edge_index[0].tolist(), edge_index[1].tolist()
        for h, col in enumerate(alpha.T.tolist()):
            lines.extend(f"{li},{s},{d},{h},{a:.6g}" for s, d, a in zip(src, dst, col, strict=True))
    return "\n".join(lines) + "\n"


def analyse_attention(cfg: Config, g: Graph, model: GAT, out_dir: Path) -> dict[str, Any]:
    """Export, summarise and plot the attention of a trained model (eval mode)."""
    model.eval()
    with torch.no_grad():
        _, layers = model(g.x, g.edge_index, return_attention_weights=True)
    n = g.x.shape[0]
    files: dict[str, Any] = {"figures": [], "attention": []}
    if cfg.export_attention:
        path = atomic_write_text(out_dir / "attention_edges.csv", _edges_csv(layers))
        files["attention_csv"] = str(path)
    stats, summary = [], []
    for li, (edge_index, alpha) in enumerate(layers, start=1):
        entropy, uniform = attention_entropy(edge_index, alpha, n)
        stats.append({"entropy": entropy, "uniform": uniform})
        multi = uniform > 0  # nodes with more than their self-loop: entropy can differ
        summary.append({
            "layer": li,
            "heads": alpha.shape[1],
            "edges": edge_index.shape[1],
            "mean_entropy": float(entropy[multi].mean()),
            "mean_uniform_entropy": float(uniform[multi].mean()),
            "entropy_ratio": float(entropy[multi].mean() / uniform[multi].mean()),
            "mean_max_alpha": float(
                torch.zeros(n, alpha.shape[1]).scatter_reduce(
                    0, edge_index[1].unsqueeze(1).expand_as(alpha), alpha, "amax"
                )[multi].mean()
            ),
        })  # fmt: skip
    node = _focus(cfg, g, *layers[0])
    hood = _neighbourhood(g, node, layers)
    files["figures"].append(
        str(_plot_neighbourhood(g, node, hood, out_dir / "neighbourhood_attention.png"))
    )
    files["figures"].append(str(_plot_entropy(g.name, stats, out_dir / "attention_entropy.png")))
    for li, layer in enumerate(hood, start=1):
        w = layer["weights"]
        files["attention"].append({
            "weights": w.unsqueeze(1).tolist(),  # (H, 1, deg)
            "keys": layer["labels"],
            "queries": [f"node {node}"],
            "head_names": [f"head {k}" for k in range(w.shape[0])],
            "title": f"{g.name}, layer {li}: node {node} (class {int(g.y[node])}) attends to",
        })  # fmt: skip
    files["focus_node"] = node
    files["entropy"] = summary
    return files


def plot_curves(curve: list[dict], path: Path, title: str) -> Path:
    """Loss and accuracy per epoch; validation and test in the same colours in both panels."""
    steps = [c["step"] for c in curve]

    def series(key: str) -> tuple[list, list]:
        return steps, [c[key] for c in curve]

    panels = {
        "loss (green: train)": {
            "validation": series("val_loss"),
            "test": series("test_loss"),
            "train": series("train_loss"),
        },
        "accuracy": {"validation": series("val_acc"), "test": series("test_acc")},
    }
    return plot_panels(panels, path, xlabel="epoch", ylabel="", sharey=False, title=title)


# -- the experiment -----------------------------------------------------------------------------


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    wall, cpu = time.perf_counter(), time.process_time()
    g = load_graph(cfg)
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    runs, first_model, curve = [], None, []
    for seed in progress(seeds, f"gat {cfg.dataset}", len(seeds)):
        record, model, seed_curve = train_one(cfg, g, seed)
        runs.append(record)
        if first_model is None:
            first_model, curve = model, seed_curve
    accs = [100 * r["test_acc"] for r in runs]
    mean = statistics.fmean(accs)
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    paper = PAPER.get(cfg.dataset)
    title = f"GAT on {cfg.dataset}, seed {cfg.seed} (kept epoch {runs[0]['kept_epoch']})"
    figures = [str(plot_curves(curve, out_dir / "learning_curves.png", title))]
    att = analyse_attention(cfg, g, first_model, out_dir)
    figures += att.pop("figures")
    results = {
        "experiment": "gat",
        "dataset": cfg.dataset,
        "nodes": int(g.x.shape[0]),
        "edges": int(g.edge_index.shape[1]),
        "features": int(g.x.shape[1]),
        "classes": g.num_classes,
        "seeds": len(runs),
        "test_acc_mean": mean,
        "test_acc_std": std,
        "paper_test_acc": paper[0] if paper else None,
        "paper_test_std": paper[1] if paper else None,
        "ms_per_epoch": statistics.fmean(r["ms_per_epoch"] for r in runs),
        "cpu_ms_per_epoch": statistics.fmean(r["cpu_ms_per_epoch"] for r in runs),
        "runs": runs,
        "entropy": att.pop("entropy"),
        "focus_node": att.pop("focus_node"),
        "attention_csv": att.pop("attention_csv", None),
        "attention": att.pop("attention"),
        "figures": figures,
        "metrics": curve,
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
    }
    return results


def table_text(results: dict[str, Any]) -> str:
    paper = (
        f"{results['paper_test_acc']:.1f} ± {results['paper_test_std']:.1f}"
        if results.get("paper_test_acc") is not None
        else "n/a"
    )
    lines = [
        "| dataset | seeds | test acc % (mean ± std) | paper | mean epochs | ms/epoch wall "
        "| ms/epoch CPU | wall s | CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {results['dataset']} | {results['seeds']} | {results['test_acc_mean']:.2f} ± "
        f"{results['test_acc_std']:.2f} | {paper} "
        f"| {statistics.fmean(r['epochs'] for r in results['runs']):.0f} "
        f"| {results['ms_per_epoch']:.1f} | {results.get('cpu_ms_per_epoch', math.nan):.1f} "
        f"| {results['seconds']:.0f} | {results['cpu_seconds']:.0f} |",
        "",
        "| seed | test acc % | val acc % | val loss | kept epoch | epochs | s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        lines.append(
            f"| {r['seed']} | {100 * r['test_acc']:.1f} | {100 * r['val_acc']:.1f} "
            f"| {r['val_loss']:.4f} | {r['kept_epoch']} | {r['epochs']} | {r['seconds']:.1f} |"
        )
    lines += [
        "",
        "| layer | heads | edges | mean entropy (nats) | uniform | ratio | mean max alpha |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in results["entropy"]:
        lines.append(
            f"| {e['layer']} | {e['heads']} | {e['edges']} | {e['mean_entropy']:.3f} "
            f"| {e['mean_uniform_entropy']:.3f} | {e['entropy_ratio']:.3f} "
            f"| {e['mean_max_alpha']:.3f} |"
        )
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="gat",
    summary="Graph attention network on Cora/CiteSeer (paper setting): accuracy and attention.",
    config_cls=Config,
    run=run,
    quick=quick,
    table=table_text,
)

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

``layer=gatv2`` trains the same model with :class:`~seqattn.nn.graph.GATv2Conv` (Brody et al.
2022; PyG's layer, so GAT's three dataflow options do not apply), the same hyperparameters and
early stopping; ``residual`` and ``norm`` are options of a tuned recipe (docs/gat.md).

Datasets: ``cora``, ``citeseer`` (the real data, :func:`seqattn.data.datasets.load_planetoid`)
and ``sbm`` (offline: a small stochastic block model with class-dependent noisy features).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seqattn.data.graph import Graph, row_normalize, sbm_graph
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.gat_attention import (
    attention_entropy,
    edges_csv,
    focus_node,
    neighbourhood,
    plot_entropy,
    plot_neighbourhood,
)
from seqattn.experiments.toolkit import attention_view, mean_std, seeds
from seqattn.functional.graph import check_edge_index
from seqattn.io import atomic_write_text
from seqattn.models.gat import GAT, GATConfig
from seqattn.training.loop import LoopState, TrainLoop
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown

__all__ = ["EXPERIMENT", "Config", "EarlyStopping", "Graph", "attention_entropy", "load_graph",
           "row_normalize", "run", "sbm_graph", "tables", "train_one"]  # fmt: skip

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
    # "gatv2": GATv2Conv (Brody et al. 2022), PyG's layer; the three authors' options above
    # are GAT's and not used with it (GATv2 takes one input mask, Glorot, no score bias).
    layer: str = "gat"
    residual: bool = False  # tuned recipe: each layer adds a projection of its input
    norm: str = "none"  # tuned recipe: "layer" or "batch" on the hidden layer's output
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
        for name in ("seeds", "patience", "max_epochs", "sbm_nodes", "sbm_classes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        self.model_config(1, 1)  # the model's own checks (sizes, dropout, style, init)
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(
                f"expected lr > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}"
            )

    def model_config(self, in_channels: int, num_classes: int) -> GATConfig:
        """The GAT (or GATv2) of this experiment for ``in_channels`` features, ``num_classes``."""
        gat = self.layer == "gat"  # the authors' dataflow options are GAT's only
        return GATConfig(
            in_channels=in_channels, num_classes=num_classes,
            hidden_channels=self.hidden_channels, heads=self.heads, out_heads=self.out_heads,
            dropout=self.dropout, attention_dropout=self.attention_dropout,
            dropout_style=self.dropout_style if gat else "pyg",
            attention_bias=self.attention_bias and gat, init=self.init if gat else "pyg",
            layer=self.layer, residual=self.residual, norm=self.norm,
        )  # fmt: skip


def quick(cfg: Config) -> Config:
    """Demo scale: 2 seeds (a Cora seed takes a few seconds to a minute on 2 CPU cores)."""
    return dataclasses.replace(cfg, seeds=min(cfg.seeds, 2))


# -- data ---------------------------------------------------------------------------------------


def load_graph(cfg: Config) -> Graph:
    """The configured graph, edges checked, features row-normalised and sparse as asked."""
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
    """Train one GAT with the authors' early stopping; return its record, kept model, curve.

    Full-batch: one :class:`TrainLoop` step per epoch; the evaluation and the stopping rule
    run after each step (a callback), which keeps the weights of the last saved epoch.
    """
    torch.manual_seed(seed)
    model = GAT(cfg.model_config(g.x.shape[1], g.num_classes))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    stopper = EarlyStopping(cfg.patience)
    kept = {"epoch": 0, "state": copy.deepcopy(model.state_dict()), **_evaluate(model, g)}
    curve: list[dict] = []

    def loss_fn(_) -> Tensor:
        model.train()
        logits = model(g.x, g.edge_index)
        return F.cross_entropy(logits[g.train_mask], g.y[g.train_mask])

    def after_epoch(state: LoopState, _) -> None:
        nonlocal kept
        ev = _evaluate(model, g)
        curve.append({"step": state.step, "seed": seed, "train_loss": state.last_loss, **ev})
        save, state.stop = stopper.step(ev["val_acc"], ev["val_loss"])
        if save:
            kept = {"epoch": state.step, "state": copy.deepcopy(model.state_dict()), **ev}

    loop = TrainLoop(model.parameters(), opt, max_steps=cfg.max_epochs, after_step=[after_epoch])
    wall, cpu = time.perf_counter(), time.process_time()
    epoch = loop.run(itertools.repeat(None), loss_fn).step
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
    log.info("%s %s seed %d: test acc %.4f after %d epochs", cfg.layer, g.name, seed,
             kept["test_acc"], epoch)  # fmt: skip
    return record, model, curve


# -- attention analysis -------------------------------------------------------------------------


def analyse_attention(cfg: Config, g: Graph, model: GAT, out_dir: Path) -> dict[str, Any]:
    """Export, summarise and plot the attention of a trained model (eval mode)."""
    model.eval()
    with torch.no_grad():
        _, layers = model(g.x, g.edge_index, return_attention_weights=True)
    n = g.x.shape[0]
    files: dict[str, Any] = {"figures": [], "attention": []}
    if cfg.export_attention:
        path = atomic_write_text(out_dir / "attention_edges.csv", edges_csv(layers))
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
    node = focus_node(cfg.focus_node, g, *layers[0])
    hood = neighbourhood(g, node, layers)
    files["figures"].append(
        str(plot_neighbourhood(g, node, hood, out_dir / "neighbourhood_attention.png"))
    )
    files["figures"].append(str(plot_entropy(g.name, stats, out_dir / "attention_entropy.png")))
    for li, layer in enumerate(hood, start=1):
        w = layer["weights"]
        files["attention"].append(attention_view(
            w.unsqueeze(1), keys=layer["labels"], queries=[f"node {node}"],  # (H, 1, deg)
            head_names=[f"head {k}" for k in range(w.shape[0])],
            title=f"{g.name}, layer {li}: node {node} (class {int(g.y[node])}) attends to",
        ))  # fmt: skip
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
    run_seeds = seeds(cfg.seed, cfg.seeds)
    runs, first_model, curve = [], None, []
    for seed in progress(run_seeds, f"{cfg.layer} {cfg.dataset}", len(run_seeds)):
        record, model, seed_curve = train_one(cfg, g, seed)
        runs.append(record)
        if first_model is None:
            first_model, curve = model, seed_curve
    mean, std = mean_std(100 * r["test_acc"] for r in runs)
    paper = PAPER.get(cfg.dataset) if cfg.layer == "gat" else None  # GAT's paper, not GATv2's
    kept = runs[0]["kept_epoch"]
    title = f"{cfg.layer.upper()} on {cfg.dataset}, seed {cfg.seed} (kept epoch {kept})"
    figures = [str(plot_curves(curve, out_dir / "learning_curves.png", title))]
    att = analyse_attention(cfg, g, first_model, out_dir)
    figures += att.pop("figures")
    results = {
        "experiment": "gat",
        "dataset": cfg.dataset,
        "layer": cfg.layer,
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


def _pm(r: dict) -> str:
    return f"{r['test_acc_mean']:.2f} ± {r['test_acc_std']:.2f}"


def _paper(r: dict) -> str:
    if r.get("paper_test_acc") is None:
        return "n/a"
    return f"{r['paper_test_acc']:.1f} ± {r['paper_test_std']:.1f}"


def _pct(key: str) -> Any:
    return lambda r: f"{100 * r[key]:.1f}"


def tables(results: dict[str, Any]) -> list[Table]:
    """The summary (accuracy against the paper, epochs, cost), the runs, the attention entropy
    per layer."""
    mean_epochs = statistics.fmean(r["epochs"] for r in results["runs"])
    summary = [
        Column("dataset"),
        Column("seeds"),
        Column("test_acc_mean", "test acc % (mean ± std)", _pm),
        Column("paper_test_acc", "paper", _paper, "right"),
        Column("epochs", "mean epochs", lambda r: f"{mean_epochs:.0f}", "right"),
        Column("ms_per_epoch", "ms/epoch wall", ".1f"),
        Column(
            "cpu_ms_per_epoch",
            "ms/epoch CPU",
            lambda r: f"{r.get('cpu_ms_per_epoch', math.nan):.1f}",
            "right",
        ),  # fmt: skip
        Column("seconds", "wall s", ".0f"),
        Column("cpu_seconds", "CPU s", ".0f"),
    ]
    runs = [
        Column("seed"),
        Column("test_acc", "test acc %", _pct("test_acc"), "right"),
        Column("val_acc", "val acc %", _pct("val_acc"), "right"),
        Column("val_loss", "val loss", ".4f"),
        Column("kept_epoch", "kept epoch"),
        Column("epochs"),
        Column("seconds", "s", ".1f"),
    ]
    entropy = [
        Column("layer"),
        Column("heads"),
        Column("edges"),
        Column("mean_entropy", "mean entropy (nats)", ".3f"),
        Column("mean_uniform_entropy", "uniform", ".3f"),
        Column("entropy_ratio", "ratio", ".3f"),
        Column("mean_max_alpha", "mean max alpha", ".3f"),
    ]
    return [
        Table(summary, [results], name="summary"),
        Table(runs, results["runs"], name="runs"),
        Table(entropy, results["entropy"], name="entropy"),
    ]


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="gat",
    summary="Graph attention network on Cora/CiteSeer (paper setting): accuracy and attention.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

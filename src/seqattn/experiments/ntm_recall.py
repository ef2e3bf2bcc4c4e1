"""Experiment ``ntm-recall``: the NTM on associative recall or priority sort, against an LSTM,
with the memory-initialisation ablation of Collier & Beel (2018).

Graves, Wayne & Danihelka (2014): associative recall (section 4.3; items of 3 six-bit vectors,
2-6 items per episode in training, a query item, the answer the item after it) and priority
sort (section 4.5; 20 eight-bit vectors with priorities in [-1, 1], the answer the 16 of highest
priority in order). Per run: the learning curve (held-out cost in bits per sequence, the paper's
measure, and wrong bits, against sequences seen), for recall the cost on episodes of 6-12 items
(generalisation past the 6 of training), the read and write weightings of the best NTM (figures
and attention views), and for the ablation the sequences each memory initialisation (constant,
learned, random; :mod:`seqattn.experiments.ntm_tasks`) needs to reach a held-out cost threshold.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from seqattn.experiments import ntm_tasks  # noqa: E402
from seqattn.experiments.base import Experiment, Progress, no_progress  # noqa: E402
from seqattn.experiments.toolkit import phase, seeds, worker_map  # noqa: E402
from seqattn.viz import AttentionView, plot_panels, save_attention  # noqa: E402
from seqattn.viz.table import Column, Table  # noqa: E402


@dataclass(frozen=True)
class Config:
    """Either task, the paper's machine (100-unit LSTM controller, 128 x 20 memory, one read
    and one write head), RMSProp (momentum 0.9, decay 0.95), gradients clipped to +-10.

    The training budget is far below the paper's (see docs/ntm.md): recall converged there
    within about 30,000 episodes at one sequence per update.
    """

    task: str = "associative-recall"  # or "priority-sort"
    sequences: int = 12_000  # training budget, in sequences
    batch_size: int = 4
    lr: float = 1e-3
    momentum: float = 0.9
    rms_decay: float = 0.95
    clip_value: float = 10.0
    controller_size: int = 100
    memory_slots: int = 128
    memory_width: int = 20
    read_heads: int = 1
    write_heads: int = 1
    item_length: int = 3  # recall: vectors per item
    recall_width: int = 6  # recall: bits per vector
    min_items: int = 2
    max_items: int = 6
    generalisation_items: tuple[int, ...] = (6, 8, 10, 12)
    sort_length: int = 20
    sort_outputs: int = 16
    sort_width: int = 8
    seeds: int = 3
    seed: int = 0
    baseline: bool = True  # an LSTM of about the NTM's parameter count, every seed
    memory_inits: tuple[str, ...] = ("constant", "learned", "random")  # NTM runs per seed
    threshold_bits: float = 1.0  # held-out cost per sequence counted as "learned" (ablation)
    eval_every: int = 500  # sequences
    eval_size: int = 80  # held-out sequences (recall: split evenly over min..max items)
    generalisation_size: int = 32
    compile: bool = True  # torch.compile the NTM cell for training
    workers: int = 1

    def __post_init__(self) -> None:
        for name in (
            "sequences", "batch_size", "controller_size", "memory_slots", "memory_width",
            "read_heads", "write_heads", "item_length", "recall_width", "min_items", "max_items",
            "sort_length", "sort_outputs", "sort_width", "seeds", "eval_every", "eval_size",
            "generalisation_size", "workers",
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.task not in ntm_tasks.TASKS:
            raise ValueError(f"expected task in {ntm_tasks.TASKS}, got {self.task!r}")
        if not 2 <= self.min_items <= self.max_items:
            raise ValueError(
                f"expected 2 <= min_items <= max_items, got {self.min_items}, {self.max_items}"
            )
        if self.sort_outputs > self.sort_length:
            raise ValueError(
                f"expected sort_outputs <= sort_length, got {self.sort_outputs} > "
                f"{self.sort_length}"
            )
        bad = [m for m in self.memory_inits if m not in ntm_tasks.MEMORY_INITS]
        if bad or not self.memory_inits:
            raise ValueError(
                f"expected memory_inits from {ntm_tasks.MEMORY_INITS}, got {self.memory_inits}"
            )
        if any(not isinstance(n, int) or n < 2 for n in self.generalisation_items):
            raise ValueError(
                f"expected generalisation_items of ints >= 2, got {self.generalisation_items}"
            )
        for name in ("lr", "clip_value", "threshold_bits"):
            if not getattr(self, name) > 0:
                raise ValueError(f"expected {name} > 0, got {getattr(self, name)}")


def quick(cfg: Config) -> Config:
    """Demo scale: one seed, 1,500 sequences in batches of 16, a small eager machine."""
    return dataclasses.replace(
        cfg, sequences=min(cfg.sequences, 1500), seeds=1, eval_every=500, batch_size=16,
        lr=3e-3, controller_size=48, memory_slots=48, generalisation_items=(6, 8),
        generalisation_size=16, eval_size=40, compile=False, sort_length=10, sort_outputs=6,
    )  # fmt: skip


def held_out_set(cfg: Config, seed: int = 777) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed held-out batches: recall splits ``eval_size`` over every training item count."""
    g = torch.Generator().manual_seed(seed)
    if cfg.task != "associative-recall":
        return [ntm_tasks.batch(cfg, cfg.eval_size, g)]
    counts = range(cfg.min_items, cfg.max_items + 1)
    per = max(1, cfg.eval_size // len(counts))
    return [ntm_tasks.batch(cfg, per, g, n) for n in counts]


def _job(cfg: Config, kind: str, seed: int) -> dict:
    """Train one run and, for recall, score it on longer episodes; picklable for workers."""
    record, model = ntm_tasks.train_run(cfg, kind, seed, held_out_set(cfg))
    if cfg.task == "associative-recall":
        g = torch.Generator().manual_seed(888)
        for n in cfg.generalisation_items:
            batch = ntm_tasks.batch(cfg, cfg.generalisation_size, g, n)
            record[f"cost_bits_items{n}"] = ntm_tasks.scores(model, [batch])["cost_bits"]
    record["_model"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return record


def _kinds(cfg: Config) -> list[str]:
    return [f"ntm-{m}" for m in cfg.memory_inits] + (["lstm"] if cfg.baseline else [])


def _summary(cfg: Config, runs: list[dict]) -> list[dict]:
    """One row per model kind: medians over its seeds, and the sequences to the threshold."""
    rows = []
    for kind in _kinds(cfg):
        group = [r for r in runs if r["model"] == kind]
        reached = [r["reached_threshold_at"] for r in group if r["reached_threshold_at"]]
        row = {
            "model": kind, "runs": len(group), "params": group[0]["params"],
            "median_cost_bits": statistics.median(r["final_cost_bits"] for r in group),
            "median_wrong_bits": statistics.median(r["final_wrong_bits"] for r in group),
            "reached": len(reached),
            "median_sequences_to_threshold": statistics.median(reached) if reached else None,
            "seconds_median": statistics.median(r["wall_s"] for r in group),
        }  # fmt: skip
        for n in cfg.generalisation_items if cfg.task == "associative-recall" else ():
            row[f"cost_bits_items{n}"] = statistics.median(r[f"cost_bits_items{n}"] for r in group)
        rows.append(row)
    return rows


def _speedups(rows: list[dict]) -> dict[str, float | None]:
    """Median sequences to the threshold of each initialisation over the constant one's
    (> 1: constant is faster); None where either never reached it."""
    by = {r["model"]: r["median_sequences_to_threshold"] for r in rows}
    base = by.get("ntm-constant")
    return {
        k.removeprefix("ntm-"): (v / base if v and base else None)
        for k, v in by.items()
        if k.startswith("ntm-") and k != "ntm-constant"
    }


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    """Train every (model, seed) run in ``cfg.workers`` processes (one torch thread each),
    then draw the learning curves and the best NTM's weightings."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started, cpu0 = time.perf_counter(), time.process_time()
    jobs = [(cfg, kind, s) for kind in _kinds(cfg) for s in seeds(cfg.seed, cfg.seeds)]
    runs = worker_map(_job, jobs, workers=cfg.workers, threads=1, progress=progress,
                      desc=f"ntm-recall ({cfg.task})")  # fmt: skip
    metrics = []
    for r in runs:
        name = f"{r['model']}_seed{r['seed']}"
        for p in r["curve"]:
            metrics.append({"step": p["seen"], f"{name}_cost_bits": p["cost_bits"],
                            f"{name}_wrong_bits": p["wrong_bits"]})  # fmt: skip
    table = _summary(cfg, runs)
    with phase(progress, "figures: learning curves and the NTM's weightings"):
        figures = [str(_curve_plot(cfg, runs, out_dir))]
        attention = _head_figures(cfg, runs, out_dir, figures)
    for r in runs:
        del r["_model"]
    return {
        "experiment": "ntm-recall", "task": cfg.task, "sequences": cfg.sequences,
        "batch_size": cfg.batch_size, "lr": cfg.lr, "threshold_bits": cfg.threshold_bits,
        "table": table, "init_slowdown_vs_constant": _speedups(table), "runs": runs,
        "metrics": metrics, "figures": figures, "attention": attention,
        "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu0,
        "cpu_seconds_training": sum(r["cpu_s"] for r in runs),
    }  # fmt: skip


def _curve_plot(cfg: Config, runs: list[dict], out_dir: Path) -> Path:
    """Panel 1: NTM (constant init) against the LSTM; panel 2: the memory initialisations."""
    panels: dict[str, dict] = {"NTM vs LSTM": {}, "memory initialisation": {}}
    for r in runs:
        curve = ([p["seen"] for p in r["curve"]], [max(p["cost_bits"], 1e-2) for p in r["curve"]])
        label = f"{r['model']} seed {r['seed']}"
        if r["model"] in ("ntm-constant", "lstm"):
            panels["NTM vs LSTM"][label] = curve
        if r["model"].startswith("ntm-"):
            panels["memory initialisation"][label] = curve
    panels = {k: v for k, v in panels.items() if v}
    return plot_panels(
        panels, out_dir / "learning_curve.png", xlabel="training sequences seen",
        ylabel="held-out cost, bits per sequence", logy=True,
        title=f"{cfg.task}: batch {cfg.batch_size}, RMSProp lr {cfg.lr:g}",
    )  # fmt: skip


def _head_figures(cfg: Config, runs: list[dict], out_dir: Path, figures: list[str]) -> list[str]:
    """The best NTM run's inputs, outputs and weightings on one episode (recall: 6 items and
    the largest generalisation count); returns the attention views' HTML paths."""
    ntm_runs = [r for r in runs if r["model"].startswith("ntm-")]
    if not ntm_runs:
        return []
    shown = min(ntm_runs, key=lambda r: r["final_cost_bits"])
    model = ntm_tasks.build_model(cfg, shown["model"], shown["seed"])
    model.load_state_dict(shown["_model"])
    cases = [None]
    if cfg.task == "associative-recall":
        cases = sorted({cfg.max_items, max(cfg.generalisation_items, default=cfg.max_items)})
    attention = []
    for items in cases:
        x, y = ntm_tasks.batch(cfg, 1, torch.Generator().manual_seed(4242), items)
        path, views = _head_figure(model, x, y, out_dir, f"{shown['model']} seed {shown['seed']}")
        figures.append(str(path))
        for stem, view in views.items():
            attention.append(str(save_attention(view, out_dir, stem, formats=("html",))["html"]))
    return attention


@torch.no_grad()
def _head_figure(model, x: torch.Tensor, y: torch.Tensor, out_dir: Path, who: str):
    out = model(x, return_weights=True)
    n = y.shape[0]
    pred = torch.sigmoid(out.logits[-n:, 0])
    ww, rw = out.write_weights[:, 0, 0], out.read_weights[:, 0, 0]  # (T, M)
    used = torch.nonzero((ww.amax(0) > 0.05) | (rw.amax(0) > 0.05)).flatten()
    slots = model.cell.memory_slots
    lo = max(0, int(used.min()) - 2) if used.numel() else 0
    hi = min(slots, int(used.max()) + 3) if used.numel() else slots
    if hi - lo > x.shape[0] + 12:  # the heads wrap round or smear: all of memory
        lo, hi = 0, slots
    wrong = int(((pred > 0.5) != (y[:, 0] > 0.5)).sum())
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), gridspec_kw={"width_ratios": [4, 1]})
    panels = [
        (axes[0, 0], x[:, 0].T, "inputs (last two rows: delimiters / priority)", "channel"),
        (axes[0, 1], torch.cat([y[:, 0], pred], 1).T, "target (top), output", "bit"),
        (axes[1, 0], torch.cat([ww[:, lo:hi], rw[:, lo:hi]], 0).T, "", "location"),
    ]
    for ax, mat, title, ylabel in panels:
        ax.imshow(mat.numpy(), cmap="gray_r", aspect="auto", vmin=0, vmax=1,
                  interpolation="nearest")  # fmt: skip
        ax.set_title(title)
        ax.set_ylabel(ylabel)
    t = x.shape[0]
    axes[1, 0].axvline(t - 0.5, color="tab:red")
    axes[1, 0].set_title(f"write weighting (left, t = 0..{t - 1}) | read weighting (right)")
    axes[1, 0].set_yticks(range(0, hi - lo, 4), [str(lo + i) for i in range(0, hi - lo, 4)])
    axes[1, 1].axis("off")
    stem = f"heads_T{t}"
    fig.suptitle(f"NTM {who}: sequence of {t} steps, {wrong} wrong bits of {y[:, 0].numel()}")
    fig.tight_layout()
    path = out_dir / f"{stem}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    keys, queries = [f"slot {i}" for i in range(lo, hi)], [f"t {i}" for i in range(t)]
    views = {
        f"write_weighting_T{t}": AttentionView(ww[:, lo:hi], keys=keys, queries=queries,
                                               title=f"NTM write weighting ({t} steps)"),
        f"read_weighting_T{t}": AttentionView(rw[:, lo:hi], keys=keys, queries=queries,
                                              title=f"NTM read weighting ({t} steps)"),
    }  # fmt: skip
    return path, views


def tables(results: dict[str, Any]) -> list[Table]:
    """Per model kind: held-out cost and wrong bits per sequence (median of seeds), how many
    seeds reached the threshold and after how many sequences, and the generalisation costs."""
    rows = results["table"]
    items = [k.removeprefix("cost_bits_items") for k in rows[0] if k.startswith("cost_bits_items")]
    columns = [
        Column("model"), Column("runs"), Column("params", fmt=","),
        Column("median_cost_bits", "cost bits/seq", ".2f"),
        Column("median_wrong_bits", "wrong bits/seq", ".2f"),
        Column("reached", f"≤ {results['threshold_bits']:g} bits",
               lambda r: f"{r['reached']}/{r['runs']}"),
        Column("median_sequences_to_threshold", "sequences to it",
               lambda r: "-" if r["median_sequences_to_threshold"] is None
               else f"{r['median_sequences_to_threshold']:,.0f}"),
        *(Column(f"cost_bits_items{n}", f"{n} items", ".2f") for n in items),
    ]  # fmt: skip
    title = (
        f"Task: {results['task']}; {results['sequences']:,} training sequences, batch "
        f"{results['batch_size']}, lr {results['lr']:g}. Held-out cost (binary cross-entropy in "
        "bits) and wrong bits per sequence, median of seeds."
    )
    return [Table(columns, rows, title=title, name="table")]


EXPERIMENT = Experiment(
    name="ntm-recall",
    summary="NTM vs LSTM on associative recall or priority sort; memory-initialisation ablation.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

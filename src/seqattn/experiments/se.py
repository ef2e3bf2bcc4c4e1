"""Experiment ``se``: does squeeze-and-excitation help a ResNet-20 on Fashion-MNIST?

Hu, Shen & Sun (2018) report that SE blocks improve ResNet-50 on ImageNet for about +10 %
parameters and +0.26 % FLOPs, and (their Fig. 6) that excitations are nearly class-agnostic in
early layers and increasingly class-specific with depth. Public CIFAR-10 re-implementations
find no gain at depth 20 and a gain at depth 56. This experiment measures the same at depth 20
on Fashion-MNIST under a fixed CPU budget:

* the plain ResNet-20 and SE-ResNet-20 (r = 16) for several seeds, plus one seed each of other
  reduction ratios (4, 8, 32); every variant gets the same training subset, batch order,
  schedule and epochs for a given seed (a paired comparison);
* test accuracy on the full 10k test set (mean ± std, and the paired SE - plain difference);
* parameters, multiply-adds (convolutions and fully connected layers, counted with
  ``torch.utils.flop_counter.FlopCounterMode``; the SE pooling and scaling are elementwise and
  listed separately), training wall and CPU time;
* per-class mean excitation per channel at several depths (the paper's Fig. 6), and a
  class-specificity number per block: the share of the excitation's variance over test images
  that is explained by the class (η², averaged over channels).

Training: SGD with Nesterov momentum, weight decay and a one-cycle learning rate; images scaled
to [0, 1] and standardised with the training subset's mean and std; no augmentation.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.data.datasets import load_fashion_mnist
from seqattn.evaluation.excitation import class_means, class_specificity
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.se_plots import plots
from seqattn.experiments.toolkit import mean_std, phase, seeds
from seqattn.models.se_resnet import SEResNet, SEResNetConfig
from seqattn.training.loop import LoopState, TrainLoop
from seqattn.viz.table import Column, Table, render_markdown

__all__ = ["EXPERIMENT", "Config", "class_means", "class_specificity", "count_macs", "quick",
           "run", "se_elementwise_ops", "tables"]  # fmt: skip

log = logging.getLogger("seqattn.experiments")

DATASETS = ("fashion-mnist",)


@dataclass(frozen=True)
class Config:
    """Defaults: the full run, sized for <= 40 min on one busy CPU core (see the docs page).

    ``reductions`` run ``seeds`` times next to the plain ResNet; ``extra_reductions`` once.
    """

    dataset: str = "fashion-mnist"
    data_dir: str = ""  # default: SEQATTN_DATA_DIR
    train_size: int = 4000
    test_size: int = 10000
    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.1  # the one-cycle peak
    momentum: float = 0.9
    weight_decay: float = 5e-4
    reductions: tuple[int, ...] = (16,)
    extra_reductions: tuple[int, ...] = (4, 8, 32)
    seeds: int = 3
    seed: int = 0
    shortcut: str = "a"
    channels_last: bool = True
    eval_batch_size: int = 500
    # wall-clock budget of the whole run (0: none): a job that would end past it is skipped and
    # listed in results["skipped"]; the jobs run most important first (plain and the main r,
    # paired by seed, then the extra r)
    budget_minutes: float = 40.0
    # the blocks whose per-class excitations are plotted (the paper's Fig. 6 picks early,
    # middle and all last-stage blocks)
    plot_blocks: tuple[str, ...] = (
        "stage1.block1", "stage2.block1", "stage2.block3",
        "stage3.block1", "stage3.block2", "stage3.block3",
    )  # fmt: skip

    def __post_init__(self) -> None:
        for name in ("train_size", "test_size", "epochs", "batch_size", "seeds",
                     "eval_batch_size"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"expected dataset in {DATASETS}, got {self.dataset!r}")
        if self.train_size > 60000 or self.test_size > 10000:
            raise ValueError(
                f"expected train_size <= 60000 and test_size <= 10000 (Fashion-MNIST), got "
                f"{self.train_size} and {self.test_size}"
            )
        for r in (*self.reductions, *self.extra_reductions):
            if isinstance(r, bool) or not isinstance(r, int) or r < 1:
                raise ValueError(f"expected reductions as ints >= 1, got {r!r}")
        if self.shortcut not in ("a", "b"):
            raise ValueError(f"expected shortcut 'a' or 'b', got {self.shortcut!r}")
        if self.budget_minutes < 0:
            raise ValueError(f"expected budget_minutes >= 0, got {self.budget_minutes}")
        if not self.lr > 0:
            raise ValueError(f"expected lr > 0, got {self.lr}")
        names = {f"stage{i}.block{j}" for i in (1, 2, 3) for j in (1, 2, 3)}
        if not set(self.plot_blocks) <= names:
            raise ValueError(
                f"expected plot_blocks from {sorted(names)}, got {sorted(self.plot_blocks)}"
            )


def quick(cfg: Config) -> Config:
    """Demo scale (about 15 s of CPU): 800 training and 1,000 test images, one epoch, one seed,
    r = 16 and r = 32 (the clamped bottleneck)."""
    return dataclasses.replace(
        cfg, train_size=min(cfg.train_size, 800), test_size=min(cfg.test_size, 1000), epochs=1,
        seeds=1, reductions=(16,), extra_reductions=(32,),
    )  # fmt: skip


# -- cost ---------------------------------------------------------------------------------------


def count_macs(model: nn.Module, example: Tensor) -> int:
    """Multiply-adds of one forward pass of ``example`` (convolutions and matrix products),
    counted by ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def se_elementwise_ops(model: SEResNet) -> int:
    """Per image: the SE blocks' pooling additions and scaling multiplications (2 C H W each
    block); not counted by FlopCounterMode."""
    cfg = model.config
    total, size = 0, cfg.image_size
    for i, width in enumerate(cfg.widths):
        if i > 0:
            size = (size + 1) // 2  # stride 2, padding 1, kernel 3
        if cfg.se_reduction is not None:
            total += cfg.blocks_per_stage * 2 * width * size * size
    return total


# -- data ---------------------------------------------------------------------------------------


def _load(cfg: Config, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    root = cfg.data_dir or None
    x_train, y_train = load_fashion_mnist("train", root)
    x_test, y_test = load_fashion_mnist("test", root)
    pick = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))
    pick = pick[: cfg.train_size]
    x_train, y_train = x_train[pick].float().div_(255), y_train[pick]
    x_test, y_test = x_test[: cfg.test_size].float().div_(255), y_test[: cfg.test_size]
    mean, std = x_train.mean(), x_train.std()  # from the training subset only
    x_train = ((x_train - mean) / std).unsqueeze(1)  # (N, 1, 28, 28)
    x_test = ((x_test - mean) / std).unsqueeze(1)
    return x_train, y_train, x_test, y_test


# -- training -----------------------------------------------------------------------------------


def _batches(x_train: Tensor, y_train: Tensor, perm: Tensor, cfg: Config, fmt) -> Iterator:
    for start in range(0, len(perm), cfg.batch_size):
        idx = perm[start : start + cfg.batch_size]
        yield x_train[idx].contiguous(memory_format=fmt), y_train[idx]


def _fit(cfg: Config, model: SEResNet, x_train: Tensor, y_train: Tensor, seed: int, fmt, label):
    """SGD (Nesterov) with a one-cycle schedule through :class:`TrainLoop`, one run per epoch;
    returns the per-epoch training loss and accuracy."""
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
        weight_decay=cfg.weight_decay,
    )  # fmt: skip
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch
    )
    tally: dict[str, Any] = {}

    def loss_fn(batch) -> Tensor:
        tally["logits"] = model(batch[0])
        return F.cross_entropy(tally["logits"], batch[1])

    def count(state: LoopState, batch) -> None:
        y = batch[1]
        tally["total"] += state.last_loss * len(y)
        tally["correct"] += int((tally["logits"].argmax(1) == y).sum())
        tally["seen"] += len(y)

    loop = TrainLoop(model.parameters(), opt, scheduler=sched, after_step=[count])
    order_gen = torch.Generator().manual_seed(1000 + seed)  # the same batches for every variant
    epochs = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(len(x_train), generator=order_gen)
        tally.update(total=0.0, correct=0, seen=0)
        loop.run(_batches(x_train, y_train, perm, cfg, fmt), loss_fn)
        seen = tally["seen"]
        epochs.append({"epoch": epoch, "train_loss": tally["total"] / seen,
                       "train_acc": tally["correct"] / seen})  # fmt: skip
        log.info("se %s seed %d epoch %d: %s", label, seed, epoch, epochs[-1])
    return epochs


def _test(cfg: Config, model: SEResNet, x_test: Tensor, y_test: Tensor, fmt):
    """Test accuracy and every block's excitations (N, C) on the test set."""
    model.eval()
    correct, exc_parts = 0, {}
    with torch.no_grad():
        for start in range(0, len(x_test), cfg.eval_batch_size):
            x = x_test[start : start + cfg.eval_batch_size].contiguous(memory_format=fmt)
            logits, exc = model(x, return_excitations=True)
            correct += int((logits.argmax(1) == y_test[start : start + len(x)]).sum())
            for name, s in exc.items():
                exc_parts.setdefault(name, []).append(s)
    excitations = {name: torch.cat(parts) for name, parts in exc_parts.items()}  # (N, C) each
    return correct / len(x_test), excitations


def _train_one(cfg: Config, reduction: int | None, seed: int, data) -> dict[str, Any]:
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    model = SEResNet(SEResNetConfig(se_reduction=reduction, shortcut=cfg.shortcut))
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model, x_test[:1])
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    epochs = _fit(cfg, model, x_train, y_train, seed, fmt, f"r={reduction}")
    train_wall, train_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    wall0 = time.perf_counter()
    test_acc, excitations = _test(cfg, model, x_test, y_test, fmt)
    return {
        "variant": "plain" if reduction is None else f"SE r={reduction}",
        "reduction": reduction,
        "seed": seed,
        "test_acc": test_acc,
        "final_train_loss": epochs[-1]["train_loss"],
        "params": params,
        "macs": macs,
        "se_elementwise_ops": se_elementwise_ops(model),
        "squeeze_widths": model.squeeze_widths(),
        "train_wall_s": train_wall,
        "train_cpu_s": train_cpu,
        "eval_wall_s": time.perf_counter() - wall0,
        "epochs": epochs,
        "_excitations": excitations,
    }


# -- excitation analysis ------------------------------------------------------------------------


def _excitation_analysis(run: dict, y_test: Tensor) -> list[dict]:
    rows = []
    for depth, (name, s) in enumerate(run["_excitations"].items(), start=1):
        means = class_means(s, y_test, 10)
        rows.append({
            "variant": run["variant"],
            "seed": run["seed"],
            "block": name,
            "depth": depth,
            "channels": s.shape[1],
            "class_specificity": class_specificity(s, y_test, 10),
            "class_mean_spread": float(means.std(0).mean()),  # std over classes, mean over C
            "mean_excitation": float(s.mean()),
        })  # fmt: skip
    return rows


# -- run ----------------------------------------------------------------------------------------


def _train_jobs(cfg: Config, progress: Progress) -> tuple[list[dict], list[dict], Tensor]:
    """Every (reduction, seed) job, most important first, skipping those that would end past
    the wall-clock budget; returns the runs, the skipped jobs and the test labels."""
    started = time.perf_counter()
    run_seeds = seeds(cfg.seed, cfg.seeds)
    jobs = [(r, s) for s in run_seeds for r in (None, *cfg.reductions)]
    jobs += [(r, cfg.seed) for r in cfg.extra_reductions if r not in cfg.reductions]
    data_cache: dict[int, tuple] = {}
    runs, skipped = [], []
    for reduction, seed in progress(jobs, "se", len(jobs)):
        elapsed = time.perf_counter() - started
        per_job = elapsed / len(runs) if runs else 0.0
        if runs and cfg.budget_minutes and elapsed + per_job > 60 * cfg.budget_minutes:
            log.warning("se: skipping r=%s seed %d: the %g min budget", reduction, seed,
                        cfg.budget_minutes)  # fmt: skip
            skipped.append({"reduction": reduction, "seed": seed, "reason": "wall-clock budget"})
            continue
        if seed not in data_cache:
            data_cache = {seed: _load(cfg, seed)}  # one seed's subset in memory at a time
        runs.append(_train_one(cfg, reduction, seed, data_cache[seed]))
    y_test = next(iter(data_cache.values()))[3]  # the test set is the same for every seed
    return runs, skipped, y_test


def _variant_rows(cfg: Config, runs: list[dict]) -> list[dict]:
    """One row per variant: accuracy mean ± std, the paired difference to the plain ResNet
    (same seed), cost and its overhead over the plain ResNet."""
    plain = [r for r in runs if r["reduction"] is None]
    base_params, base_macs = plain[0]["params"], plain[0]["macs"]
    base_wall = statistics.fmean(r["train_wall_s"] for r in plain)
    base_cpu = statistics.fmean(r["train_cpu_s"] for r in plain)
    table = []
    for reduction in dict.fromkeys([None, *cfg.reductions, *cfg.extra_reductions]):
        group = [r for r in runs if r["reduction"] == reduction]
        if not group:
            continue
        acc_mean, acc_std = mean_std(r["test_acc"] for r in group)
        paired = [
            r["test_acc"] - p["test_acc"] for r in group for p in plain if p["seed"] == r["seed"]
        ]
        d_mean, d_std = (0.0, 0.0) if reduction is None else (math.nan, math.nan)
        if reduction is not None and paired:  # a seed whose plain run was skipped has no pair
            d_mean, d_std = mean_std(paired)
        wall = statistics.fmean(r["train_wall_s"] for r in group)
        cpu = statistics.fmean(r["train_cpu_s"] for r in group)
        first = group[0]
        table.append({
            "variant": first["variant"],
            "reduction": reduction,
            "seeds": len(group),
            "test_acc_mean": acc_mean,
            "test_acc_std": acc_std,
            "diff_vs_plain_mean": d_mean,
            "diff_vs_plain_std": d_std,
            "params": first["params"],
            "param_overhead_pct": 100 * (first["params"] - base_params) / base_params,
            "macs": first["macs"],
            "mac_overhead_pct": 100 * (first["macs"] - base_macs) / base_macs,
            "se_elementwise_ops": first["se_elementwise_ops"],
            "train_wall_s": wall,
            "train_cpu_s": cpu,
            "time_overhead_pct": 100 * (wall - base_wall) / base_wall,
            "cpu_overhead_pct": 100 * (cpu - base_cpu) / base_cpu,
        })  # fmt: skip
    return table


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    """Train every variant, evaluate on the test set, analyse the excitations, plot.

    Returns:
        ``table`` (one row per variant: accuracy mean ± std, paired difference to the plain
        ResNet, parameters, MACs, times and their overheads), ``specificity`` (one row per SE
        run and block), ``runs``, ``skipped``, ``metrics`` (training loss per epoch),
        ``figures``, ``seconds`` and ``cpu_seconds``.
    """
    out_dir = Path(out_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    runs, skipped, y_test = _train_jobs(cfg, progress)
    table = _variant_rows(cfg, runs)
    with phase(progress, "excitation analysis and figures"):
        specificity = [
            row for r in runs if r["_excitations"] for row in _excitation_analysis(r, y_test)
        ]
        figures = plots(cfg, runs, y_test, specificity, out_dir)
    metrics = [
        {"run": f"{r['variant']}/seed{r['seed']}", "step": e["epoch"], **e}
        for r in runs
        for e in r["epochs"]
    ]
    for r in runs:
        del r["_excitations"]
    return {
        "experiment": "se",
        "task": (
            f"Fashion-MNIST, ResNet-20 with/without SE; {cfg.train_size} training images "
            f"(random subset per seed), {cfg.epochs} epochs, batch {cfg.batch_size}, test on "
            f"{cfg.test_size}"
        ),
        "table": table,
        "specificity": specificity,
        "runs": runs,
        "skipped": skipped,
        "metrics": metrics,
        "figures": figures,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "torch_threads": torch.get_num_threads(),
    }


def _acc(r: dict) -> str:
    return f"{100 * r['test_acc_mean']:.2f} ± {100 * r['test_acc_std']:.2f}"


def _diff(r: dict) -> str:
    if r["reduction"] is None:
        return "—"
    return f"{100 * r['diff_vs_plain_mean']:+.2f} ± {100 * r['diff_vs_plain_std']:.2f}"


def _specificity_table(spec: list[dict]) -> Table:
    """Blocks by SE variant: η² and the std over classes of the class means, mean over runs."""
    variants = sorted({r["variant"] for r in spec})
    rows = []
    for block in dict.fromkeys(r["block"] for r in spec):
        row: dict[str, Any] = {"block": block}
        for v in variants:
            vals = [r for r in spec if (r["block"], r["variant"]) == (block, v)]
            if vals:
                row[v] = statistics.fmean(r["class_specificity"] for r in vals)
                row[f"{v} spread"] = statistics.fmean(r["class_mean_spread"] for r in vals)
        rows.append(row)

    def cell(v: str) -> Any:
        return lambda row: f"{row[v]:.2f} ({row[f'{v} spread']:.4f})" if v in row else "—"

    title = (
        "Class specificity of the excitations by block, mean over runs: η² (the class's share "
        "of the variance) and, in brackets, the std over classes of the class-mean excitation:"
    )
    columns = [Column("block"), *(Column(v, fmt=cell(v), align="right") for v in variants)]
    return Table(columns, rows, title=title, name="specificity")


def tables(results: dict[str, Any]) -> list[Table]:
    """The variants (accuracy, paired difference, cost and overheads; skipped jobs as notes)
    and, when there are SE runs, the class specificity by block."""
    columns = [
        Column("variant"),
        Column("seeds"),
        Column("test_acc_mean", "test acc %", _acc),
        Column("diff_vs_plain_mean", "SE − plain (paired)", _diff),
        Column("params", fmt=","),
        Column("param_overhead_pct", "+params", "{:+.1f} %"),
        Column("macs", "MACs", lambda r: f"{r['macs'] / 1e6:.2f} M"),
        Column("mac_overhead_pct", "+MACs", "{:+.2f} %"),
        Column("train_wall_s", "train wall s", ".0f"),
        Column("time_overhead_pct", "+time", "{:+.0f} %"),
        Column("train_cpu_s", "train CPU s", ".0f"),
    ]
    notes = [
        f"Skipped (over the wall-clock budget): r={job['reduction']}, seed {job['seed']}"
        for job in results.get("skipped", [])
    ]
    out = [Table(columns, results["table"], title=f"Task: {results['task']}", notes=notes,
                 name="table")]  # fmt: skip
    if results.get("specificity"):
        out.append(_specificity_table(results["specificity"]))
    return out


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="se",
    summary="ResNet-20 with and without squeeze-and-excitation on Fashion-MNIST (r, cost, Fig. 6).",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

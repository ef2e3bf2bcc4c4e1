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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.data.datasets import load_fashion_mnist
from seqattn.data.datasets.fashion_mnist import FASHION_MNIST_CLASSES
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.models.se_resnet import SEResNet, SEResNetConfig

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


def _train_one(cfg: Config, reduction: int | None, seed: int, data) -> dict[str, Any]:
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    model = SEResNet(SEResNetConfig(se_reduction=reduction, shortcut=cfg.shortcut))
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model, x_test[:1])
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
        weight_decay=cfg.weight_decay,
    )  # fmt: skip
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch
    )
    order_gen = torch.Generator().manual_seed(1000 + seed)  # the same batches for every variant
    epochs = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(len(x_train), generator=order_gen)
        total, correct, seen = 0.0, 0, 0
        for start in range(0, len(perm), cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            x = x_train[idx].contiguous(memory_format=fmt)
            y = y_train[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        epochs.append({"epoch": epoch, "train_loss": total / seen, "train_acc": correct / seen})
        log.info("se r=%s seed %d epoch %d: %s", reduction, seed, epoch, epochs[-1])
    train_wall, train_cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    wall0 = time.perf_counter()
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
    return {
        "variant": "plain" if reduction is None else f"SE r={reduction}",
        "reduction": reduction,
        "seed": seed,
        "test_acc": correct / len(x_test),
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


def class_means(s: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Mean excitation per class and channel: (K, C) from s (N, C) and labels (N,)."""
    sums = torch.zeros(num_classes, s.shape[1], dtype=s.dtype).index_add_(0, labels, s)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1)
    return sums / counts[:, None].to(s.dtype)


def class_specificity(s: Tensor, labels: Tensor, num_classes: int) -> float:
    """η² averaged over channels: between-class variance of s over its total variance.

    0 when every class has the same mean excitation (class-agnostic), 1 when the excitation
    is a function of the class alone. Channels with (numerically) constant s are skipped.
    """
    s = s.double()
    means = class_means(s, labels, num_classes)  # (K, C)
    counts = torch.bincount(labels, minlength=num_classes).double()  # (K,)
    grand = s.mean(0)  # (C,)
    between = (counts[:, None] * (means - grand) ** 2).sum(0) / len(s)  # (C,)
    total = s.var(0, unbiased=False)  # (C,)
    keep = total > 1e-12
    if not bool(keep.any()):
        return 0.0
    return float((between[keep] / total[keep]).mean())


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


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


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
    seeds = [cfg.seed + k for k in range(cfg.seeds)]
    jobs = [(r, s) for s in seeds for r in (None, *cfg.reductions)]
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

    plain = [r for r in runs if r["reduction"] is None]
    base_params, base_macs = plain[0]["params"], plain[0]["macs"]
    base_wall = statistics.fmean(r["train_wall_s"] for r in plain)
    base_cpu = statistics.fmean(r["train_cpu_s"] for r in plain)
    table = []
    for reduction in [None, *cfg.reductions, *cfg.extra_reductions]:
        group = [r for r in runs if r["reduction"] == reduction]
        if not group or any(row["reduction"] == reduction for row in table):
            continue
        acc_mean, acc_std = _mean_std([r["test_acc"] for r in group])
        paired = [
            r["test_acc"] - p["test_acc"] for r in group for p in plain if p["seed"] == r["seed"]
        ]
        # a seed whose plain run was skipped (budget) has no pair
        d_mean, d_std = _mean_std(paired) if reduction is not None and paired else (0.0, 0.0)
        if reduction is not None and not paired:
            d_mean = d_std = math.nan
        wall = statistics.fmean(r["train_wall_s"] for r in group)
        cpu = statistics.fmean(r["train_cpu_s"] for r in group)
        table.append({
            "variant": group[0]["variant"],
            "reduction": reduction,
            "seeds": len(group),
            "test_acc_mean": acc_mean,
            "test_acc_std": acc_std,
            "diff_vs_plain_mean": d_mean,
            "diff_vs_plain_std": d_std,
            "params": group[0]["params"],
            "param_overhead_pct": 100 * (group[0]["params"] - base_params) / base_params,
            "macs": group[0]["macs"],
            "mac_overhead_pct": 100 * (group[0]["macs"] - base_macs) / base_macs,
            "se_elementwise_ops": group[0]["se_elementwise_ops"],
            "train_wall_s": wall,
            "train_cpu_s": cpu,
            "time_overhead_pct": 100 * (wall - base_wall) / base_wall,
            "cpu_overhead_pct": 100 * (cpu - base_cpu) / base_cpu,
        })  # fmt: skip

    specificity = [
        row for r in runs if r["_excitations"] for row in _excitation_analysis(r, y_test)
    ]
    figures = _plots(cfg, runs, y_test, specificity, out_dir)
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


def _plots(cfg: Config, runs: list[dict], y_test: Tensor, spec: list[dict], out_dir: Path):
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


def table_text(results: dict[str, Any]) -> str:
    lines = [
        f"Task: {results['task']}",
        "",
        "| variant | seeds | test acc % | SE − plain (paired) | params | +params | MACs "
        "| +MACs | train wall s | +time | train CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["table"]:
        diff = (
            "—"
            if r["reduction"] is None
            else f"{100 * r['diff_vs_plain_mean']:+.2f} ± {100 * r['diff_vs_plain_std']:.2f}"
        )
        lines.append(
            f"| {r['variant']} | {r['seeds']} | {100 * r['test_acc_mean']:.2f} ± "
            f"{100 * r['test_acc_std']:.2f} | {diff} | {r['params']:,} "
            f"| {r['param_overhead_pct']:+.1f} % | {r['macs'] / 1e6:.2f} M "
            f"| {r['mac_overhead_pct']:+.2f} % | {r['train_wall_s']:.0f} "
            f"| {r['time_overhead_pct']:+.0f} % | {r['train_cpu_s']:.0f} |"
        )
    for job in results.get("skipped", []):
        lines.append(
            f"\nSkipped (over the wall-clock budget): r={job['reduction']}, seed {job['seed']}"
        )
    spec = results.get("specificity", [])
    if spec:
        lines += [
            "",
            "Class specificity of the excitations by block, mean over runs: η² (the "
            "class's share of the variance) and, in brackets, the std over classes of the "
            "class-mean excitation:",
            "",
        ]
        variants = sorted({r["variant"] for r in spec})
        blocks = list(dict.fromkeys(r["block"] for r in spec))
        lines.append("| block | " + " | ".join(variants) + " |")
        lines.append("|---|" + "---:|" * len(variants))
        for block in blocks:
            cells = []
            for v in variants:
                vals = [r for r in spec if (r["block"], r["variant"]) == (block, v)]
                eta = statistics.fmean(r["class_specificity"] for r in vals) if vals else 0
                spread = statistics.fmean(r["class_mean_spread"] for r in vals) if vals else 0
                cells.append(f"{eta:.2f} ({spread:.4f})" if vals else "—")
            lines.append(f"| {block} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="se",
    summary="ResNet-20 with and without squeeze-and-excitation on Fashion-MNIST (r, cost, Fig. 6).",
    config_cls=Config,
    run=run,
    quick=quick,
    table=table_text,
)

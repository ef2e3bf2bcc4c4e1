"""Experiment ``recall``: MQAR and selective copying across seven sequence mixers.

Arora et al. 2023 ("Zoology") found that attention solves multi-query associative recall
(MQAR) at every model width while gated convolutions and recurrences with a small state need
much larger widths; Gu & Dao 2023 ("Mamba") use selective copying to show what input-dependent
(selective) state updates buy. This experiment measures both on the same footing:

* tasks (:mod:`seqattn.data.synthetic.recall`): ``mqar`` (T // ``pair_every`` key-value pairs,
  every key queried once later on) and ``selective_copy`` (``copy_tokens`` data tokens among
  noise, reproduced in order after as many markers);
* models (:mod:`seqattn.experiments.recall_models`): one residual stack whose mixer is LSTM,
  GRU, minGRU, Mamba, mLSTM, causal linear attention or causal softmax attention, sized to the
  parameter count of the softmax-attention model at each nominal width;
* grid: task x model x width x length x seed, trained with the same optimiser, batches and step
  budget; accuracy is measured on a fixed held-out set per (task, length), at the positions a
  task asks for.

Reported: accuracy (mean ± std over seeds), the matched width d and parameter count, training
seconds per cell; the accuracy-vs-width plot per sequence length, one figure per task.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seqattn.data.synthetic.recall import (
    IGNORE_INDEX,
    mqar_batch,
    mqar_vocab_size,
    selective_copy_batch,
    selective_copy_vocab_size,
)
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.recall_models import (
    MIXERS,
    RecallModel,
    matched_width,
    parameter_count,
)
from seqattn.experiments.toolkit import mean_std, seeds, worker_map
from seqattn.training.loop import TrainLoop
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table

TASKS = ("mqar", "selective_copy")
_REFERENCE = "softmax_attention"  # the model whose parameter count the others match
_TEST_SEED = 999_999


@dataclass(frozen=True)
class Config:
    tasks: tuple[str, ...] = TASKS
    models: tuple[str, ...] = MIXERS
    widths: tuple[int, ...] = (64, 128, 256)  # nominal D: the attention model's width
    lengths: tuple[int, ...] = (64, 128, 256, 512)
    pair_every: int = 8  # MQAR pairs per sequence: T // pair_every (Zoology: 64 at T = 512)
    num_keys: int = 64
    num_values: int = 64
    copy_tokens: int = 16  # selective copying: data tokens (Gu & Dao: 16)
    copy_symbols: int = 16  # and their alphabet (Gu & Dao: 16)
    layers: int = 2
    heads: int = 2
    mlp: bool = True
    positions: str = "sinusoidal"  # the attention mixers': sinusoidal or learned
    batch: int = 32
    steps: int = 2000
    lr: float = 1e-3
    weight_decay: float = 0.1
    clip_norm: float = 1.0
    eval_examples: int = 1000
    seeds: int = 3
    seed: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        for name, allowed in (("tasks", TASKS), ("models", MIXERS)):
            unknown = set(getattr(self, name)) - set(allowed)
            if unknown or not getattr(self, name):
                raise ValueError(f"expected {name} from {list(allowed)}, got {sorted(unknown)}")
        for name in ("widths", "lengths"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"expected {name} as positive ints, got {values!r}")
        if any(w % self.heads for w in self.widths):
            raise ValueError(f"expected widths divisible by heads={self.heads}, got {self.widths}")
        shortest = min(self.lengths)
        if shortest // self.pair_every < 1 or self.num_keys < max(self.lengths) // self.pair_every:
            raise ValueError(
                f"expected 1 <= T // pair_every <= num_keys for every length, got lengths "
                f"{self.lengths}, pair_every {self.pair_every}, num_keys {self.num_keys}"
            )
        if shortest < 2 * self.copy_tokens:
            raise ValueError(
                f"expected lengths >= 2 * copy_tokens = {2 * self.copy_tokens}, got {shortest}"
            )


def quick(cfg: Config) -> Config:
    """Every task and model once, tiny: width 16, T = 32, 20 steps, one seed."""
    return dataclasses.replace(cfg, widths=(16,), lengths=(32,), copy_tokens=4, steps=20,
                               batch=16, seeds=1, eval_examples=64)  # fmt: skip


def vocab_size(cfg: Config, task: str) -> int:
    if task == "mqar":
        return mqar_vocab_size(cfg.num_keys, cfg.num_values)
    return selective_copy_vocab_size(cfg.copy_symbols)


def make_batch(cfg: Config, task: str, length: int, batch: int, gen: torch.Generator):
    """(inputs (B, T), targets (B, T)) of ``task`` at length T."""
    if task == "mqar":
        return mqar_batch(batch, length, length // cfg.pair_every, cfg.num_keys, cfg.num_values,
                          generator=gen)  # fmt: skip
    return selective_copy_batch(batch, length, cfg.copy_tokens, cfg.copy_symbols, generator=gen)


def model_kwargs(cfg: Config, task: str) -> dict[str, Any]:
    return {"vocab_size": vocab_size(cfg, task), "layers": cfg.layers, "heads": cfg.heads,
            "max_len": max(cfg.lengths), "mlp": cfg.mlp, "positions": cfg.positions}  # fmt: skip


def sizes(cfg: Config, task: str, width: int) -> dict[str, tuple[int, int]]:
    """``{model: (d, parameters)}`` at nominal width ``width``, matched to softmax attention."""
    kw = model_kwargs(cfg, task)
    target = parameter_count(RecallModel(_REFERENCE, dim=width, **kw))
    out = {}
    for model in cfg.models:
        d = width if model == _REFERENCE else matched_width(model, target, **kw)
        out[model] = (d, parameter_count(RecallModel(model, dim=d, **kw)))
    return out


@torch.no_grad()
def accuracy(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
             chunk: int = 250) -> float:  # fmt: skip
    """Token accuracy at the positions the task asks for (targets != IGNORE_INDEX)."""
    model.eval()
    right = asked = 0
    for x, y in zip(inputs.split(chunk), targets.split(chunk), strict=True):
        mask = y != IGNORE_INDEX
        right += int((model(x).argmax(-1) == y)[mask].sum())
        asked += int(mask.sum())
    model.train()
    return right / asked


def train_cell(cfg: Config, task: str, model_name: str, width: int, dim: int, length: int,
               seed: int) -> dict[str, Any]:  # fmt: skip
    """Train one (task, model, width, length, seed) cell; its accuracy and times."""
    torch.manual_seed(seed)
    model = RecallModel(model_name, dim=dim, **model_kwargs(cfg, task))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(1000 + seed)
    test = make_batch(cfg, task, length, cfg.eval_examples,
                      torch.Generator().manual_seed(_TEST_SEED + length))  # fmt: skip

    def loss_fn(batch):
        x, y = batch
        return F.cross_entropy(model(x).transpose(1, 2), y, ignore_index=IGNORE_INDEX)

    batches = (make_batch(cfg, task, length, cfg.batch, gen) for _ in range(cfg.steps))
    loop = TrainLoop(model.parameters(), opt, clip_norm=cfg.clip_norm, stop_on_nonfinite=True)
    started = time.perf_counter()
    state = loop.run(batches, loss_fn)
    train_s = time.perf_counter() - started
    losses = state.losses
    tail = losses[-max(1, len(losses) // 20) :]
    return {
        "task": task, "model": model_name, "width": width, "dim": dim, "length": length,
        "seed": seed, "params": parameter_count(model), "steps": state.step,
        "accuracy": accuracy(model, *test), "final_loss": sum(tail) / len(tail),
        "stopped_by": state.stopped_by, "train_seconds": train_s,
        "ms_per_step": 1e3 * train_s / max(1, state.step),
    }  # fmt: skip


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, model, width, length): accuracy mean ± std over seeds."""
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for r in runs:
        cells.setdefault((r["task"], r["model"], r["width"], r["length"]), []).append(r)
    rows = []
    for (task, model, width, length), mine in cells.items():
        acc, std = mean_std(r["accuracy"] for r in mine)
        rows.append({
            "task": task, "model": model, "width": width, "length": length,
            "dim": mine[0]["dim"], "params": mine[0]["params"], "seeds": len(mine),
            "accuracy_mean": acc, "accuracy_std": std,
            "accuracy_min": min(r["accuracy"] for r in mine),
            "train_seconds": sum(r["train_seconds"] for r in mine) / len(mine),
        })  # fmt: skip
    return rows


def _figures(cfg: Config, rows: list[dict[str, Any]], out_dir: Path) -> list[str]:
    figures = []
    for task in cfg.tasks:
        panels: dict[str, dict] = {}
        bands: dict[str, dict] = {}
        for length in cfg.lengths:
            key = f"T = {length}"
            panels[key], bands[key] = {}, {}
            for model in cfg.models:
                mine = sorted((r for r in rows if (r["task"], r["model"], r["length"])
                               == (task, model, length)), key=lambda r: r["width"])  # fmt: skip
                x = [r["width"] for r in mine]
                m = [r["accuracy_mean"] for r in mine]
                s = [r["accuracy_std"] for r in mine]
                panels[key][model] = (x, m)
                bands[key][model] = ([a - b for a, b in zip(m, s, strict=True)],
                                     [a + b for a, b in zip(m, s, strict=True)])  # fmt: skip
        path = plot_panels(panels, out_dir / f"accuracy_vs_width_{task}.png",
                           xlabel="width D (parameters matched to attention at D)",
                           ylabel="accuracy", logx=len(cfg.widths) > 1, bands=bands,
                           title=f"{task}: accuracy vs width")  # fmt: skip
        figures.append(str(path))
    return figures


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    repeats = seeds(cfg.seed, cfg.seeds)
    matched = {(t, w): sizes(cfg, t, w) for t in cfg.tasks for w in cfg.widths}
    jobs = [(cfg, t, m, w, matched[t, w][m][0], n, s)
            for t in cfg.tasks for n in cfg.lengths for w in cfg.widths
            for m in cfg.models for s in repeats]  # fmt: skip
    runs = worker_map(train_cell, jobs, workers=cfg.workers, progress=progress, desc="recall")
    rows = summarise(runs)
    return {
        "experiment": "recall",
        "seeds": repeats,
        "table": rows,
        "runs": runs,
        "sizes": [
            {"task": t, "width": w, "model": m, "dim": d, "params": p}
            for (t, w), by in matched.items()
            for m, (d, p) in by.items()
        ],  # fmt: skip
        "figures": _figures(cfg, rows, out_dir),
        "seconds": time.perf_counter() - started,
    }


def tables(results: dict[str, Any]) -> list[Table | str]:
    """One table per task: a row per model x width x length."""
    columns = [
        Column("model"), Column("width"), Column("dim", "d"), Column("params"),
        Column("length", "T"),
        Column("accuracy_mean", "accuracy",
               lambda r: f"{r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f}"),
        Column("seeds"), Column("train_seconds", "train s", ".1f"),
    ]  # fmt: skip
    out: list[Table | str] = []
    for task in dict.fromkeys(r["task"] for r in results["table"]):
        rows = [r for r in results["table"] if r["task"] == task]
        out.append(Table(columns, rows, title=task, name=f"table_{task}",
                         notes=["width: the nominal D; d: this model's width at the "
                                "parameter count of softmax attention at D"]))  # fmt: skip
    return out


EXPERIMENT = Experiment(
    name="recall",
    summary="MQAR and selective copying: LSTM, GRU, minGRU, Mamba, mLSTM, linear and softmax "
    "attention at matched parameter counts.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

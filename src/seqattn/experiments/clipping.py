"""Experiment ``clipping``: a vanilla RNN on the adding problem, with and without gradient
clipping, under default / orthogonal / identity recurrent initialisation.

The drill (Pascanu, Mikolov & Bengio 2013; Le, Jaitly & Hinton 2015): a vanilla RNN trained on
the adding problem (Hochreiter & Schmidhuber 1997) must carry two marked numbers across the
whole sequence. Its gradients either vanish (the loss stays at the 0.167 baseline of always
predicting 1.0) or explode (a single step with a huge gradient throws the weights far away,
or to inf/NaN). Clipping the gradient's norm bounds the size of every update without changing
its direction, which tames the explosions but does nothing for vanishing; an identity
recurrent matrix with ReLU (IRNN) keeps the gradient alive but explodes without clipping.

Measured per run: test MSE over training (a held-out set of 1,000 sequences), the pre-clip
gradient norm of every step, the largest one, and whether (and when) the run diverged.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqattn.data.synthetic import adding_problem
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.toolkit import mean_std, seeds
from seqattn.io import atomic_write_text
from seqattn.nn import RNN
from seqattn.nn.init import init_recurrent
from seqattn.training.loop import LoopState, TrainLoop
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown

INITS = ("default", "orthogonal", "identity")
BASELINE_MSE = 1 / 6  # predicting 1.0 always: Var(U1 + U2) = 2/12


@dataclass(frozen=True)
class Config:
    """SGD with momentum 0.9 (Adam would hide much of the effect by normalising step sizes)."""

    length: int = 50
    hidden_size: int = 64
    batch_size: int = 50
    steps: int = 3000
    lr_tanh: float = 0.01
    lr_relu: float = 0.001
    momentum: float = 0.9
    clip_norm: float = 1.0
    nonlinearities: tuple[str, ...] = ("tanh", "relu")
    inits: tuple[str, ...] = INITS
    seeds: int = 2
    seed: int = 0
    eval_every: int = 100
    test_size: int = 1000

    def __post_init__(self) -> None:
        for name in ("length", "hidden_size", "batch_size", "steps", "seeds", "eval_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.length < 2:
            raise ValueError(f"expected length >= 2, got {self.length}")
        unknown = set(self.nonlinearities) - {"tanh", "relu"}
        if unknown:
            raise ValueError(f"expected nonlinearities from ['relu', 'tanh'], got {unknown}")
        unknown = set(self.inits) - set(INITS)
        if unknown:
            raise ValueError(f"expected inits from {list(INITS)}, got {sorted(unknown)}")
        if not self.clip_norm > 0:
            raise ValueError(f"expected clip_norm > 0, got {self.clip_norm}")


def quick(cfg: Config) -> Config:
    """Demo scale: 1 seed, 800 steps (the explosions and the first learning show already)."""
    return dataclasses.replace(cfg, seeds=1, steps=min(cfg.steps, 800), eval_every=50)


class AddingRNN(nn.Module):
    """Vanilla RNN read out linearly from its last state."""

    def __init__(self, hidden_size: int, nonlinearity: str, init: str) -> None:
        super().__init__()
        self.rnn = RNN(2, hidden_size, nonlinearity=nonlinearity, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)
        init_recurrent(self.rnn, hidden=init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, 2) -> (B,)
        _, h = self.rnn(x)
        return self.head(h[-1]).squeeze(-1)


def _train_one(cfg: Config, nonlin: str, init: str, clip: bool, seed: int, test) -> dict:
    """One run through TrainLoop: the held-out MSE every ``eval_every`` steps (a callback that
    stops the run when it is not finite); a non-finite loss or gradient norm ends the run
    before its update."""
    torch.manual_seed(seed)
    model = AddingRNN(cfg.hidden_size, nonlin, init)
    lr = cfg.lr_tanh if nonlin == "tanh" else cfg.lr_relu
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum)
    data_gen = torch.Generator().manual_seed(10_000 + seed)
    x_test, y_test = test
    eval_steps, test_mse = [], []

    def evaluate(state: LoopState, _batch) -> None:
        if state.step % cfg.eval_every and state.step != cfg.steps:
            return
        with torch.no_grad():
            mse = float(((model(x_test) - y_test) ** 2).mean())
        eval_steps.append(state.step)
        test_mse.append(mse)
        state.stop = not math.isfinite(mse)

    def batches():
        while True:
            yield adding_problem(cfg.batch_size, cfg.length, seed=data_gen)

    loop = TrainLoop(
        model.parameters(), opt, clip_norm=cfg.clip_norm if clip else math.inf,
        max_steps=cfg.steps, stop_on_nonfinite=True, after_step=[evaluate],
    )  # fmt: skip
    state = loop.run(batches(), lambda batch: ((model(batch[0]) - batch[1]) ** 2).mean())
    # a non-finite step is not counted in state.step; a non-finite evaluation follows one
    diverged_at = {"nonfinite": state.step + 1, "callback": state.step}.get(state.stopped_by)
    finite = [g for g in state.grad_norms if math.isfinite(g)]
    return {
        "nonlinearity": nonlin,
        "init": init,
        "clip": clip,
        "seed": seed,
        "lr": lr,
        "final_test_mse": test_mse[-1] if test_mse and diverged_at is None else math.nan,
        "best_test_mse": min((m for m in test_mse if math.isfinite(m)), default=math.nan),
        "diverged_at": diverged_at,
        "max_grad_norm": max(finite, default=math.nan),
        "median_grad_norm": float(torch.tensor(finite).median()) if finite else math.nan,
        "eval_steps": eval_steps,
        "test_mse": test_mse,
        "grad_norms": state.grad_norms,
        "train_loss": state.losses,
    }


def _smooth(values: list[float], window: int) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for start in range(0, len(values), window):
        chunk = [v for v in values[start : start + window] if math.isfinite(v)]
        if chunk:
            xs.append(start + len(chunk))
            ys.append(max(chunk))
    return xs, ys


def _write_metrics(runs: list[dict], out_dir: Path) -> None:
    """metrics.jsonl: one record per evaluation of every run."""
    lines = []
    for r in runs:
        name = f"{r['nonlinearity']}/{r['init']}/{'clip' if r['clip'] else 'noclip'}/{r['seed']}"
        for step, mse in zip(r["eval_steps"], r["test_mse"], strict=True):
            lines.append(json.dumps({"run": name, "step": step, "test_mse": mse}))
    atomic_write_text(out_dir / "metrics.jsonl", "".join(ln + "\n" for ln in lines))


def _summary_row(group: list[dict]) -> dict[str, Any]:
    """The seeds of one (nonlinearity, init, clip) setting, summarised; the final MSE's mean is
    over the runs that did not diverge."""
    first = group[0]
    ok = [r["final_test_mse"] for r in group if math.isfinite(r["final_test_mse"])]
    return {
        "nonlinearity": first["nonlinearity"],
        "init": first["init"],
        "clip": first["clip"],
        "lr": first["lr"],
        "final_test_mse_mean": mean_std(ok)[0] if ok else math.nan,
        "best_test_mse_mean": mean_std(r["best_test_mse"] for r in group)[0],
        "diverged": sum(r["diverged_at"] is not None for r in group),
        "runs": len(group),
        "max_grad_norm": max(r["max_grad_norm"] for r in group),
        "median_grad_norm": mean_std(r["median_grad_norm"] for r in group)[0],
    }


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    test = adding_problem(cfg.test_size, cfg.length, seed=123_456)
    settings = [(nl, init, clip) for nl in cfg.nonlinearities for init in cfg.inits
                for clip in (False, True)]  # fmt: skip
    jobs = [(*setting, s) for setting in settings for s in seeds(cfg.seed, cfg.seeds)]
    runs = [_train_one(cfg, *job, test) for job in progress(jobs, "clipping", len(jobs))]
    _write_metrics(runs, out_dir)
    key = lambda r: (r["nonlinearity"], r["init"], r["clip"])  # noqa: E731
    table = [_summary_row([r for r in runs if key(r) == setting]) for setting in settings]
    figures = _plots(cfg, runs, out_dir)
    for r in runs:  # the per-step series live in the figures and metrics.jsonl, not results.json
        del r["grad_norms"], r["train_loss"]
    return {
        "experiment": "clipping",
        "task": f"adding problem, length {cfg.length}; baseline MSE {BASELINE_MSE:.3f}",
        "baseline_mse": BASELINE_MSE,
        "table": table,
        "runs": runs,
        "figures": figures,
        "seconds": time.perf_counter() - started,
    }


def _plots(cfg: Config, runs: list[dict], out_dir: Path) -> list[str]:
    first_seed = [r for r in runs if r["seed"] == cfg.seed]
    mse_panels, grad_panels = {}, {}
    window = max(1, cfg.steps // 60)
    for r in first_seed:
        panel = f"init: {r['init']}"
        label = f"{r['nonlinearity']}, {'clip ' + str(cfg.clip_norm) if r['clip'] else 'no clip'}"
        if r["diverged_at"] is not None:
            label += f" (diverged @ {r['diverged_at']})"
        mse_panels.setdefault(panel, {})[label] = (r["eval_steps"], r["test_mse"])
        grad_panels.setdefault(panel, {})[label] = _smooth(r["grad_norms"], window)
    for curves in mse_panels.values():
        for label, (xs, _) in list(curves.items()):
            if not xs:  # diverged before the first evaluation: nothing to draw
                curves[label] = ([0], [math.nan])
    files = [
        plot_panels(
            mse_panels,
            out_dir / "test_mse.png",
            xlabel="SGD step",
            ylabel="test MSE (baseline 0.167)",
            logy=True,
            title=f"Vanilla RNN on the adding problem (T={cfg.length}), seed {cfg.seed}",
        ),
        plot_panels(
            grad_panels,
            out_dir / "grad_norms.png",
            xlabel="SGD step",
            ylabel=f"max pre-clip ‖g‖ per {window} steps",
            logy=True,
            title="Gradient norm before clipping",
        ),
    ]
    return [str(f) for f in files]


def tables(results: dict[str, Any]) -> list[Table | str]:
    """One row per (nonlinearity, init, clipping), under the task line."""
    columns = [
        Column("nonlinearity"),
        Column("init"),
        Column("clip", "clipping", lambda r: "yes" if r["clip"] else "no"),
        Column("lr", fmt="g"),
        Column("final_test_mse_mean", "final test MSE", ".4f"),
        Column("best_test_mse_mean", "best test MSE", ".4f"),
        Column("diverged", fmt=lambda r: f"{r['diverged']}/{r['runs']}"),
        Column("median_grad_norm", "median ‖g‖", ".3g"),
        Column("max_grad_norm", "max ‖g‖", ".3g"),
    ]
    return [Table(columns, results["table"], title=f"Task: {results['task']}", name="table")]


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="clipping",
    summary="Vanilla RNN on the adding problem: gradient clipping x default/orthogonal/identity.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

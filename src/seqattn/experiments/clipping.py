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
from seqattn.io import atomic_write_text
from seqattn.nn import RNN
from seqattn.nn.init import init_recurrent
from seqattn.viz import plot_panels

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
    torch.manual_seed(seed)
    model = AddingRNN(cfg.hidden_size, nonlin, init)
    lr = cfg.lr_tanh if nonlin == "tanh" else cfg.lr_relu
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum)
    data_gen = torch.Generator().manual_seed(10_000 + seed)
    x_test, y_test = test
    grad_norms, train_loss, eval_steps, test_mse = [], [], [], []
    diverged_at = None
    limit = cfg.clip_norm if clip else math.inf
    for step in range(1, cfg.steps + 1):
        x, y = adding_problem(cfg.batch_size, cfg.length, seed=data_gen)
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), limit))
        grad_norms.append(norm)
        train_loss.append(float(loss.detach()))
        if not (math.isfinite(norm) and math.isfinite(train_loss[-1])):
            diverged_at = step
            break
        opt.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            with torch.no_grad():
                mse = float(((model(x_test) - y_test) ** 2).mean())
            eval_steps.append(step)
            test_mse.append(mse)
            if not math.isfinite(mse):
                diverged_at = step
                break
    finite = [g for g in grad_norms if math.isfinite(g)]
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
        "grad_norms": grad_norms,
        "train_loss": train_loss,
    }


def _smooth(values: list[float], window: int) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for start in range(0, len(values), window):
        chunk = [v for v in values[start : start + window] if math.isfinite(v)]
        if chunk:
            xs.append(start + len(chunk))
            ys.append(max(chunk))
    return xs, ys


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    test = adding_problem(cfg.test_size, cfg.length, seed=123_456)
    jobs = [
        (nl, init, clip, cfg.seed + s)
        for nl in cfg.nonlinearities
        for init in cfg.inits
        for clip in (False, True)
        for s in range(cfg.seeds)
    ]
    runs = [_train_one(cfg, *job, test) for job in progress(jobs, "clipping", len(jobs))]

    lines = []
    for r in runs:
        name = f"{r['nonlinearity']}/{r['init']}/{'clip' if r['clip'] else 'noclip'}/{r['seed']}"
        for step, mse in zip(r["eval_steps"], r["test_mse"], strict=True):
            lines.append(json.dumps({"run": name, "step": step, "test_mse": mse}))
    atomic_write_text(out_dir / "metrics.jsonl", "".join(ln + "\n" for ln in lines))

    table = []
    for nl in cfg.nonlinearities:
        for init in cfg.inits:
            for clip in (False, True):
                group = [
                    r for r in runs if (r["nonlinearity"], r["init"], r["clip"]) == (nl, init, clip)
                ]
                finals = [r["final_test_mse"] for r in group]
                ok = [f for f in finals if math.isfinite(f)]
                table.append({
                    "nonlinearity": nl,
                    "init": init,
                    "clip": clip,
                    "lr": group[0]["lr"],
                    "final_test_mse_mean": sum(ok) / len(ok) if ok else math.nan,
                    "best_test_mse_mean": sum(r["best_test_mse"] for r in group) / len(group),
                    "diverged": sum(r["diverged_at"] is not None for r in group),
                    "runs": len(group),
                    "max_grad_norm": max(r["max_grad_norm"] for r in group),
                    "median_grad_norm": sum(r["median_grad_norm"] for r in group) / len(group),
                })  # fmt: skip
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


def table_text(results: dict[str, Any]) -> str:
    lines = [
        f"Task: {results['task']}",
        "",
        "| nonlinearity | init | clipping | lr | final test MSE | best test MSE | diverged "
        "| median ‖g‖ | max ‖g‖ |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["table"]:
        lines.append(
            f"| {r['nonlinearity']} | {r['init']} | {'yes' if r['clip'] else 'no'} | {r['lr']:g} "
            f"| {r['final_test_mse_mean']:.4f} | {r['best_test_mse_mean']:.4f} "
            f"| {r['diverged']}/{r['runs']} | {r['median_grad_norm']:.3g} "
            f"| {r['max_grad_norm']:.3g} |"
        )
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="clipping",
    summary="Vanilla RNN on the adding problem: gradient clipping x default/orthogonal/identity.",
    config_cls=Config,
    run=run,
    quick=quick,
    table=table_text,
)

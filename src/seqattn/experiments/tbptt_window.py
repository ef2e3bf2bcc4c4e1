"""Experiment ``tbptt``: what the truncation window k2 of truncated BPTT costs and buys.

Truncated backpropagation through time (Williams & Peng 1990; see
:mod:`seqattn.training.tbptt`) backpropagates each update through the last k2 steps only.
The trade-off: memory and time per update grow linearly with k2, but a dependency that spans
more than k2 steps sends no gradient back to the step that has to store the information, so
the model cannot learn it, however long it trains.

Task (streaming delayed recall): an endless stream of random symbols from an alphabet of size
V; at every step t ≥ d the target is the symbol seen d steps earlier. A GRU reads the stream in
chunks with its state carried across chunks (k1 = k2 = k, the common "chunked" TBPTT, unless
``k1`` is set). With chunked TBPTT, a target's source is inside the same chunk only when its
position in the chunk is ≥ d, so k ≤ d gives no useful gradient at all: chance accuracy 1/V
is the prediction for k ≤ d, and near-perfect recall once k is comfortably above d.

Measured for each k: accuracy on a held-out stream read without truncation, training time,
time per update, and the memory an update keeps for its backward pass (bytes of the tensors
autograd saves, counted with ``torch.autograd.graph.saved_tensors_hooks``; linear in k2).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.toolkit import mean_std, seeds
from seqattn.io import atomic_write_text
from seqattn.nn import GRU
from seqattn.training import tbptt
from seqattn.training.loop import clip_gradients
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown


@dataclass(frozen=True)
class Config:
    """Adam 3e-3, gradient norm clipped to 1; each epoch is a fresh batch of streams."""

    alphabet: int = 4
    delay: int = 8
    windows: tuple[int, ...] = (2, 4, 8, 12, 16, 32, 64)
    k1: int | None = None  # None: k1 = k2 (chunked); else a fixed k1 for every k2 >= k1
    hidden_size: int = 64
    embed_size: int = 16
    batch_size: int = 32
    stream_length: int = 500
    epochs: int = 60
    lr: float = 3e-3
    seeds: int = 1
    seed: int = 0
    eval_streams: int = 64

    def __post_init__(self) -> None:
        for name in ("alphabet", "delay", "hidden_size", "embed_size", "batch_size",
                     "stream_length", "epochs", "seeds", "eval_streams"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.alphabet < 2:
            raise ValueError(f"expected alphabet >= 2, got {self.alphabet}")
        if not self.windows or any(not isinstance(k, int) or k < 1 for k in self.windows):
            raise ValueError(f"expected windows to be positive ints, got {self.windows!r}")
        if self.k1 is not None and any(k < self.k1 for k in self.windows):
            raise ValueError(f"expected every window k2 >= k1={self.k1}, got {self.windows}")
        if self.delay >= self.stream_length:
            raise ValueError(
                f"expected delay < stream_length={self.stream_length}, got {self.delay}"
            )


def quick(cfg: Config) -> Config:
    """Demo scale: fewer epochs and four windows around the delay."""
    d = cfg.delay
    return dataclasses.replace(cfg, epochs=min(cfg.epochs, 30), seeds=1,
                               windows=(d // 2, d, 2 * d, 4 * d))  # fmt: skip


class StreamGRU(nn.Module):
    """Embedding -> GRU -> linear; ``(x, state) -> (logits, state)`` as tbptt expects."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.alphabet, cfg.embed_size)
        self.rnn = GRU(cfg.embed_size, cfg.hidden_size, batch_first=True)
        self.out = nn.Linear(cfg.hidden_size, cfg.alphabet)

    def forward(self, x: torch.Tensor, state=None):  # (B, T) -> (B, T, V)
        h, state = self.rnn(self.embed(x), state)
        return self.out(h), state


def delayed_recall(batch: int, length: int, alphabet: int, delay: int, gen: torch.Generator):
    """Streams (B, L) of random symbols; targets = the symbol ``delay`` steps back (-100 before)."""
    x = torch.randint(0, alphabet, (batch, length), generator=gen)
    y = torch.full_like(x, -100)
    y[:, delay:] = x[:, :-delay]
    return x, y


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100
    )


def saved_bytes_per_update(model: nn.Module, cfg: Config, k2: int) -> int:
    """Bytes of the tensors autograd keeps for one update's backward over k2 steps."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    gen = torch.Generator().manual_seed(0)
    x, y = delayed_recall(cfg.batch_size, k2 + cfg.delay, cfg.alphabet, cfg.delay, gen)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits, _ = model(x[:, :k2])
        loss = _loss(logits, y[:, :k2])
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(n for (ptr, _), n in seen.items() if ptr not in params)


def _train_one(cfg: Config, k2: int, seed: int, eval_data) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = StreamGRU(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(50_000 + seed)
    k1 = cfg.k1 or k2
    params = list(model.parameters())
    updates, curve = 0, []
    started = time.perf_counter()
    train_seconds = 0.0
    for _ in range(cfg.epochs):
        x, y = delayed_recall(cfg.batch_size, cfg.stream_length, cfg.alphabet, cfg.delay, gen)
        t0 = time.perf_counter()
        result = tbptt(
            model, x, y, _loss, k1=k1, k2=k2, optimizer=opt, time_dim=1,
            after_backward=lambda: clip_gradients(params, clip_norm=1.0),
        )  # fmt: skip
        train_seconds += time.perf_counter() - t0
        updates += len(result.losses)
        curve.append(sum(result.losses) / len(result.losses))
    x_eval, y_eval = eval_data
    with torch.no_grad():
        logits, _ = model(x_eval)  # the whole stream: no truncation at test time
    mask = y_eval != -100
    acc = float((logits.argmax(-1)[mask] == y_eval[mask]).float().mean())
    return {
        "k2": k2,
        "k1": k1,
        "seed": seed,
        "accuracy": acc,
        "updates": updates,
        "train_seconds": train_seconds,
        "ms_per_update": 1000 * train_seconds / updates,
        "saved_bytes_per_update": saved_bytes_per_update(model, cfg, k2),
        "loss_curve": curve,
        "wall_seconds": time.perf_counter() - started,
    }


def _summary_row(group: list[dict[str, Any]]) -> dict[str, Any]:
    """One window's seeds: mean (and worst) accuracy, mean times, the update's memory."""
    n = len(group)
    return {
        "k2": group[0]["k2"],
        "k1": group[0]["k1"],
        "accuracy_mean": mean_std(r["accuracy"] for r in group)[0],
        "accuracy_min": min(r["accuracy"] for r in group),
        "updates": group[0]["updates"],
        "ms_per_update": sum(r["ms_per_update"] for r in group) / n,
        "train_seconds": sum(r["train_seconds"] for r in group) / n,
        "saved_mib_per_update": group[0]["saved_bytes_per_update"] / 2**20,
    }


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    eval_data = delayed_recall(
        cfg.eval_streams, cfg.stream_length, cfg.alphabet, cfg.delay,
        torch.Generator().manual_seed(987_654),
    )  # fmt: skip
    jobs = [(k, s) for k in cfg.windows for s in seeds(cfg.seed, cfg.seeds)]
    runs = [_train_one(cfg, k, s, eval_data) for k, s in progress(jobs, "tbptt", len(jobs))]
    lines = [
        json.dumps({"run": f"k2={r['k2']}/seed={r['seed']}", "step": e + 1, "train_loss": v})
        for r in runs
        for e, v in enumerate(r["loss_curve"])
    ]
    atomic_write_text(out_dir / "metrics.jsonl", "".join(ln + "\n" for ln in lines))
    table = [_summary_row([r for r in runs if r["k2"] == k]) for k in cfg.windows]
    figures = _plots(cfg, table, runs, out_dir)
    return {
        "experiment": "tbptt",
        "task": (
            f"streaming delayed recall: alphabet {cfg.alphabet}, delay d={cfg.delay}, "
            f"chance {1 / cfg.alphabet:.3f}"
        ),
        "chance": 1 / cfg.alphabet,
        "table": table,
        "runs": runs,
        "figures": figures,
        "seconds": time.perf_counter() - started,
    }


def _plots(cfg: Config, table, runs, out_dir: Path) -> list[str]:
    ks = [r["k2"] for r in table]
    chance = [1 / cfg.alphabet] * len(ks)
    acc = plot_panels(
        {
            "held-out accuracy": {
                "GRU + TBPTT": (ks, [r["accuracy_mean"] for r in table]),
                "chance": (ks, chance),
            },
            "cost per update": {
                "ms per update": (ks, [r["ms_per_update"] for r in table]),
                "saved MiB per update": (ks, [r["saved_mib_per_update"] for r in table]),
            },
        },
        out_dir / "tbptt_tradeoff.png",
        xlabel=f"truncation window k2 (delay d = {cfg.delay})",
        ylabel="",
        logx=True,
        sharey=False,
        title="Truncated BPTT: the window must cover the dependency",
    )
    curves = {
        f"k2 = {r['k2']}": (list(range(1, len(r["loss_curve"]) + 1)), r["loss_curve"])
        for r in runs
        if r["seed"] == cfg.seed
    }
    loss = plot_panels(
        {"training loss": curves},
        out_dir / "tbptt_loss.png",
        xlabel="epoch (one batch of streams)",
        ylabel="cross-entropy",
        title="Training loss by truncation window",
    )
    return [str(acc), str(loss)]


def tables(results: dict[str, Any]) -> list[Table | str]:
    """One row per truncation window, under the task line."""
    columns = [
        Column("k2"),
        Column("k1"),
        Column("accuracy_mean", "accuracy", ".3f"),
        Column("updates"),
        Column("ms_per_update", "ms / update", ".2f"),
        Column("train_seconds", "train s", ".1f"),
        Column("saved_mib_per_update", "saved MiB / update", ".2f"),
    ]
    return [Table(columns, results["table"], title=f"Task: {results['task']}", name="table")]


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="tbptt",
    summary="Truncated BPTT: accuracy vs window k2 on delayed recall, with time and memory.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

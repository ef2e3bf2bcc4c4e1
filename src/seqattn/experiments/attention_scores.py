"""Experiment ``attention-scores``: the five score functions on one synthetic retrieval task.

Task (key-value retrieval): each example is a memory of P (key, value) pairs with distinct keys
and a query key; the answer is the value stored under it. The model embeds the memory keys,
the memory values and the query with three separate tables (so a score function must *learn*
which key matches the query, not read off identical vectors), attends from the query to the
keys, and classifies the value from the context. Everything but the score function is fixed:

    dot          q·k                         (Luong)
    scaled_dot   q·k / sqrt(d)               (Vaswani)
    general      q^T W k                     (Luong)
    additive     v^T tanh(W_q q + W_k k)     (Bahdanau)
    concat       v^T tanh(W [q; k])          (Luong)

Reported per score: test accuracy (mean ± std over seeds), the attention weight on the correct
slot, training time, the score's own parameters, and a learning curve.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.toolkit import mean_std, seeds
from seqattn.nn import AdditiveAttention, LuongAttention
from seqattn.training.loop import LoopState, TrainLoop
from seqattn.viz import AttentionView, plot_panels, save_attention
from seqattn.viz.table import Column, Table, render_markdown

SCORE_NAMES = ("dot", "scaled_dot", "general", "additive", "concat")


@dataclass(frozen=True)
class Config:
    scores: tuple[str, ...] = SCORE_NAMES
    pairs: int = 20  # P, memory size
    num_keys: int = 64
    num_values: int = 32
    dim: int = 16
    batch: int = 64
    steps: int = 1000
    lr: float = 3e-3
    eval_examples: int = 4000
    seeds: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.scores) - set(SCORE_NAMES)
        if unknown:
            raise ValueError(f"expected scores from {list(SCORE_NAMES)}, got {sorted(unknown)}")
        if self.pairs > self.num_keys:
            raise ValueError(
                f"expected pairs <= num_keys (distinct keys), got {self.pairs} > {self.num_keys}"
            )


def quick(cfg: Config) -> Config:
    return dataclasses.replace(cfg, steps=min(cfg.steps, 500), seeds=min(cfg.seeds, 2),
                               eval_examples=1000)  # fmt: skip


def make_batch(cfg: Config, batch: int, gen: torch.Generator) -> tuple[Tensor, ...]:
    """(keys (B, P), values (B, P), query key (B,), answer (B,), slot of the answer (B,))."""
    keys = torch.rand(batch, cfg.num_keys, generator=gen).argsort(-1)[:, : cfg.pairs]
    values = torch.randint(cfg.num_values, (batch, cfg.pairs), generator=gen)
    slot = torch.randint(cfg.pairs, (batch,), generator=gen)
    rows = torch.arange(batch)
    return keys, values, keys[rows, slot], values[rows, slot], slot


class Retriever(nn.Module):
    """Query -> attention over memory keys (score function under test) -> value classifier."""

    def __init__(self, score: str, cfg: Config) -> None:
        super().__init__()
        d = cfg.dim
        self.score_name = score
        self.key_emb = nn.Embedding(cfg.num_keys, d)
        self.query_emb = nn.Embedding(cfg.num_keys, d)
        self.value_emb = nn.Embedding(cfg.num_values, d)
        if score == "additive":
            self.attn: nn.Module = AdditiveAttention(d, d, d)
        elif score in ("dot", "scaled_dot"):
            self.attn = LuongAttention("dot", d)
        else:
            self.attn = LuongAttention(score, d, d, attn_dim=d)
        self.out = nn.Linear(d, cfg.num_values)

    def forward(self, keys: Tensor, values: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.key_emb(keys), self.value_emb(values)  # (B, P, d)
        q = self.query_emb(query)  # (B, d)
        if self.score_name == "scaled_dot":
            q = q / math.sqrt(q.shape[-1])  # q·k / sqrt(d) == (q / sqrt(d))·k
        context, weights = self.attn(q, k, v)
        return self.out(context), weights


def _train_one(score: str, cfg: Config, seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = Retriever(score, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(1000 + seed)
    curve = []
    every = max(1, cfg.steps // 20)

    def record(state: LoopState, _batch) -> None:  # the curve's steps count from 0
        if (state.step - 1) % every == 0 or state.step == cfg.steps:
            curve.append((state.step - 1, state.last_loss))

    def loss_fn(batch: tuple[Tensor, ...]) -> Tensor:
        keys, values, query, answer, _ = batch
        logits, _ = model(keys, values, query)
        return F.cross_entropy(logits, answer)

    started = time.perf_counter()
    batches = (make_batch(cfg, cfg.batch, gen) for _ in range(cfg.steps))
    TrainLoop(model.parameters(), opt, after_step=[record]).run(batches, loss_fn)
    train_s = time.perf_counter() - started
    model.eval()
    test_gen = torch.Generator().manual_seed(999_999)  # the same test set for every model
    with torch.no_grad():
        keys, values, query, answer, slot = make_batch(cfg, cfg.eval_examples, test_gen)
        logits, weights = model(keys, values, query)
    acc = float((logits.argmax(-1) == answer).float().mean())
    on_slot = float(weights[torch.arange(len(slot)), slot].mean())
    score_params = sum(p.numel() for p in model.attn.parameters())
    return {
        "score": score,
        "seed": seed,
        "accuracy": acc,
        "weight_on_answer": on_slot,
        "train_seconds": train_s,
        "ms_per_step": 1e3 * train_s / cfg.steps,
        "score_params": score_params,
        "total_params": sum(p.numel() for p in model.parameters()),
        "curve": curve,
        "example": {
            "weights": weights[0].tolist(),
            "keys": keys[0].tolist(),
            "query": int(query[0]),
            "slot": int(slot[0]),
        },
    }


def _summary_row(mine: list[dict[str, Any]]) -> dict[str, Any]:
    """One score's seeds: accuracy mean ± std, the other figures averaged."""
    accuracy_mean, accuracy_std = mean_std(r["accuracy"] for r in mine)
    return {
        "score": mine[0]["score"],
        "accuracy_mean": accuracy_mean,
        "accuracy_std": accuracy_std,
        "weight_on_answer": sum(r["weight_on_answer"] for r in mine) / len(mine),
        "ms_per_step": sum(r["ms_per_step"] for r in mine) / len(mine),
        "score_params": mine[0]["score_params"],
        "total_params": mine[0]["total_params"],
    }


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    repeats = seeds(cfg.seed, cfg.seeds)
    jobs = [(s, seed) for s in cfg.scores for seed in repeats]
    runs = [_train_one(s, cfg, seed) for s, seed in progress(jobs, "attention-scores", len(jobs))]
    table = [_summary_row([r for r in runs if r["score"] == score]) for score in cfg.scores]
    curves = {"training loss": {}}
    for score in cfg.scores:
        first = next(r for r in runs if r["score"] == score)
        steps, losses = zip(*first["curve"], strict=True)
        curves["training loss"][score] = (list(steps), list(losses))
    figures = [str(plot_panels(curves, out_dir / "learning_curves.png", xlabel="step",
                               ylabel="cross-entropy (seed 0)", logy=True))]  # fmt: skip
    attention = []  # interactive views for the report; the PNG/SVG copies sit beside them
    for score in cfg.scores:
        ex = next(r for r in runs if r["score"] == score)["example"]
        view = AttentionView(
            [ex["weights"]],
            keys=[f"k{k}" + ("*" if i == ex["slot"] else "") for i, k in enumerate(ex["keys"])],
            queries=[f"q=k{ex['query']}"],
            title=f"{score}: attention of one test query (* = the matching key)",
        )
        attention.append(str(save_attention(view, out_dir, f"attention_{score}")["html"]))
    return {
        "experiment": "attention-scores",
        "task": f"key-value retrieval, {cfg.pairs} pairs, {cfg.num_keys} keys, "
        f"{cfg.num_values} values, dim {cfg.dim}",
        "seeds": repeats,
        "table": table,
        "runs": [{k: v for k, v in r.items() if k != "example"} for r in runs],
        "figures": figures,
        "attention": attention,
        "seconds": time.perf_counter() - started,
    }


def tables(results: dict[str, Any]) -> list[Table | str]:
    """One row per score function."""
    columns = [
        Column("score"),
        Column("accuracy_mean", "accuracy",
               lambda r: f"{r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f}"),
        Column("weight_on_answer", "weight on answer", ".3f"),
        Column("ms_per_step", "ms/step", ".2f"),
        Column("score_params", "score params"),
        Column("total_params", "total params"),
    ]  # fmt: skip
    return [Table(columns, results["table"], name="table")]


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="attention-scores",
    summary="Dot, scaled dot, general, additive and concat scores on key-value retrieval.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

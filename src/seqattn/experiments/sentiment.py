"""Experiment ``sentiment``: recurrent classifiers that forget, attention that remembers.

The chapter's running example. A recurrent classifier that predicts from its final hidden
state remembers mostly the last words, so a decisive word early in a long input ("love" at the
start of a 44-token tweet) is lost. The seed's three fixes: concatenate all states (Fix 1: the
classifier's size grows with the maximum length and the input must be padded or truncated to
it), average them (Fix 2: every position weighted alike, so one decisive word is diluted by
the rest), or pool them with soft attention (the model learns where to look).

Datasets:

* ``probe`` (offline, the default): :func:`~seqattn.data.synthetic.position_probe`, binary
  sentiment decided by one word at a uniformly random position among neutral and misleading
  words; trained and tested for each length T, accuracy reported by the decisive word's
  position.
* ``vader-tweets``, ``sst2``, ``imdb``, ``rt-polarity`` or a CSV/TSV/JSONL path with ``text``
  and ``label`` columns: word-tokenised, vocabulary from the training split, accuracy reported
  overall and by input-length bucket. ``embeddings=PATH`` initialises the embedding table from
  a vectors file (e.g. from ``seqattn train vectors``; ``model.freeze_embeddings`` keeps it fixed).

Every model is trained with Adam and gradient-norm clipping, early-stopped on a validation
split (best weights kept), for several seeds; the table gives mean ± std, parameters, training
time and throughput.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from seqattn.config import ConfigDict, check_unchanged, flat_kwargs, moved_to
from seqattn.data.pretrained import pretrained_embedding
from seqattn.experiments.base import Experiment, Progress, no_progress

# the experiment's data and measurements (re-exported here: the old import path)
from seqattn.experiments.sentiment_data import (  # noqa: F401
    SEED_STYLE_EXAMPLE,
    Split,
    Task,
    _attention_views,
    _batches,
    _fold,
    _load_examples,
    _probe_task,
    _split,
    _text_task,
    _vectors,
    accuracy_by_length,
    accuracy_by_position,
    length_bucket_names,
    log_odds,
    pearson_r,
    predict,
    predict_logits,
)
from seqattn.experiments.toolkit import mean_std, seeds
from seqattn.models import ENCODERS, HEADS, ClassifierConfig, SequenceClassifier
from seqattn.training.loop import TrainLoop
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown

log = logging.getLogger("seqattn.experiments")

DATASETS = ("probe", "vader-tweets", "sst2", "imdb", "rt-polarity")
OBJECTIVES = ("label", "rating")

#: Pearson r between the VADER lexicon's compound score and the mean human rating of the
#: 4,200 tweets (Hutto & Gilbert 2014, Table 3): the reference printed beside ours.
VADER_LEXICON_R = 0.881


#: The classifier fields each run sets itself, with the reason (kept at default_model's values).
_RUN_FIELDS = {
    ("encoder", "head"): "each entry of models names them, e.g. models=[gru:attention]",
    ("max_length",): "the probe length or max_tokens sets it",
    ("vocab_size", "num_classes", "pad_id"): "the data decides",
}


def default_model() -> ClassifierConfig:
    """The classifier options of every run (E = H = 64, dropout 0.1); encoder, head,
    max_length and the data's fields are set per run (see ``_RUN_FIELDS``)."""
    return ClassifierConfig(vocab_size=1, embed_dim=64, hidden_size=64, dropout=0.1)


@flat_kwargs
@dataclass(frozen=True)
class Config(ConfigDict):
    """Defaults: the issue's grid on the offline probe, 3 seeds.

    ``model``: the :class:`~seqattn.models.ClassifierConfig` options shared by every entry of
    ``models`` (embed_dim, hidden_size, dropout, num_layers, num_heads, ffn_size, kernel_size,
    freeze_embeddings); ``--set model.hidden_size=128``. The old flat keys (``hidden_size``...)
    are read as ``model.<key>``, deprecated.
    """

    dataset: str = "probe"
    models: tuple[str, ...] = (
        "lstm:last", "lstm:concat", "lstm:mean", "lstm:attention", "bilstm:attention",
        "transformer:mean",
    )  # fmt: skip
    seeds: int = 3
    seed: int = 0
    model: ClassifierConfig = field(default_factory=default_model)
    lr: float = 2e-3
    batch_size: int = 64
    epochs: int = 8
    patience: int = 3
    clip_norm: float = 1.0
    # probe
    lengths: tuple[int, ...] = (20, 50, 100, 200, 400)
    train_size: int = 4000
    val_size: int = 500
    test_size: int = 2000
    position_bins: int = 10
    # real data
    min_freq: int = 2
    max_vocab: int = 20000
    max_tokens: int = 400  # inputs truncated to this many tokens (and the concat head's length)
    val_fraction: float = 0.1
    length_buckets: tuple[int, ...] = (10, 20, 40, 80, 160)  # upper edges; the rest above
    # k-fold cross-validation (datasets without an official test split: vader-tweets,
    # rt-polarity, files): every fold is the test set once; 0 = one seeded 80/20 hold-out
    folds: int = 0
    # "label": cross-entropy on the class; "rating" (binary data with a continuous score,
    # e.g. VADER's mean human rating): the log-odds log p(pos)/p(neg) regressed on the score
    objective: str = "label"
    # training batches drawn from length-sorted pools of 50 batches (less padding; the
    # batch order is still shuffled); probe inputs all have one length, so nothing changes
    bucket_batches: bool = True
    # real data: a GloVe / word2vec / fastText file whose vectors initialise the embedding
    # table (its dimension replaces model.embed_dim; words it lacks start random at its
    # scale; model.freeze_embeddings keeps it fixed); "" = embeddings learned from scratch
    embeddings: str = ""

    config_aliases: ClassVar[dict[str, str]] = moved_to(
        "model", ("embed_dim", "hidden_size", "dropout", "freeze_embeddings")
    )

    def __post_init__(self) -> None:
        if not isinstance(self.model, ClassifierConfig):
            raise TypeError(f"expected model to be a ClassifierConfig, got {type(self.model)}")
        for names, reason in _RUN_FIELDS.items():
            check_unchanged(self.model, default_model(), names, "model", reason)
        for name in ("seeds", "batch_size", "epochs", "train_size", "val_size", "test_size",
                     "position_bins", "max_tokens"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        for spec in self.models:
            parse_model(spec)
        looks_like_file = self.dataset.endswith((".csv", ".tsv", ".jsonl", ".gz"))
        if self.dataset not in DATASETS and not looks_like_file:
            raise ValueError(
                f"expected dataset in {DATASETS} or a .csv/.tsv/.jsonl path, got {self.dataset!r}"
            )
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"expected 0 < val_fraction < 1, got {self.val_fraction}")
        if not isinstance(self.folds, int) or self.folds < 0 or self.folds == 1:
            raise ValueError(f"expected folds = 0 (hold-out) or >= 2, got {self.folds!r}")
        if self.folds and self.dataset in ("probe", "sst2", "imdb"):
            raise ValueError(
                f"expected folds = 0 for {self.dataset!r} (it has its own test split), "
                f"got {self.folds}"
            )
        if self.objective not in OBJECTIVES:
            raise ValueError(f"expected objective in {OBJECTIVES}, got {self.objective!r}")
        if self.embeddings and self.dataset == "probe":
            raise ValueError("expected a real dataset with embeddings, got 'probe'")
        if self.embeddings and not Path(self.embeddings).is_file():
            raise FileNotFoundError(
                f"expected embeddings to be a vectors file, got {self.embeddings!r} (not found)"
            )
        if self.objective == "rating" and self.dataset == "probe":
            raise ValueError("expected a dataset with ratings for objective 'rating', got 'probe'")


def parse_model(spec: str) -> tuple[str, str]:
    """``"encoder:head"`` -> (encoder, head), checked against the classifier's choices."""
    enc, sep, head = spec.partition(":")
    if not sep or enc not in ENCODERS or head not in HEADS:
        raise ValueError(
            f"expected models as 'encoder:head' with encoder in {ENCODERS} and head in {HEADS}, "
            f"got {spec!r}"
        )
    return enc, head


def quick(cfg: Config) -> Config:
    """Demo scale (about two minutes on 2 CPU cores): one seed, T up to 100, four heads."""
    if cfg.dataset == "probe":
        return dataclasses.replace(
            cfg, seeds=1, lengths=(20, 50, 100), train_size=2000, val_size=300,
            test_size=1000, epochs=6,
            models=("lstm:last", "lstm:concat", "lstm:mean", "lstm:attention"),
        )  # fmt: skip
    return dataclasses.replace(cfg, seeds=1, epochs=min(cfg.epochs, 4),
                               models=("lstm:last", "lstm:attention"))  # fmt: skip


def train_model(cfg: Config, task: Task, encoder: str, head: str, seed: int) -> dict[str, Any]:
    """Train one classifier; returns the model (best validation weights) and its numbers."""
    torch.manual_seed(seed)
    embedding = None
    if cfg.embeddings:
        vectors = _vectors(cfg.embeddings, tuple(task.vocab.itos))
        embedding, _ = pretrained_embedding(  # the data layer logs the coverage
            task.vocab, vectors, freeze=cfg.model.freeze_embeddings, seed=seed
        )
    mcfg = dataclasses.replace(
        cfg.model, vocab_size=task.vocab_size, num_classes=task.num_classes,
        embed_dim=embedding.embedding_dim if embedding is not None else cfg.model.embed_dim,
        encoder=encoder, head=head, max_length=task.max_length, pad_id=0,
    )  # fmt: skip
    model = SequenceClassifier(mcfg, embedding)
    fit = _fit(cfg, task, model, seed)
    logits = predict_logits(model, task.test)
    pred = logits.argmax(-1)
    has_r = task.test.scores is not None and task.num_classes == 2
    return {
        "model": model,
        "pred": pred,
        "accuracy": float((pred == task.test.labels).float().mean()),
        "pearson_r": pearson_r(log_odds(logits), task.test.scores) if has_r else None,
        **fit,
        "parameters": model.num_parameters(),
    }


def _fit(cfg: Config, task: Task, model: SequenceClassifier, seed: int) -> dict[str, Any]:
    """Adam with gradient-norm clipping through TrainLoop, one ``run`` per epoch, early-stopped
    on validation accuracy; ``model`` ends with its best validation weights."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    loop = TrainLoop(model.parameters(), opt, clip_norm=cfg.clip_norm, record_losses=False)
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(batch) -> torch.Tensor:
        idx, x, lengths, y = batch
        logits = model(x, lengths).logits
        if cfg.objective == "rating":  # regress the log-odds on the human rating
            return nn.functional.mse_loss(log_odds(logits), task.train.scores[idx])
        return nn.functional.cross_entropy(logits, y)

    best_acc, best_state, best_epoch, bad = -1.0, None, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        loop.run(_batches(task.train, cfg.batch_size, gen, cfg.bucket_batches), loss_fn)
        val_acc = float((predict(model, task.val) == task.val.labels).float().mean())
        if val_acc > best_acc:
            best_acc, best_epoch, bad = val_acc, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    model.load_state_dict(best_state)
    seconds, seen = loop.state.seconds, epoch * len(task.train)  # an epoch sees every example
    return {
        "val_accuracy": best_acc,
        "best_epoch": best_epoch,
        "epochs_run": epoch,
        "train_seconds": seconds,
        "examples_per_s": seen / seconds if seconds else math.nan,
    }


def _tasks(cfg: Config) -> list[tuple[str, Any]]:
    """(group name, task factory) pairs; the folds of a cross-validation share one group."""
    if cfg.dataset == "probe":
        return [(f"probe T={T}", lambda T=T: _probe_task(cfg, T)) for T in cfg.lengths]
    if not cfg.folds:
        return [(cfg.dataset, lambda: _text_task(cfg, None, _load_examples(cfg)))]
    loaded: list = []

    def fold_task(k: int) -> Task:
        if not loaded:
            loaded.append(_load_examples(cfg))
        return _text_task(cfg, k, loaded[0])

    group = f"{cfg.dataset} ({cfg.folds}-fold CV)"
    return [(group, lambda k=k: fold_task(k)) for k in range(cfg.folds)]


def _row(cfg: Config, group: str, spec: str, results: list[dict], tasks: list[Task]) -> dict:
    """One table row: a model's runs over seeds (and folds) on one task group."""
    acc_mean, acc_std = mean_std([r["accuracy"] for r in results])
    row = {
        "task": group, "model": spec, "accuracy_mean": acc_mean, "accuracy_std": acc_std,
        "accuracies": [r["accuracy"] for r in results], "parameters": results[0]["parameters"],
        "train_seconds": sum(r["train_seconds"] for r in results) / len(results),
        "examples_per_s": sum(r["examples_per_s"] for r in results) / len(results),
        "best_epochs": [r["best_epoch"] for r in results], "runs": len(results),
    }  # fmt: skip
    rs = [r["pearson_r"] for r in results if r.get("pearson_r") is not None]
    if rs:
        row["pearson_r_mean"], row["pearson_r_std"] = mean_std(rs)
        row["pearson_rs"] = rs
    preds = [r["pred"] for r in results]
    if tasks[0].test.positions is not None:
        row["accuracy_by_position"] = accuracy_by_position(tasks, preds, cfg.position_bins)
        row["accuracy_first_bin"] = row["accuracy_by_position"][0]
        row["accuracy_min_bin"] = min(row["accuracy_by_position"])
    else:
        row["accuracy_by_length"], row["count_by_length"] = accuracy_by_length(
            tasks, preds, cfg.length_buckets
        )
    return row


def _train_grid(cfg: Config, tasks: list, run_seeds: list[int], progress: Progress):
    """Every model x seed on every task: (data facts, attention views, runs by (group, model)).

    One model per (task, model), the first seed's, is kept until that task's heat maps are drawn.
    """
    jobs = [(t, m, s) for t in range(len(tasks)) for m in cfg.models for s in run_seeds]
    bar = iter(progress(jobs, "sentiment", len(jobs)))
    data_info, attention = [], []
    runs: dict[tuple[str, str], list[tuple[Task, dict]]] = {}
    for group, make in tasks:
        task = make()
        data_info.append({"task": task.name, "train": len(task.train), "val": len(task.val),
                          "test": len(task.test), "vocab": task.vocab_size})  # fmt: skip
        first_runs: dict[str, dict] = {}
        for spec in cfg.models:
            enc, head = parse_model(spec)
            for seed in run_seeds:
                next(bar, None)
                r = train_model(cfg, task, enc, head, seed)
                log.info("%s %s seed %d: accuracy %.4f", task.name, spec, seed, r["accuracy"])
                if seed == run_seeds[0]:
                    first_runs[spec] = r
                else:
                    r.pop("model")  # keep one model per (task, spec) for the heat maps
                runs.setdefault((group, spec), []).append((task, r))
        if not attention or cfg.dataset == "probe" or not cfg.folds:
            attention += _attention_views(task, first_runs)
        for items in runs.values():  # only the first run's model is kept for heat maps
            for _, r in items:
                r.pop("model", None)
    for _ in bar:  # the last job is done: the hook's end line
        pass
    return data_info, attention, runs


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    run_seeds = seeds(cfg.seed, cfg.seeds)
    data_info, attention, runs = _train_grid(cfg, _tasks(cfg), run_seeds, progress)
    table, curves = [], {}
    buckets = length_bucket_names(cfg.length_buckets)
    for (group, spec), items in runs.items():
        row = _row(cfg, group, spec, [r for _, r in items], [t for t, _ in items])
        table.append(row)
        if "accuracy_by_position" in row:
            xs = [(b + 0.5) / cfg.position_bins for b in range(cfg.position_bins)]
            curves.setdefault(group, {})[spec] = (xs, row["accuracy_by_position"])
        else:
            pts = [(i, a) for i, a in enumerate(row["accuracy_by_length"]) if a is not None]
            curves.setdefault(group, {})[spec] = ([buckets[i] for i, _ in pts],
                                                  [a for _, a in pts])  # fmt: skip
    figures = _plots(cfg, curves, out_dir)
    results = {
        "experiment": "sentiment",
        "dataset": cfg.dataset,
        "objective": cfg.objective,
        "folds": cfg.folds,
        "data": data_info,
        "seeds": run_seeds,
        "table": table,
        "length_buckets": buckets,
        "figures": figures,
        "attention": attention,
        "seconds": time.perf_counter() - started,
    }
    if cfg.dataset == "vader-tweets":
        results["reference_pearson_r"] = {"VADER lexicon (Hutto & Gilbert 2014)": VADER_LEXICON_R}
    return results


def _plots(cfg: Config, curves: dict, out_dir: Path) -> list[str]:
    if not curves:
        return []
    if cfg.dataset == "probe":
        path = plot_panels(
            curves, out_dir / "accuracy_by_position.png",
            xlabel="position of the decisive word (fraction of T)", ylabel="test accuracy",
            title="Which heads remember an early decisive word",
        )  # fmt: skip
        return [str(path)]
    fig_curves = {}
    for panel, models in curves.items():
        fig_curves[panel] = {m: (list(range(len(xs))), ys) for m, (xs, ys) in models.items()}
    path = plot_panels(
        fig_curves, out_dir / "accuracy_by_length.png",
        xlabel="input length (tokens)", ylabel="test accuracy",
        title=f"{cfg.dataset}: accuracy by input length",
        xticklabels=length_bucket_names(cfg.length_buckets),
    )  # fmt: skip
    return [str(path)]


def _pct(key: str, digits: int) -> Any:
    return lambda row: f"{100 * row[key]:.{digits}f}"


def _mean_pm_std(name: str, scale: float, digits: int) -> Any:
    def cell(row: dict[str, Any]) -> str:
        if f"{name}_mean" not in row:
            return "-"
        m, s = scale * row[f"{name}_mean"], scale * row[f"{name}_std"]
        return f"{m:.{digits}f} ± {s:.{digits}f}"

    return cell


def tables(results: dict[str, Any]) -> list[Table]:
    """Accuracy (and Pearson r) per task and model; by input length on real data."""
    probe = results["dataset"] == "probe"
    rows = results["table"]
    columns = [
        Column("task"),
        Column("model"),
        Column("accuracy_mean", "accuracy (mean ± std)", _mean_pm_std("accuracy", 100, 2), "right"),
        Column("parameters", "params", ","),
        Column("train_seconds", "train s", ".1f"),
        Column("examples_per_s", "ex/s", ".0f"),
    ]
    if probe:
        bins = (("accuracy_first_bin", "first 10%"), ("accuracy_min_bin", "worst bin"))
        columns += [Column(key, title, _pct(key, 1)) for key, title in bins]
    if any("pearson_r_mean" in r for r in rows):
        columns.append(Column("pearson_r_mean", "Pearson r (mean ± std)",
                              _mean_pm_std("pearson_r", 1, 3), "right"))  # fmt: skip
    notes = [f"Reference: {name}, Pearson r = {value:.3f} with the mean human rating."
             for name, value in results.get("reference_pearson_r", {}).items()]  # fmt: skip
    out = [Table(columns, rows, notes=notes, name="table")]
    if not probe:
        names = results["length_buckets"]
        by_length = [{"task": r["task"], "model": r["model"],
                      **dict(zip(names, r["accuracy_by_length"], strict=True))}
                     for r in rows]  # fmt: skip

        def acc(name: str) -> Any:
            return lambda row: "-" if row[name] is None else f"{100 * row[name]:.1f}"

        columns = [Column("task"), Column("model"),
                   *(Column(n, f"len {n}", acc(n), "right") for n in names)]  # fmt: skip
        out.append(Table(columns, by_length, name="accuracy_by_length"))
    return out


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="sentiment",
    summary="Sentiment classifiers: last-state vs concat vs mean vs attention pooling.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

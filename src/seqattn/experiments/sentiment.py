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
  a vectors file (e.g. from ``seqattn train vectors``; ``freeze_embeddings`` keeps it fixed).

Every model is trained with Adam and gradient-norm clipping, early-stopped on a validation
split (best weights kept), for several seeds; the table gives mean ± std, parameters, training
time and throughput.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqattn.data import BucketBatchSampler, PadCollate, Vocab, WordTokenizer
from seqattn.data.pretrained import Vectors, load_vectors, pretrained_embedding
from seqattn.data.synthetic import ProbeVocab, position_probe
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.models import ENCODERS, HEADS, ClassifierConfig, SequenceClassifier
from seqattn.viz import plot_panels

log = logging.getLogger("seqattn.experiments")

DATASETS = ("probe", "vader-tweets", "sst2", "imdb", "rt-polarity")
OBJECTIVES = ("label", "rating")

#: Pearson r between the VADER lexicon's compound score and the mean human rating of the
#: 4,200 tweets (Hutto & Gilbert 2014, Table 3): the reference printed beside ours.
VADER_LEXICON_R = 0.881

#: The seed's long tweet: an early affective word, then about 40 tokens of strained context.
SEED_STYLE_EXAMPLE = (
    "i love how this phone looks , even though the battery dies before lunch , the camera app "
    "freezes whenever i open it , the charger broke after a week and support kept me waiting on "
    "hold for an hour"
)


@dataclass(frozen=True)
class Config:
    """Defaults: the issue's grid on the offline probe, 3 seeds."""

    dataset: str = "probe"
    models: tuple[str, ...] = (
        "lstm:last", "lstm:concat", "lstm:mean", "lstm:attention", "bilstm:attention",
        "transformer:mean",
    )  # fmt: skip
    seeds: int = 3
    seed: int = 0
    embed_dim: int = 64
    hidden_size: int = 64
    dropout: float = 0.1
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
    # table (its dimension replaces embed_dim; words it lacks start random at its scale);
    # "" = embeddings learned from scratch
    embeddings: str = ""
    freeze_embeddings: bool = False

    def __post_init__(self) -> None:
        for name in ("seeds", "embed_dim", "hidden_size", "batch_size", "epochs", "train_size",
                     "val_size", "test_size", "position_bins", "max_tokens"):  # fmt: skip
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


# -- data ---------------------------------------------------------------------------------------


@dataclass
class Split:
    tokens: list[torch.Tensor]  # variable-length int64 id sequences
    labels: torch.Tensor  # (N,)
    positions: torch.Tensor | None = None  # probe: the decisive word's position
    texts: list[list[str]] | None = None  # real data: the tokens as strings (for heat maps)
    scores: torch.Tensor | None = None  # real data with ratings: the continuous score (N,)

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class Task:
    name: str
    train: Split
    val: Split
    test: Split
    vocab_size: int
    num_classes: int
    max_length: int
    token_names: list[str]
    label_names: list[str]
    encode: Any = None  # text -> ids, for real data
    vocab: Vocab | None = None  # real data


def _probe_task(cfg: Config, length: int) -> Task:
    vocab = ProbeVocab()
    splits = []
    for offset, n in ((0, cfg.train_size), (1, cfg.val_size), (2, cfg.test_size)):
        x, y, pos = position_probe(n, length, seed=cfg.seed * 7919 + length * 31 + offset)
        splits.append(Split(list(x), y, pos))
    names = ["<pad>"]
    for kind, short in (("positive", "POS"), ("negative", "NEG"), ("misleading", "mis"),
                        ("neutral", "w")):  # fmt: skip
        names += [f"{short}{i}" for i in range(len(vocab.ranges()[kind]))]
    labels = ["negative", "positive"]
    return Task(f"probe T={length}", *splits, vocab.size, 2, length, names, labels)


def _load_examples(cfg: Config):
    from seqattn.data import datasets as ds

    if cfg.dataset == "vader-tweets":
        data = ds.load_vader("tweets")
        return data, None, None
    if cfg.dataset == "sst2":
        return ds.load_sst2("train"), None, ds.load_sst2("dev")  # the test split has no labels
    if cfg.dataset == "imdb":
        return ds.load_imdb("train"), None, ds.load_imdb("test")
    if cfg.dataset == "rt-polarity":
        return ds.load_rt_polarity(), None, None
    return ds.load_classification_file(cfg.dataset), None, None


def _split(items: list, fraction: float, seed: int) -> tuple[list, list]:
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    cut = int(round(len(items) * fraction))
    return [items[i] for i in order[cut:]], [items[i] for i in order[:cut]]


def _fold(items: list, folds: int, k: int, seed: int) -> tuple[list, list]:
    """Fold ``k`` of a seeded ``folds``-way partition: (the other folds, fold k)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    test = set(order[k::folds])
    return [x for i, x in enumerate(items) if i not in test], [items[i] for i in sorted(test)]


def _text_task(cfg: Config, fold: int | None = None, examples=None) -> Task:
    train, val, test = examples if examples is not None else _load_examples(cfg)
    if fold is not None:
        if test is not None:
            raise ValueError(
                f"expected a dataset without a test split for folds, got {cfg.dataset}"
            )
        train, test = _fold(train, cfg.folds, fold, cfg.seed + 1)
    elif test is None:  # no official test split: hold one out, seeded, stratification-free
        train, test = _split(train, 0.2, cfg.seed + 1)
    if val is None:
        train, val = _split(train, cfg.val_fraction, cfg.seed + 2)
    tok = WordTokenizer()
    tokenised = {name: [tok(ex.text)[: cfg.max_tokens] for ex in split]
                 for name, split in (("train", train), ("val", val), ("test", test))}  # fmt: skip
    vocab = Vocab.build(tokenised["train"], min_freq=cfg.min_freq, max_size=cfg.max_vocab)
    labels = sorted({ex.label for ex in train})
    index = {lab: i for i, lab in enumerate(labels)}
    has_scores = all(ex.score is not None for ex in (*train, *val, *test))
    if cfg.objective == "rating" and (not has_scores or labels != [0, 1]):
        raise ValueError(
            f"expected binary labels 0/1 and a score on every example for objective 'rating', "
            f"got labels {labels[:5]} and scores {'on all' if has_scores else 'missing on some'}"
        )

    def make(name, split):
        keep = [i for i, t in enumerate(tokenised[name]) if t and split[i].label in index]
        if len(keep) < len(split):
            log.warning("%s: dropped %d empty or unlabelled examples", name, len(split) - len(keep))
        return Split(
            [torch.tensor(vocab.encode(tokenised[name][i])) for i in keep],
            torch.tensor([index[split[i].label] for i in keep]),
            texts=[tokenised[name][i] for i in keep],
            scores=torch.tensor([float(split[i].score) for i in keep]) if has_scores else None,
        )

    def encode(text: str) -> tuple[list[str], torch.Tensor]:
        toks = tok(text)[: cfg.max_tokens]
        return toks, torch.tensor(vocab.encode(toks))

    name = cfg.dataset if fold is None else f"{cfg.dataset} fold {fold + 1}/{cfg.folds}"
    return Task(
        name, make("train", train), make("val", val), make("test", test), len(vocab),
        len(labels), cfg.max_tokens, vocab.itos, [str(lab) for lab in labels], encode, vocab,
    )  # fmt: skip


# -- training -----------------------------------------------------------------------------------


def _batches(split: Split, batch_size: int, gen: torch.Generator | None, bucket: bool = False):
    """Padded batches ``(indices, x, lengths, y)``. Evaluation (``gen`` None): sorted by length.
    Training: a seeded permutation, or with ``bucket`` (and lengths that differ) the
    length-bucketed batches of :class:`~seqattn.data.BucketBatchSampler`, seeded from ``gen``."""
    n = len(split)
    lengths = [len(t) for t in split.tokens]
    if gen is None:  # evaluation: sort by length so batches carry little padding
        order = sorted(range(n), key=lengths.__getitem__)
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    elif bucket and min(lengths) != max(lengths):
        seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        batches = BucketBatchSampler(lengths, batch_size, seed=seed).batches(0)
    else:
        order = torch.randperm(n, generator=gen).tolist()
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    collate = PadCollate(pad_value=0)
    for idx in batches:
        (x, lengths_), y = collate([(split.tokens[i], int(split.labels[i])) for i in idx])
        yield idx, x, lengths_, y


@torch.no_grad()
def predict(model: SequenceClassifier, split: Split, batch_size: int = 256) -> torch.Tensor:
    """Predicted class of every example, in the split's order."""
    return predict_logits(model, split, batch_size).argmax(-1)


@torch.no_grad()
def predict_logits(model: SequenceClassifier, split: Split, batch_size: int = 256) -> torch.Tensor:
    """Logits (N, C) of every example, in the split's order."""
    model.eval()
    out = None
    for idx, x, lengths, _ in _batches(split, batch_size, None):
        logits = model(x, lengths).logits
        if out is None:
            out = logits.new_empty(len(split), logits.shape[-1])
        out[idx] = logits
    return out


def log_odds(logits: torch.Tensor) -> torch.Tensor:
    """A binary classifier's continuous score: log p(1)/p(0) = logit_1 - logit_0, (N,)."""
    return logits[:, 1] - logits[:, 0]


def pearson_r(x: torch.Tensor, y: torch.Tensor) -> float:
    """Pearson correlation of two (N,) tensors (float64); NaN when either is constant."""
    x, y = x.double() - x.double().mean(), y.double() - y.double().mean()
    den = float(x.norm() * y.norm())
    return float((x * y).sum()) / den if den > 0 else math.nan


@functools.lru_cache(maxsize=2)
def _vectors(path: str, words: tuple[str, ...]) -> Vectors:
    """The vectors of ``words`` (and their lowercase forms) from ``path``, read once per
    vocabulary: every model and seed of a task shares them."""
    return load_vectors(path, words=set(words) | {w.lower() for w in words})


def train_model(cfg: Config, task: Task, encoder: str, head: str, seed: int) -> dict[str, Any]:
    """Train one classifier; returns the model (best validation weights) and its numbers."""
    torch.manual_seed(seed)
    embedding = None
    if cfg.embeddings:
        vectors = _vectors(cfg.embeddings, tuple(task.vocab.itos))
        embedding, _ = pretrained_embedding(  # the data layer logs the coverage
            task.vocab, vectors, freeze=cfg.freeze_embeddings, seed=seed
        )
    mcfg = ClassifierConfig(
        vocab_size=task.vocab_size, num_classes=task.num_classes,
        embed_dim=embedding.embedding_dim if embedding is not None else cfg.embed_dim,
        hidden_size=cfg.hidden_size, encoder=encoder, head=head, dropout=cfg.dropout,
        max_length=task.max_length, pad_id=0, freeze_embeddings=cfg.freeze_embeddings,
    )  # fmt: skip
    model = SequenceClassifier(mcfg, embedding)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    best_acc, best_state, best_epoch, bad = -1.0, None, 0, 0
    seen, train_seconds = 0, 0.0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        for idx, x, lengths, y in _batches(task.train, cfg.batch_size, gen, cfg.bucket_batches):
            logits = model(x, lengths).logits
            if cfg.objective == "rating":  # regress the log-odds on the human rating
                loss = nn.functional.mse_loss(log_odds(logits), task.train.scores[idx])
            else:
                loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            opt.step()
            seen += len(y)
        train_seconds += time.perf_counter() - t0
        val_acc = float((predict(model, task.val) == task.val.labels).float().mean())
        if val_acc > best_acc:
            best_acc, best_epoch, bad = val_acc, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    model.load_state_dict(best_state)
    logits = predict_logits(model, task.test)
    pred = logits.argmax(-1)
    has_r = task.test.scores is not None and task.num_classes == 2
    return {
        "model": model,
        "pred": pred,
        "accuracy": float((pred == task.test.labels).float().mean()),
        "pearson_r": pearson_r(log_odds(logits), task.test.scores) if has_r else None,
        "val_accuracy": best_acc,
        "best_epoch": best_epoch,
        "epochs_run": epoch,
        "train_seconds": train_seconds,
        "examples_per_s": seen / train_seconds if train_seconds else math.nan,
        "parameters": model.num_parameters(),
    }


# -- measurement --------------------------------------------------------------------------------


def _mean_std(values: list[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def _by_position(task: Task, pred: torch.Tensor, bins: int) -> list[float]:
    T = task.max_length
    which = (task.test.positions * bins // T).clamp(max=bins - 1)
    correct = (pred == task.test.labels).float()
    return [float(correct[which == b].mean()) if (which == b).any() else math.nan
            for b in range(bins)]  # fmt: skip


def _length_bucket_names(edges: tuple[int, ...]) -> list[str]:
    names, lo = [], 1
    for hi in edges:
        names.append(f"{lo}-{hi}")
        lo = hi + 1
    return [*names, f">{edges[-1]}"]


def _by_length(task: Task, pred: torch.Tensor, edges: tuple[int, ...]) -> list[float | None]:
    lengths = torch.tensor([len(t) for t in task.test.tokens])
    which = torch.bucketize(lengths, torch.tensor(edges))  # bucket i: edges[i-1] < len <= edges[i]
    correct = (pred == task.test.labels).float()
    return [float(correct[which == b].mean()) if (which == b).any() else None
            for b in range(len(edges) + 1)]  # fmt: skip


def _attention_views(task: Task, runs: dict[str, dict], limit: int = 3) -> list[dict]:
    """Heat maps of attention-pooling models: examples, disagreements with last-state."""
    att_name = next((m for m in runs if m.endswith(":attention")), None)
    if att_name is None:
        return []
    att = runs[att_name]
    model = att["model"].eval()
    views = []

    def view(ids: torch.Tensor, names: list[str], title: str) -> dict:
        with torch.no_grad():
            out = model(ids[None], torch.tensor([len(ids)]))
        probs = out.logits.softmax(-1)[0]
        label = task.label_names[int(probs.argmax())]
        return {
            "weights": out.attention[0, : len(ids)].tolist(),
            "keys": names,
            "title": f"{att_name} on {task.name}: {title} -> {label} ({float(probs.max()):.2f})",
        }

    def names_of(i: int) -> list[str]:
        if task.test.texts is not None:
            return task.test.texts[i]
        return [task.token_names[int(t)] for t in task.test.tokens[i]]

    if task.encode is not None:
        toks, ids = task.encode(SEED_STYLE_EXAMPLE)
        views.append(view(ids, toks, "the seed's long input, early 'love'"))
    elif task.test.positions is not None:
        early = int(torch.nonzero(task.test.positions < max(1, task.max_length // 10))[0])
        views.append(view(task.test.tokens[early], names_of(early), "decisive word early"))
    last_name = next((m for m in runs if m.endswith(":last")), None)
    if last_name is not None:
        disagree = torch.nonzero(runs[last_name]["pred"] != att["pred"]).flatten().tolist()
        for i in disagree[:limit]:
            truth = task.label_names[int(task.test.labels[i])]
            last = task.label_names[int(runs[last_name]["pred"][i])]
            views.append(view(task.test.tokens[i], names_of(i),
                              f"test #{i} (true {truth}; {last_name} says {last})"))  # fmt: skip
    return views


def _tasks(cfg: Config) -> list[tuple[str, Any]]:
    """(group name, task factory) pairs; the folds of a cross-validation share one group."""
    if cfg.dataset == "probe":
        return [(f"probe T={T}", lambda T=T: _probe_task(cfg, T)) for T in cfg.lengths]
    if not cfg.folds:
        return [(cfg.dataset, lambda: _text_task(cfg))]
    loaded: list = []

    def fold_task(k: int) -> Task:
        if not loaded:
            loaded.append(_load_examples(cfg))
        return _text_task(cfg, k, loaded[0])

    group = f"{cfg.dataset} ({cfg.folds}-fold CV)"
    return [(group, lambda k=k: fold_task(k)) for k in range(cfg.folds)]


def _row(cfg: Config, group: str, spec: str, results: list[dict], tasks: list[Task]) -> dict:
    """One table row: a model's runs over seeds (and folds) on one task group."""
    acc_mean, acc_std = _mean_std([r["accuracy"] for r in results])
    row = {
        "task": group, "model": spec, "accuracy_mean": acc_mean, "accuracy_std": acc_std,
        "accuracies": [r["accuracy"] for r in results], "parameters": results[0]["parameters"],
        "train_seconds": sum(r["train_seconds"] for r in results) / len(results),
        "examples_per_s": sum(r["examples_per_s"] for r in results) / len(results),
        "best_epochs": [r["best_epoch"] for r in results], "runs": len(results),
    }  # fmt: skip
    rs = [r["pearson_r"] for r in results if r.get("pearson_r") is not None]
    if rs:
        row["pearson_r_mean"], row["pearson_r_std"] = _mean_std(rs)
        row["pearson_rs"] = rs
    if tasks[0].test.positions is not None:
        per_run = [
            _by_position(t, r["pred"], cfg.position_bins)
            for t, r in zip(tasks, results, strict=True)
        ]
        row["accuracy_by_position"] = [sum(v) / len(v) for v in zip(*per_run, strict=True)]
        row["accuracy_first_bin"] = row["accuracy_by_position"][0]
        row["accuracy_min_bin"] = min(row["accuracy_by_position"])
    else:
        # pooled over the runs' test predictions: with folds, every example counts once per seed
        correct, lengths = [], []
        for t, r in zip(tasks, results, strict=True):
            correct.append((r["pred"] == t.test.labels).float())
            lengths.append(torch.tensor([len(x) for x in t.test.tokens]))
        correct, lengths = torch.cat(correct), torch.cat(lengths)
        which = torch.bucketize(lengths, torch.tensor(cfg.length_buckets))
        row["accuracy_by_length"] = [
            float(correct[which == b].mean()) if (which == b).any() else None
            for b in range(len(cfg.length_buckets) + 1)
        ]
        per_example = len(results) // len({id(t) for t in tasks})  # seeds: runs per test set
        row["count_by_length"] = [
            int((which == b).sum()) // per_example for b in range(len(cfg.length_buckets) + 1)
        ]
    return row


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    tasks = _tasks(cfg)
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    jobs = [(t, m, s) for t in range(len(tasks)) for m in cfg.models for s in seeds]
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
            for seed in seeds:
                next(bar, None)
                r = train_model(cfg, task, enc, head, seed)
                log.info("%s %s seed %d: accuracy %.4f", task.name, spec, seed, r["accuracy"])
                if seed == seeds[0]:
                    first_runs[spec] = r
                else:
                    r.pop("model")  # keep one model per (task, spec) for the heat maps
                runs.setdefault((group, spec), []).append((task, r))
        if not attention or cfg.dataset == "probe" or not cfg.folds:
            attention += _attention_views(task, first_runs)
        for items in runs.values():  # only the first run's model is kept for heat maps
            for _, r in items:
                r.pop("model", None)
    table, curves = [], {}
    buckets = _length_bucket_names(cfg.length_buckets)
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
        "seeds": seeds,
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
        xlabel="input length bucket: " + ", ".join(_length_bucket_names(cfg.length_buckets)),
        ylabel="test accuracy", title=f"{cfg.dataset}: accuracy by input length",
    )  # fmt: skip
    return [str(path)]


def table_text(results: dict[str, Any]) -> str:
    probe = results["dataset"] == "probe"
    extra = " | first 10% | worst bin" if probe else ""
    lines = [
        f"| task | model | accuracy (mean ± std) | params | train s | ex/s{extra} |",
        "|---|---|---:|---:|---:|---:|" + ("---:|---:|" if probe else ""),
    ]
    has_r = any("pearson_r_mean" in r for r in results["table"])
    if has_r:
        lines[0] += " Pearson r (mean ± std) |"
        lines[1] += "---:|"
    for r in results["table"]:
        cells = (
            f"| {r['task']} | {r['model']} | {100 * r['accuracy_mean']:.2f} ± "
            f"{100 * r['accuracy_std']:.2f} | {r['parameters']:,} | {r['train_seconds']:.1f} "
            f"| {r['examples_per_s']:.0f} |"
        )
        if probe:
            cells += f" {100 * r['accuracy_first_bin']:.1f} | {100 * r['accuracy_min_bin']:.1f} |"
        if has_r:
            cells += (
                f" {r['pearson_r_mean']:.3f} ± {r['pearson_r_std']:.3f} |"
                if "pearson_r_mean" in r
                else " - |"
            )
        lines.append(cells)
    for name, value in results.get("reference_pearson_r", {}).items():
        lines += ["", f"Reference: {name}, Pearson r = {value:.3f} with the mean human rating."]
    if not probe:
        names = results["length_buckets"]
        lines += ["", "| task | model | " + " | ".join(f"len {n}" for n in names) + " |",
                  "|---|---|" + "---:|" * len(names)]  # fmt: skip
        for r in results["table"]:
            accs = [("-" if a is None else f"{100 * a:.1f}") for a in r["accuracy_by_length"]]
            lines.append(f"| {r['task']} | {r['model']} | " + " | ".join(accs) + " |")
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="sentiment",
    summary="Sentiment classifiers: last-state vs concat vs mean vs attention pooling.",
    config_cls=Config,
    run=run,
    quick=quick,
    table=table_text,
)

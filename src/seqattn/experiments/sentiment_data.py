"""The sentiment experiment's data and measurements: probe and text tasks, splits and folds,
padded batches, predictions, the scores computed from them and the attention heat maps.

Part of :mod:`seqattn.experiments.sentiment` (which re-exports every name here); it holds what
the experiment reads and scores, the experiment module what it trains and reports.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from seqattn.data import BucketBatchSampler, PadCollate, Vocab, WordTokenizer
from seqattn.data.pretrained import Vectors, load_vectors
from seqattn.data.synthetic import ProbeVocab, position_probe
from seqattn.experiments.toolkit import attention_view
from seqattn.models import SequenceClassifier

if TYPE_CHECKING:
    from seqattn.experiments.sentiment import Config

log = logging.getLogger("seqattn.experiments")

#: The seed's long tweet: an early affective word, then about 40 tokens of strained context.
SEED_STYLE_EXAMPLE = (
    "i love how this phone looks , even though the battery dies before lunch , the camera app "
    "freezes whenever i open it , the charger broke after a week and support kept me waiting on "
    "hold for an hour"
)


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
    # string labels (pos/neg) are numbered as `train classify` numbers them
    return ds.load_classification_file(cfg.dataset, label_map="auto"), None, None


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


@functools.lru_cache(maxsize=2)
def _vectors(path: str, words: tuple[str, ...]) -> Vectors:
    """The vectors of ``words`` (and their lowercase forms) from ``path``, read once per
    vocabulary: every model and seed of a task shares them."""
    return load_vectors(path, words=set(words) | {w.lower() for w in words})


# -- batches and predictions -------------------------------------------------------------------


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


# -- scores by position and by length -----------------------------------------------------------


def _by_position(task: Task, pred: torch.Tensor, bins: int) -> list[float]:
    T = task.max_length
    which = (task.test.positions * bins // T).clamp(max=bins - 1)
    correct = (pred == task.test.labels).float()
    return [float(correct[which == b].mean()) if (which == b).any() else math.nan
            for b in range(bins)]  # fmt: skip


def length_bucket_names(edges: tuple[int, ...]) -> list[str]:
    """Names of the length buckets with upper edges ``edges``: "1-10", "11-20", ..., ">last"."""
    names, lo = [], 1
    for hi in edges:
        names.append(f"{lo}-{hi}")
        lo = hi + 1
    return [*names, f">{edges[-1]}"]


def accuracy_by_position(tasks: list[Task], preds: list[torch.Tensor], bins: int) -> list[float]:
    """Test accuracy by tenth (``bins``) of the decisive word's position, averaged over runs."""
    per_run = [_by_position(t, p, bins) for t, p in zip(tasks, preds, strict=True)]
    return [sum(v) / len(v) for v in zip(*per_run, strict=True)]


def accuracy_by_length(
    tasks: list[Task], preds: list[torch.Tensor], edges: tuple[int, ...]
) -> tuple[list[float | None], list[int]]:
    """Test accuracy and example count by input-length bucket (upper edges ``edges``).

    Pooled over the runs' test predictions: with folds every example counts once per seed;
    the counts are those of one seed.
    """
    correct, lengths = [], []
    for t, p in zip(tasks, preds, strict=True):
        correct.append((p == t.test.labels).float())
        lengths.append(torch.tensor([len(x) for x in t.test.tokens]))
    correct, lengths = torch.cat(correct), torch.cat(lengths)
    which = torch.bucketize(lengths, torch.tensor(edges))  # bucket i: edges[i-1] < len <= edges[i]
    accs = [float(correct[which == b].mean()) if (which == b).any() else None
            for b in range(len(edges) + 1)]  # fmt: skip
    per_example = len(preds) // len({id(t) for t in tasks})  # seeds: runs per test set
    return accs, [int((which == b).sum()) // per_example for b in range(len(edges) + 1)]


# -- attention heat maps ------------------------------------------------------------------------


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
        return attention_view(
            out.attention[0, : len(ids)], keys=names,
            title=f"{att_name} on {task.name}: {title} -> {label} ({float(probs.max()):.2f})",
        )  # fmt: skip

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

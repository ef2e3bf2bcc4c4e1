"""Experiment ``show-attend-tell``: caption composed Fashion-MNIST scenes and check where it looks.

Scenes of 3-6 real Fashion-MNIST items on a 2x3 grid (:mod:`seqattn.data.synthetic.composed_images`)
are captioned with the items' names in reading order. Training scenes use the training split's
item images and only the non-held-out class sequences; the test scenes use the test split's item
images (held-out items) and only held-out class sequences (compositions never seen in training).

A :class:`~seqattn.models.ShowAttendTell` is trained from scratch (fresh scenes every epoch,
Adam, gradient clipping, NLL + lambda * the doubly stochastic penalty) for each seed, then
decoded greedily on the test scenes. Reported: exact-match caption accuracy, word accuracy,
BLEU-4 (sacreBLEU ``corpus_bleu`` with its signature), attention localisation (the attention
mass inside the bounding box of the item being named) and, per seed, the per-item accuracy p
with the exact-match accuracy that independent per-item errors would give (the mean of p^k).
Figures: one panel per generated word with the attention upsampled over the image (the paper's
figures), the training curves.

The captioning code itself (caption tensors, :func:`fit`, decoding, the :class:`Captioner` of
``seqattn train caption``) is the pipeline :mod:`seqattn.pipelines.captioning`, with the
measurement and figures in :mod:`seqattn.pipelines.captioning_eval`; this module declares the
experiment (its config, data, the loop over seeds, the table) and re-exports those names.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seqattn.data.synthetic.composed_images import CAPTION_WORDS, ComposedScenes, compose_scenes
from seqattn.data.vocab import Vocab
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.toolkit import attention_view, mean_std
from seqattn.models.show_attend_tell import ShowAttendTell, ShowAttendTellConfig
from seqattn.pipelines.captioning import (  # re-exported: the names this module had
    MODEL_FORMAT,
    Batch,
    Captioner,
    CaptionTrainConfig,
    batches,
    beam_captions,
    caption_tensors,
    caption_vocab,
    fit,
    greedy_captions,
    train_captioner,
)
from seqattn.pipelines.captioning_eval import (
    bleu4,
    evaluate,
    localisation,
    plot_word_attention,
    region_box_overlap,
)
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown

__all__ = [
    "EXPERIMENT",
    "Config",
    "run",
    "quick",
    "table_text",
    "load_items",
    # the captioning pipeline's names, importable from here as before
    "MODEL_FORMAT",
    "Batch",
    "CaptionTrainConfig",
    "Captioner",
    "batches",
    "beam_captions",
    "bleu4",
    "caption_tensors",
    "caption_vocab",
    "evaluate",
    "fit",
    "greedy_captions",
    "localisation",
    "plot_word_attention",
    "region_box_overlap",
    "train_captioner",
]

log = logging.getLogger("seqattn.experiments")


@dataclass(frozen=True)
class Config:
    """Defaults: 2x3 grid of 32-pixel cells (64x96 images), one seed: about 30 min on a shared
    2-core CPU (3 seeds of this length do not fit the budget there; ``--set seeds=3``).

    ``cell``, ``epochs``, ``num_pools`` and ``alpha_c`` left at None take the item set's
    defaults (:meth:`resolved`): Fashion-MNIST 32-px cells, 24 epochs, 3 pools, lambda 0.01;
    digits (16-px items) 20-px cells, 30 epochs, 2 pools (a 4-px region grid), lambda 0.001
    (with 150 regions and at most 7 words, sum_t alpha_ti = 1 cannot hold, and a larger
    lambda only spreads the attention: docs/show_attend_tell.md)."""

    seeds: int = 1
    seed: int = 0
    # scenes
    items: str = "fashion-mnist"  # or "digits": scikit-learn's 8x8 digits, upscaled
    item_scale: int = 2  # digits: upscaling factor of the 8x8 images (bilinear)
    rows: int = 2
    cols: int = 3
    cell: int | None = None  # None: 32 (Fashion-MNIST) or the item side + 4 (digits)
    min_items: int = 3
    max_items: int = 6
    held_out_fraction: float = 0.2
    train_size: int = 6400  # fresh scenes per epoch
    epochs: int | None = None  # None: 24 (Fashion-MNIST) or 30 (digits)
    val_size: int = 300
    test_size: int = 1000
    # model
    channels: tuple[int, ...] = (16, 32, 32)
    num_pools: int | None = None  # None: 3 (Fashion-MNIST) or 2 (digits)
    embed_dim: int = 64
    hidden_size: int = 128
    attn_dim: int = 96
    dropout: float = 0.2
    # training
    batch_size: int = 32
    lr: float = 2e-3
    final_lr_fraction: float = 0.05  # linear decay to lr * this
    clip_norm: float = 5.0
    alpha_c: float | None = None  # lambda of the penalty; None: 0.01 or 0.001 (digits)
    # report
    examples: int = 4  # test scenes drawn word by word
    time_budget_min: float | None = 27.0  # stop training (all seeds) after this many minutes
    data_root: str | None = None  # default SEQATTN_DATA_DIR

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        if self.items not in ITEM_SETS:
            raise ValueError(f"expected items in {sorted(ITEM_SETS)}, got {self.items!r}")
        if not isinstance(self.item_scale, int) or self.item_scale < 1:
            raise ValueError(f"expected item_scale to be a positive int, got {self.item_scale!r}")
        if any(getattr(self, k) is None for k in _ITEM_DEFAULTS[self.items]):
            self.resolved()  # validates the values the run will use
            return
        for name in ("seeds", "rows", "cols", "train_size", "epochs", "val_size", "test_size",
                     "batch_size", "hidden_size", "embed_dim", "attn_dim"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if not 1 <= self.min_items <= self.max_items <= self.rows * self.cols:
            raise ValueError(
                f"expected 1 <= min_items <= max_items <= rows*cols, got "
                f"{self.min_items}, {self.max_items}, {self.rows}x{self.cols}"
            )
        if self.cell < self.item_side or self.cell % 2**self.num_pools:
            raise ValueError(
                f"expected cell >= the item side {self.item_side} and divisible by "
                f"2**num_pools = {2**self.num_pools}, got {self.cell}"
            )
        if self.time_budget_min is not None and self.time_budget_min <= 0:
            raise ValueError(f"expected time_budget_min > 0 or null, got {self.time_budget_min}")
        if self.alpha_c < 0 or self.lr <= 0:
            raise ValueError(f"expected alpha_c >= 0 and lr > 0, got {self.alpha_c}, {self.lr}")

    @property
    def item_side(self) -> int:
        return 28 if self.items == "fashion-mnist" else 8 * self.item_scale

    def resolved(self) -> Config:
        """This config with the item set's defaults in place of None (see the class doc)."""
        defaults = dict(_ITEM_DEFAULTS[self.items])
        if self.items == "digits":
            defaults["cell"] = self.item_side + 4
        return dataclasses.replace(self, **{k: v for k, v in defaults.items()
                                            if getattr(self, k) is None})  # fmt: skip


ITEM_SETS = ("fashion-mnist", "digits")
_ITEM_DEFAULTS = {
    "fashion-mnist": {"cell": 32, "epochs": 24, "num_pools": 3, "alpha_c": 0.01},
    "digits": {"cell": 20, "epochs": 30, "num_pools": 2, "alpha_c": 0.001},
}


def load_items(cfg: Config) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                     tuple[str, ...]]:  # fmt: skip
    """Training items, training labels, held-out test items, test labels, and the class words.

    ``fashion-mnist``: the 28x28 uint8 images of its train and test splits. ``digits``:
    scikit-learn's 8x8 digits (fixed stratified 75/25 split of the 1,797 images), upscaled by
    ``item_scale`` with bilinear interpolation to float images in [0, 1].
    """
    if cfg.items == "fashion-mnist":
        from seqattn.data.datasets import load_fashion_mnist

        train_items, train_labels = load_fashion_mnist("train", cfg.data_root)
        test_items, test_labels = load_fashion_mnist("test", cfg.data_root)
        return train_items, train_labels, test_items, test_labels, CAPTION_WORDS
    from seqattn.data.datasets import DIGIT_WORDS, load_digits

    def upscale(images: torch.Tensor) -> torch.Tensor:
        if cfg.item_scale == 1:
            return images
        up = F.interpolate(images[:, None], scale_factor=cfg.item_scale, mode="bilinear",
                           align_corners=False)  # fmt: skip
        return up[:, 0].clamp_(0.0, 1.0)

    train_items, train_labels = load_digits("train")
    test_items, test_labels = load_digits("test")
    return upscale(train_items), train_labels, upscale(test_items), test_labels, DIGIT_WORDS


def quick(cfg: Config) -> Config:
    """Demo scale (400 steps, about a minute of CPU): one seed; far from converged."""
    return dataclasses.replace(cfg, seeds=1, train_size=3200, epochs=4, test_size=200,
                               val_size=100, examples=2)  # fmt: skip


# -- the experiment -----------------------------------------------------------------------------


def _model_config(cfg: Config, vocab: Vocab) -> ShowAttendTellConfig:
    cfg = cfg.resolved()
    return ShowAttendTellConfig(
        vocab_size=len(vocab), in_channels=1, channels=cfg.channels, num_pools=cfg.num_pools,
        embed_dim=cfg.embed_dim, hidden_size=cfg.hidden_size, attn_dim=cfg.attn_dim,
        dropout=cfg.dropout, pad_id=vocab.pad_id, bos_id=vocab.bos_id, eos_id=vocab.eos_id,
    )  # fmt: skip


def _scenes(cfg: Config, items, labels, n: int, seed: int, split: str,
            words: Sequence[str] = CAPTION_WORDS) -> ComposedScenes:  # fmt: skip
    return compose_scenes(
        items, labels, n, seed=seed, rows=cfg.rows, cols=cfg.cols, cell=cfg.cell,
        min_items=cfg.min_items, max_items=cfg.max_items, split=split,
        held_out_fraction=cfg.held_out_fraction, words=words,
    )  # fmt: skip


_SCORES = ("exact_match", "word_accuracy", "item_accuracy", "independent_errors_bound", "bleu4",
           "localisation", "localisation_greedy_correct")  # fmt: skip


@dataclass
class _Run:
    """One run's data (the same evaluation scenes for every seed) and what the seeds add."""

    cfg: Config
    out_dir: Path
    train_items: torch.Tensor
    train_labels: torch.Tensor
    words: tuple[str, ...]
    vocab: Vocab
    test: ComposedScenes  # held-out items, held-out compositions
    val: ComposedScenes
    train_seqs: set = field(default_factory=set)
    rows: list = field(default_factory=list)
    metrics: list = field(default_factory=list)
    curves: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    attention: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    bleu_signature: str | None = None
    last_eval: dict | None = None

    @classmethod
    def load(cls, cfg: Config, out_dir: Path) -> _Run:
        train_items, train_labels, test_items, test_labels, words = load_items(cfg)
        vocab = caption_vocab(words)
        test = _scenes(cfg, test_items, test_labels, cfg.test_size, 1_000_003, "test", words)
        val = _scenes(cfg, train_items, train_labels, cfg.val_size, 1_000_033, "train", words)
        return cls(cfg, out_dir, train_items, train_labels, words, vocab, test, val)


def _train_seed(r: _Run, seed: int, progress: Progress, deadline: float | None):
    """Train one seed's captioner on fresh scenes every epoch; (model, history, seconds)."""
    cfg, vocab = r.cfg, r.vocab
    torch.manual_seed(seed)
    model = ShowAttendTell(_model_config(cfg, vocab))
    gen = torch.Generator().manual_seed(seed)

    def epoch_batches(epoch: int):
        scenes = _scenes(cfg, r.train_items, r.train_labels, cfg.train_size,
                         seed * 100_003 + epoch, "train", r.words)  # fmt: skip
        r.train_seqs.update(tuple(c) for c in scenes.classes)
        caps = [c.split() for c in scenes.captions()]
        return batches(scenes.images, caps, vocab, cfg.batch_size, gen)

    def on_epoch(epoch: int, rec: dict) -> None:
        words, _, _ = greedy_captions(model, r.val.images, vocab, 12)
        refs = [c.split() for c in r.val.captions()]
        rec["val_exact_match"] = sum(h == x for h, x in zip(words, refs, strict=True)) / len(refs)
        r.metrics.append({"step": epoch, "seed": seed, **rec})

    t0, c0 = time.perf_counter(), time.process_time()
    steps = math.ceil(cfg.train_size / cfg.batch_size)
    history = fit(model, epoch_batches, epochs=cfg.epochs, steps_per_epoch=steps, lr=cfg.lr,
                  final_lr_fraction=cfg.final_lr_fraction, clip_norm=cfg.clip_norm,
                  alpha_c=cfg.alpha_c, on_epoch=on_epoch, progress=progress,
                  deadline=deadline)  # fmt: skip
    return model, history, (time.perf_counter() - t0, time.process_time() - c0)


def _record_seed(r: _Run, seed: int, model, history: list[dict], seconds) -> None:
    """Evaluate one seed's model on the test scenes: its table row and curves (and, for the
    first seed, the word-by-word figures and attention views)."""
    ev = evaluate(model, r.test, r.vocab)
    r.rows.append({
        "seed": seed,
        **{k: ev[k] for k in _SCORES},
        "final_nll": history[-1]["nll"],
        "final_penalty": history[-1]["penalty"],
        "val_exact_match": history[-1]["val_exact_match"],
        "steps": sum(h["steps"] for h in history),
        "stopped_by_time_budget": bool(history[-1].get("stopped", False)),
        "train_seconds": seconds[0],
        "train_cpu_seconds": seconds[1],
        "parameters": model.num_parameters(),
    })  # fmt: skip
    r.bleu_signature, r.last_eval = ev["bleu_signature"], ev
    epochs = [h["epoch"] for h in history]
    r.curves.setdefault("validation exact match", {})[f"seed {seed}"] = (
        epochs, [h["val_exact_match"] for h in history])  # fmt: skip
    r.curves.setdefault("training NLL per word", {})[f"seed {seed}"] = (
        epochs, [h["nll"] for h in history])  # fmt: skip
    if seed == r.cfg.seed:
        _examples(r, ev)


def _examples(r: _Run, ev: dict[str, Any]) -> None:
    """The paper's figure and an attention view (word x region) for the first test scenes."""
    hh, ww = ev["grid"]
    for i in range(min(r.cfg.examples, len(r.test))):
        hyp = ev["hypotheses"][i].split()
        if not hyp:
            continue
        truth = f"test scene {i}: truth '{r.test.captions()[i]}'"
        path = plot_word_attention(r.test.images[i], hyp, ev["alphas"][i], ev["grid"],
                                   r.out_dir / f"attention_test{i}.png", r.test.boxes[i],
                                   title=truth)  # fmt: skip
        r.figures.append(str(path))
        r.attention.append(attention_view(
            ev["alphas"][i], keys=[f"r{a}c{b}" for a in range(hh) for b in range(ww)],
            queries=hyp, title=f"test scene {i}: word x region (row-major {hh}x{ww} grid)",
        ))  # fmt: skip


def _mean_std(rows: list[dict], key: str) -> tuple[float, float]:
    # a seed whose greedy captions localise nothing correctly has None there
    values = [float(r[key]) for r in rows if r[key] is not None]
    return mean_std(values) if values else (math.nan, 0.0)


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    cfg = cfg.resolved()
    started, cpu_started = time.perf_counter(), time.process_time()
    r = _Run.load(cfg, Path(out_dir))
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    deadline = None if cfg.time_budget_min is None else started + 60 * cfg.time_budget_min
    for seed in seeds:
        if deadline is not None and time.perf_counter() > deadline:
            r.skipped.append(seed)  # no time left: an untrained model's numbers mean nothing
            continue
        model, history, seconds = _train_seed(r, seed, progress, deadline)
        _record_seed(r, seed, model, history, seconds)
    r.figures.append(str(plot_panels(r.curves, r.out_dir / "training.png", xlabel="epoch",
                                     ylabel="", sharey=False,
                                     title="show-attend-tell training")))  # fmt: skip
    leaked = sum(tuple(c) in r.train_seqs for c in r.test.classes)
    if leaked:  # the split is by construction; this guards the construction
        raise RuntimeError(f"{leaked} test compositions occurred in training")
    stride = 2**cfg.num_pools
    summary = {}
    for key in _SCORES:
        summary[f"{key}_mean"], summary[f"{key}_std"] = _mean_std(r.rows, key)
    return {
        "experiment": "show-attend-tell",
        "items": cfg.items,
        "image_size": f"{cfg.rows * cfg.cell}x{cfg.cols * cfg.cell}",
        "grid": f"{cfg.rows * cfg.cell // stride}x{cfg.cols * cfg.cell // stride}",
        "resolved": {k: getattr(cfg, k) for k in ("cell", "epochs", "num_pools", "alpha_c")},
        "test_scenes": len(r.test),
        "test_compositions_seen_in_training": leaked,
        "train_compositions_seen": len(r.train_seqs),
        "seeds": [s for s in seeds if s not in r.skipped],
        "seeds_skipped_by_time_budget": r.skipped,
        **summary,
        "bleu_signature": r.bleu_signature,
        "table": r.rows,
        "examples": [
            {"truth": r.test.captions()[i], "greedy": h}
            for i, h in enumerate(r.last_eval["hypotheses"][:10])
        ],
        "metrics": r.metrics,
        "figures": r.figures,
        "attention": r.attention,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
    }


def _cell(key: str, spec: str, scale: float = 1.0):
    """A cell of ``key`` (``-`` when None), with `` ± key_std`` when the row has it."""

    def cell(row: dict) -> str:
        value = row.get(key)
        if value is None:
            return "-" if key in row else ""
        text = format(scale * value, spec)
        std = row.get(f"{key}_std")
        return text if std is None else f"{text} ± {format(scale * std, spec)}"

    return cell


_COLUMNS = (("exact_match", "exact match", ".1f", 100.0),
            ("word_accuracy", "word acc", ".1f", 100.0),
            ("item_accuracy", "item acc", ".1f", 100.0),
            ("independent_errors_bound", "p^k bound", ".1f", 100.0),
            ("bleu4", "BLEU-4", ".1f", 1.0),
            ("localisation", "localisation (teacher-forced)", ".3f", 1.0),
            ("localisation_greedy_correct", "localisation (greedy, correct)", ".3f", 1.0),
            ("train_seconds", "train s", ".0f", 1.0),
            ("train_cpu_seconds", "train CPU s", ".0f", 1.0))  # fmt: skip
_WITH_STD = ("exact_match", "bleu4", "localisation")  # the spread shown in the summary row


def tables(results: dict[str, Any]) -> list[Table]:
    """One row per seed, then the mean (± std where it matters) over seeds."""
    columns = [Column("seed", align="right")] + [
        Column(key, title, _cell(key, spec, scale), align="right")
        for key, title, spec, scale in _COLUMNS
    ]
    mean: dict[str, Any] = {"seed": "mean ± std"}
    for key, *_ in _COLUMNS[:7]:
        mean[key] = results[f"{key}_mean"]
        if key in _WITH_STD:
            mean[f"{key}_std"] = results[f"{key}_std"]
    return [Table(columns, [*results["table"], mean], name="table",
                  notes=[f"BLEU signature: {results['bleu_signature']}"])]  # fmt: skip


def table_text(results: dict[str, Any]) -> str:
    """The result tables as Markdown (``EXPERIMENT.table``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="show-attend-tell",
    summary="Show, attend and tell on composed Fashion-MNIST scenes: captions and where it looks.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

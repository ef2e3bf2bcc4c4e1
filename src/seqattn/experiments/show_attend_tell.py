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

The training and evaluation helpers (:func:`fit`, :func:`greedy_captions`) are shared with
``seqattn train caption`` (:mod:`seqattn.cli.caption`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from seqattn.data.synthetic.composed_images import (  # noqa: E402
    CAPTION_WORDS,
    ComposedScenes,
    compose_scenes,
)
from seqattn.data.vocab import Vocab  # noqa: E402
from seqattn.experiments.base import Experiment, Progress, no_progress  # noqa: E402
from seqattn.models.show_attend_tell import (  # noqa: E402
    ShowAttendTell,
    ShowAttendTellConfig,
    caption_loss,
)
from seqattn.viz import plot_panels  # noqa: E402

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


# -- captions as tensors ------------------------------------------------------------------------


def caption_vocab(words: Sequence[str] = CAPTION_WORDS) -> Vocab:
    """<pad>, <unk>, <bos>, <eos>, then the words."""
    return Vocab(["<pad>", "<unk>", "<bos>", "<eos>", *words])


def caption_tensors(captions: Sequence[Sequence[str]], vocab: Vocab) -> tuple[torch.Tensor, ...]:
    """Decoder inputs ``<bos> w1 .. wn`` and targets ``w1 .. wn <eos>``, padded: (B, T) each."""
    ids = [vocab.encode(list(c)) for c in captions]
    t = max(len(x) for x in ids) + 1
    inp = torch.full((len(ids), t), vocab.pad_id, dtype=torch.long)
    tgt = torch.full((len(ids), t), vocab.pad_id, dtype=torch.long)
    for i, x in enumerate(ids):
        inp[i, : len(x) + 1] = torch.tensor([vocab.bos_id, *x])
        tgt[i, : len(x) + 1] = torch.tensor([*x, vocab.eos_id])
    return inp, tgt


# -- training -----------------------------------------------------------------------------------

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # images, decoder inputs, targets


def batches(
    images: torch.Tensor, captions: Sequence[Sequence[str]], vocab: Vocab, batch_size: int,
    gen: torch.Generator | None = None,
) -> Iterable[Batch]:  # fmt: skip
    """Shuffled (when ``gen`` is given) mini-batches of (images, inputs, targets)."""
    n = len(captions)
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        inp, tgt = caption_tensors([captions[int(i)] for i in idx], vocab)
        yield images[idx], inp, tgt


def fit(
    model: ShowAttendTell,
    epoch_batches: Callable[[int], Iterable[Batch]],
    *,
    epochs: int,
    steps_per_epoch: int,
    lr: float = 2e-3,
    final_lr_fraction: float = 0.05,
    clip_norm: float = 5.0,
    alpha_c: float = 0.01,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: Progress = no_progress,
    deadline: float | None = None,
) -> list[dict[str, float]]:
    """Train with Adam, a linear learning-rate decay and gradient-norm clipping.

    Args:
        model: the captioner (trained in place).
        epoch_batches: epoch number (1-based) -> that epoch's mini-batches.
        epochs, steps_per_epoch: the schedule's length.
        alpha_c: lambda of the doubly stochastic penalty.
        on_epoch: called after each epoch with (epoch, its mean losses); may add entries.
        deadline: a ``time.perf_counter()`` value; training stops at the first batch after it
            (the last record then has ``"stopped": True``).

    Returns:
        One dict per epoch: epoch, loss, nll, penalty, seconds (and what on_epoch added).
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = max(1, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 - (1.0 - final_lr_fraction) * min(s, total) / total
    )
    history = []
    for epoch in progress(range(1, epochs + 1), "train", epochs):
        model.train()
        t0 = time.perf_counter()
        sums, n, stopped = {"loss": 0.0, "nll": 0.0, "penalty": 0.0}, 0, False
        for images, inp, tgt in epoch_batches(epoch):
            if deadline is not None and time.perf_counter() > deadline:
                stopped = True
                break
            out = model(images, inp)
            loss, nll, pen = caption_loss(out, tgt, model.config.pad_id, alpha_c)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            opt.step()
            sched.step()
            for k, v in (("loss", loss), ("nll", nll), ("penalty", pen)):
                sums[k] += float(v.detach())
            n += 1
        rec = {"epoch": epoch, **{k: v / max(n, 1) for k, v in sums.items()}, "steps": n}
        rec["seconds"] = time.perf_counter() - t0
        if stopped:
            rec["stopped"] = True
        if on_epoch is not None:
            on_epoch(epoch, rec)
        log.info("epoch %d: %s", epoch, rec)
        history.append(rec)
        if stopped:
            log.warning("training stopped by the time budget in epoch %d", epoch)
            break
    return history


@torch.no_grad()
def greedy_captions(
    model: ShowAttendTell, images: torch.Tensor, vocab: Vocab, max_len: int = 20,
    batch_size: int = 256,
) -> tuple[list[list[str]], list[torch.Tensor], tuple[int, int]]:  # fmt: skip
    """Greedy captions (word lists, specials stripped), each word's attention (n, L), grid."""
    model.eval()
    words, alphas, grid = [], [], (0, 0)
    for start in range(0, images.shape[0], batch_size):
        out = model.generate(images[start : start + batch_size], max_len=max_len)
        grid = out.grid
        for toks, a in zip(out.tokens.tolist(), out.alphas, strict=True):
            ws = []
            for t in toks:
                if t == vocab.eos_id or t == vocab.pad_id:
                    break
                ws.append(vocab.itos[t])
            words.append(ws)
            alphas.append(a[: len(ws)])
    return words, alphas, grid


def beam_captions(
    model: ShowAttendTell, images: torch.Tensor, vocab: Vocab, beam_size: int = 3,
    max_len: int = 20, length_penalty: float = 0.0,
) -> tuple[list[list[str]], list[torch.Tensor]]:  # fmt: skip
    """Beam search through :func:`seqattn.decoding.beam_search` over ``model.step``.

    The decoder state is a dict of (rows, ...) tensors (h, c, the features and their key
    projection), so the search reorders it with its default row selection. ``beam_size=1``
    gives the greedy captions.

    Returns:
        the best caption of each image (word lists) and its attention (n, L) per word.
    """
    from seqattn.decoding import beam_search

    model.eval()
    with torch.no_grad():
        feats, _ = model.encode(images)
        h, c = model.init_state(feats)
        feats, keys = model.memory(feats)

        def step(tokens: torch.Tensor, st: dict) -> tuple[torch.Tensor, dict, torch.Tensor]:
            logits, (h, c), alpha, _ = model.step(tokens, (st["h"], st["c"]),
                                                  (st["feats"], st["keys"]))  # fmt: skip
            return logits.log_softmax(-1), {**st, "h": h, "c": c}, alpha

        hyps = beam_search(
            step, {"h": h, "c": c, "feats": feats, "keys": keys}, bos=vocab.bos_id,
            eos=vocab.eos_id, beam_size=beam_size, max_len=max_len,
            length_penalty=length_penalty, batch_size=images.shape[0],
        )  # fmt: skip
    words = [[vocab.itos[t] for t in toks] for toks in hyps.best()]
    return words, [att[0] for att in hyps.attention]


# -- measurement --------------------------------------------------------------------------------


def region_box_overlap(
    grid: tuple[int, int], stride: int, box: tuple[int, int, int, int]
) -> torch.Tensor:
    """(L,) fraction of each feature-grid region's pixel block inside ``box`` (top, left, bottom,
    right; bottom/right exclusive). Attention mass on the box = alpha @ this (nearest upsampling:
    a region's weight spread evenly over its stride x stride block)."""
    hh, ww = grid
    top, left, bottom, right = box
    r0 = torch.arange(hh) * stride
    c0 = torch.arange(ww) * stride
    oy = (torch.clamp(torch.minimum(r0 + stride, torch.tensor(bottom)) - torch.maximum(
        r0, torch.tensor(top)), min=0)).double()  # fmt: skip
    ox = (torch.clamp(torch.minimum(c0 + stride, torch.tensor(right)) - torch.maximum(
        c0, torch.tensor(left)), min=0)).double()  # fmt: skip
    return (oy[:, None] * ox[None, :]).flatten() / stride**2


def localisation(
    alphas: Sequence[torch.Tensor], boxes: Sequence[Sequence[tuple[int, int, int, int]]],
    grid: tuple[int, int], stride: int,
) -> list[float]:  # fmt: skip
    """Attention mass inside the box of item t at word t, for every word that names an item."""
    masses = []
    for a, bxs in zip(alphas, boxes, strict=True):
        for t in range(min(a.shape[0], len(bxs))):
            masses.append(float(a[t].double() @ region_box_overlap(grid, stride, bxs[t])))
    return masses


def bleu4(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """sacreBLEU corpus BLEU-4 (default tokeniser 13a) and its signature."""
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


def evaluate(
    model: ShowAttendTell, scenes: ComposedScenes, vocab: Vocab, max_len: int = 12
) -> dict[str, Any]:
    """Greedy-decode ``scenes``; exact match, word accuracy, per-item accuracy, BLEU-4 and
    attention localisation (greedy words on correct captions, and teacher-forced)."""
    refs = [c.split() for c in scenes.captions()]
    hyps, alphas, grid = greedy_captions(model, scenes.images, vocab, max_len)
    stride = model.config.stride
    exact = [h == r for h, r in zip(hyps, refs, strict=True)]
    item_hits = [int(i < len(h) and h[i] == w) for h, r in zip(hyps, refs, strict=True)
                 for i, w in enumerate(r)]  # fmt: skip
    words = sum(max(len(h), len(r)) for h, r in zip(hyps, refs, strict=True))
    p_item = sum(item_hits) / len(item_hits)
    # teacher-forced attention: the model names item t at step t by construction
    model.eval()
    tf_alphas = []
    with torch.no_grad():
        for start in range(0, len(refs), 256):
            inp, _ = caption_tensors(refs[start : start + 256], vocab)
            out = model(scenes.images[start : start + 256], inp)
            tf_alphas += [a[: len(r)] for a, r in zip(out.alphas, refs[start : start + 256],
                                                       strict=True)]  # fmt: skip
    ok = [i for i, e in enumerate(exact) if e]
    loc_greedy = localisation([alphas[i] for i in ok], [scenes.boxes[i] for i in ok], grid,
                              stride)  # fmt: skip
    loc_tf = localisation(tf_alphas, scenes.boxes, grid, stride)
    bleu, signature = bleu4([" ".join(h) for h in hyps], [" ".join(r) for r in refs])
    return {
        "exact_match": sum(exact) / len(exact),
        "word_accuracy": sum(item_hits) / words,
        "item_accuracy": p_item,
        "independent_errors_bound": sum(p_item ** len(r) for r in refs) / len(refs),
        "bleu4": bleu,
        "bleu_signature": signature,
        "localisation": sum(loc_tf) / len(loc_tf),
        "localisation_greedy_correct": sum(loc_greedy) / len(loc_greedy) if loc_greedy else None,
        "hypotheses": [" ".join(h) for h in hyps],
        "alphas": alphas,
        "grid": grid,
    }


# -- figures ------------------------------------------------------------------------------------


def plot_word_attention(
    image: torch.Tensor, words: Sequence[str], alphas: torch.Tensor, grid: tuple[int, int],
    path: str | Path, boxes: Sequence[tuple[int, int, int, int]] | None = None,
    title: str | None = None,
) -> Path:  # fmt: skip
    """The paper's figure: the image, then one panel per generated word with that step's
    attention upsampled (bilinear) to the image and overlaid; ``boxes`` outlines the items."""
    img = image.detach().float().cpu()
    img = (img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy()  # (H, W) or (H, W, 3)
    h, w = img.shape[:2]
    n = len(words)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.3 * (n + 1), 2.3 * h / w + 0.5), squeeze=False)
    axes = axes[0]
    axes[0].imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    axes[0].set_title("image", fontsize=9)
    for k in range(n):
        a = alphas[k].detach().float().cpu().reshape(1, 1, *grid)
        up = F.interpolate(a, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
        ax = axes[k + 1]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        ax.imshow(up, cmap="inferno", alpha=0.6, vmin=0, vmax=max(float(up.max()), 1e-12))
        if boxes is not None and k < len(boxes):
            top, left, bottom, right = boxes[k]
            ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), right - left, bottom - top,
                                       fill=False, edgecolor="cyan", linewidth=1))  # fmt: skip
        ax.set_title(words[k], fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


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


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    cfg = cfg.resolved()
    out_dir = Path(out_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    train_items, train_labels, test_items, test_labels, words = load_items(cfg)
    vocab = caption_vocab(words)
    # the same evaluation scenes for every seed: held-out items, held-out compositions
    test = _scenes(cfg, test_items, test_labels, cfg.test_size, 1_000_003, "test", words)
    val = _scenes(cfg, train_items, train_labels, cfg.val_size, 1_000_033, "train", words)
    train_seqs = set()
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    deadline = None if cfg.time_budget_min is None else started + 60 * cfg.time_budget_min
    rows, metrics, curves, figures, attention = [], [], {}, [], []
    skipped, bleu_signature = [], None
    for seed in seeds:
        if deadline is not None and time.perf_counter() > deadline:
            skipped.append(seed)  # no time left: an untrained model's numbers mean nothing
            continue
        torch.manual_seed(seed)
        model = ShowAttendTell(_model_config(cfg, vocab))
        gen = torch.Generator().manual_seed(seed)

        def epoch_batches(epoch: int, seed=seed, gen=gen):
            scenes = _scenes(cfg, train_items, train_labels, cfg.train_size,
                             seed * 100_003 + epoch, "train", words)  # fmt: skip
            train_seqs.update(tuple(c) for c in scenes.classes)
            caps = [c.split() for c in scenes.captions()]
            return batches(scenes.images, caps, vocab, cfg.batch_size, gen)

        def on_epoch(epoch: int, rec: dict, seed=seed, model=model) -> None:
            words, _, _ = greedy_captions(model, val.images, vocab, 12)
            refs = [c.split() for c in val.captions()]
            rec["val_exact_match"] = sum(h == r for h, r in zip(words, refs, strict=True)) / len(
                refs
            )
            metrics.append({"step": epoch, "seed": seed, **rec})

        t0, c0 = time.perf_counter(), time.process_time()
        steps = math.ceil(cfg.train_size / cfg.batch_size)
        history = fit(model, epoch_batches, epochs=cfg.epochs, steps_per_epoch=steps, lr=cfg.lr,
                      final_lr_fraction=cfg.final_lr_fraction, clip_norm=cfg.clip_norm,
                      alpha_c=cfg.alpha_c, on_epoch=on_epoch, progress=progress,
                      deadline=deadline)  # fmt: skip
        train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        ev = evaluate(model, test, vocab)
        rows.append({
            "seed": seed,
            **{k: ev[k] for k in ("exact_match", "word_accuracy", "item_accuracy",
                                  "independent_errors_bound", "bleu4", "localisation",
                                  "localisation_greedy_correct")},
            "final_nll": history[-1]["nll"],
            "final_penalty": history[-1]["penalty"],
            "val_exact_match": history[-1]["val_exact_match"],
            "steps": sum(h["steps"] for h in history),
            "stopped_by_time_budget": bool(history[-1].get("stopped", False)),
            "train_seconds": train_wall,
            "train_cpu_seconds": train_cpu,
            "parameters": model.num_parameters(),
        })  # fmt: skip
        bleu_signature = ev["bleu_signature"]
        curves.setdefault("validation exact match", {})[f"seed {seed}"] = (
            [h["epoch"] for h in history],
            [h["val_exact_match"] for h in history],
        )
        curves.setdefault("training NLL per word", {})[f"seed {seed}"] = (
            [h["epoch"] for h in history], [h["nll"] for h in history])  # fmt: skip
        if seed == seeds[0]:
            for i in range(min(cfg.examples, len(test))):
                hyp = ev["hypotheses"][i].split()
                if not hyp:
                    continue
                path = plot_word_attention(
                    test.images[i], hyp, ev["alphas"][i], ev["grid"],
                    out_dir / f"attention_test{i}.png", test.boxes[i],
                    title=f"test scene {i}: truth '{test.captions()[i]}'",
                )  # fmt: skip
                figures.append(str(path))
                hh, ww = ev["grid"]
                attention.append({
                    "weights": ev["alphas"][i].tolist(),
                    "keys": [f"r{r}c{c}" for r in range(hh) for c in range(ww)],
                    "queries": hyp,
                    "title": f"test scene {i}: word x region (row-major {hh}x{ww} grid)",
                })  # fmt: skip
    figures.append(str(plot_panels(curves, out_dir / "training.png", xlabel="epoch",
                                   ylabel="", sharey=False,
                                   title="show-attend-tell training")))  # fmt: skip
    leaked = sum(tuple(c) in train_seqs for c in test.classes)
    if leaked:  # the split is by construction; this guards the construction
        raise RuntimeError(f"{leaked} test compositions occurred in training")

    def mean_std(key: str) -> tuple[float, float]:
        vals = [float(r[key]) for r in rows if r[key] is not None]
        vals = torch.tensor(vals, dtype=torch.float64)
        return float(vals.mean()), float(vals.std()) if len(vals) > 1 else 0.0

    stride = 2**cfg.num_pools
    summary = {}
    for key in ("exact_match", "word_accuracy", "item_accuracy", "independent_errors_bound",
                "bleu4", "localisation", "localisation_greedy_correct"):  # fmt: skip
        summary[f"{key}_mean"], summary[f"{key}_std"] = mean_std(key)
    return {
        "experiment": "show-attend-tell",
        "items": cfg.items,
        "image_size": f"{cfg.rows * cfg.cell}x{cfg.cols * cfg.cell}",
        "grid": f"{cfg.rows * cfg.cell // stride}x{cfg.cols * cfg.cell // stride}",
        "resolved": {k: getattr(cfg, k) for k in ("cell", "epochs", "num_pools", "alpha_c")},
        "test_scenes": len(test),
        "test_compositions_seen_in_training": leaked,
        "train_compositions_seen": len(train_seqs),
        "seeds": [s for s in seeds if s not in skipped],
        "seeds_skipped_by_time_budget": skipped,
        **summary,
        "bleu_signature": bleu_signature,
        "table": rows,
        "examples": [
            {"truth": test.captions()[i], "greedy": h} for i, h in enumerate(ev["hypotheses"][:10])
        ],  # fmt: skip
        "metrics": metrics,
        "figures": figures,
        "attention": attention,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
    }


def table_text(results: dict[str, Any]) -> str:
    lines = [
        "| seed | exact match | word acc | item acc | p^k bound | BLEU-4 | localisation "
        "(teacher-forced) | localisation (greedy, correct) | train s | train CPU s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["table"]:
        lg = r["localisation_greedy_correct"]
        lines.append(
            f"| {r['seed']} | {100 * r['exact_match']:.1f} | {100 * r['word_accuracy']:.1f} | "
            f"{100 * r['item_accuracy']:.1f} | {100 * r['independent_errors_bound']:.1f} | "
            f"{r['bleu4']:.1f} | {r['localisation']:.3f} | "
            f"{'-' if lg is None else f'{lg:.3f}'} | {r['train_seconds']:.0f} | "
            f"{r['train_cpu_seconds']:.0f} |"
        )
    s = results
    lines.append(
        f"| mean ± std | {100 * s['exact_match_mean']:.1f} ± {100 * s['exact_match_std']:.1f} | "
        f"{100 * s['word_accuracy_mean']:.1f} | {100 * s['item_accuracy_mean']:.1f} | "
        f"{100 * s['independent_errors_bound_mean']:.1f} | {s['bleu4_mean']:.1f} ± "
        f"{s['bleu4_std']:.1f} | {s['localisation_mean']:.3f} ± {s['localisation_std']:.3f} | "
        f"{s['localisation_greedy_correct_mean']:.3f} | | |"
    )
    lines.append(f"\nBLEU signature: {s['bleu_signature']}")
    return "\n".join(lines)


# -- captioning your own images (``seqattn train caption`` / ``seqattn caption``) ----------------

MODEL_FORMAT = "seqattn-captioner/1"
_HASHED = ("model.safetensors", "vocab.json", "tokenizer.json")


@dataclass(frozen=True)
class CaptionTrainConfig:
    """Options of :func:`train_captioner` (the ``seqattn train caption`` flags)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-3
    clip_norm: float = 5.0
    alpha_c: float = 1.0  # the paper's lambda for photos (1 in Xu et al.)
    channels: tuple[int, ...] = (32, 64, 64, 128)
    num_pools: int = 4
    embed_dim: int = 128
    hidden_size: int = 256
    attn_dim: int = 128
    dropout: float = 0.3
    min_freq: int = 1
    max_len: int = 30
    seed: int = 0


@dataclass
class Captioner:
    """A trained captioner: model, vocabulary, tokenizer and the image shape it takes."""

    model: ShowAttendTell
    vocab: Vocab
    tokenizer: Any
    image_size: tuple[int, int]
    channels: int
    info: dict[str, Any]

    def caption(
        self, images: torch.Tensor, beam_size: int = 1, max_len: int | None = None
    ) -> tuple[list[str], list[torch.Tensor], tuple[int, int]]:
        """Captions (strings), each word's attention (n, L) and the feature grid."""
        cfg = self.model.config
        if images.dim() != 4 or tuple(images.shape[1:]) != (self.channels, *self.image_size):
            raise ValueError(
                f"expected images of shape (B, {self.channels}, {self.image_size[0]}, "
                f"{self.image_size[1]}), got {tuple(images.shape)}"
            )
        max_len = max_len or int(self.info.get("max_len", 30))
        grid = (self.image_size[0] // cfg.stride, self.image_size[1] // cfg.stride)
        if beam_size == 1:
            words, alphas, grid = greedy_captions(self.model, images, self.vocab, max_len)
        else:
            words, alphas = beam_captions(self.model, images, self.vocab, beam_size, max_len)
        return [" ".join(w) for w in words], alphas, grid

    def save(self, out_dir: str | Path) -> Path:
        """model.safetensors, vocab.json, tokenizer.json, then config.json with their sha256."""
        import safetensors.torch

        from seqattn.io import atomic_write, atomic_write_json, sha256_file

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
        blob = safetensors.torch.save(state)
        atomic_write(out_dir / "model.safetensors", lambda f: f.write(blob))
        self.vocab.save(out_dir / "vocab.json")
        self.tokenizer.save(out_dir / "tokenizer.json")
        atomic_write_json(out_dir / "config.json", {
            "format": MODEL_FORMAT,
            "model": self.model.config.to_dict(),
            "image": {"height": self.image_size[0], "width": self.image_size[1],
                      "channels": self.channels},
            "files": {name: sha256_file(out_dir / name) for name in _HASHED},
            **self.info,
        })  # fmt: skip
        return out_dir

    @classmethod
    def load(cls, model_dir: str | Path) -> Captioner:
        """Load a directory written by :meth:`save`; missing or mismatched files are named."""
        import json

        import safetensors.torch

        from seqattn.data.tokenize import load_tokenizer
        from seqattn.io import sha256_file

        model_dir = Path(model_dir)
        cfg_path = model_dir / "config.json"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"expected a captioner directory with config.json, got "
                                    f"no such file: {cfg_path}")  # fmt: skip
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"expected JSON in {cfg_path}, got: {err}") from None
        if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
            got = config.get("format") if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"expected format {MODEL_FORMAT!r} in {cfg_path}, got {got!r}")
        for name in _HASHED:
            if not (model_dir / name).is_file():
                raise FileNotFoundError(f"expected {name} in {model_dir}, got no such file")
            if sha256_file(model_dir / name) != config["files"].get(name):
                raise ValueError(f"expected {model_dir / name} to match the sha256 in "
                                 f"{cfg_path}, got a different file")  # fmt: skip
        mcfg = ShowAttendTellConfig.from_dict(config["model"])
        model = ShowAttendTell(mcfg)
        try:
            model.load_state_dict(safetensors.torch.load_file(str(model_dir / "model.safetensors")))
        except Exception as err:  # safetensors and load_state_dict raise their own types
            raise ValueError(f"expected weights matching {cfg_path}, got: {err}") from None
        model.eval()
        image = config["image"]
        info = {k: v for k, v in config.items() if k not in ("format", "model", "image", "files")}
        return cls(model, Vocab.load(model_dir / "vocab.json"),
                   load_tokenizer(model_dir / "tokenizer.json"),
                   (int(image["height"]), int(image["width"])), int(image["channels"]),
                   info)  # fmt: skip


def train_captioner(
    data: Any, cfg: CaptionTrainConfig = CaptionTrainConfig(), progress: Progress = no_progress
) -> Captioner:
    """Train a show-attend-tell captioner on :class:`~seqattn.data.datasets.captions.CaptionImages`.

    Captions are word-tokenised (lowercased); the vocabulary is every training word seen at
    least ``min_freq`` times. The CNN is trained from scratch (no pretrained weights offline).
    """
    from seqattn.data.tokenize import WordTokenizer

    images = data.images
    stride = 2**cfg.num_pools
    _, ch, hh, ww = images.shape
    if hh % stride or ww % stride:
        raise ValueError(
            f"expected image height and width divisible by {stride} (2**num_pools), got "
            f"{hh}x{ww}; resize the images (--size H W)"
        )
    tok = WordTokenizer()
    tokens = [tok(text) for _, text in data.pairs]
    empty = [text for (_, text), t in zip(data.pairs, tokens, strict=True) if not t]
    if empty:
        raise ValueError(f"expected captions with words, got {empty[0]!r}")
    vocab = Vocab.build(tokens, min_freq=cfg.min_freq)
    torch.manual_seed(cfg.seed)
    model = ShowAttendTell(ShowAttendTellConfig(
        vocab_size=len(vocab), in_channels=ch, channels=cfg.channels, num_pools=cfg.num_pools,
        embed_dim=cfg.embed_dim, hidden_size=cfg.hidden_size, attn_dim=cfg.attn_dim,
        dropout=cfg.dropout, pad_id=vocab.pad_id, bos_id=vocab.bos_id, eos_id=vocab.eos_id,
    ))  # fmt: skip
    index = torch.tensor([i for i, _ in data.pairs])
    gen = torch.Generator().manual_seed(cfg.seed)

    def epoch_batches(epoch: int):
        order = torch.randperm(len(tokens), generator=gen)
        for start in range(0, len(tokens), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            inp, tgt = caption_tensors([tokens[int(i)] for i in idx], vocab)
            yield images[index[idx]], inp, tgt  # images gathered per batch, not per caption

    history = fit(model, epoch_batches, epochs=cfg.epochs,
                  steps_per_epoch=math.ceil(len(tokens) / cfg.batch_size), lr=cfg.lr,
                  clip_norm=cfg.clip_norm, alpha_c=cfg.alpha_c, progress=progress)  # fmt: skip
    words, _, _ = greedy_captions(model, images, vocab, cfg.max_len)
    refs = [{tuple(tok(c)) for c in caps} for caps in data.captions]
    hits = sum(tuple(w) in r for w, r in zip(words, refs, strict=True))
    info = {
        "max_len": cfg.max_len,
        "train": {"images": len(data.names), "captions": len(tokens), "epochs": cfg.epochs,
                  "final_nll": history[-1]["nll"], "final_penalty": history[-1]["penalty"],
                  "exact_match_any_reference": hits / len(words)},
    }  # fmt: skip
    return Captioner(model, vocab, tok, (hh, ww), ch, info)


EXPERIMENT = Experiment(
    name="show-attend-tell",
    summary="Show, attend and tell on composed Fashion-MNIST scenes: captions and where it looks.",
    config_cls=Config,
    run=run,
    quick=quick,
    table=table_text,
)

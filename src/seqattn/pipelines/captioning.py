"""Captioning: train a show-attend-tell captioner on your images, save, load, caption.

    captioner = train_captioner(load_caption_images(...), CaptionTrainConfig(epochs=20))
    captioner.save("model/")
    captioner = Captioner.load("model/")
    captions, alphas, grid = captioner.caption(images, beam_size=3)   # images (B, C, H, W)

The building blocks are shared with the ``show-attend-tell`` experiment
(:mod:`seqattn.experiments.show_attend_tell`): the caption tensors and batches, :func:`fit`
(Adam, linear learning-rate decay, gradient clipping, NLL + lambda * the doubly stochastic
penalty, through :class:`~seqattn.training.loop.TrainLoop`), greedy and beam decoding;
measurement and figures are in :mod:`seqattn.pipelines.captioning_eval`.

The model directory (:mod:`seqattn.pipelines.model_dir`, kind ``captioner``)::

    manifest.json        format tag, version, kind, the sha256 of every file
    config.json          the model config, the image shape (height, width, channels), max_len,
                         what training reported
    model.safetensors    the weights
    vocab.json           the caption vocabulary (seqattn.vocab/1)
    tokenizer.json       the word tokenizer's options

Directories of the older layout (config.json of format ``seqattn-captioner/1``) still load.
Shapes: B batch, T caption length, L feature-grid regions, C/H/W image channels/height/width.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqattn.data.synthetic.composed_images import CAPTION_WORDS
from seqattn.data.vocab import Vocab
from seqattn.models.show_attend_tell import ShowAttendTell, ShowAttendTellConfig, caption_loss
from seqattn.pipelines._hub_mixin import HubMixin
from seqattn.pipelines.model_dir import LegacyFormat, open_model_dir, write_model_dir
from seqattn.training.loop import TrainLoop

__all__ = [
    "Batch",
    "CaptionTrainConfig",
    "Captioner",
    "batches",
    "beam_captions",
    "caption_tensors",
    "caption_vocab",
    "fit",
    "greedy_captions",
    "train_captioner",
]

log = logging.getLogger("seqattn.pipelines.captioning")

Progress = Callable[..., Iterable]  # progress(iterable, desc, total) -> iterable


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
    progress: Progress | None = None,
    deadline: float | None = None,
) -> list[dict[str, float]]:
    """Train with Adam, a linear learning-rate decay and gradient-norm clipping, through
    :class:`~seqattn.training.loop.TrainLoop` (forward, zero_grad, backward, clip, step,
    schedule: the operations of the loop this replaced, in its order).

    Args:
        model: the captioner (trained in place).
        epoch_batches: epoch number (1-based) -> that epoch's mini-batches.
        epochs, steps_per_epoch: the schedule's length.
        alpha_c: lambda of the doubly stochastic penalty.
        on_epoch: called after each epoch with (epoch, its mean losses); may add entries.
        progress: a progress hook ``progress(iterable, desc, total)`` over the epochs.
        deadline: a ``time.perf_counter()`` value; training stops before the first batch after
            it (the last record then has ``"stopped": True``).

    Returns:
        One dict per epoch: epoch, loss, nll, penalty, steps, seconds (and what on_epoch added).
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = max(1, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 - (1.0 - final_lr_fraction) * min(s, total) / total
    )
    terms: dict[str, torch.Tensor] = {}
    sums: dict[str, float] = {}

    def loss_fn(batch: Batch) -> torch.Tensor:
        images, inp, tgt = batch
        out = model(images, inp)
        terms["loss"], terms["nll"], terms["penalty"] = caption_loss(
            out, tgt, model.config.pad_id, alpha_c
        )
        return terms["loss"]

    def add_terms(state, batch) -> None:
        for k in ("loss", "nll", "penalty"):
            sums[k] += float(terms[k].detach())

    # TrainLoop's deadline is a time.time() value
    wall_deadline = None if deadline is None else time.time() + deadline - time.perf_counter()
    loop = TrainLoop(model.parameters(), opt, clip_norm=clip_norm, scheduler=sched,
                     deadline=wall_deadline, after_step=[add_terms],
                     record_losses=False)  # fmt: skip
    history = []
    epoch_range = range(1, epochs + 1)
    for epoch in epoch_range if progress is None else progress(epoch_range, "train", epochs):
        model.train()
        t0, first = time.perf_counter(), loop.state.step
        sums.update(loss=0.0, nll=0.0, penalty=0.0)
        stopped = loop.run(epoch_batches(epoch), loss_fn).stopped_by == "deadline"
        n = loop.state.step - first
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


# -- captioning your own images (``seqattn train caption`` / ``seqattn caption``) ----------------

KIND = "captioner"  # the kind in manifest.json (seqattn.pipelines.model_dir)
MODEL_FORMAT = "seqattn-captioner/1"  # config.json's tag before the shared format
_FILES = ("vocab.json", "tokenizer.json")
_HASHED = ("model.safetensors", *_FILES)
_RESERVED = ("format", "model", "image", "files")  # config.json keys that info cannot take


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
class Captioner(HubMixin):
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
        """Write the model directory (:func:`~seqattn.pipelines.model_dir.write_model_dir`):
        model.safetensors, vocab.json, tokenizer.json, config.json, manifest.json last."""
        config = {
            "model": self.model.config.to_dict(),
            "image": {"height": self.image_size[0], "width": self.image_size[1],
                      "channels": self.channels},
            **{k: v for k, v in self.info.items() if k not in _RESERVED},
        }  # fmt: skip
        files = {"vocab.json": self.vocab.save, "tokenizer.json": self.tokenizer.save}
        return write_model_dir(out_dir, KIND, config, self.model, files)

    @classmethod
    def load(cls, model_dir: str | Path) -> Captioner:
        """Load a directory written by :meth:`save` (or by a version before the shared
        format: config.json of format ``seqattn-captioner/1``); problems name the file."""
        from seqattn.data.tokenize import load_tokenizer

        md = open_model_dir(model_dir, KIND, _FILES, LegacyFormat(MODEL_FORMAT, _HASHED))
        config, cfg_path = md.config, md.file("config.json")
        try:
            mcfg = ShowAttendTellConfig.from_dict(config["model"])
            image = config["image"]
            size, channels = (int(image["height"]), int(image["width"])), int(image["channels"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"expected a captioner config in {cfg_path}, got: {err!r}") from None
        model = md.load_weights(ShowAttendTell(mcfg)).eval()
        info = {k: v for k, v in config.items() if k not in _RESERVED}
        return cls(model, Vocab.load(md.file("vocab.json")),
                   load_tokenizer(md.file("tokenizer.json")), size, channels, info)  # fmt: skip


def train_captioner(
    data: Any, cfg: CaptionTrainConfig = CaptionTrainConfig(), progress: Progress | None = None
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

"""Experiment ``language-model``: character LSTM vs causal Transformer (and the modern layers).

Both models read the training part of a text (all but its last ``valid_fraction``) in random
windows of ``context`` characters and minimise the next-character cross-entropy; both get the
same wall-clock budget. They are scored in bits per character on the held-out tail,
``bpc = -1/N sum_t log2 p(x_t | x_<t)``, with the same protocol: sliding windows of ``context``
characters, stride ``context / 2``, each character scored once, by the window that gives it at
least ``context / 2`` characters of history (the first window scores all its characters). So the
LSTM is measured with the Transformer's bounded context, a like-for-like comparison.

Samples are drawn through :func:`seqattn.decoding.sample` (temperature, top-k) from each model's
``step`` function, primed with a newline and stopped at the next one (a whole caption for
Multi30k).

Default data: the English side of the Multi30k training captions (29,000 lines, via
:func:`seqattn.data.datasets.load_multi30k`, joined with newlines, file order); ``dataset`` takes
any UTF-8 text file instead.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqattn.decoding import sample
from seqattn.experiments import language_model_layers as modern
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.toolkit import attention_view
from seqattn.models.char_lm import (
    CharLSTM,
    CharLSTMConfig,
    CharTransformer,
    CharTransformerConfig,
    CharVocab,
    cross_entropy_bits,
    parameter_count,
)
from seqattn.training.loop import TrainLoop
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown

NAMED = {"multi30k-en": "en", "multi30k-de": "de"}
MODELS = ("lstm", "transformer")  # the defaults; MODERN adds the modern layers


@dataclass(frozen=True)
class Config:
    """Both models train for ``min(max_steps, time_budget_s)`` each; the budget is wall-clock."""

    dataset: str = "multi30k-en"
    valid_fraction: float = 0.1
    eval_chars: int = 60_000  # scored chars from the start of the held-out tail (0 = all)
    models: tuple[str, ...] = MODELS
    context: int = 128
    batch_size: int = 32
    max_steps: int = 5000
    time_budget_s: float = 450.0
    warmup_steps: int = 50
    clip_norm: float = 1.0
    lstm_embed: int = 64
    lstm_hidden: int = 256
    lstm_layers: int = 2
    lstm_lr: float = 3e-3
    tf_d_model: int = 128
    tf_heads: int = 4
    tf_layers: int = 4
    tf_ff: int = 512
    tf_dropout: float = 0.0
    tf_lr: float = 2e-3
    positions: str = "learned"
    mixer_d_model: int = 128  # the modern layers' stack (language_model_layers.MODERN)
    mixer_layers: int = 2
    mixer_heads: int = 4
    mixer_lr: float = 2e-3
    curve_every_s: float = 45.0
    curve_chars: int = 4000
    temperatures: tuple[float, ...] = (0.5, 0.8, 1.0)
    top_k: int = 5  # one more setting: temperature 1.0 with top-k
    samples_per_setting: int = 2
    sample_chars: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("context", "batch_size", "max_steps", "curve_chars", "sample_chars",
                     "samples_per_setting", "lstm_embed", "lstm_hidden", "lstm_layers",
                     "tf_d_model", "tf_heads", "tf_layers", "tf_ff", "top_k"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.context < 2:
            raise ValueError(f"expected context >= 2, got {self.context}")
        if not 0.0 < self.valid_fraction < 1.0:
            raise ValueError(f"expected valid_fraction in (0, 1), got {self.valid_fraction}")
        if self.eval_chars < 0:
            raise ValueError(
                f"expected eval_chars >= 0 (0 = the whole tail), got {self.eval_chars}"
            )
        if not self.models or set(self.models) - set(known := MODELS + modern.MODERN):
            raise ValueError(f"expected models from {list(known)}, got {list(self.models)}")
        modern.check_mixer_config(self)
        if not self.time_budget_s > 0:
            raise ValueError(f"expected time_budget_s > 0, got {self.time_budget_s}")
        if any(not t >= 0 for t in self.temperatures):
            raise ValueError(f"expected temperatures >= 0, got {list(self.temperatures)}")
        if self.positions not in ("learned", "sinusoidal"):
            raise ValueError(
                f"expected positions 'learned' or 'sinusoidal', got {self.positions!r}"
            )
        if self.tf_d_model % self.tf_heads:
            raise ValueError(
                f"expected tf_d_model divisible by tf_heads, got {self.tf_d_model}/{self.tf_heads}"
            )
        if self.dataset not in NAMED:
            # a file: fail here, before any training, with the file's own problem
            split_text(read_text_file(self.dataset), self.valid_fraction, self.context,
                       where=self.dataset)  # fmt: skip


def quick(cfg: Config) -> Config:
    """Demo scale, well under a minute: tiny models, 10 s of training each, 4,000 scored chars."""
    return dataclasses.replace(
        cfg, context=64, batch_size=16, max_steps=300, time_budget_s=10.0, eval_chars=4000,
        curve_chars=1000, curve_every_s=4.0, lstm_hidden=96, lstm_layers=1, tf_d_model=64,
        tf_heads=4, tf_layers=2, tf_ff=192, samples_per_setting=1, sample_chars=100,
        mixer_d_model=64,
    )  # fmt: skip


# ----------------------------------------------------------------------------------- data


def read_text_file(path: str | Path) -> str:
    """A whole UTF-8 text file; a ValueError names the file and what is wrong with it.

    Non-UTF-8 input reports the byte offset (and line) of the first invalid byte; a leading
    byte-order mark is dropped; an empty file is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: expected a text file (or one of {sorted(NAMED)}), got no file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path}: expected UTF-8 text, got byte 0x{data[err.start]:02x} at byte offset "
            f"{err.start} (line {line}) that is not valid UTF-8 ({err.reason})"
        ) from None
    text = text.removeprefix("\ufeff")
    if not text:
        raise ValueError(f"{path}: expected a non-empty text file, got an empty file")
    return text


def split_text(
    text: str, valid_fraction: float, context: int, where: str = "text"
) -> tuple[str, str]:
    """(training part, held-out tail): the tail is the last ``valid_fraction`` of the characters.

    Both parts must hold at least ``context + 1`` characters (one window and its next-character
    targets).
    """
    need = context + 1
    n_tail = max(need, math.ceil(len(text) * valid_fraction))
    if len(text) < n_tail + need:
        raise ValueError(
            f"{where}: expected at least {n_tail + need} characters (context {context} + 1 to "
            f"train on and a held-out tail of max({context} + 1, {valid_fraction:g} of the "
            f"text)), got {len(text)}"
        )
    return text[:-n_tail], text[-n_tail:]


def load_text(cfg: Config) -> tuple[str, str]:
    """The text of ``cfg.dataset`` and a description of it."""
    if cfg.dataset in NAMED:
        from seqattn.data.datasets import load_multi30k

        lang = NAMED[cfg.dataset]
        pairs = load_multi30k("train", src=lang, tgt="de" if lang == "en" else "en")
        text = "\n".join(p.src for p in pairs) + "\n"
        return text, f"Multi30k task 1 train, {lang} side ({len(pairs):,} captions, file order)"
    return read_text_file(cfg.dataset), f"file {cfg.dataset}"


# ----------------------------------------------------------------------------- training


def build_model(kind: str, cfg: Config, vocab_size: int) -> torch.nn.Module:
    if kind in modern.MODERN:
        return modern.build_model(kind, cfg, vocab_size)
    if kind == "lstm":
        return CharLSTM(
            CharLSTMConfig(vocab_size, cfg.lstm_embed, cfg.lstm_hidden, cfg.lstm_layers)
        )
    return CharTransformer(
        CharTransformerConfig(
            vocab_size, context=cfg.context, d_model=cfg.tf_d_model, nhead=cfg.tf_heads,
            num_layers=cfg.tf_layers, dim_feedforward=cfg.tf_ff, dropout=cfg.tf_dropout,
            positions=cfg.positions,
        )
    )  # fmt: skip


def _logits(model: torch.nn.Module, x: Tensor) -> Tensor:
    out = model(x)
    return out[0] if isinstance(out, tuple) else out  # the LSTM also returns its state


@torch.no_grad()
def sliding_window_bpc(
    model: torch.nn.Module, ids: Tensor, context: int, batch: int = 64
) -> tuple[float, int]:
    """Bits per character of ``ids[1:]`` given the preceding characters, in sliding windows.

    Windows of ``context`` inputs move by ``stride = context // 2``; each target is scored once,
    by the first window that covers it after the previous window's last target, so every target
    but those of the first window has between ``context - stride`` and ``context - 1``
    characters of history. Returns (bpc, number of characters scored).
    """
    n = ids.numel()
    if n < context + 1:
        raise ValueError(f"expected at least context + 1 = {context + 1} characters, got {n}")
    stride = max(1, context // 2)
    starts = list(range(0, n - context, stride))
    if starts[-1] != n - 1 - context:
        starts.append(n - 1 - context)
    windows, masks, done = [], [], 0  # done: targets ids[1 .. done] already scored
    for w in starts:
        first = max(done + 1, w + 1)  # first target index this window scores
        mask = torch.zeros(context, dtype=torch.bool)
        mask[first - (w + 1) :] = True
        windows.append(w)
        masks.append(mask)
        done = w + context
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    offsets = torch.arange(context + 1)
    for i in range(0, len(windows), batch):
        idx = torch.tensor(windows[i : i + batch]).unsqueeze(1) + offsets  # (G, C + 1)
        chunk = ids[idx]
        logits = _logits(model, chunk[:, :-1])  # (G, C, V)
        nll = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), chunk[:, 1:], reduction="none"
        )  # (G, C) nats
        mask = torch.stack(masks[i : i + batch])
        total += float(nll[mask].sum())
        count += int(mask.sum())
    model.train(was_training)
    assert count == n - 1  # every target exactly once
    return total / count / math.log(2), count


def _warm_up(model: torch.nn.Module, train_ids: Tensor) -> float:
    """One tiny forward and backward outside the clock, gradients discarded; returns its seconds.

    A first call may build or load compiled kernels (the recurrent fast path), which is not
    training time.
    """
    warm = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    out = _logits(model, train_ids[: 2 * 9].view(2, 9)).sum()
    torch.autograd.grad(out, params, allow_unused=True)  # not a training step: .grad untouched
    return time.perf_counter() - warm


def _curve_point(kind: str, step: int, seconds: float, bpc: float, recent: list[float]) -> dict:
    train_bpc = sum(recent) / len(recent) if recent else None
    return {"model": kind, "step": step, "seconds": round(seconds, 2), "curve_bpc": bpc,
            "train_bpc": train_bpc}  # fmt: skip


def _train(kind, model, train_ids, curve_ids, cfg, progress) -> dict[str, Any]:
    """Train on random windows until ``max_steps`` or the wall-clock budget, through TrainLoop.

    Held-out bpc on ``curve_ids`` is measured at the start and then every ``curve_every_s``
    seconds (after a step, before the budget is checked), and once at the end.
    """
    lr = cfg.lstm_lr if kind == "lstm" else cfg.tf_lr if kind == "transformer" else cfg.mixer_lr
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.0)
    warmup = max(1, cfg.warmup_steps)  # linear warm-up over the first steps, then constant
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda done: min(1.0, (done + 1) / warmup))
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    offsets = torch.arange(cfg.context + 1)
    high = train_ids.numel() - cfg.context - 1

    def windows():
        while True:
            starts = torch.randint(0, high + 1, (cfg.batch_size, 1), generator=gen)
            yield train_ids[starts + offsets]  # (B, C + 1)

    warmup_seconds = _warm_up(model, train_ids)
    curve: list[dict[str, Any]] = []
    started, cpu0 = time.perf_counter(), time.process_time()
    next_curve = [0.0]

    def measure(state, _batch=None) -> None:
        elapsed = time.perf_counter() - started
        if elapsed >= next_curve[0] and state.step < cfg.max_steps:
            bpc, _ = sliding_window_bpc(model, curve_ids, cfg.context)
            curve.append(_curve_point(kind, state.step, elapsed, bpc, state.losses[-20:]))
            next_curve[0] = elapsed + cfg.curve_every_s

    loop = TrainLoop(
        model.parameters(), opt, clip_norm=cfg.clip_norm, scheduler=schedule,
        max_steps=cfg.max_steps, deadline=time.time() + cfg.time_budget_s,
        after_step=[measure], progress=progress, desc=f"train {kind}",
    )  # fmt: skip
    model.train()
    measure(loop.state)
    state = loop.run(windows(), lambda chunk: cross_entropy_bits(
        _logits(model, chunk[:, :-1]), chunk[:, 1:]), total=cfg.max_steps)  # fmt: skip
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    bpc, _ = sliding_window_bpc(model, curve_ids, cfg.context)
    recent = state.losses[-50:]
    curve.append(_curve_point(kind, state.step, wall, bpc, recent))
    return {
        "steps": state.step,
        "stopped_by": "time_budget" if state.stopped_by == "deadline" else "max_steps",
        "train_seconds": wall,
        "warmup_seconds": warmup_seconds,
        "train_cpu_seconds": cpu,
        "final_train_bpc": sum(recent) / len(recent) if recent else math.nan,
        "chars_seen": state.step * cfg.batch_size * cfg.context,
        "curve": curve,
    }


# ----------------------------------------------------------------------------- sampling


def _samples(kind, model, vocab: CharVocab, prime: str, cfg: Config) -> list[dict[str, Any]]:
    model.eval()
    newline = "\n" in vocab
    eos = vocab.stoi["\n"] if newline else len(vocab)

    def step(tokens, state):
        log_probs, state, attn = model.step(tokens, state)
        if not newline:  # a virtual end token that is never drawn: stop at max_len only
            log_probs = torch.cat(
                [log_probs, log_probs.new_full((log_probs.shape[0], 1), -math.inf)], 1
            )
        return log_probs, state, attn

    settings = [(t, None) for t in cfg.temperatures] + [(1.0, cfg.top_k)]
    out = []
    for i, (temperature, top_k) in enumerate(settings):
        gen = torch.Generator().manual_seed(cfg.seed + 100 + i)
        hyps = sample(
            step, model.initial_state(cfg.samples_per_setting), bos=vocab.stoi.get(prime, 0),
            eos=eos, max_len=cfg.sample_chars, temperature=temperature, top_k=top_k,
            generator=gen,
        )  # fmt: skip
        for toks, score in zip(hyps.tokens, hyps.scores[:, 0].tolist(), strict=True):
            text = vocab.decode(toks[0])
            out.append({
                "model": kind, "temperature": temperature, "top_k": top_k, "text": text,
                "chars": len(text), "bits_per_char": -score / math.log(2) / (len(toks[0]) + 1),
            })  # fmt: skip
    return out


def _label(ch: str) -> str:
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(ch, ch)


def _attention_view(model: CharTransformer, vocab: CharVocab, text: str) -> dict[str, Any]:
    """The last layer's heads on a held-out snippet: which earlier characters each one reads."""
    model.eval()
    ids = vocab.encode(text).unsqueeze(0)
    with torch.no_grad():
        _, weights = model(ids, need_weights=True)
    labels = [_label(c) for c in text]
    return attention_view(
        weights[-1][0], keys=labels, queries=labels,  # (H, T, T)
        title=f"causal Transformer, last layer, held-out text {text[:40]!r}",
    )  # fmt: skip


# ---------------------------------------------------------------------------------- run


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started, cpu0 = time.perf_counter(), time.process_time()
    text, described = load_text(cfg)
    train_text, tail = split_text(text, cfg.valid_fraction, cfg.context, where=cfg.dataset)
    vocab = CharVocab.from_text(train_text)
    train_ids = vocab.encode(train_text)
    eval_text = tail if cfg.eval_chars == 0 else tail[: max(cfg.eval_chars, cfg.context + 1)]
    eval_ids = vocab.encode(eval_text)
    curve_ids = eval_ids[: max(cfg.curve_chars, cfg.context + 1)]
    unseen = sum(c not in vocab for c in tail)
    prime = "\n" if "\n" in vocab else tail[0]

    table, samples, metrics, attention = [], [], [], []
    for kind in cfg.models:
        torch.manual_seed(cfg.seed)
        model = build_model(kind, cfg, len(vocab))
        trained = _train(kind, model, train_ids, curve_ids, cfg, progress)
        eval_start = time.perf_counter()
        bpc, scored = sliding_window_bpc(model, eval_ids, cfg.context)
        eval_seconds = time.perf_counter() - eval_start
        metrics.extend(trained.pop("curve"))
        table.append({
            "model": kind,
            "parameters": parameter_count(model),
            "heldout_bpc": bpc,
            "chars_scored": scored,
            **trained,
            "ms_per_step": 1000 * trained["train_seconds"] / max(1, trained["steps"]),
            "eval_seconds": eval_seconds,
            **modern.speeds(model, trained, cfg.sample_chars),
        })  # fmt: skip
        samples.extend(_samples(kind, model, vocab, prime, cfg))
        if kind == "transformer":
            snippet = eval_text[: min(48, cfg.context)]
            attention.append(_attention_view(model, vocab, snippet))

    curves_bpc = {r["model"]: ([m["seconds"] for m in metrics if m["model"] == r["model"]],
                               [m["curve_bpc"] for m in metrics if m["model"] == r["model"]])
                  for r in table}  # fmt: skip
    fig = plot_panels(
        {f"held-out bpc (first {curve_ids.numel():,} chars of the tail)": curves_bpc},
        out_dir / "bpc_curves.png",
        xlabel="training wall-clock seconds (shared machine)",
        ylabel="bits per character",
        title=f"Character LMs on {described}",
    )
    return {
        "experiment": "language-model",
        "dataset": described,
        "train_chars": len(train_text),
        "tail_chars": len(tail),
        "eval_chars": len(eval_text),
        "vocab_size": len(vocab),
        "tail_chars_unseen_in_training": unseen,
        "uniform_bpc": math.log2(len(vocab)),
        "table": table,
        "samples": samples,
        "metrics": metrics,
        "figures": [str(fig)],
        "attention": attention,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu0,
    }


def tables(results: dict[str, Any]) -> list[Table | str]:
    """The models' table (the data described above it), then the samples as a text block."""
    title = (
        f"Data: {results['dataset']}: {results['train_chars']:,} training chars, held-out tail "
        f"{results['tail_chars']:,} chars ({results['eval_chars']:,} scored), vocabulary "
        f"{results['vocab_size']} (uniform = {results['uniform_bpc']:.2f} bpc)"
    )
    columns = [
        Column("model"),
        Column("parameters", fmt=","),
        Column("heldout_bpc", "held-out bpc", ".3f"),
        Column("final_train_bpc", "train bpc (last 50 steps)", ".3f"),
        Column("steps", fmt=","),
        Column("chars_seen", "chars seen", ","),
        Column("train_seconds", "train wall s", ".0f"),
        Column("train_cpu_seconds", "train CPU s", ".0f"),
        Column("ms_per_step", "ms/step", ".0f"),
        *modern.SPEED_COLUMNS,
    ]
    samples = ["Samples (primed with a newline, stopped at the next):", ""]
    for s in results["samples"]:
        k = f", top-{s['top_k']}" if s["top_k"] else ""
        samples.append(f"- {s['model']}, T={s['temperature']:g}{k}: {s['text']!r}")
    return [Table(columns, results["table"], title=title, name="table"), "\n".join(samples)]


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="language-model",
    summary="Character LMs on a text file: LSTM vs causal Transformer, bits/char and samples.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)

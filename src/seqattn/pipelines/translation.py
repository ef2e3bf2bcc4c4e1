"""Translation: read parallel files, train a :class:`~seqattn.models.Seq2Seq`, save a model
directory, translate (greedy or beam) and score with sacreBLEU.

A model directory (:mod:`seqattn.pipelines.model_dir`, kind ``translation``) holds
``model.safetensors``, ``config.json`` (model + data options), ``src_tokenizer.json`` /
``tgt_tokenizer.json``, ``src_vocab.json`` / ``tgt_vocab.json`` and ``manifest.json`` (their
sha256); loading checks them and never unpickles anything. Training writes resumable
checkpoints under ``<dir>/checkpoints`` through :class:`seqattn.training.Trainer`.

Text in and out: with ``subword="bpe"`` the tokenisers are BPE models (Sennrich et al. 2016)
whose decoder restores the spacing exactly, so BLEU is computed on detokenised text as
sacreBLEU expects; ``subword="word"`` uses the regex word tokeniser and a rule-based
detokeniser (spaces before closing punctuation removed), which is only approximate.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from seqattn.data.batching import BucketBatchSampler
from seqattn.data.datasets.parallel import SentencePair, load_parallel_files
from seqattn.data.tokenize import BPETokenizer, WordTokenizer, check_text, load_tokenizer
from seqattn.data.vocab import Vocab
from seqattn.models.seq2seq import Seq2Seq, Seq2SeqConfig, sequence_loss
from seqattn.pipelines._hub_mixin import HubMixin
from seqattn.pipelines.model_dir import LegacyFormat, open_model_dir, write_model_dir
from seqattn.pipelines.resume import resume_config
from seqattn.pipelines.tables import _decode, _read_bytes
from seqattn.pipelines.translation_config import (  # noqa: F401 (re-exported)
    DATA_FIELDS,
    TranslationConfig,
    default_model,
)

__all__ = [
    "TranslationConfig",
    "TranslationModel",
    "Translation",
    "read_parallel",
    "fit_translation",
    "bleu_scores",
    "bleu_by_length",
    "detokenize_words",
    "TimeBudget",
]

log = logging.getLogger("seqattn.pipelines.translation")

KIND = "translation"  # the kind in manifest.json (seqattn.pipelines.model_dir)
LEGACY_FORMAT = "seqattn.translation/1"  # config.json's tag before the shared format
_FILES = ("src_tokenizer.json", "src_vocab.json", "tgt_tokenizer.json", "tgt_vocab.json")


# -- reading ---------------------------------------------------------------------------------
def read_parallel(src_path: str | Path, tgt_path: str | Path) -> list[SentencePair]:
    """Sentence pairs of two line-aligned files; empty lines are errors naming file and line.

    Mismatched line counts raise ValueError naming both files and both counts
    (:func:`~seqattn.data.datasets.load_parallel_files`); bytes that are not UTF-8 raise
    ValueError naming the file, line and column (as :func:`~seqattn.pipelines.tables.read_table`).
    """
    try:
        pairs = load_parallel_files(src_path, tgt_path)
    except UnicodeDecodeError:  # its position counts from a buffer, not the file: locate it
        for path in (Path(src_path), Path(tgt_path)):
            _decode(_read_bytes(path)[0], path)
        raise
    if not pairs:
        raise ValueError(f"expected at least one sentence pair, got empty files {src_path}")
    for n, pair in enumerate(pairs, start=1):
        for path, text in ((src_path, pair.src), (tgt_path, pair.tgt)):
            if not text:
                raise ValueError(f"expected a sentence at {path}:{n}, got an empty line")
            check_text(text, f"{path}:{n}", max_chars=len(text))  # a NUL byte
    return pairs


_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}]|'s\b|n't\b)")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")


def detokenize_words(tokens: Sequence[str]) -> str:
    """Join word tokens with spaces, then drop spaces before closing punctuation (approximate).

    >>> detokenize_words(["A", "man", "(", "left", ")", "sits", "."])
    'A man (left) sits.'
    """
    text = " ".join(tokens)
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


class _Side:
    """One language: tokenizer + vocabulary (with a BPE the vocabulary mirrors its ids)."""

    def __init__(self, tokenizer: WordTokenizer | BPETokenizer, vocab: Vocab) -> None:
        self.tokenizer, self.vocab = tokenizer, vocab

    @classmethod
    def build(cls, texts: Sequence[str], cfg: TranslationConfig) -> _Side:
        if cfg.subword == "bpe":
            tok = BPETokenizer.train(texts, vocab_size=cfg.bpe_vocab, lowercase=cfg.lowercase)
            return cls(tok, Vocab(tok.tokens()))
        tok = WordTokenizer(lowercase=cfg.lowercase, unescape_html=False, html_breaks=False)
        vocab = Vocab.build((tok(t) for t in texts), min_freq=cfg.min_freq,
                            max_size=cfg.max_vocab)  # fmt: skip
        return cls(tok, vocab)

    def tokens(self, text: str) -> list[str]:
        return self.tokenizer(text)

    def encode(self, text: str) -> tuple[list[int], int]:
        """(ids, number of unknown tokens)."""
        toks = self.tokens(text)
        ids = self.vocab.encode(toks)
        unk = self.vocab.unk_id
        return ids, sum(i == unk for i in ids)

    def decode(self, ids: Sequence[int]) -> str:
        if isinstance(self.tokenizer, BPETokenizer):
            keep = [i for i in ids if i not in self.vocab.special_ids or i == self.vocab.unk_id]
            return self.tokenizer.decode(keep, skip_special_tokens=False).strip()
        return detokenize_words(self.vocab.decode(ids))

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.vocab.itos[i] for i in ids]


@dataclass
class Translation:
    """One translated sentence: text, target pieces, source pieces, attention (T, S) or None."""

    text: str
    tokens: list[str]
    src_tokens: list[str]
    score: float
    attention: torch.Tensor | None = None


@dataclass
class TranslationModel(HubMixin):
    """A trained model with its tokenisers and vocabularies; save/load a model directory."""

    model: Seq2Seq
    config: TranslationConfig
    src: _Side
    tgt: _Side
    info: dict[str, Any] = field(default_factory=dict)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model directory (:func:`~seqattn.pipelines.model_dir.write_model_dir`):
        weights, config.json, both sides' tokenizer and vocabulary, manifest.json last."""
        config = {"config": self.config.to_dict(), "model": self.model.config.to_dict(),
                  "info": self.info}  # fmt: skip
        files = {}
        for name, side in (("src", self.src), ("tgt", self.tgt)):
            files[f"{name}_tokenizer.json"] = side.tokenizer.save
            files[f"{name}_vocab.json"] = side.vocab.save
        return write_model_dir(path, KIND, config, self.model, files)

    @classmethod
    def load(cls, path: str | Path) -> TranslationModel:
        """Load a directory of :meth:`save`, or of a version before the shared format
        (``config.json`` of format ``seqattn.translation/1``, no sha256)."""
        md = open_model_dir(path, KIND, _FILES, LegacyFormat(LEGACY_FORMAT, _FILES, hashed=False))
        meta, cfg_path = md.config, md.file("config.json")
        for key in ("config", "model"):
            if not isinstance(meta.get(key), dict):
                raise ValueError(f"expected a {key!r} mapping in {cfg_path}, got none")
        try:
            model_config = Seq2SeqConfig(**meta["model"])
            config = TranslationConfig.from_dict(meta["config"])  # also the old flat dicts
        except (TypeError, ValueError) as err:
            raise ValueError(f"expected a valid model config in {cfg_path}, got: {err}") from None
        model = md.load_weights(Seq2Seq(model_config)).eval()
        sides = [
            _Side(load_tokenizer(md.file(f"{n}_tokenizer.json")),
                  Vocab.load(md.file(f"{n}_vocab.json")))
            for n in ("src", "tgt")
        ]  # fmt: skip
        return cls(model, config, *sides, info=meta.get("info", {}))

    # -- translation ---------------------------------------------------------------------------
    def encode_sources(self, texts: Sequence[str], where: Sequence[str] | None = None):
        """Source ids per text; errors name ``where[i]`` (e.g. ``file:line``): an empty text, a
        NUL character, a text over :data:`~seqattn.data.tokenize.MAX_CHARS` characters or over
        ``max_length`` tokens. Returns (ids lists, number of unknown tokens)."""
        out, unknown = [], 0
        limit = self.config.max_length
        for i, text in enumerate(texts):
            at = where[i] if where is not None else f"input {i + 1}"
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"expected a sentence at {at}, got an empty line")
            ids, unk = self.src.encode(check_text(text, at))
            if len(ids) > limit:
                raise ValueError(
                    f"expected at most {limit} source tokens (the model's max_length) at {at}, "
                    f"got {len(ids)}"
                )
            out.append(ids)
            unknown += unk
        return out, unknown

    @torch.no_grad()
    def translate(
        self,
        texts: Sequence[str],
        beam: int = 1,
        batch_size: int = 64,
        where: Sequence[str] | None = None,
        length_penalty: float = 0.0,
        max_len_ratio: float = 1.5,
    ) -> list[Translation]:
        """Translate texts with greedy search (``beam=1``) or beam search, batched by length."""
        from seqattn.decoding import beam_search, greedy_search

        ids, unknown = self.encode_sources(texts, where)
        if unknown:
            log.info("%d unknown source tokens mapped to <unk>", unknown)
        self.model.eval()
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        results: list[Translation | None] = [None] * len(ids)
        v = self.tgt.vocab
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            src, lengths = _pad([ids[i] for i in chunk])
            state = self.model.decode_state(src, lengths)
            max_len = (lengths.double() * max_len_ratio).ceil().long() + 5
            if beam == 1:
                hyps = greedy_search(self.model.step, state, bos=v.bos_id, eos=v.eos_id,
                                     max_len=max_len)  # fmt: skip
            else:
                hyps = beam_search(self.model.step, state, bos=v.bos_id, eos=v.eos_id,
                                   beam_size=beam, max_len=max_len,
                                   length_penalty=length_penalty)  # fmt: skip
            for j, i in enumerate(chunk):
                toks = hyps.tokens[j][0]
                attn = hyps.attention[j][0] if hyps.attention else None
                if attn is not None:
                    attn = attn[:, : len(ids[i])].cpu()
                results[i] = Translation(
                    self.tgt.decode(toks), self.tgt.pieces(toks), self.src.pieces(ids[i]),
                    float(hyps.scores[j, 0]), attn,
                )  # fmt: skip
        return results  # type: ignore[return-value]


def _pad(seqs: Sequence[Sequence[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in seqs])
    out = torch.full((len(seqs), int(lengths.max())), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out, lengths


# -- training --------------------------------------------------------------------------------
class _Batches(torch.utils.data.Dataset):
    """Pre-bucketed batches as the trainer's 'examples' (it then shuffles batch order)."""

    def __init__(self, examples: list[tuple[list[int], list[int]]], batches: list[list[int]]):
        self.examples, self.batches = examples, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int):
        return _collate([self.examples[j] for j in self.batches[i]])


def _collate(rows: Sequence[tuple[list[int], list[int]]]):
    """(source ids, bos ... eos target ids) rows -> src, lengths, decoder input, target."""
    src, lengths = _pad([r[0] for r in rows])
    tgt, _ = _pad([r[1] for r in rows])
    return src, lengths, tgt[:, :-1], tgt[:, 1:]


def _encode_pairs(pairs, src: _Side, tgt: _Side, max_length: int):
    examples, skipped = [], 0
    bos, eos = tgt.vocab.bos_id, tgt.vocab.eos_id
    for p in pairs:
        s, _ = src.encode(p.src)
        t, _ = tgt.encode(p.tgt)
        if not s or not t or len(s) > max_length or len(t) > max_length:
            skipped += 1
            continue
        examples.append((s, [bos, *t, eos]))
    return examples, skipped


class TimeBudget:
    """Trainer callback: stop (checkpointing as usual) once ``minutes`` of wall time passed."""

    def __init__(self, minutes: float | None) -> None:
        self.minutes, self.start, self.stopped_at = minutes, time.perf_counter(), None

    def on_step_end(self, trainer, logs) -> None:
        if self.minutes is not None and time.perf_counter() - self.start > 60 * self.minutes:
            if not trainer.should_stop:
                trainer.stop_reason = f"time budget of {self.minutes:g} min"
            trainer.should_stop = True
            self.stopped_at = trainer.step


class _TeacherForcingSchedule:
    """Linear teacher-forcing ratio from ``start`` to ``end`` over the run's optimizer steps."""

    def __init__(self, start: float, end: float | None, total: int) -> None:
        self.start, self.end, self.total, self.value = start, end, max(total, 1), start

    def on_step_end(self, trainer, logs) -> None:
        if self.end is not None:
            frac = min(trainer.step / self.total, 1.0)
            self.value = self.start + (self.end - self.start) * frac


@dataclass
class _TrainingData:
    """Both sides (tokeniser + vocabulary), the encoded training pairs, the pairs skipped as
    too long, the length-bucketed sampler and the validation batches (None without)."""

    src: _Side
    tgt: _Side
    examples: list[tuple[list[int], list[int]]]
    skipped: int
    sampler: BucketBatchSampler
    val_set: _Batches | None


def _training_data(
    train: Sequence[SentencePair], valid: Sequence[SentencePair] | None, config: TranslationConfig
) -> _TrainingData:
    """Tokenisers and vocabularies built on ``train``, then both sets encoded and batched."""
    src_side = _Side.build([p.src for p in train], config)
    tgt_side = _Side.build([p.tgt for p in train], config)
    if src_side.vocab.pad_id != 0 or tgt_side.vocab.pad_id != 0:
        raise ValueError("expected <pad> at id 0 in both vocabularies")  # the collate pads with 0
    examples, skipped = _encode_pairs(train, src_side, tgt_side, config.max_length)
    if not examples:
        raise ValueError(f"expected training pairs within max_length={config.max_length} "
                         f"tokens, got none of {len(train)}")  # fmt: skip
    if skipped:
        log.warning("skipped %d training pairs longer than %d tokens", skipped, config.max_length)
    sampler = BucketBatchSampler([len(s) for s, _ in examples], config.batch_size,
                                 seed=config.seed)  # fmt: skip
    val_set = None
    if valid:
        v_examples, _ = _encode_pairs(valid, src_side, tgt_side, config.max_length)
        v_sampler = BucketBatchSampler([len(s) for s, _ in v_examples], config.batch_size,
                                       shuffle=False)  # fmt: skip
        val_set = _Batches(v_examples, v_sampler.batches())
    return _TrainingData(src_side, tgt_side, examples, skipped, sampler, val_set)


def _val_fn(val_set: _Batches) -> Any:
    """Validation loss and perplexity over ``val_set`` (token-weighted)."""

    def val_fn(m) -> dict[str, float]:
        total = n = 0
        for src, lengths, tgt_in, tgt_out in val_set:
            loss, k = sequence_loss(m(src, lengths, tgt_in).logits, tgt_out)
            total, n = total + float(loss) * k, n + k
        return {"val_loss": total / n, "val_ppl": math.exp(min(total / n, 50))}

    return val_fn


def _attention_probe(config: TranslationConfig, src: _Side, tgt: _Side,
                     pairs: Sequence[SentencePair], n: int = 2):  # fmt: skip
    """``probe(model) -> [AttentionView]``: the cross-attention of the greedy translations of
    the first ``n`` source sentences (target pieces against source pieces)."""
    from seqattn.viz import AttentionView, attention_image

    texts = [p.src for p in pairs[:n]]

    def probe(model: Seq2Seq) -> list:
        views = []
        for text, t in zip(texts, TranslationModel(model, config, src, tgt).translate(texts),
                           strict=True):  # fmt: skip
            if t.attention is None or not t.attention.numel():
                continue
            w = t.attention  # (T, S): a step per target piece (and the eos step)
            queries = [*t.tokens, "</s>"][: w.shape[0]]
            queries += [str(i) for i in range(len(queries), w.shape[0])]
            views.append(AttentionView(w, keys=t.src_tokens, queries=queries,
                                       title=f"{text[:60]} -> {t.text[:60]}"))  # fmt: skip
        return [attention_image(v) for v in views]

    return probe


def fit_translation(
    train: Sequence[SentencePair],
    valid: Sequence[SentencePair] | None,
    config: TranslationConfig,
    out_dir: str | Path,
    *,
    callbacks: Sequence[Any] = (),
    resume: bool = False,
    resume_options: str = "refuse",
    max_batches: int | None = None,
) -> TranslationModel:
    """Build tokenisers and vocabularies on ``train``, train, save the model directory.

    Args:
        train / valid: sentence pairs (valid: validation loss each epoch, early stopping).
        config: a :class:`TranslationConfig`.
        out_dir: the model directory (checkpoints in ``out_dir/checkpoints``).
        callbacks: trainer callbacks (a progress bar...).
        resume: continue from the newest checkpoint in ``out_dir``.
        resume_options: when ``config`` differs from the checkpoint's options: ``"refuse"``
            (new :data:`RESUMABLE` values used, others refused) or ``"checkpoint"``; see
            :mod:`seqattn.pipelines.resume`. Recorded in ``info["resume"]``.
        max_batches: cap on optimizer steps (smoke tests).

    Returns:
        the trained :class:`TranslationModel` (also saved to ``out_dir``).
    """
    from seqattn.training import Trainer, TrainerConfig, seed_everything

    out_dir = Path(out_dir)
    record = None
    if resume:
        config, record = resume_config(config, out_dir / "checkpoints", resume_options, RESUMABLE)
    started, cpu0 = time.perf_counter(), time.process_time()
    seed_everything(config.seed)
    data = _training_data(train, valid, config)
    src_side, tgt_side, examples, skipped = data.src, data.tgt, data.examples, data.skipped
    sampler, val_set = data.sampler, data.val_set
    model = Seq2Seq(config.model_config(len(src_side.vocab), len(tgt_side.vocab)))
    tf = _TeacherForcingSchedule(config.teacher_forcing, config.teacher_forcing_final,
                                 config.epochs * len(sampler))  # fmt: skip
    gen = torch.Generator().manual_seed(config.seed)

    def loss_fn(m, batch):
        src, lengths, tgt_in, tgt_out = batch
        logits = m(src, lengths, tgt_in, teacher_forcing=tf.value, generator=gen).logits
        return sequence_loss(logits, tgt_out, 0, config.label_smoothing)

    tcfg = TrainerConfig(max_epochs=config.epochs, batch_size=1, clip_norm=config.clip_norm,
                         seed=config.seed, checkpoint_every=config.checkpoint_every,
                         patience=config.patience, monitor="val_loss", log_every=20,
                         max_steps=max_batches)  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    # tokenisers/vocabularies are rebuilt deterministically from the data on resume; the
    # checkpoint carries their fingerprints to refuse a resume on different data
    fingerprint = {"src_vocab": len(src_side.vocab), "tgt_vocab": len(tgt_side.vocab),
                   "train_pairs": len(examples)}  # fmt: skip
    # fresh length-bucketed batches every epoch (the sampler reshuffles with the epoch)
    trainer = Trainer(model, opt, loss_fn, examples, tcfg, out_dir, collate_fn=_collate,
                      batch_sampler=sampler,
                      val_fn=_val_fn(val_set) if val_set is not None else None,
                      callbacks=[tf, *callbacks],
                      extra_state={"data": fingerprint, "pipeline": config.to_dict()})  # fmt: skip
    for cb in callbacks:  # a TensorBoard logger draws the attention of a few translations
        if hasattr(cb, "use_attention_probe"):
            cb.use_attention_probe(_attention_probe(config, src_side, tgt_side, valid or train))
    summary = trainer.fit(resume=resume)
    best = out_dir / "best.safetensors"
    if best.exists() and config.patience is not None:
        model.load_state_dict(safetensors.torch.load_file(str(best)))
    model.eval()
    info = {
        "train_pairs": len(examples), "skipped_long_pairs": skipped,
        "valid_pairs": len(valid) if valid else 0, "src_vocab": len(src_side.vocab),
        "tgt_vocab": len(tgt_side.vocab), "parameters": model.num_parameters(),
        "steps": summary["step"], "epochs": summary["epoch"], "val": summary["val"],
        "stopped": summary["stopped"],
        "train_seconds": time.perf_counter() - started,
        "train_cpu_seconds": time.process_time() - cpu0,
    }  # fmt: skip
    if record is not None:
        info["resume"] = record
    bundle = TranslationModel(model, config, src_side, tgt_side, info)
    bundle.save(out_dir)
    return bundle


#: The options a resumed translation training honours new values of (others are refused; a new
#: ``epochs`` also stretches a teacher-forcing schedule over the new length).
RESUMABLE = ("epochs", "patience", "checkpoint_every")


# -- scoring: in translation_eval (re-exported here) -----------------------------------
from seqattn.pipelines.translation_eval import bleu_by_length, bleu_scores  # noqa: E402, F401

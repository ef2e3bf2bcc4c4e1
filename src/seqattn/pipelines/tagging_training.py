"""Training of :func:`fit_tagger` (the module docstring of :mod:`seqattn.pipelines.tagging`
describes the data, the model and the model directory)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from seqattn.data import PadCollate, Vocab
from seqattn.data.datasets.conll import TaggedSentence
from seqattn.evaluation.tagging import is_entity_tagset, tagging_scores
from seqattn.io import atomic_write_json
from seqattn.models import SequenceTagger
from seqattn.pipelines.resume import resume_config
from seqattn.pipelines.tagging import SPECIALS, TaggerBundle, TaggerTrainConfig, check_tokens
from seqattn.training import Trainer, TrainerConfig, seed_everything

__all__ = ["RESUMABLE", "fit_tagger"]

log = logging.getLogger("seqattn.pipelines")

#: The options a resumed tagger training honours new values of (others are refused).
RESUMABLE = ("epochs", "patience")


@dataclass
class _Data:
    """The encoded data: vocabulary, tag names, id examples, and what picks the weights."""

    vocab: Vocab
    tags: list[str]
    train_set: list[dict[str, list[int]]]
    valid_set: list[dict[str, list[int]]]
    valid_gold: list[list[str]]
    entities: bool


def _checked(sentences: Sequence[TaggedSentence], what: str) -> list[TaggedSentence]:
    if isinstance(sentences, str | TaggedSentence):
        raise TypeError(f"expected a list of TaggedSentence for {what}, got "
                        f"{type(sentences).__name__}")  # fmt: skip
    for i, s in enumerate(sentences):
        if not isinstance(s, TaggedSentence):
            raise TypeError(f"expected TaggedSentence items in {what}, got {type(s).__name__}")
        where = s.id or f"{what} sentence {i + 1}"
        check_tokens(s.tokens, where)
        if s.tags is None:
            raise ValueError(f"expected gold tags at {where} ({what}), got an untagged sentence")
    return list(sentences)


def _encode_data(
    train: Sequence[TaggedSentence], valid: Sequence[TaggedSentence] | None,
    config: TaggerTrainConfig,
) -> _Data:  # fmt: skip
    """Check both sets, build the vocabulary and the tag set on ``train``, encode both."""
    train = _checked(train, "train")
    valid = _checked(valid, "valid") if valid else []
    if not train:
        raise ValueError("expected at least one training sentence, got none")
    tags = sorted({t for s in train for t in s.tags})
    index = {t: i for i, t in enumerate(tags)}
    for i, s in enumerate(valid):
        unknown = sorted(set(s.tags) - set(index))
        if unknown:
            where = s.id or f"valid sentence {i + 1}"
            raise ValueError(f"expected validation tags among the training tags {tags} at "
                             f"{where}, got {unknown[0]!r}")  # fmt: skip

    def words(s: TaggedSentence) -> list[str]:
        return [t.lower() for t in s.tokens] if config.lowercase else list(s.tokens)

    vocab = Vocab.build([words(s) for s in train], min_freq=config.min_freq,
                        max_size=config.max_vocab, specials=SPECIALS)  # fmt: skip

    def encode(sentences):
        return [{"tokens": vocab.encode(words(s)), "tags": [index[t] for t in s.tags]}
                for s in sentences]  # fmt: skip

    auto = config.metric == "auto"
    entities = is_entity_tagset(tags) if auto else config.metric == "entity_f1"
    return _Data(vocab, tags, encode(train), encode(valid), [list(s.tags) for s in valid],
                 entities)  # fmt: skip


def _loss_fn(rate: float, pad_id: int, unk_id: int):
    """``loss_fn(model, batch) -> (loss per token, tokens)``; with ``rate`` > 0 every real
    training token reads as ``<unk>`` with that probability (word dropout, Lample et al.
    2016), so the ``<unk>`` embedding learns what unseen words look like in context."""

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        tokens, lengths = batch["tokens"], batch["tokens_lengths"]
        if rate > 0 and model.training:
            drop = (torch.rand(tokens.shape) < rate) & (tokens != pad_id)
            tokens = tokens.masked_fill(drop.to(tokens.device), unk_id)
        return model.loss(tokens, lengths, batch["tags"]), int(lengths.sum())

    return loss_fn


def _scores(
    model: SequenceTagger, data: _Data, examples: list[dict], gold: list[list[str]],
    config: TaggerTrainConfig,
) -> dict[str, Any]:  # fmt: skip
    """:func:`~seqattn.evaluation.tagging.tagging_scores` of ``model`` on encoded examples."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["tokens"]))
    collate = PadCollate(pad_value=data.vocab.pad_id)
    pred: list[list[str]] = [[] for _ in examples]
    was_training = model.training
    model.eval()
    for start in range(0, len(order), config.batch_size):
        idx = order[start : start + config.batch_size]
        batch = collate([{"tokens": examples[i]["tokens"]} for i in idx])
        for i, path in zip(idx, model.decode(batch["tokens"], batch["tokens_lengths"]),
                           strict=True):  # fmt: skip
            pred[i] = [data.tags[k] for k in path]
    model.train(was_training)
    return tagging_scores(gold, pred, entities=data.entities, scheme=config.scheme)


def _monitor(data: _Data) -> str:
    return "val_f1" if data.entities else "val_acc"


def _prepare_out_dir(out_dir: Path, data: _Data, resume: bool) -> Path:
    """Create ``out_dir``; on resume check the vocabulary, else drop stale checkpoints."""
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = out_dir / "vocab.json"
    if resume and saved.is_file() and Vocab.load(saved) != data.vocab:
        raise ValueError(
            f"expected the training data to give the vocabulary saved in {saved} to resume, "
            f"got a different one (changed data or options: train again without resume)"
        )
    if not resume:  # a fresh training: no checkpoint of an earlier one may be resumed or kept
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
        (out_dir / "best.safetensors").unlink(missing_ok=True)
    data.vocab.save(saved)
    return out_dir


def _train(
    model: SequenceTagger, config: TaggerTrainConfig, data: _Data, out_dir: Path,
    callbacks: Sequence[Any], resume: bool,
) -> dict[str, Any]:  # fmt: skip
    """Train in the :class:`~seqattn.training.Trainer`; the best validation weights are kept."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    patience = None
    if data.valid_set:
        patience = config.patience if config.patience is not None else config.epochs + 1
    steps_per_epoch = -(-len(data.train_set) // config.batch_size)
    trainer_cfg = TrainerConfig(
        max_epochs=config.epochs, batch_size=config.batch_size, seed=config.seed,
        clip_norm=config.clip_norm, monitor=_monitor(data), mode="max", patience=patience,
        log_every=max(1, min(10, steps_per_epoch)),
    )  # fmt: skip

    def val_fn(m: nn.Module) -> dict[str, float]:
        scores = _scores(m, data, data.valid_set, data.valid_gold, config)
        out = {"val_acc": scores["token_accuracy"]}
        if scores["entity"] is not None:
            out["val_f1"] = scores["entity"]["f1"]
        return out

    trainer = Trainer(
        model, optimizer, _loss_fn(config.word_dropout, data.vocab.pad_id, data.vocab.unk_id),
        data.train_set, trainer_cfg, out_dir,
        collate_fn=PadCollate(pad_value=data.vocab.pad_id),
        val_fn=val_fn if data.valid_set else None, callbacks=callbacks,
        extra_state={"pipeline": config.to_dict(), "tags": data.tags},
    )  # fmt: skip
    result = trainer.fit(resume=resume)
    best = out_dir / "best.safetensors"
    if data.valid_set and best.is_file():
        model.load_state_dict(safetensors.torch.load_file(str(best)), strict=True)
    model.eval()
    return result


def _summary(model, config, data: _Data, train, result, started) -> dict[str, Any]:
    """train_summary.json: data sizes, scores, epochs, timing."""
    train_gold = [list(s.tags) for s in train]
    return {
        "tags": data.tags,
        "tag_counts": dict(sorted(Counter(t for g in train_gold for t in g).items())),
        "num_train": len(data.train_set),
        "num_valid": len(data.valid_set),
        "vocab_size": len(data.vocab),
        "num_parameters": model.num_parameters(),
        "crf": model.config.crf,
        "metric": _monitor(data) if data.valid_set else None,
        "epochs_run": result["epoch"],
        "steps": result["step"],
        "best": result["best"],
        "train": _scores(model, data, data.train_set, train_gold, config),
        "valid": _scores(model, data, data.valid_set, data.valid_gold, config)
        if data.valid_set else None,
        "seconds": time.time() - started,
        "config": config.to_dict(),
    }  # fmt: skip


def fit_tagger(
    train: Sequence[TaggedSentence],
    valid: Sequence[TaggedSentence] | None = None,
    config: TaggerTrainConfig | None = None,
    out_dir: str | os.PathLike = "tagger",
    callbacks: Sequence[Any] = (),
    resume: bool = False,
    resume_options: str = "refuse",
) -> TaggerBundle:
    """Train a sequence tagger and write its model directory.

    Args:
        train: tagged sentences (:func:`~seqattn.data.datasets.read_conll`,
            :func:`~seqattn.data.datasets.read_conllu`).
        valid: tagged sentences that pick the best weights and stop training early (None:
            the last weights are kept); their tags must occur in ``train``.
        config: a :class:`~seqattn.pipelines.tagging.TaggerTrainConfig` (default: defaults).
        out_dir: the model directory (checkpoints in ``out_dir/checkpoints``).
        callbacks: trainer callbacks (:class:`~seqattn.training.ProgressBar`...).
        resume: continue from the newest checkpoint; the data must give the same vocabulary.
        resume_options: ``"refuse"`` (only :data:`RESUMABLE` options may differ from the
            checkpoint's) or ``"checkpoint"`` (train with the checkpoint's options).

    Returns:
        the trained :class:`~seqattn.pipelines.tagging.TaggerBundle`, saved in ``out_dir``.

    Raises:
        ValueError / TypeError: an empty or untagged sentence (named by its ``file:line``), a
            validation tag absent from training, no training sentence; all before any write.

    Example:
        >>> import tempfile
        >>> from seqattn.data.synthetic import synthetic_tagging
        >>> from seqattn.models import TaggerConfig
        >>> cfg = TaggerTrainConfig(model=TaggerConfig(vocab_size=1, embed_dim=16,
        ...                         hidden_size=16), epochs=2, lr=0.01)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     bundle = fit_tagger(synthetic_tagging(40), synthetic_tagging(10, seed=1), cfg, out)
        ...     TaggerBundle.load(out).tags
        ['B-LOC', 'B-ORG', 'B-PER', 'I-LOC', 'I-ORG', 'I-PER', 'O']
    """
    config = config or TaggerTrainConfig()
    if not isinstance(config, TaggerTrainConfig):
        raise TypeError(f"expected a TaggerTrainConfig, got {type(config).__name__}")
    record = None
    if resume:
        config, record = resume_config(config, Path(out_dir) / "checkpoints", resume_options,
                                       RESUMABLE)  # fmt: skip
    started = time.time()
    data = _encode_data(train, valid, config)
    seed_everything(config.seed)
    model = SequenceTagger(config.tagger_config(len(data.vocab), len(data.tags)))
    out_dir = _prepare_out_dir(Path(out_dir), data, resume)
    result = _train(model, config, data, out_dir, callbacks, resume)
    summary = _summary(model, config, data, train, result, started)
    if record is not None:
        summary["resume"] = record
    atomic_write_json(out_dir / "train_summary.json", summary)
    bundle = TaggerBundle(model, data.vocab, data.tags, config.lowercase,
                          info={"train_config": config.to_dict()})  # fmt: skip
    bundle.save(out_dir)
    log.info("saved the tagger to %s (train token accuracy %.3f)", out_dir,
             summary["train"]["token_accuracy"])  # fmt: skip
    return bundle

"""Training of :func:`fit_text_classifier` (re-exported by
:mod:`seqattn.pipelines.classification`, whose docstring describes the data checks, the
training and the model directory)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safetensors.torch
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.data import PadCollate, Vocab, WordTokenizer
from seqattn.data.datasets.text_classification import TextExample
from seqattn.data.datasets.text_classification import label_names as _label_names
from seqattn.io import atomic_write_json
from seqattn.models import SequenceClassifier
from seqattn.pipelines import multilabel as ml
from seqattn.pipelines.classification_config import SPECIALS, TextClassifierConfig
from seqattn.pipelines.resume import resume_config
from seqattn.training import Trainer, TrainerConfig, seed_everything

if TYPE_CHECKING:
    from seqattn.pipelines.classification import ClassifierBundle

__all__ = ["fit_text_classifier"]

log = logging.getLogger("seqattn.pipelines")


#: The options a resumed classifier training honours new values of (others are refused).
RESUMABLE = ("epochs", "patience")


def _label_set(ex: TextExample, config: TextClassifierConfig) -> list[str]:
    """The example's labels: its one stripped label, or its multi-label set."""
    if config.multi_label:
        return ml.split_labels(ex.label, config.label_sep)
    return [str(ex.label).strip()]


def _warn_rare_labels(train: Sequence[TextExample], config: TextClassifierConfig) -> None:
    """A warning naming each label seen only once in ``train`` (a typo becomes a class)."""
    counts = Counter(name for ex in train for name in _label_set(ex, config))
    once = [(i, name, ex) for i, ex in enumerate(train) for name in _label_set(ex, config)
            if counts[name] == 1]  # fmt: skip
    if once:
        named = ", ".join(f"{name!r} (at {_where(ex, i, 'train')})"
                          for i, name, ex in once[:10])  # fmt: skip
        more = f" and {len(once) - 10} more" if len(once) > 10 else ""
        log.warning("%d label(s) seen only once in the training data, each a class of 1 "
                    "example (a typo?): %s%s", len(once), named, more)  # fmt: skip


def _where(ex: TextExample, i: int, what: str) -> str:
    """``data.csv:17`` when the example's id says where it is, else ``train example 17``."""
    if ex.id and ":" in ex.id:
        return ex.id
    return f"{what} example {i + 1}" + (f" (id {ex.id})" if ex.id else "")


# -- training ---------------------------------------------------------------------------------
def _prepare(
    examples: Sequence[TextExample],
    tokenizer: WordTokenizer,
    max_length: int,
    what: str,
    need_label: bool = True,
) -> list[list[str]]:
    if isinstance(examples, str | TextExample):
        raise TypeError(f"expected a list of TextExample for {what}, got {type(examples).__name__}")
    out = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, TextExample):
            raise TypeError(f"expected TextExample items in {what}, got {type(ex).__name__}")
        where = _where(ex, i, what)
        if need_label and (ex.label is None or not str(ex.label).strip()):
            raise ValueError(f"expected a label at {where}, got {ex.label!r}")
        if not isinstance(ex.text, str):
            raise TypeError(f"expected a str text at {where}, got {type(ex.text).__name__}")
        tokens = tokenizer(ex.text)[:max_length]
        if not tokens:
            raise ValueError(
                f"expected a non-empty text at {where}, got {ex.text!r} (no tokens); remove "
                f"the row or give it a text"
            )
        out.append(tokens)
    return out


def _loss_fn(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
    logits = model(batch["tokens"], batch["tokens_lengths"]).logits
    if batch["label"].dim() == 2:  # multi-hot targets: one sigmoid per label
        return ml.loss(logits, batch["label"]), len(batch["label"])
    return F.cross_entropy(logits, batch["label"]), len(batch["label"])


def _collate(pad_id: int) -> PadCollate:
    return PadCollate(pad_value=pad_id, seq_fields=("tokens",))  # labels: ids or multi-hot rows


def _outputs(model: SequenceClassifier, data: Sequence[dict], pad_id: int, batch_size: int):
    """(logits (N, C), targets) of ``model`` on encoded examples, batched by length."""
    order = sorted(range(len(data)), key=lambda i: len(data[i]["tokens"]))
    collate, logits, targets = _collate(pad_id), [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = collate([data[i] for i in order[start : start + batch_size]])
            logits.append(model(batch["tokens"], batch["tokens_lengths"]).logits)
            targets.append(batch["label"])
    model.train(was_training)
    return torch.cat(logits), torch.cat(targets)


def _evaluate_ids(
    model: SequenceClassifier, data: Sequence[dict], pad_id: int, batch_size: int
) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on encoded examples (batched by length);
    multi-label: subset accuracy, micro-F1 at 0.5 and the mean binary cross-entropy."""
    if not data:
        return {"acc": 0.0, "loss": 0.0}
    logits, target = _outputs(model, data, pad_id, batch_size)
    if target.dim() == 2:
        pred = (logits > 0).to(target.dtype)  # sigmoid >= 0.5
        tp = float((pred * target).sum())
        f1 = 2 * tp / max(float(pred.sum() + target.sum()), 1.0)
        return {"acc": float((pred == target).all(1).double().mean()), "f1": f1,
                "loss": float(ml.loss(logits, target))}  # fmt: skip
    return {"acc": float((logits.argmax(-1) == target).double().mean()),
            "loss": float(F.cross_entropy(logits, target))}  # fmt: skip


@dataclass
class _Data:
    """The encoded training data: tokenizer, label names, vocabulary, id examples."""

    tokenizer: WordTokenizer
    labels: list[str]
    vocab: Vocab
    train_set: list[dict[str, Any]]
    valid_set: list[dict[str, Any]]


def _encode_data(
    train: Sequence[TextExample], valid: Sequence[TextExample] | None, config: TextClassifierConfig
) -> _Data:
    """Tokenise, check the labels, build the vocabulary on ``train``, encode both sets."""
    tokenizer = WordTokenizer(lowercase=config.lowercase)
    max_length = config.model.max_length
    multi = config.multi_label
    train_tokens = _prepare(train, tokenizer, max_length, "train", need_label=not multi)
    if not train_tokens:
        raise ValueError("expected at least one training example, got none")
    labels = _label_names([name for ex in train for name in _label_set(ex, config)])
    if len(labels) < (1 if multi else 2):
        raise ValueError(f"expected at least {1 if multi else 2} distinct labels in the "
                         f"training data, got {labels}")  # fmt: skip
    index = {name: i for i, name in enumerate(labels)}
    _warn_rare_labels(train, config)
    valid_tokens = _prepare(valid, tokenizer, max_length, "valid", not multi) if valid else []
    for i, ex in enumerate(valid or ()):
        for name in _label_set(ex, config):
            if name not in index:
                raise ValueError(f"expected a validation label among the training labels "
                                 f"{labels} at {_where(ex, i, 'valid')}, got {name!r}")  # fmt: skip
    vocab = Vocab.build(train_tokens, min_freq=config.min_freq, max_size=config.max_vocab,
                        specials=SPECIALS)  # fmt: skip

    def target(ex):
        if multi:
            return ml.multi_hot(_label_set(ex, config), index)
        return index[str(ex.label).strip()]

    def encode(examples, token_lists):
        return [{"tokens": vocab.encode(t), "label": target(ex)}
                for ex, t in zip(examples, token_lists, strict=True)]  # fmt: skip

    train_set = encode(train, train_tokens)
    valid_set = encode(valid, valid_tokens) if valid else []
    return _Data(tokenizer, labels, vocab, train_set, valid_set)


def _build_model(
    config: TextClassifierConfig, data: _Data
) -> tuple[SequenceClassifier, torch.optim.Optimizer, Any]:
    """Seed, then the model (pretrained embeddings if any) and its Adam; and the coverage."""
    seed_everything(config.seed)
    embedding, coverage = None, None
    if config.embeddings:
        from seqattn.data import pretrained_embedding

        embedding, report = pretrained_embedding(
            data.vocab, config.embeddings, freeze=config.model.freeze_embeddings, seed=config.seed
        )
        coverage = report.summary()
        log.info("embeddings: %s", coverage)
    model_cfg = config.classifier_config(
        len(data.vocab), len(data.labels), embed_dim=embedding.embedding_dim if embedding else None
    )
    model = SequenceClassifier(model_cfg, embedding)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    return model, optimizer, coverage


def _prepare_out_dir(out_dir: Path, data: _Data, resume: bool) -> Path:
    """Create ``out_dir``; on resume check the vocabulary, else drop stale checkpoints; write
    the vocabulary and the tokenizer."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume and (out_dir / "vocab.json").is_file():
        if Vocab.load(out_dir / "vocab.json") != data.vocab:
            raise ValueError(
                f"expected the training data to give the vocabulary saved in "
                f"{out_dir / 'vocab.json'} to resume, got a different one (changed data or "
                f"options: train again without resume)"
            )
    elif not resume:
        for stale in (out_dir / "checkpoints", out_dir / "best.safetensors"):
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()
    data.vocab.save(out_dir / "vocab.json")
    data.tokenizer.save(out_dir / "tokenizer.json")
    return out_dir


def _attention_probe(data: _Data, n: int = 3):
    """``probe(model) -> [AttentionView]``: the attention head's weights on the first ``n``
    validation (else training) examples, titled with the prediction and the gold label (no
    views for heads without attention)."""
    from seqattn.viz import AttentionView, attention_image

    examples = (data.valid_set or data.train_set)[:n]
    collate = _collate(data.vocab.pad_id)

    def names(row) -> str:  # a multi-hot row or a class id, as label names
        if isinstance(row, list):
            return "|".join(n for n, y in zip(data.labels, row, strict=True) if y) or "none"
        return data.labels[int(row)]

    def probe(model: nn.Module) -> list:
        model.eval()
        batch = collate(examples)
        out = model(batch["tokens"], batch["tokens_lengths"])
        if out.attention is None:
            return []
        multi = isinstance(examples[0]["label"], list)
        probs = out.logits.sigmoid() if multi else out.logits.softmax(-1)
        views = []
        for row, ex in enumerate(examples):
            k, length = int(probs[row].argmax()), len(ex["tokens"])
            if multi:
                said = names([float(q >= 0.5) for q in probs[row].tolist()])
                title = f"predicted {said}, gold {names(ex['label'])}"
            else:
                title = (f"predicted {data.labels[k]} ({float(probs[row, k]):.2f}), "
                         f"gold {names(ex['label'])}")  # fmt: skip
            keys = data.vocab.decode(ex["tokens"], strip_specials=False)
            views.append(AttentionView(out.attention[row, :length], keys=keys, title=title))
        return [attention_image(v) for v in views]

    return probe


def _train(
    model: SequenceClassifier,
    optimizer: torch.optim.Optimizer,
    config: TextClassifierConfig,
    data: _Data,
    out_dir: Path,
    callbacks: Sequence[Any],
    resume: bool,
) -> dict[str, Any]:
    """Train in the :class:`~seqattn.training.Trainer`; the best validation weights are kept."""
    train_set, valid_set, pad_id = data.train_set, data.valid_set, data.vocab.pad_id
    patience = None
    if valid_set:
        patience = config.patience if config.patience is not None else config.epochs + 1
    monitor = "val_f1" if config.multi_label else "val_acc"
    trainer_cfg = TrainerConfig(
        max_epochs=config.epochs, batch_size=config.batch_size, seed=config.seed,
        clip_norm=config.clip_norm, monitor=monitor, mode="max", patience=patience,
        log_every=max(1, min(10, -(-len(train_set) // config.batch_size))),
    )  # fmt: skip

    def val_fn(m: nn.Module) -> dict[str, float]:
        scores = _evaluate_ids(m, valid_set, pad_id, config.batch_size)
        return {f"val_{k}": v for k, v in scores.items()}  # val_acc, val_loss (val_f1)

    extra_state = {"pipeline": config.to_dict(), "labels": data.labels}
    for cb in callbacks:  # a TensorBoard logger draws a few examples' attention
        if hasattr(cb, "use_attention_probe"):
            cb.use_attention_probe(_attention_probe(data))
    trainer = Trainer(
        model, optimizer, _loss_fn, train_set, trainer_cfg, out_dir,
        collate_fn=_collate(pad_id), val_fn=val_fn if valid_set else None,
        callbacks=callbacks, extra_state=extra_state,
    )  # fmt: skip
    result = trainer.fit(resume=resume)
    best = out_dir / "best.safetensors"
    if valid_set and best.is_file():
        model.load_state_dict(safetensors.torch.load_file(str(best)), strict=True)
    model.eval()
    return result


def _summary(
    model: SequenceClassifier,
    config: TextClassifierConfig,
    data: _Data,
    result: dict[str, Any],
    coverage: Any,
    started: float,
) -> dict[str, Any]:
    """train_summary.json: data sizes, accuracies, epochs, timing, embedding coverage."""
    train_set, valid_set, pad_id = data.train_set, data.valid_set, data.vocab.pad_id
    return {
        "labels": data.labels,
        "label_counts": {name: int(sum(d["label"][k] if isinstance(d["label"], list)
                                       else d["label"] == k for d in train_set))
                         for k, name in enumerate(data.labels)},
        "num_train": len(train_set),
        "num_valid": len(valid_set),
        "vocab_size": len(data.vocab),
        "num_parameters": model.num_parameters(),
        "trainable_parameters": model.num_parameters(trainable_only=True),
        "epochs_run": result["epoch"],
        "steps": result["step"],
        "best_val_f1" if config.multi_label else "best_val_acc": result["best"],
        "train": _evaluate_ids(model, train_set, pad_id, config.batch_size),
        "valid": _evaluate_ids(model, valid_set, pad_id, config.batch_size)
        if valid_set else None,
        "embedding_coverage": coverage,
        "seconds": time.time() - started,
        "config": config.to_dict(),
    }  # fmt: skip


def _thresholds(model: SequenceClassifier, config: TextClassifierConfig, data: _Data):
    """Per-label decision thresholds tuned on the validation set (0.5 each without one)."""
    if not data.valid_set:
        return [0.5] * len(data.labels)
    logits, target = _outputs(model, data.valid_set, data.vocab.pad_id, config.batch_size)
    return ml.tune_thresholds(logits.double().sigmoid(), target)


def fit_text_classifier(
    train: Sequence[TextExample],
    valid: Sequence[TextExample] | None = None,
    config: TextClassifierConfig | None = None,
    out_dir: str | os.PathLike = "model",
    callbacks: Sequence[Any] = (),
    resume: bool = False,
    resume_options: str = "refuse",
) -> ClassifierBundle:
    """Train a text classifier and write its model directory (see the module docstring).

    Args:
        train: labelled examples; labels may be strings (``"pos"``) or integers.
        valid: labelled examples for early stopping and best-weight selection (None: no
            validation, the last weights are kept). Their labels must occur in ``train``.
        config: a :class:`TextClassifierConfig` (default: the defaults).
        out_dir: the model directory (created; checkpoints go to ``out_dir/checkpoints``).
        callbacks: trainer callbacks, e.g. :class:`~seqattn.training.ProgressBar`.
        resume: continue from the newest checkpoint in ``out_dir/checkpoints``; the data
            must give the same vocabulary (checked against ``out_dir/vocab.json``).
        resume_options: when ``config`` differs from the checkpoint's options: ``"refuse"``
            (new :data:`RESUMABLE` values are used, any other difference is a ValueError naming
            each) or ``"checkpoint"`` (train with the checkpoint's options); see
            :mod:`seqattn.pipelines.resume`. Recorded in train_summary.json (``resume``).

    Returns:
        the trained :class:`ClassifierBundle`, already saved in ``out_dir``.

    Raises:
        ValueError: an empty text or label (named by the example's id, ``data.csv:17``),
            fewer than two distinct training labels, a validation label absent from training,
            or a vocabulary that differs from the checkpoint's on resume. All data checks run
            before anything is written.

    Example:
        >>> import tempfile
        >>> from seqattn.models import ClassifierConfig
        >>> from seqattn.pipelines import ClassifierBundle
        >>> train = [TextExample(f"{w} film {i}", "pos" if w == "good" else "neg")
        ...          for i in range(20) for w in ("good", "bad")]
        >>> model = ClassifierConfig(vocab_size=1, encoder="gru", head="mean", embed_dim=8,
        ...                          hidden_size=8)
        >>> cfg = TextClassifierConfig(model=model, epochs=8, lr=0.02)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     bundle = fit_text_classifier(train, None, cfg, out)
        ...     [p.label for p in ClassifierBundle.load(out).predict(["good film", "bad film"])]
        ['pos', 'neg']
    """
    from seqattn.pipelines.classification import ClassifierBundle  # it imports this module

    config = config or TextClassifierConfig()
    if not isinstance(config, TextClassifierConfig):
        raise TypeError(f"expected a TextClassifierConfig, got {type(config).__name__}")
    record = None
    if resume:
        config, record = resume_config(config, Path(out_dir) / "checkpoints", resume_options,
                                       RESUMABLE)  # fmt: skip
    started = time.time()
    data = _encode_data(train, valid, config)
    model, optimizer, coverage = _build_model(config, data)
    out_dir = _prepare_out_dir(Path(out_dir), data, resume)
    result = _train(model, optimizer, config, data, out_dir, callbacks, resume)
    summary = _summary(model, config, data, result, coverage, started)
    if record is not None:
        summary["resume"] = record
    thresholds = _thresholds(model, config, data) if config.multi_label else None
    if thresholds is not None:
        summary["thresholds"] = dict(zip(data.labels, thresholds, strict=True))
    atomic_write_json(out_dir / "train_summary.json", summary)
    bundle = ClassifierBundle(model, data.tokenizer, data.vocab, data.labels,
                              info={"train_config": config.to_dict()},
                              multi_label=config.multi_label, label_sep=config.label_sep,
                              thresholds=thresholds)  # fmt: skip
    bundle.save(out_dir)
    log.info("saved the classifier to %s (train acc %.3f)", out_dir, summary["train"]["acc"])
    return bundle

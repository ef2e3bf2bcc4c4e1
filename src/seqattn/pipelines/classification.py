"""Text classification for practitioners: train from labelled texts, save, load, predict, explain.

    bundle = fit_text_classifier(train, valid, TextClassifierConfig(encoder="bilstm"), "model/")
    bundle = ClassifierBundle.load("model/")
    bundle.predict(["a fine film"])[0].label          # 'pos'
    bundle.explain(["a fine film"], "explain/")       # heat maps over the tokens

Training tokenises with :class:`~seqattn.data.WordTokenizer`, builds the vocabulary from the
training texts only, maps the label strings to ids (sorted: numerically when every label is an
integer, else alphabetically; the names are kept), pads batches with
:class:`~seqattn.data.PadCollate` and trains a :class:`~seqattn.models.SequenceClassifier`
with Adam in the :class:`~seqattn.training.Trainer` (checkpoints in ``out_dir/checkpoints``, so
an interrupted run resumes). With a validation set it keeps the weights of the best validation
accuracy and stops after ``patience`` epochs without improvement; without one it keeps the last
weights.

The model directory (the shared format of :mod:`seqattn.pipelines.model_dir`)::

    manifest.json        format tag, version, kind "text-classifier", sha256 of every file
    config.json          model config, tokenizer options, labels, the training config
    model.safetensors    the weights (the best on validation when there was a validation set)
    vocab.json           the vocabulary (seqattn.vocab/1)
    tokenizer.json       the tokenizer options
    metrics.jsonl        training loss and validation metrics, one JSON line per record
    train_summary.json   data sizes, accuracies, epochs, timing, embedding coverage
    checkpoints/         the trainer's checkpoints (resume); best.safetensors (the trainer's)

Every file is written atomically and ``manifest.json`` last, so :meth:`ClassifierBundle.load`
detects a directory whose files do not belong together (an interrupted save) and names the
file. Directories of the older layout (``config.json`` of format ``seqattn.text-classifier/1``
holding the sha256) still load.

Bad input is an error naming where it is, never a silent guess: an empty text (no token after
tokenisation) is a ``ValueError`` naming the example (``data.csv:17``), at training time as at
prediction time (dropping rows silently would change the data behind the user's back); gold
labels the model has never seen are a ``ValueError`` listing the known labels.

Inputs longer than ``max_length`` tokens are truncated to their first ``max_length`` tokens,
in training and in prediction alike (the ``tokens`` of a :class:`Prediction` are the ones the
model saw).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import safetensors.torch
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.config import (
    check_unchanged,
    config_from_dict,
    config_to_dict,
    flat_kwargs,
    moved_to,
)
from seqattn.data import PadCollate, Vocab, WordTokenizer, load_tokenizer, pad_sequences
from seqattn.data.datasets.text_classification import TextExample
from seqattn.io import atomic_write_json, atomic_write_text
from seqattn.models import ClassifierConfig, SequenceClassifier
from seqattn.pipelines.model_dir import WEIGHTS, LegacyFormat, open_model_dir, write_model_dir
from seqattn.training import Trainer, TrainerConfig, seed_everything

__all__ = [
    "FORMAT",
    "TextClassifierConfig",
    "Prediction",
    "ClassifierBundle",
    "fit_text_classifier",
]

log = logging.getLogger("seqattn.pipelines")

FORMAT = "seqattn.text-classifier/1"  # config.json's tag before the shared model-dir format
KIND = "text-classifier"  # the kind in manifest.json (seqattn.pipelines.model_dir)
SPECIALS = ("<pad>", "<unk>")
_FILES = ("vocab.json", "tokenizer.json")
_RESERVED = ("format", "model", "labels", "files")  # config.json keys that info cannot take


# -- config -----------------------------------------------------------------------------------
#: The model fields the data decides; :func:`fit_text_classifier` fills them in, a config keeps
#: them at the placeholders of :func:`default_model` (embed_dim too is replaced with embeddings).
DATA_FIELDS = ("vocab_size", "num_classes", "pad_id")
#: The model keys of the flat config (before ``model`` was nested), read as ``model.<key>``.
_FLAT_MODEL_KEYS = ("encoder", "head", "embed_dim", "hidden_size", "num_layers", "dropout",
                    "max_length", "num_heads", "ffn_size", "kernel_size",
                    "freeze_embeddings")  # fmt: skip


def default_model() -> ClassifierConfig:
    """The pipeline's model defaults; vocab_size, num_classes and pad_id are placeholders."""
    return ClassifierConfig(vocab_size=1, num_classes=2, embed_dim=100, hidden_size=128,
                            encoder="bilstm", head="attention", dropout=0.2)  # fmt: skip


@flat_kwargs
@dataclass(frozen=True)
class TextClassifierConfig:
    """Everything :func:`fit_text_classifier` needs besides the data.

    Args:
        model: the :class:`~seqattn.models.ClassifierConfig` (encoder, head, embed_dim E,
            hidden_size, num_layers, dropout, num_heads, ffn_size, kernel_size,
            freeze_embeddings; max_length: inputs are truncated to this many tokens, and it is
            the concat head's N). Its :data:`DATA_FIELDS` stay at :func:`default_model`'s
            placeholders: training fills them in from the data (and E from ``embeddings``).
        lowercase: lowercase texts before tokenising.
        min_freq: drop training words seen fewer times (they become ``<unk>``).
        max_vocab: keep at most this many entries, specials included (None: all).
        epochs, batch_size, lr: training length, examples per batch, Adam's learning rate.
        patience: with a validation set, stop after this many epochs without a better
            validation accuracy (None: run every epoch, still keeping the best weights).
        clip_norm: clip the gradient norm (None: off).
        seed: seeds the initialisation and the data order.
        embeddings: a GloVe / word2vec / fastText file for the embedding table (None: random).

    The flat keys of older versions (``hidden_size`` for ``model.hidden_size``...) still work
    in :meth:`from_dict`, in the constructor and as attributes, deprecated.

    Example:
        >>> from seqattn.config import replace_config
        >>> cfg = replace_config(TextClassifierConfig(), {"model.encoder": "gru", "epochs": 3})
        >>> cfg.model.encoder, TextClassifierConfig.from_dict(cfg.to_dict()) == cfg
        ('gru', True)
        >>> TextClassifierConfig.from_dict({"hidden_size": 64}).model.hidden_size  # flat, old
        64
        >>> replace_config(cfg, {"model.head": "pool"})
        Traceback (most recent call last):
        ...
        seqattn.config.ConfigError: model: expected head in ('last', 'concat', 'mean', 'max', \
'attention'), got 'pool'
    """

    model: ClassifierConfig = field(default_factory=default_model)
    lowercase: bool = True
    min_freq: int = 1
    max_vocab: int | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    patience: int | None = 3
    clip_norm: float | None = 5.0
    seed: int = 0
    embeddings: str | None = None

    config_aliases: ClassVar[dict[str, str]] = moved_to("model", _FLAT_MODEL_KEYS)

    def __post_init__(self) -> None:
        if not isinstance(self.model, ClassifierConfig):
            raise TypeError(f"expected model to be a ClassifierConfig, got {type(self.model)}")
        for name in ("epochs", "batch_size", "min_freq"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be an int >= 1, got {value!r}")
        for name in ("patience", "max_vocab"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"expected {name} to be an int or None, got {value!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"expected patience >= 1 or None, got {self.patience}")
        if self.max_vocab is not None and self.max_vocab < len(SPECIALS) + 1:
            raise ValueError(f"expected max_vocab >= {len(SPECIALS) + 1}, got {self.max_vocab}")
        if not (isinstance(self.lr, int | float) and not isinstance(self.lr, bool) and self.lr > 0):
            raise ValueError(f"expected lr > 0, got {self.lr!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"expected clip_norm > 0 or None, got {self.clip_norm!r}")
        check_unchanged(self.model, default_model(), DATA_FIELDS, "model",
                        "training fills it in from the data")  # fmt: skip

    def classifier_config(
        self, vocab_size: int, num_classes: int, embed_dim: int | None = None
    ) -> ClassifierConfig:
        """``model`` with the data's fields filled in (and E, given pretrained vectors)."""
        embed_dim = self.model.embed_dim if embed_dim is None else embed_dim
        return dataclasses.replace(self.model, vocab_size=vocab_size, num_classes=num_classes,
                                   embed_dim=embed_dim, pad_id=0)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """A nested, JSON-ready dict (``model`` a mapping)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TextClassifierConfig:
        """The config of :meth:`to_dict`'s output, or of an older version's flat dict (its
        model keys at the top level). Unknown keys and ill-typed values raise ConfigError."""
        return config_from_dict(cls, data)


# -- predictions ------------------------------------------------------------------------------
@dataclass
class Prediction:
    """One text's prediction.

    Attributes:
        label: the predicted label's name. label_id: its index in the model's labels.
        probs: probability of every label, by name (they sum to 1).
        tokens: the tokens the model read (after lowercasing and truncation).
        attention: the attention head's weight per token (sums to 1), else None.
    """

    label: str
    label_id: int
    probs: dict[str, float]
    tokens: list[str]
    attention: list[float] | None = None


def _label_names(labels: Sequence[Any]) -> list[str]:
    """Distinct labels as strings: numeric order if all are integers, else alphabetical."""
    names = {str(x).strip() for x in labels}
    try:
        return sorted(names, key=int)
    except ValueError:
        return sorted(names)


def _where(ex: TextExample, i: int, what: str) -> str:
    """``data.csv:17`` when the example's id says where it is, else ``train example 17``."""
    if ex.id and ":" in ex.id:
        return ex.id
    return f"{what} example {i + 1}" + (f" (id {ex.id})" if ex.id else "")


# -- the bundle -------------------------------------------------------------------------------
@dataclass
class ClassifierBundle:
    """A trained classifier with everything needed to use it: tokenizer, vocabulary, labels.

    Build one with :func:`fit_text_classifier` or :meth:`load`; :meth:`save` writes the model
    directory described in the module docstring.

    Attributes:
        model: the :class:`~seqattn.models.SequenceClassifier` (in eval mode).
        tokenizer: the :class:`~seqattn.data.WordTokenizer` of training.
        vocab: the training vocabulary.
        labels: label names, in class-id order.
        path: the directory it was loaded from or saved to (None before).
        info: free-form metadata saved in ``config.json`` (the training config...).

    Example:
        >>> cfg = ClassifierConfig(vocab_size=4, embed_dim=4, hidden_size=4, encoder="gru")
        >>> bundle = ClassifierBundle(SequenceClassifier(cfg), WordTokenizer(),
        ...                           Vocab(["<pad>", "<unk>", "good", "bad"], bos=None, eos=None),
        ...                           ["neg", "pos"])
        >>> p = bundle.predict(["Good, good!"])[0]
        >>> p.tokens, sorted(p.probs), round(sum(p.probs.values()), 6)
        (['good', ',', 'good', '!'], ['neg', 'pos'], 1.0)
    """

    model: SequenceClassifier
    tokenizer: WordTokenizer
    vocab: Vocab
    labels: list[str]
    path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.model.config.num_classes
        if len(self.labels) != n:
            raise ValueError(f"expected {n} label names (num_classes), got {len(self.labels)}")
        if len(self.vocab) != self.model.config.vocab_size:
            raise ValueError(
                f"expected a vocabulary of {self.model.config.vocab_size} entries (the model's "
                f"vocab_size), got {len(self.vocab)}"
            )
        self.model.eval()

    @property
    def max_length(self) -> int:
        return self.model.config.max_length

    # -- text -> ids --------------------------------------------------------------------------
    def tokenize(self, text: str, where: str = "the text") -> list[str]:
        """The tokens the model reads for ``text``; ValueError naming ``where`` if none."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str at {where}, got {type(text).__name__}")
        tokens = self.tokenizer(text)[: self.max_length]
        if not tokens:
            raise ValueError(f"expected a non-empty text at {where}, got {text!r} (no tokens)")
        return tokens

    def _names(self, n: int, ids: Sequence[str] | None) -> list[str]:
        if ids is None:
            return [f"text {i + 1}" for i in range(n)]
        if len(ids) != n:
            raise ValueError(f"expected {n} ids (one per text), got {len(ids)}")
        return [str(i) for i in ids]

    # -- prediction ---------------------------------------------------------------------------
    def predict(
        self, texts: Sequence[str], batch_size: int = 64, ids: Sequence[str] | None = None
    ) -> list[Prediction]:
        """Classify ``texts``.

        Args:
            texts: the texts.
            batch_size: texts per forward pass (texts are batched by length, order is kept).
            ids: a name per text for error messages (e.g. ``data.csv:7``; default ``text i``).

        Returns:
            one :class:`Prediction` per text, in input order.

        Raises:
            ValueError: a text with no token, named by its id.
        """
        if isinstance(texts, str):
            raise TypeError("expected a list of texts, got a str (wrap it in a list)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"expected batch_size to be an int >= 1, got {batch_size!r}")
        names = self._names(len(texts), ids)
        tokens = [self.tokenize(t, w) for t, w in zip(texts, names, strict=True)]
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        out: list[Prediction | None] = [None] * len(tokens)
        self.model.eval()
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch, lengths = self._batch([tokens[i] for i in idx])
                result = self.model(batch, lengths)
                probs = result.logits.double().softmax(-1)
                for row, i in enumerate(idx):
                    att = None
                    if result.attention is not None:
                        att = result.attention[row, : len(tokens[i])].tolist()
                    out[i] = self._prediction(probs[row], tokens[i], att)
        return out  # type: ignore[return-value]

    def _batch(self, token_lists: Sequence[list[str]]) -> tuple[Tensor, Tensor]:
        ids = [self.vocab.encode(t) for t in token_lists]
        return pad_sequences(ids, pad_value=self.vocab.pad_id)

    def _prediction(self, probs: Tensor, tokens: list[str], att: list[float] | None):
        k = int(probs.argmax())
        named = {name: float(p) for name, p in zip(self.labels, probs.tolist(), strict=True)}
        return Prediction(self.labels[k], k, named, list(tokens), att)

    def check_labels(self, gold: Sequence[str], ids: Sequence[str] | None = None) -> list[int]:
        """Class ids of gold label names; ValueError naming the first unknown one.

        Example:
            >>> cfg = ClassifierConfig(vocab_size=3, embed_dim=4, hidden_size=4, head="mean")
            >>> b = ClassifierBundle(SequenceClassifier(cfg), WordTokenizer(),
            ...                      Vocab(["<pad>", "<unk>", "x"], bos=None, eos=None),
            ...                      ["neg", "pos"])
            >>> b.check_labels(["pos", "neg"])
            [1, 0]
            >>> b.check_labels(["pos", "neutral"], ids=["a.csv:2", "a.csv:3"])
            Traceback (most recent call last):
            ...
            ValueError: expected a label the model knows (['neg', 'pos']) at a.csv:3, got 'neutral'
        """
        names = self._names(len(gold), ids)
        index = {name: i for i, name in enumerate(self.labels)}
        out = []
        for label, where in zip(gold, names, strict=True):
            key = str(label).strip()
            if key not in index:
                raise ValueError(
                    f"expected a label the model knows ({self.labels}) at {where}, got {key!r}"
                )
            out.append(index[key])
        return out

    def evaluate(
        self, texts: Sequence[str], gold: Sequence[str], batch_size: int = 64,
        ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Accuracy, per-label accuracy and mean log-loss of the predictions against ``gold``.

        Labels are checked (:meth:`check_labels`) before anything is predicted.
        """
        targets = self.check_labels(gold, ids)
        preds = self.predict(texts, batch_size, ids)
        return _scores(preds, targets, self.labels)

    # -- explanation --------------------------------------------------------------------------
    def saliency(self, texts: Sequence[str], ids: Sequence[str] | None = None) -> list[Prediction]:
        """Predictions whose ``attention`` is a per-token importance for every head.

        For ``head="attention"`` it is the attention weights. For the other heads, which have
        no attention, it is gradient x input saliency (Simonyan et al., 2014; Shrikumar et
        al., 2017): ``|sum_e grad_e * x_e|`` of the predicted class's logit with respect to
        each token's embedding ``x``, normalised to sum 1 over the tokens.
        """
        preds = self.predict(texts, ids=ids)
        if self.model.config.head == "attention":
            return preds
        captured: list[Tensor] = []

        def hook(_module, _inputs, output):
            x = output.detach().requires_grad_(True)
            captured.append(x)
            return x

        handle = self.model.embedding.register_forward_hook(hook)
        try:
            for p in preds:
                captured.clear()
                batch, lengths = self._batch([p.tokens])
                with torch.enable_grad():
                    logits = self.model(batch, lengths).logits
                    (grad,) = torch.autograd.grad(logits[0, p.label_id], captured[0])
                score = (grad[0] * captured[0][0].detach()).sum(-1).abs().double()  # (T,)
                total = float(score.sum())
                p.attention = (score / total if total > 0 else score.fill_(1 / len(score))).tolist()
        finally:
            handle.remove()
        return preds

    def explain(
        self,
        texts: Sequence[str],
        out_dir: str | os.PathLike,
        ids: Sequence[str] | None = None,
        formats: Sequence[str] = ("png",),
    ) -> dict[str, Any]:
        """Token heat maps through :mod:`seqattn.viz`: one page for all texts, a figure each.

        The weights are :meth:`saliency`'s: attention for ``head="attention"``, gradient x
        input otherwise (the page title says which).

        Args:
            texts: the texts to explain.
            out_dir: folder for ``explain.html`` and ``0001.png``, ``0002.png``...
            ids: names of the texts (shown in the titles).
            formats: figure formats per text (``png``, ``svg``, ``pdf``; empty: HTML only).

        Returns:
            ``{"html": path, "figures": [paths], "method": "attention" | "gradient x input",
            "predictions": [Prediction]}``.
        """
        from seqattn.viz import AttentionView, attention_heatmap, attention_html

        for fmt in formats:
            if fmt not in ("png", "svg", "pdf"):
                raise ValueError(f"expected figure formats among png, svg, pdf, got {fmt!r}")
        names = self._names(len(texts), ids)
        preds = self.saliency(texts, ids=names)  # validates everything before any write
        method = "attention" if self.model.config.head == "attention" else "gradient x input"
        views = [
            AttentionView(
                torch.tensor(p.attention), keys=p.tokens,
                title=f"{name}: {p.label} ({p.probs[p.label]:.2f})",
            )
            for p, name in zip(preds, names, strict=True)
        ]  # fmt: skip
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        figures = []
        width = max(4, len(str(len(views))))
        for i, view in enumerate(views, start=1):
            for fmt in formats:
                path = out_dir / f"{i:0{width}d}.{fmt}"
                tmp = out_dir / f".{path.stem}.tmp-{os.getpid()}.{fmt}"
                try:
                    attention_heatmap(view, tmp)
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
                figures.append(path)
        page = attention_html(views, title=f"Token {method} of {self.path or 'the model'}")
        html_path = atomic_write_text(out_dir / "explain.html", page)
        return {"html": html_path, "figures": figures, "method": method, "predictions": preds}

    # -- persistence --------------------------------------------------------------------------
    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write the model directory (:func:`~seqattn.pipelines.model_dir.write_model_dir`):
        ``model.safetensors``, ``vocab.json``, ``tokenizer.json``, ``config.json`` and, last,
        ``manifest.json`` with their sha256, into ``out_dir`` (its other files are kept)."""
        config = {
            "model": self.model.config.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
            "labels": list(self.labels),
            **{k: v for k, v in self.info.items() if k not in _RESERVED},
        }
        files = {"vocab.json": self.vocab.save, "tokenizer.json": self.tokenizer.save}
        self.path = write_model_dir(out_dir, KIND, config, self.model, files)
        return self.path

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> ClassifierBundle:
        """Load a model directory written by :meth:`save` (or ``seqattn train classify``), or
        by a version before the shared format (``config.json`` of format :data:`FORMAT`).

        Raises:
            FileNotFoundError: no such directory, or a missing file (named); also a ValueError.
            ValueError: a corrupt or mismatched file (named), or a directory of another format.
        """
        md = open_model_dir(model_dir, KIND, _FILES, LegacyFormat(FORMAT, (WEIGHTS, *_FILES)))
        cfg_path, config = md.file("config.json"), md.config
        for key in ("model", "labels"):
            if key not in config:
                raise ValueError(f"expected a {key!r} entry in {cfg_path}, got none")
        try:
            model_config = ClassifierConfig.from_dict(config["model"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"expected a valid model config in {cfg_path}, got: {err}") from None
        vocab = Vocab.load(md.file("vocab.json"))
        tokenizer = load_tokenizer(md.file("tokenizer.json"))
        if not isinstance(tokenizer, WordTokenizer):
            raise ValueError(
                f"expected a word tokenizer in {md.file('tokenizer.json')}, got {tokenizer!r}"
            )
        model = md.load_weights(SequenceClassifier(model_config))
        info = {k: v for k, v in config.items() if k not in (*_RESERVED, "tokenizer")}
        return cls(model, tokenizer, vocab, [str(x) for x in config["labels"]], md.path, info)


def _scores(preds: Sequence[Prediction], targets: Sequence[int], labels: Sequence[str]) -> dict:
    n = len(targets)
    correct = [p.label_id == t for p, t in zip(preds, targets, strict=True)]
    per_label = {}
    for k, name in enumerate(labels):
        hits = [c for c, t in zip(correct, targets, strict=True) if t == k]
        if hits:
            per_label[name] = {"n": len(hits), "accuracy": sum(hits) / len(hits)}
    nll = [-math.log(max(p.probs[labels[t]], 1e-12)) for p, t in zip(preds, targets, strict=True)]
    return {
        "n": n,
        "accuracy": sum(correct) / n if n else float("nan"),
        "log_loss": sum(nll) / n if n else float("nan"),
        "per_label": per_label,
    }


# -- training ---------------------------------------------------------------------------------
def _prepare(
    examples: Sequence[TextExample], tokenizer: WordTokenizer, max_length: int, what: str
) -> list[list[str]]:
    if isinstance(examples, str | TextExample):
        raise TypeError(f"expected a list of TextExample for {what}, got {type(examples).__name__}")
    out = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, TextExample):
            raise TypeError(f"expected TextExample items in {what}, got {type(ex).__name__}")
        where = _where(ex, i, what)
        if ex.label is None or not str(ex.label).strip():
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
    return F.cross_entropy(logits, batch["label"]), len(batch["label"])


def _evaluate_ids(
    model: SequenceClassifier, data: Sequence[dict], pad_id: int, batch_size: int
) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on encoded examples (batched by length)."""
    order = sorted(range(len(data)), key=lambda i: len(data[i]["tokens"]))
    collate = PadCollate(pad_value=pad_id)
    correct, loss = 0, 0.0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = collate([data[i] for i in order[start : start + batch_size]])
            logits = model(batch["tokens"], batch["tokens_lengths"]).logits
            loss += float(F.cross_entropy(logits, batch["label"], reduction="sum"))
            correct += int((logits.argmax(-1) == batch["label"]).sum())
    model.train(was_training)
    n = max(len(data), 1)
    return {"acc": correct / n, "loss": loss / n}


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
    train_tokens = _prepare(train, tokenizer, max_length, "train")
    if not train_tokens:
        raise ValueError("expected at least one training example, got none")
    labels = _label_names([ex.label for ex in train])
    if len(labels) < 2:
        raise ValueError(f"expected at least 2 distinct labels in the training data, got {labels}")
    index = {name: i for i, name in enumerate(labels)}
    valid_tokens = _prepare(valid, tokenizer, max_length, "valid") if valid else []
    for i, ex in enumerate(valid or ()):
        if str(ex.label).strip() not in index:
            raise ValueError(
                f"expected a validation label among the training labels {labels} at "
                f"{_where(ex, i, 'valid')}, got {str(ex.label).strip()!r}"
            )
    vocab = Vocab.build(train_tokens, min_freq=config.min_freq, max_size=config.max_vocab,
                        specials=SPECIALS)  # fmt: skip

    def encode(examples, token_lists):
        return [{"tokens": vocab.encode(t), "label": index[str(ex.label).strip()]}
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
    trainer_cfg = TrainerConfig(
        max_epochs=config.epochs, batch_size=config.batch_size, seed=config.seed,
        clip_norm=config.clip_norm, monitor="val_acc", mode="max", patience=patience,
        log_every=max(1, min(10, -(-len(train_set) // config.batch_size))),
    )  # fmt: skip

    def val_fn(m: nn.Module) -> dict[str, float]:
        scores = _evaluate_ids(m, valid_set, pad_id, config.batch_size)
        return {"val_acc": scores["acc"], "val_loss": scores["loss"]}

    extra_state = {"pipeline": config.to_dict(), "labels": data.labels}
    trainer = Trainer(
        model, optimizer, _loss_fn, train_set, trainer_cfg, out_dir,
        collate_fn=PadCollate(pad_value=pad_id), val_fn=val_fn if valid_set else None,
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
        "label_counts": {name: sum(d["label"] == k for d in train_set)
                         for k, name in enumerate(data.labels)},
        "num_train": len(train_set),
        "num_valid": len(valid_set),
        "vocab_size": len(data.vocab),
        "num_parameters": model.num_parameters(),
        "trainable_parameters": model.num_parameters(trainable_only=True),
        "epochs_run": result["epoch"],
        "steps": result["step"],
        "best_val_acc": result["best"],
        "train": _evaluate_ids(model, train_set, pad_id, config.batch_size),
        "valid": _evaluate_ids(model, valid_set, pad_id, config.batch_size)
        if valid_set else None,
        "embedding_coverage": coverage,
        "seconds": time.time() - started,
        "config": config.to_dict(),
    }  # fmt: skip


def fit_text_classifier(
    train: Sequence[TextExample],
    valid: Sequence[TextExample] | None = None,
    config: TextClassifierConfig | None = None,
    out_dir: str | os.PathLike = "model",
    callbacks: Sequence[Any] = (),
    resume: bool = False,
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

    Returns:
        the trained :class:`ClassifierBundle`, already saved in ``out_dir``.

    Raises:
        ValueError: an empty text or label (named by the example's id, ``data.csv:17``),
            fewer than two distinct training labels, a validation label absent from training,
            or a vocabulary that differs from the checkpoint's on resume. All data checks run
            before anything is written.

    Example:
        >>> import tempfile
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
    config = config or TextClassifierConfig()
    if not isinstance(config, TextClassifierConfig):
        raise TypeError(f"expected a TextClassifierConfig, got {type(config).__name__}")
    started = time.time()
    data = _encode_data(train, valid, config)
    model, optimizer, coverage = _build_model(config, data)
    out_dir = _prepare_out_dir(Path(out_dir), data, resume)
    result = _train(model, optimizer, config, data, out_dir, callbacks, resume)
    summary = _summary(model, config, data, result, coverage, started)
    atomic_write_json(out_dir / "train_summary.json", summary)
    bundle = ClassifierBundle(model, data.tokenizer, data.vocab, data.labels,
                              info={"train_config": config.to_dict()})  # fmt: skip
    bundle.save(out_dir)
    log.info("saved the classifier to %s (train acc %.3f)", out_dir, summary["train"]["acc"])
    return bundle

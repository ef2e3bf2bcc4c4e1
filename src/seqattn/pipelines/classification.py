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

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqattn.data import Vocab, WordTokenizer, load_tokenizer, pad_sequences
from seqattn.data.tokenize import check_text
from seqattn.io import atomic_write_text
from seqattn.models import ClassifierConfig, SequenceClassifier
from seqattn.pipelines import multilabel as ml
from seqattn.pipelines._hub_mixin import HubMixin
from seqattn.pipelines.classification_config import (  # noqa: F401 (re-exported)
    DATA_FIELDS,
    SPECIALS,
    TextClassifierConfig,
    default_model,
)
from seqattn.pipelines.classification_training import fit_text_classifier
from seqattn.pipelines.model_dir import WEIGHTS, LegacyFormat, open_model_dir, write_model_dir

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
_FILES = ("vocab.json", "tokenizer.json")
# config.json keys that info cannot take
_RESERVED = ("format", "model", "labels", "files", "multi_label")


# -- predictions ------------------------------------------------------------------------------
@dataclass
class Prediction:
    """One text's prediction.

    Attributes:
        label: the predicted label's name (multi-label: the predicted set, joined by the
            model's ``label_sep`` in label order; ``""`` for the empty set).
        label_id: the most probable label's index in the model's labels.
        probs: probability of every label, by name (they sum to 1; multi-label: each label's
            own sigmoid).
        tokens: the tokens the model read (after lowercasing and truncation).
        attention: the attention head's weight per token (sums to 1), else None.
        labels: multi-label: the predicted set, in label order (None for a single label).
    """

    label: str
    label_id: int
    probs: dict[str, float]
    tokens: list[str]
    attention: list[float] | None = None
    labels: list[str] | None = None

    def describe(self) -> str:
        """``pos (0.93)``; multi-label ``sports (0.91) | politics (0.64)`` or ``no label``."""
        if self.labels is None:
            return f"{self.label} ({self.probs[self.label]:.2f})"
        return " | ".join(f"{n} ({self.probs[n]:.2f})" for n in self.labels) or "no label"


# -- the bundle -------------------------------------------------------------------------------
@dataclass
class ClassifierBundle(HubMixin):
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
        multi_label: a set of labels per text (:mod:`seqattn.pipelines.multilabel`): one
            sigmoid per label, each label predicted when its probability reaches its threshold.
        label_sep: the separator of a multi-label field (``sports|politics``).
        thresholds: multi-label: each label's decision threshold (None: 0.5 each).

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
    multi_label: bool = False
    label_sep: str = "|"
    thresholds: list[float] | None = None

    def __post_init__(self) -> None:
        n = self.model.config.num_classes
        if len(self.labels) != n:
            raise ValueError(f"expected {n} label names (num_classes), got {len(self.labels)}")
        if self.multi_label and self.thresholds is None:
            self.thresholds = [0.5] * n
        if self.thresholds is not None and (
            len(self.thresholds) != n or not all(0 < t < 1 for t in self.thresholds)
        ):
            raise ValueError(f"expected {n} thresholds in (0, 1), got {self.thresholds!r}")
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
        """The tokens the model reads for ``text``; ValueError naming ``where`` if none, for a
        NUL character, or for a text over :data:`~seqattn.data.tokenize.MAX_CHARS`."""
        tokens = self.tokenizer(check_text(text, where))[: self.max_length]
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
                logits = result.logits.double()
                probs = logits.sigmoid() if self.multi_label else logits.softmax(-1)
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
        if not self.multi_label:
            return Prediction(self.labels[k], k, named, list(tokens), att)
        chosen = [n for n, t in zip(self.labels, self.thresholds, strict=True) if named[n] >= t]
        return Prediction(self.label_sep.join(chosen), k, named, list(tokens), att, chosen)

    def canonical(self, label: Any) -> str:
        """A gold label field as predictions spell it: stripped; multi-label: the set's
        labels in label order, joined by ``label_sep`` (``"b | a"`` -> ``"a|b"``)."""
        if not self.multi_label:
            return str(label).strip()
        return ml.join_labels(ml.split_labels(label, self.label_sep), self.labels, self.label_sep)

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
            keys = (
                ml.split_labels(label, self.label_sep) if self.multi_label else [str(label).strip()]
            )
            for key in keys:
                if key not in index:
                    raise ValueError(
                        f"expected a label the model knows ({self.labels}) at {where}, got {key!r}"
                    )
            out.append(ml.multi_hot(keys, index) if self.multi_label else index[keys[0]])
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
        if self.multi_label:
            probs = [[p.probs[n] for n in self.labels] for p in preds]
            return ml.scores(probs, targets, self.labels, self.thresholds)
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
        gold: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Token heat maps through :mod:`seqattn.viz`: one page for all texts, a figure each.

        The weights are :meth:`saliency`'s: attention for ``head="attention"``, gradient x
        input otherwise (the page title says which).

        Args:
            texts: the texts to explain.
            out_dir: folder for ``explain.html`` and ``0001.png``, ``0002.png``...
            ids: names of the texts (shown in the titles).
            formats: figure formats per text (``png``, ``svg``, ``pdf``; empty: HTML only).
            gold: the texts' true labels: each title then says the gold label and whether the
                prediction is right, wrong ones marked ``WRONG``, and the page title the count.

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
        if gold is not None and len(gold) != len(texts):
            raise ValueError(f"expected {len(texts)} gold labels (one per text), got {len(gold)}")
        titles = [f"{name}: {p.describe()}" for p, name in zip(preds, names, strict=True)]
        wrong = 0
        for i, label in enumerate(gold or ()):
            ok = self.canonical(label) == preds[i].label
            wrong += not ok
            titles[i] += f", gold {self.canonical(label) or 'none'}" + ("" if ok else " - WRONG")
        views = [AttentionView(torch.tensor(p.attention), keys=p.tokens, title=title)
                 for p, title in zip(preds, titles, strict=True)]  # fmt: skip
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
        title = f"Token {method} of {self.path or 'the model'}"
        if gold is not None:
            title += f": {len(texts) - wrong} of {len(texts)} right, {wrong} marked WRONG"
        page = attention_html(views, title=title)
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
        if self.multi_label:
            config["multi_label"] = {"label_sep": self.label_sep, "thresholds": self.thresholds}
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
        labels = [str(x) for x in config["labels"]]
        multi = config.get("multi_label")
        if multi is None:
            return cls(model, tokenizer, vocab, labels, md.path, info)
        if not isinstance(multi, dict) or not isinstance(multi.get("label_sep"), str):
            raise ValueError(f"expected multi_label to hold label_sep and thresholds in "
                             f"{cfg_path}, got {multi!r}")  # fmt: skip
        try:
            return cls(model, tokenizer, vocab, labels, md.path, info, True, multi["label_sep"],
                       [float(t) for t in multi["thresholds"]])  # fmt: skip
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"expected valid multi_label thresholds in {cfg_path}, got: "
                             f"{err}") from None  # fmt: skip


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

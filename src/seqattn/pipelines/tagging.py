"""Sequence labelling for practitioners: train a tagger on CoNLL / CoNLL-U files, save, load,
tag, score.

    bundle = fit_tagger(read_conll("train.txt"), read_conll("valid.txt"), TaggerTrainConfig(),
                        "tagger/")
    bundle = TaggerBundle.load("tagger/")
    bundle.predict([["EU", "rejects", "German", "call"]])   # [['B-ORG', 'O', 'B-MISC', 'O']]
    bundle.evaluate(read_conll("test.txt"))["entity"]["f1"]

The input is tokenised already (one token per line in both formats); the vocabulary is built
from the training tokens (lowercased when ``lowercase``), tokens it lacks read as ``<unk>``; the
tag set is the training tags, sorted (the label map, saved as ``tags`` in config.json). The
model is a :class:`~seqattn.models.SequenceTagger` (BiLSTM, CRF or softmax head) trained with
Adam in the :class:`~seqattn.training.Trainer` (checkpoints in ``out_dir/checkpoints``). With a
validation set the weights of the best validation score are kept (entity F1 through seqeval
for entity tags, ``O`` / ``B-X`` / ``I-X``...; token accuracy for other tags such as UPOS:
``metric="auto"``), training stops after ``patience`` epochs without improvement.

The model directory (the shared format of :mod:`seqattn.pipelines.model_dir`, kind
``sequence-tagger``)::

    manifest.json        format tag, version, kind, sha256 of every file
    config.json          model config, tags (id order), lowercase, the training config
    model.safetensors    the weights
    vocab.json           the vocabulary (seqattn.vocab/1)
    metrics.jsonl, train_summary.json, checkpoints/   as the classifier's

Bad input is an error naming where it is: an empty sentence, a sentence given as one string,
a gold tag the model does not know (with the known ones listed).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqattn.config import ConfigDict, check_unchanged
from seqattn.data import Vocab, pad_sequences
from seqattn.data.datasets.conll import TaggedSentence
from seqattn.evaluation.tagging import SCHEMES, is_entity_tagset, tagging_scores
from seqattn.models import SequenceTagger, TaggerConfig
from seqattn.pipelines._hub_mixin import HubMixin
from seqattn.pipelines.model_dir import open_model_dir, write_model_dir

__all__ = ["KIND", "METRICS", "TaggerTrainConfig", "TaggerBundle", "default_tagger_model"]

log = logging.getLogger("seqattn.pipelines")

KIND = "sequence-tagger"  # the kind in manifest.json
SPECIALS = ("<pad>", "<unk>")  # pad_id 0, unk_id 1
DATA_FIELDS = ("vocab_size", "num_tags", "pad_id")
METRICS = ("auto", "entity_f1", "accuracy")
_RESERVED = ("model", "tags", "lowercase")


def default_tagger_model() -> TaggerConfig:
    """The pipeline's model defaults; vocab_size, num_tags and pad_id are placeholders."""
    return TaggerConfig(vocab_size=1, num_tags=2, embed_dim=100, hidden_size=128, dropout=0.2,
                        crf=True)  # fmt: skip


@dataclass(frozen=True)
class TaggerTrainConfig(ConfigDict):
    """Everything :func:`~seqattn.pipelines.tagging_training.fit_tagger` needs besides the data.

    Args:
        model: the :class:`~seqattn.models.TaggerConfig` (embed_dim, hidden_size, num_layers,
            dropout, crf); its vocab_size, num_tags and pad_id stay at the placeholders of
            :func:`default_tagger_model` (training fills them in).
        lowercase: lowercase tokens before the vocabulary lookup (off: case is a strong
            entity cue).
        min_freq: training tokens seen fewer times become ``<unk>`` (and so teach it).
        word_dropout: the probability that a training token reads as ``<unk>`` in a step
            (Lample et al., 2016); with 0 and ``min_freq`` 1 the ``<unk>`` embedding, which
            every unseen word reads, is never trained.
        max_vocab: keep at most this many entries, specials included (None: all).
        epochs, batch_size, lr: training length, sentences per batch, Adam's learning rate.
        patience: with a validation set, stop after this many epochs without a better score
            (None: run every epoch, still keeping the best weights).
        clip_norm: clip the gradient norm (None: off).
        seed: seeds the initialisation and the data order.
        metric: the validation score that picks the weights: ``entity_f1``, ``accuracy``
            (token accuracy) or ``auto`` (entity F1 when the training tags are entity tags).
        scheme: seqeval's strict mode under this scheme (``IOB2``, ``IOBES``...); None: its
            default conlleval mode.

    Example:
        >>> from seqattn.config import replace_config
        >>> cfg = replace_config(TaggerTrainConfig(), {"model.crf": False, "epochs": 3})
        >>> cfg.model.crf, TaggerTrainConfig.from_dict(cfg.to_dict()) == cfg
        (False, True)
    """

    model: TaggerConfig = field(default_factory=default_tagger_model)
    lowercase: bool = False
    min_freq: int = 1
    word_dropout: float = 0.0
    max_vocab: int | None = None
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-3
    patience: int | None = 5
    clip_norm: float | None = 5.0
    seed: int = 0
    metric: str = "auto"
    scheme: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, TaggerConfig):
            raise TypeError(f"expected model to be a TaggerConfig, got {type(self.model)}")
        # name: (lowest value, None allowed)
        ints = {"epochs": (1, False), "batch_size": (1, False), "min_freq": (1, False),
                "patience": (1, True), "max_vocab": (len(SPECIALS) + 1, True)}  # fmt: skip
        for name, (low, optional) in ints.items():
            value = getattr(self, name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                also = " or None" if optional else ""
                raise ValueError(f"expected {name} to be an int >= {low}{also}, got {value!r}")
        if not (isinstance(self.lr, int | float) and not isinstance(self.lr, bool) and self.lr > 0):
            raise ValueError(f"expected lr > 0, got {self.lr!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"expected clip_norm > 0 or None, got {self.clip_norm!r}")
        rate = self.word_dropout
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise ValueError(f"expected word_dropout in [0, 1), got {rate!r}")
        if self.metric not in METRICS:
            raise ValueError(f"expected metric in {METRICS}, got {self.metric!r}")
        if self.scheme is not None and self.scheme not in SCHEMES:
            raise ValueError(f"expected scheme None or one of {SCHEMES}, got {self.scheme!r}")
        check_unchanged(self.model, default_tagger_model(), DATA_FIELDS, "model",
                        "training fills it in from the data")  # fmt: skip

    def tagger_config(self, vocab_size: int, num_tags: int) -> TaggerConfig:
        """``model`` with the data's fields filled in."""
        return dataclasses.replace(self.model, vocab_size=vocab_size, num_tags=num_tags, pad_id=0)


def _sentence_names(n: int, ids: Sequence[str] | None) -> list[str]:
    if ids is None:
        return [f"sentence {i + 1}" for i in range(n)]
    if len(ids) != n:
        raise ValueError(f"expected {n} ids (one per sentence), got {len(ids)}")
    return [str(i) for i in ids]


def check_tokens(tokens: Any, where: str) -> list[str]:
    """``tokens`` as a list of str; TypeError for a string or non-str tokens, ValueError for
    an empty sentence, naming ``where``."""
    if isinstance(tokens, str):
        raise TypeError(f"expected a list of tokens at {where}, got a str (split it first)")
    tokens = list(tokens)
    if not tokens:
        raise ValueError(f"expected at least one token at {where}, got an empty sentence")
    bad = [t for t in tokens if not isinstance(t, str) or not t]
    if bad:
        raise TypeError(f"expected non-empty str tokens at {where}, got {bad[0]!r}")
    return tokens


@dataclass
class TaggerBundle(HubMixin):
    """A trained tagger with its vocabulary and tag set.

    Build one with :func:`~seqattn.pipelines.tagging_training.fit_tagger` or :meth:`load`;
    :meth:`save` writes the model directory of the module docstring.

    Attributes:
        model: the :class:`~seqattn.models.SequenceTagger` (in eval mode).
        vocab: the training vocabulary. tags: tag names in tag-id order (the label map).
        lowercase: tokens are lowercased before the lookup.
        path: where it was loaded from or saved to. info: extra config.json entries.

    Example:
        >>> cfg = TaggerConfig(vocab_size=4, num_tags=2, embed_dim=4, hidden_size=4)
        >>> vocab = Vocab(["<pad>", "<unk>", "eu", "rejects"], bos=None, eos=None)
        >>> bundle = TaggerBundle(SequenceTagger(cfg), vocab, ["B-ORG", "O"], lowercase=True)
        >>> [len(tags) for tags in bundle.predict([["EU", "rejects"], ["x"]])]
        [2, 1]
    """

    model: SequenceTagger
    vocab: Vocab
    tags: list[str]
    lowercase: bool = False
    path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.tags) != self.model.config.num_tags:
            raise ValueError(f"expected {self.model.config.num_tags} tag names (num_tags), got "
                             f"{len(self.tags)}")  # fmt: skip
        if len(self.vocab) != self.model.config.vocab_size:
            raise ValueError(f"expected a vocabulary of {self.model.config.vocab_size} entries "
                             f"(the model's vocab_size), got {len(self.vocab)}")  # fmt: skip
        self.model.eval()

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return self.vocab.encode([t.lower() for t in tokens] if self.lowercase else list(tokens))

    def predict_ids(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 64,
        ids: Sequence[str] | None = None,
    ) -> list[list[int]]:  # fmt: skip
        """The predicted tag ids of every sentence (batched by length, input order kept)."""
        if isinstance(sentences, str):
            raise TypeError("expected a list of sentences (token lists), got a str")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"expected batch_size to be an int >= 1, got {batch_size!r}")
        names = _sentence_names(len(sentences), ids)
        encoded = [self.encode(check_tokens(s, w)) for s, w in zip(sentences, names, strict=True)]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out: list[list[int]] = [[] for _ in encoded]
        self.model.eval()
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            tokens, lengths = pad_sequences([encoded[i] for i in idx], pad_value=self.vocab.pad_id)
            for i, path in zip(idx, self.model.decode(tokens, lengths), strict=True):
                out[i] = path
        return out

    def predict(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 64,
        ids: Sequence[str] | None = None,
    ) -> list[list[str]]:  # fmt: skip
        """The predicted tags of every sentence, one per token.

        Raises:
            TypeError: a sentence given as a string. ValueError: an empty sentence (named).
        """
        return [
            [self.tags[k] for k in path] for path in self.predict_ids(sentences, batch_size, ids)
        ]

    def check_tags(self, sentences: Sequence[TaggedSentence]) -> None:
        """ValueError naming the first sentence whose gold tags the model does not know."""
        known = set(self.tags)
        for i, s in enumerate(sentences):
            where = s.id or f"sentence {i + 1}"
            if s.tags is None:
                raise ValueError(f"expected gold tags at {where}, got an untagged sentence")
            unknown = sorted(set(s.tags) - known)
            if unknown:
                raise ValueError(f"expected tags the model knows ({self.tags}) at {where}, got "
                                 f"{unknown[0]!r}")  # fmt: skip

    def evaluate(
        self, sentences: Sequence[TaggedSentence], batch_size: int = 64, scheme: str | None = None
    ) -> dict[str, Any]:
        """Token accuracy, and entity precision/recall/F1 (seqeval) when the model's tags are
        entity tags, of the predictions against the sentences' gold tags."""
        self.check_tags(sentences)
        names = [s.id or f"sentence {i + 1}" for i, s in enumerate(sentences)]
        pred = self.predict([s.tokens for s in sentences], batch_size, names)
        gold = [list(s.tags) for s in sentences]
        return tagging_scores(gold, pred, entities=is_entity_tagset(self.tags), scheme=scheme)

    # -- persistence --------------------------------------------------------------------------
    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write the model directory: model.safetensors, vocab.json, config.json, then
        manifest.json (:func:`~seqattn.pipelines.model_dir.write_model_dir`)."""
        config = {"model": self.model.config.to_dict(), "tags": list(self.tags),
                  "lowercase": self.lowercase,
                  **{k: v for k, v in self.info.items() if k not in _RESERVED}}  # fmt: skip
        self.path = write_model_dir(out_dir, KIND, config, self.model,
                                    {"vocab.json": self.vocab.save})  # fmt: skip
        return self.path

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> TaggerBundle:
        """Load a directory written by :meth:`save` (or ``seqattn train tag``), checked.

        Raises:
            FileNotFoundError: no such directory, or a missing file (named).
            ValueError: a corrupt or mismatched file, or a directory of another kind.
        """
        md = open_model_dir(model_dir, KIND, ("vocab.json",))
        cfg_path, config = md.file("config.json"), md.config
        for key in ("model", "tags"):
            if key not in config:
                raise ValueError(f"expected a {key!r} entry in {cfg_path}, got none")
        try:
            model_config = TaggerConfig.from_dict(config["model"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"expected a valid model config in {cfg_path}, got: {err}") from None
        vocab = Vocab.load(md.file("vocab.json"))
        model = md.load_weights(SequenceTagger(model_config))
        info = {k: v for k, v in config.items() if k not in _RESERVED}
        tags = [str(t) for t in config["tags"]]
        return cls(model, vocab, tags, bool(config.get("lowercase", False)), md.path, info)

"""The config of :func:`~seqattn.pipelines.fit_text_classifier`: the classifier's own
:class:`~seqattn.models.ClassifierConfig` nested under ``model``, data and training options
beside it (re-exported by :mod:`seqattn.pipelines.classification`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from seqattn.config import (
    ConfigDict,
    check_unchanged,
    flat_kwargs,
    moved_to,
)
from seqattn.models import ClassifierConfig

__all__ = ["SPECIALS", "DATA_FIELDS", "default_model", "TextClassifierConfig"]

SPECIALS = ("<pad>", "<unk>")  # the vocabulary's first entries: pad_id 0, unk_id 1

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
class TextClassifierConfig(ConfigDict):
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
        multi_label: each example has a set of labels (``"sports|politics"``, ``label_sep``
            between them; an empty label field is the empty set): one sigmoid per label,
            binary cross-entropy, early stopping on the validation micro-F1, and per-label
            decision thresholds tuned on the validation set (0.5 without one).
        label_sep: the separator of a multi-label field.

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
    multi_label: bool = False
    label_sep: str = "|"

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
        if not isinstance(self.label_sep, str) or not self.label_sep.strip():
            raise ValueError(f"expected label_sep to be a non-blank str, got {self.label_sep!r}")
        check_unchanged(self.model, default_model(), DATA_FIELDS, "model",
                        "training fills it in from the data")  # fmt: skip

    def classifier_config(
        self, vocab_size: int, num_classes: int, embed_dim: int | None = None
    ) -> ClassifierConfig:
        """``model`` with the data's fields filled in (and E, given pretrained vectors)."""
        embed_dim = self.model.embed_dim if embed_dim is None else embed_dim
        return dataclasses.replace(self.model, vocab_size=vocab_size, num_classes=num_classes,
                                   embed_dim=embed_dim, pad_id=0)  # fmt: skip

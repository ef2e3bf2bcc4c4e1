"""The config of :func:`~seqattn.pipelines.translation.fit_translation`: the network's own
:class:`~seqattn.models.Seq2SeqConfig` nested under ``model``, data and training options beside
it (re-exported by :mod:`seqattn.pipelines.translation`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from seqattn.config import ConfigDict, check_unchanged, flat_kwargs, moved_to
from seqattn.models.seq2seq import Seq2SeqConfig

__all__ = ["DATA_FIELDS", "default_model", "TranslationConfig"]


#: The Seq2SeqConfig fields the data decides; :func:`fit_translation` fills them in, a config
#: keeps them at the placeholders of :func:`default_model`.
DATA_FIELDS = ("src_vocab", "tgt_vocab", "pad_id")
#: The model keys of the flat config (before ``model`` was nested), read as ``model.<key>``.
_FLAT_MODEL_KEYS = ("embed_dim", "hidden_size", "cell", "encoder_layers", "decoder_layers",
                    "bidirectional", "decoder", "attention_dim", "luong_score", "luong_attention",
                    "local_window", "input_feeding", "num_heads", "ff_dim", "dropout",
                    "tie_embeddings")  # fmt: skip


def default_model() -> Seq2SeqConfig:
    """The pipeline's model defaults (dropout 0.3); src_vocab, tgt_vocab, pad_id placeholders."""
    return Seq2SeqConfig(src_vocab=1, tgt_vocab=1, pad_id=0, dropout=0.3)


@flat_kwargs
@dataclass(frozen=True)
class TranslationConfig(ConfigDict):
    """Data, model and training options of a translation model.

    Model: ``model``, a :class:`~seqattn.models.Seq2SeqConfig` whose :data:`DATA_FIELDS` stay
    at :func:`default_model`'s placeholders (training fills them in from the vocabularies).
    Data: subword ``"bpe"`` or ``"word"``; bpe_vocab (per language); min_freq / max_vocab
    (word vocabularies); lowercase (both sides); max_length: training pairs with more tokens
    on either side are skipped, longer inputs to :meth:`TranslationModel.translate` refused.
    Training: epochs, batch_size (sentences, length-bucketed), lr (Adam), clip_norm,
    label_smoothing, teacher_forcing (ratio at the start) and teacher_forcing_final (linear
    schedule to it over training; None = constant), patience (epochs without a better
    validation loss), checkpoint_every (steps), seed.

    :meth:`to_dict` / :meth:`from_dict` (:class:`~seqattn.config.ConfigDict`) round-trip it;
    older versions kept the model options at the top level, and from_dict, the constructor and
    attribute reads still take those keys (deprecated).

    Example:
        >>> from seqattn.config import replace_config
        >>> cfg = replace_config(TranslationConfig(), {"model.decoder": "luong", "epochs": 2})
        >>> cfg.model.decoder, TranslationConfig.from_dict(cfg.to_dict()) == cfg
        ('luong', True)
        >>> TranslationConfig.from_dict({"hidden_size": 64}).model.hidden_size  # flat, old
        64
    """

    model: Seq2SeqConfig = field(default_factory=default_model)
    subword: str = "bpe"
    bpe_vocab: int = 8000
    min_freq: int = 2
    max_vocab: int | None = None
    lowercase: bool = False
    max_length: int = 100
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    clip_norm: float = 1.0
    label_smoothing: float = 0.0
    teacher_forcing: float = 1.0
    teacher_forcing_final: float | None = None
    patience: int | None = None
    checkpoint_every: int = 100
    seed: int = 0

    config_aliases: ClassVar[dict[str, str]] = moved_to("model", _FLAT_MODEL_KEYS)

    def __post_init__(self) -> None:
        if not isinstance(self.model, Seq2SeqConfig):
            raise TypeError(f"expected model to be a Seq2SeqConfig, got {type(self.model)}")
        if self.subword not in ("bpe", "word"):
            raise ValueError(f"expected subword 'bpe' or 'word', got {self.subword!r}")
        for name in ("bpe_vocab", "min_freq", "max_length", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        for name in ("teacher_forcing", "teacher_forcing_final", "label_smoothing"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"expected {name} in [0, 1], got {value!r}")
        check_unchanged(self.model, default_model(), DATA_FIELDS, "model",
                        "training fills it in from the vocabularies")  # fmt: skip

    def model_config(self, src_vocab: int, tgt_vocab: int) -> Seq2SeqConfig:
        """``model`` with the vocabulary sizes filled in."""
        return replace(self.model, src_vocab=src_vocab, tgt_vocab=tgt_vocab, pad_id=0)

"""An RNN encoder-decoder with the classic decoders (plain, context, Bahdanau, Luong, ...).

Encoder: embedding -> (bi)directional, stacked LSTM/GRU (:mod:`seqattn.nn.recurrent`) over the
padded source with its lengths, so padding never reaches a state. A bridge maps the encoder's
final state to the decoder's initial state: per decoder layer, the concatenated final forward
and backward states through ``tanh(W [h_fwd; h_bwd] + b)`` (an identity for a unidirectional
encoder of the decoder's size). The decoders live in :mod:`seqattn.models.seq2seq_decoders`,
registered in :data:`DECODERS` (plain, context, bahdanau, luong, transformer, location).

Decoding is model-agnostic (:mod:`seqattn.decoding`): :meth:`Seq2Seq.decode_state` gives the
state before the first token (a dict of batch-first tensors, dim 0 = row) and
:meth:`Seq2Seq.step` is the step function ``step(tokens (N,), state) -> (log_probs (N, V),
new_state, attention (N, S) or None)``.

Example:
    >>> cfg = Seq2SeqConfig(src_vocab=12, tgt_vocab=11, embed_dim=8, hidden_size=8)
    >>> model = Seq2Seq(cfg)
    >>> src = torch.tensor([[5, 6, 7], [8, 9, 0]])
    >>> out = model(src, torch.tensor([3, 2]), torch.tensor([[2, 4, 5], [2, 6, 0]]))
    >>> out.logits.shape, out.attention.shape
    (torch.Size([2, 3, 11]), torch.Size([2, 3, 3]))
    >>> float(out.attention[1, :, 2].detach().abs().max())  # never attends to source padding
    0.0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.models.seq2seq_decoders import DECODERS, LUONG_ATTENTION
from seqattn.nn.attention import LUONG_MODES
from seqattn.nn.recurrent import GRU, LSTM

__all__ = ["Seq2SeqConfig", "Seq2Seq", "Seq2SeqOutput", "DECODERS", "sequence_loss"]


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Args:
    src_vocab / tgt_vocab: vocabulary sizes V. pad_id: the padding id of both vocabularies.
    embed_dim: embedding size. hidden_size: of the encoder (per direction) and the decoder.
    cell: ``"gru"`` or ``"lstm"`` (encoder and recurrent decoders).
    encoder_layers / decoder_layers: stacked layers. bidirectional: a bidirectional encoder.
    decoder: a name registered in :data:`DECODERS` (its class checks its own options).
    attention_dim: size of the additive / concat attention layer (default hidden_size).
    luong_score: ``"dot"`` (needs context_dim == hidden_size, i.e. a unidirectional encoder),
        ``"general"``, ``"concat"``. luong_attention: ``"global"``, ``"local-m"``,
        ``"local-p"``. local_window: the half-width of local attention's window.
    input_feeding: Luong's input feeding (``luong`` and ``location`` decoders).
    max_source_len: the ``location`` decoder's S_max (its score has one row per position).
    num_heads / ff_dim: Transformer decoder heads H and feed-forward width (default
        4 hidden_size).
    dropout: on embeddings, between stacked layers and before the output layer.
    tie_embeddings: the output layer shares the target embedding matrix (Press & Wolf 2017;
        a projection to embed_dim is added when the decoder's features are not that wide).
    """

    src_vocab: int
    tgt_vocab: int
    pad_id: int = 0
    embed_dim: int = 256
    hidden_size: int = 256
    cell: str = "gru"
    encoder_layers: int = 1
    decoder_layers: int = 1
    bidirectional: bool = True
    decoder: str = "bahdanau"
    attention_dim: int | None = None
    luong_score: str = "general"
    luong_attention: str = "global"
    local_window: int = 5
    input_feeding: bool = True
    num_heads: int = 4
    ff_dim: int | None = None
    max_source_len: int = 128
    dropout: float = 0.1
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        for name in ("src_vocab", "tgt_vocab", "embed_dim", "hidden_size", "encoder_layers",
                     "decoder_layers", "num_heads", "max_source_len"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"expected cell 'gru' or 'lstm', got {self.cell!r}")
        DECODERS.check(self.decoder)
        if self.luong_score not in LUONG_MODES:
            raise ValueError(f"expected luong_score in {LUONG_MODES}, got {self.luong_score!r}")
        if self.luong_attention not in LUONG_ATTENTION:
            raise ValueError(
                f"expected luong_attention in {LUONG_ATTENTION}, got {self.luong_attention!r}"
            )
        DECODERS[self.decoder].check_config(self)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"expected dropout in [0, 1), got {self.dropout}")
        if not 0 <= self.pad_id < min(self.src_vocab, self.tgt_vocab):
            raise ValueError(f"expected pad_id inside both vocabularies, got {self.pad_id}")

    @property
    def context_dim(self) -> int:
        """The encoder's output features: num_directions * hidden_size."""
        return self.hidden_size * (2 if self.bidirectional else 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Seq2SeqOutput(NamedTuple):
    """logits (B, T, V); attention (B, T, S) or None (plain and context decoders)."""

    logits: Tensor
    attention: Tensor | None


class Seq2Seq(nn.Module):
    """Encoder-decoder for translation and sequence transduction; see the module docstring.

    Args:
        config: a :class:`Seq2SeqConfig`.

    Shape:
        src (B, S) ids, src_lengths (B,) in [1, S], tgt_in (B, T) ids starting with bos.
        forward returns logits (B, T, V) and attention (B, T, S) (zero at source padding).
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        cfg = self.config = config
        embed, hidden, context = cfg.embed_dim, cfg.hidden_size, cfg.context_dim
        decoder_cls = DECODERS[cfg.decoder]
        self.src_embedding = nn.Embedding(cfg.src_vocab, embed, padding_idx=cfg.pad_id)
        self.tgt_embedding = nn.Embedding(cfg.tgt_vocab, embed, padding_idx=cfg.pad_id)
        decoder_cls.init_target_embedding(self.tgt_embedding, cfg)
        rnn_cls = {"gru": GRU, "lstm": LSTM}[cfg.cell]
        self.encoder = rnn_cls(embed, hidden, cfg.encoder_layers, batch_first=True,
                               dropout=cfg.dropout if cfg.encoder_layers > 1 else 0.0,
                               bidirectional=cfg.bidirectional)  # fmt: skip
        needs_bridge = cfg.bidirectional and decoder_cls.uses_encoder_state
        self.bridge = nn.Linear(context, hidden) if needs_bridge else None
        self.bridge_cell = (
            nn.Linear(context, hidden) if needs_bridge and cfg.cell == "lstm" else None
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.decoder = decoder_cls.from_config(cfg)
        feat = self.decoder.feature_dim
        if cfg.tie_embeddings:
            # logits = E_tgt · proj(features) + b: the embedding matrix itself, not a second
            # Parameter aliasing it, so state dicts (and safetensors files) hold it once
            self.pre_output = nn.Linear(feat, embed) if feat != embed else nn.Identity()
            self.output = None
            self.output_bias = nn.Parameter(torch.zeros(cfg.tgt_vocab))
        else:
            self.pre_output = nn.Identity()
            self.output = nn.Linear(feat, cfg.tgt_vocab)

    # -- encoder ---------------------------------------------------------------------------------
    def _check_source(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        if src.dim() != 2 or src.dtype != torch.long:
            raise ValueError(f"expected src (B, S) int64 ids, got {tuple(src.shape)} {src.dtype}")
        lengths = torch.as_tensor(src_lengths, device=src.device)
        if lengths.shape != (src.shape[0],):
            raise ValueError(
                f"expected src_lengths of shape ({src.shape[0]},), got {tuple(lengths.shape)}"
            )
        if bool((lengths < 1).any()) or bool((lengths > src.shape[1]).any()):
            raise ValueError(
                f"expected src_lengths in [1, {src.shape[1]}] (no empty sources), got "
                f"{lengths.tolist()}"
            )
        return lengths

    def encode(self, src: Tensor, src_lengths: Tensor) -> dict[str, Tensor]:
        """Run the encoder; returns memory (B, S, context_dim), src_mask (B, S) (True = real
        token), the decoder's initial hidden (B, decoder_layers, hidden_size) (and cell for
        LSTM) and the summary (B, context_dim)."""
        lengths = self._check_source(src, src_lengths)
        cfg = self.config
        emb = self.dropout(self.src_embedding(src))  # (B, S, embed_dim)
        memory, final = self.encoder(emb, lengths=lengths)  # (B, S, context_dim); final states
        h, c = final if cfg.cell == "lstm" else (final, None)
        src_mask = torch.arange(src.shape[1], device=src.device) < lengths.unsqueeze(1)
        h_layers = self._per_layer(h)  # (B, encoder_layers, context_dim): both directions
        summary = h_layers[:, -1]  # the top layer's final state(s), Cho et al.'s c
        hidden = self._bridge(h_layers, self.bridge)
        cell = None
        if c is not None:
            cell = self._bridge(self._per_layer(c), self.bridge_cell, tanh=False)
        return {"memory": memory, "src_mask": src_mask, "hidden": hidden, "cell": cell,
                "summary": summary}  # fmt: skip

    def _per_layer(self, h: Tensor) -> Tensor:
        """(layers * num_directions, B, hidden_size) final states -> (B, layers, context_dim),
        directions concatenated per layer."""
        num_directions = 2 if self.config.bidirectional else 1
        layers, batch, hidden = self.config.encoder_layers, h.shape[1], h.shape[2]
        h = h.view(layers, num_directions, batch, hidden).permute(2, 0, 1, 3)
        return h.reshape(batch, layers, num_directions * hidden)

    def _bridge(self, h: Tensor, proj: nn.Linear | None, tanh: bool = True) -> Tensor:
        """Initial decoder state (B, decoder_layers, hidden_size): the top decoder_layers
        encoder layers (the top layer repeated when the decoder is deeper), projected for a
        bidirectional encoder."""
        layers = self.config.decoder_layers
        h = h[:, -layers:] if h.shape[1] >= layers else h[:, -1:].expand(-1, layers, -1)
        if proj is None:
            return h.contiguous()
        out = proj(h)
        return torch.tanh(out) if tanh else out

    # -- decoding ----------------------------------------------------------------------------
    def decode_state(self, src: Tensor, src_lengths: Tensor) -> dict[str, Tensor]:
        """The decoder state before the first target token: batch-first tensors, dim 0 = row."""
        enc = self.encode(src, src_lengths)
        return self.decoder.init_state(enc["memory"], enc["src_mask"], enc["hidden"],
                                       enc["cell"], enc["summary"])  # fmt: skip

    @property
    def output_weight(self) -> Tensor:
        """The (V, feature_dim or embed_dim) output matrix: the target embedding when tied."""
        return self.tgt_embedding.weight if self.output is None else self.output.weight

    def _logits(self, features: Tensor) -> Tensor:
        x = self.pre_output(self.dropout(features))
        if self.output is None:
            return F.linear(x, self.tgt_embedding.weight, self.output_bias)
        return self.output(x)

    def step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """One decoding step: tokens (N,) (the last emitted token of each row) -> log-probs
        (N, V), the new state, attention (N, S) or None. The StepFn of seqattn.decoding."""
        emb = self.dropout(self.tgt_embedding(tokens))
        feat, state, attn = self.decoder.step(emb, state)
        return F.log_softmax(self._logits(feat), -1), state, attn

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Seq2SeqOutput:
        """Teacher-forced (``teacher_forcing=1``) logits of ``tgt_in``'s next tokens.

        With ``teacher_forcing < 1`` (scheduled sampling, Bengio et al. 2015) each row's input
        at step t > 0 is the gold token with that probability, else the model's own argmax
        prediction of step t-1 (no gradient through the choice).
        """
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise ValueError(
                f"expected tgt_in of shape (B={src.shape[0]}, T), got {tuple(tgt_in.shape)}"
            )
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"expected teacher_forcing in [0, 1], got {teacher_forcing}")
        state = self.decode_state(src, src_lengths)
        if teacher_forcing >= 1.0:
            feats, attn = self.decoder(self.dropout(self.tgt_embedding(tgt_in)), state)
            return Seq2SeqOutput(self._logits(feats), attn)
        logits, attns = [], []
        tokens = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            if t > 0:
                gold = torch.rand(tgt_in.shape[0], generator=generator) < teacher_forcing
                tokens = torch.where(gold.to(tgt_in.device), tgt_in[:, t], logits[-1].argmax(-1))
            feat, state, a = self.decoder.step(self.dropout(self.tgt_embedding(tokens)), state)
            logits.append(self._logits(feat))
            attns.append(a)
        attn = None if attns[0] is None else torch.stack(attns, 1)
        return Seq2SeqOutput(torch.stack(logits, 1), attn)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def sequence_loss(
    logits: Tensor, targets: Tensor, pad_id: int = 0, label_smoothing: float = 0.0
) -> tuple[Tensor, int]:
    """Mean token cross-entropy over non-pad targets, with label smoothing (Szegedy et al. 2016).

    loss = (1 - ε) · (-log p_y) + ε · mean_v(-log p_v) per token (torch's definition).

    Shape:
        logits (B, T, V), targets (B, T). Returns (loss, number of non-pad tokens).
    """
    if logits.shape[:2] != targets.shape:
        raise ValueError(
            f"expected targets of shape {tuple(logits.shape[:2])}, got {tuple(targets.shape)}"
        )
    n = int((targets != pad_id).sum())
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=pad_id, label_smoothing=label_smoothing)  # fmt: skip
    return loss, n

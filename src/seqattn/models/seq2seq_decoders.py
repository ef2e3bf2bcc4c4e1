"""The decoders of :class:`~seqattn.models.seq2seq.Seq2Seq`, one class per paper, registered.

Every decoder is a :class:`Seq2SeqDecoder` registered in :data:`DECODERS` under the name
``Seq2SeqConfig.decoder`` takes; the model, its config checks, the CLI's ``--decoder`` choices
and the ``bottleneck`` experiment read that registry, so a new decoder is one class here::

    @DECODERS.register("mine")
    class MyDecoder(AttentionalDecoder):      # or RecurrentDecoder, or Seq2SeqDecoder
        @classmethod
        def from_config(cls, cfg): ...        # cfg: Seq2SeqConfig

Every decoder has the same three methods, so the model, teacher forcing and the step function
of :mod:`seqattn.decoding` treat them alike:

* ``init_state(memory, src_mask, hidden, cell, summary) -> dict`` the state before the first
  target token: batch-first tensors, dim 0 = row, which beam search reorders, and the
  per-sentence constants (encoder memory, key projection, source mask) in a
  :class:`~seqattn.functional.rows.Shared` dict under ``"source"``, one row per sentence, which
  it does not (a step with k hypotheses per sentence groups its rows by sentence);
* ``step(emb, state) -> (features (B, F), new_state, attention (B, S) or None)``;
* ``forward(emb, state) -> (features (B, T, F), attention (B, T, S) or None)``, teacher forced.
  Decoders whose recurrence does not depend on attention run the whole target at once; the
  others loop over :meth:`step`, so forward and step are the same computation.

``features`` go to the model's output layer (the logits are not the decoder's business, so
output embeddings can be tied there).

Shape glossary: B batch, T target steps, S source length, F the decoder's ``feature_dim``;
``embed_dim`` (target embeddings), ``hidden_size`` (decoder state), ``context_dim`` (encoder
features, ``num_directions * hidden_size``), ``num_layers`` (decoder layers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from seqattn._registry import Registry
from seqattn.functional.rows import Shared, group_rows
from seqattn.nn.attention import (
    AdditiveAttention,
    LocalAttention,
    LocationAttention,
    LuongAttention,
)
from seqattn.nn.attention.multihead import MultiHeadAttention
from seqattn.nn.embeddings import SinusoidalPositionalEncoding
from seqattn.nn.recurrent import GRU, LSTM

if TYPE_CHECKING:
    from seqattn.models.seq2seq import Seq2SeqConfig

__all__ = [
    "DECODERS",
    "Seq2SeqDecoder",
    "RecurrentDecoder",
    "AttentionalDecoder",
    "decoder_args",
    "PlainDecoder",
    "ContextDecoder",
    "BahdanauDecoder",
    "LuongDecoder",
    "TransformerDecoder",
    "LocationDecoder",
    "LUONG_ATTENTION",
]

LUONG_ATTENTION = ("global", "local-m", "local-p")

#: name -> decoder class (``Seq2SeqConfig.decoder``), in registration order.
DECODERS: Registry[type[Seq2SeqDecoder]] = Registry("decoder")


def decoder_args(cfg: Seq2SeqConfig) -> tuple[int, int, int, float, int]:
    """The arguments every decoder takes first: embed_dim, hidden_size, num_layers, dropout,
    context_dim."""
    return cfg.embed_dim, cfg.hidden_size, cfg.decoder_layers, cfg.dropout, cfg.context_dim


class Seq2SeqDecoder(nn.Module):
    """The decoder interface of :class:`~seqattn.models.seq2seq.Seq2Seq` (see the module
    docstring) and what the model asks of a registered decoder class.

    Class attributes: ``recurrent`` (an LSTM/GRU decoder: the ``bottleneck`` experiment
    trains every recurrent decoder), ``uses_encoder_state`` (the model builds the bridge from
    the encoder's final state to ``hidden``).
    """

    recurrent = False
    uses_encoder_state = True
    feature_dim: int

    @classmethod
    def from_config(cls, cfg: Seq2SeqConfig) -> Seq2SeqDecoder:
        """The decoder of ``cfg`` (called by the model after its encoder and bridge)."""
        raise NotImplementedError

    @classmethod
    def check_config(cls, cfg: Seq2SeqConfig) -> None:
        """Raise ValueError for options this decoder cannot use (called by the config)."""

    @classmethod
    def init_target_embedding(cls, embedding: nn.Embedding, cfg: Seq2SeqConfig) -> None:
        """Re-initialise the model's target embedding in place (default: torch's init)."""


class RecurrentDecoder(Seq2SeqDecoder):
    """An LSTM/GRU stack whose state lives batch-first in the state dict: hidden
    (B, num_layers, hidden_size)."""

    recurrent = True

    def __init__(self, cell: str, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        rnn_cls = {"gru": GRU, "lstm": LSTM}[cell]
        self.cell, self.hidden_size, self.num_layers = cell, hidden, layers
        self.rnn = rnn_cls(input_size, hidden, layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)  # fmt: skip

    def _hx(self, state: dict) -> Tensor | tuple[Tensor, Tensor]:
        h = state["hidden"].transpose(0, 1).contiguous()  # (num_layers, B, hidden_size): torch's
        if self.cell == "lstm":
            return h, state["cell"].transpose(0, 1).contiguous()
        return h

    def _run(self, x: Tensor, state: dict) -> tuple[Tensor, dict]:
        """Run the stack over x (B, T, input_size) from the state; return outputs
        (B, T, hidden_size) and the new state."""
        out, hn = self.rnn(x, self._hx(state))
        new = dict(state)
        if self.cell == "lstm":
            new["hidden"], new["cell"] = hn[0].transpose(0, 1), hn[1].transpose(0, 1)
        else:
            new["hidden"] = hn.transpose(0, 1)  # (B, num_layers, hidden_size)
        return out, new

    def _base_state(self, hidden: Tensor, cell: Tensor | None) -> dict:
        state = {"hidden": hidden}
        if self.cell == "lstm":
            state["cell"] = cell
        return state

    def forward(self, emb: Tensor, state: dict) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing by looping over :meth:`step` (the attention decoders' default)."""
        feats, attns = [], []
        for x in emb.unbind(1):
            f, state, a = self.step(x, state)
            feats.append(f)
            attns.append(a)
        attn = None if attns[0] is None else torch.stack(attns, 1)
        return torch.stack(feats, 1), attn


@DECODERS.register("plain")
class PlainDecoder(RecurrentDecoder):
    """Sutskever, Vinyals & Le (2014): the source summary only initialises the decoder.

    h_t = RNN(y_{t-1}, h_{t-1}), h_0 = bridge(encoder final state); features h_t.
    """

    def __init__(self, cell, embed_dim, hidden, layers, dropout, context_dim):
        super().__init__(cell, embed_dim, hidden, layers, dropout)
        self.feature_dim = hidden

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.cell, *decoder_args(cfg))

    def init_state(self, memory, src_mask, hidden, cell, summary) -> dict:
        return self._base_state(hidden, cell)

    def forward(self, emb, state):
        out, _ = self._run(emb, state)
        return out, None

    def step(self, emb, state):
        out, state = self._run(emb.unsqueeze(1), state)
        return out[:, 0], state, None


@DECODERS.register("context")
class ContextDecoder(RecurrentDecoder):
    """Cho et al. (2014), eq. in §2.2: the summary c is fed at every step.

    h_t = GRU([y_{t-1}; c], h_{t-1}); features [h_t; y_{t-1}; c] (the output layer sees c too).
    """

    def __init__(self, cell, embed_dim, hidden, layers, dropout, context_dim):
        super().__init__(cell, embed_dim + context_dim, hidden, layers, dropout)
        self.feature_dim = hidden + embed_dim + context_dim

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.cell, *decoder_args(cfg))

    def init_state(self, memory, src_mask, hidden, cell, summary) -> dict:
        return {**self._base_state(hidden, cell), "summary": summary}

    def forward(self, emb, state):
        c = state["summary"].unsqueeze(1).expand(-1, emb.shape[1], -1)  # (B, T, C)
        out, _ = self._run(torch.cat([emb, c], -1), state)
        return torch.cat([out, emb, c], -1), None

    def step(self, emb, state):
        c = state["summary"]
        out, state = self._run(torch.cat([emb, c], -1).unsqueeze(1), state)
        return torch.cat([out[:, 0], emb, c], -1), state, None


@DECODERS.register("bahdanau")
class BahdanauDecoder(RecurrentDecoder):
    """Bahdanau, Cho & Bengio (2015), appendix A.1.2: attention on the previous state.

    e_ts = v^T tanh(W s_{t-1} + U h_s), a_t = softmax(e_t) over real source positions,
    c_t = Σ_s a_ts h_s, s_t = RNN([y_{t-1}; c_t], s_{t-1}); features [s_t; c_t; y_{t-1}].
    """

    def __init__(self, cell, embed_dim, hidden, layers, dropout, context_dim, attn_dim):
        super().__init__(cell, embed_dim + context_dim, hidden, layers, dropout)
        self.attention = AdditiveAttention(hidden, context_dim, attn_dim)
        self.feature_dim = hidden + context_dim + embed_dim

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.cell, *decoder_args(cfg), cfg.attention_dim or cfg.hidden_size)

    def init_state(self, memory, src_mask, hidden, cell, summary) -> dict:
        kp = self.attention.project_keys(memory)  # once per source, (B, S, attn_dim)
        source = Shared(memory=memory, key_proj=kp, src_mask=src_mask)
        return {**self._base_state(hidden, cell), "source": source}

    def step(self, emb, state):
        src = state["source"]
        query = group_rows(state["hidden"][:, -1], src["memory"])  # s_{t-1}, (B, k, hidden)
        ctx, w = self.attention(query, src["memory"], mask=src["src_mask"],
                                key_proj=src["key_proj"])  # fmt: skip
        ctx, w = ctx.flatten(0, 1), w.flatten(0, 1)  # (B*k, context_dim), (B*k, S)
        out, state = self._run(torch.cat([emb, ctx], -1).unsqueeze(1), state)
        return torch.cat([out[:, 0], ctx, emb], -1), state, w


class AttentionalDecoder(RecurrentDecoder):
    """Luong, Pham & Manning (2015)'s decoder over any attention on the current state.

    h_t = RNN([y_{t-1}; h̃_{t-1}], h_{t-1}) (input feeding, §3.3) or RNN(y_{t-1}, h_{t-1});
    (c_t, a_t) = attention(h_t, h̄); h̃_t = tanh(W_c [c_t; h_t]) (eq. 5); features h̃_t.

    ``make_attention()`` builds the attention module after the recurrent stack (parameters are
    created, and drawn from the RNG, in the order stack, attention, W_c); ``kind`` is
    ``"local-m"`` when the attention takes the target step as ``position``.
    """

    def __init__(self, cell, embed_dim, hidden, layers, dropout, context_dim, make_attention,
                 kind="global", input_feeding=True):  # fmt: skip
        feed = hidden if input_feeding else 0
        super().__init__(cell, embed_dim + feed, hidden, layers, dropout)
        self.kind, self.input_feeding = kind, input_feeding
        self.attention = make_attention()
        self.combine = nn.Linear(context_dim + hidden, hidden, bias=False)  # W_c
        self.feature_dim = hidden

    def init_state(self, memory, src_mask, hidden, cell, summary) -> dict:
        t0 = torch.zeros(memory.shape[0], dtype=torch.long, device=memory.device)
        source = Shared(memory=memory, key_proj=self.attention.project_keys(memory),
                        src_mask=src_mask)  # fmt: skip
        state = {**self._base_state(hidden, cell), "source": source, "t": t0}
        if self.input_feeding:
            state["feed"] = memory.new_zeros(memory.shape[0], self.hidden_size)
        return state

    def _attend(self, h: Tensor, state: dict, position: Tensor | None):
        """h (B, T, hidden_size) queries, position (B, T) (local-m) -> h̃ (B, T, hidden_size),
        weights (B, T, S)."""
        src = state["source"]
        kwargs = {"position": position} if self.kind == "local-m" else {}
        ctx, w = self.attention(h, src["memory"], mask=src["src_mask"],
                                key_proj=src["key_proj"], **kwargs)  # fmt: skip
        return torch.tanh(self.combine(torch.cat([ctx, h], -1))), w

    def forward(self, emb, state):
        if self.input_feeding:
            return super().forward(emb, state)
        out, _ = self._run(emb, state)  # the recurrence does not need attention: all at once
        steps = torch.arange(emb.shape[1], device=emb.device)
        position = (state["t"].unsqueeze(1) + steps).to(emb.dtype)  # (B, T) for local-m
        return self._attend(out, state, position)

    def step(self, emb, state):
        x = torch.cat([emb, state["feed"]], -1) if self.input_feeding else emb
        out, state = self._run(x.unsqueeze(1), state)
        memory = state["source"]["memory"]  # k hypotheses per sentence: k queries each
        h = group_rows(out[:, 0], memory)  # (B, k, hidden_size)
        position = group_rows(state["t"].to(emb.dtype), memory)  # (B, k)
        h_tilde, w = self._attend(h, state, position)
        h_tilde, w = h_tilde.flatten(0, 1), w.flatten(0, 1)
        state["t"] = state["t"] + 1
        if self.input_feeding:
            state["feed"] = h_tilde
        return h_tilde, state, w


@DECODERS.register("luong")
class LuongDecoder(AttentionalDecoder):
    """Luong, Pham & Manning (2015): attention on the current state, then h̃_t.

    h_t = RNN([y_{t-1}; h̃_{t-1}], h_{t-1}) (input feeding, §3.3) or RNN(y_{t-1}, h_{t-1});
    a_t = align(h_t, h̄_s) (dot / general / concat, global or local-m / local-p);
    h̃_t = tanh(W_c [c_t; h_t]) (eq. 5); features h̃_t.
    """

    def __init__(self, cell, embed_dim, hidden, layers, dropout, context_dim, attn_dim,
                 score="general", attention="global", window=10, input_feeding=True):  # fmt: skip
        if attention not in LUONG_ATTENTION:
            raise ValueError(f"expected luong attention in {LUONG_ATTENTION}, got {attention!r}")

        def make_attention():
            if attention == "global":
                return LuongAttention(score, hidden, context_dim, attn_dim)
            return LocalAttention(hidden, context_dim, window, attention, score, attn_dim)

        super().__init__(cell, embed_dim, hidden, layers, dropout, context_dim, make_attention,
                         attention, input_feeding)  # fmt: skip

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.cell, *decoder_args(cfg), cfg.attention_dim or cfg.hidden_size,
                   cfg.luong_score, cfg.luong_attention, cfg.local_window,
                   cfg.input_feeding)  # fmt: skip

    @classmethod
    def check_config(cls, cfg):
        if cfg.luong_score == "dot" and cfg.context_dim != cfg.hidden_size:
            raise ValueError(
                f"expected a unidirectional encoder for luong_score='dot' (keys of size "
                f"{cfg.context_dim} vs queries of size {cfg.hidden_size}), got bidirectional; "
                "use 'general'"
            )


class _TransformerDecoderLayer(nn.Module):
    """Pre-norm decoder block (Vaswani et al. 2017, §3.1; pre-norm after Xiong et al. 2020).

    x += SelfAttn(LN(x)) (causal);  x += CrossAttn(LN(x), memory);  x += FFN(LN(x)).
    """

    def __init__(self, d_model: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.cross_attn = MultiHeadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d_model, ff), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(ff, d_model))  # fmt: skip
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, memory, memory_pad, prefix: Tensor | None = None):
        """x (B, T, D); prefix: this layer's inputs at all positions up to x's (incremental
        decoding, x is the last position and no causal mask is needed)."""
        h = self.norm1(x)
        if prefix is None:
            a, _ = self.self_attn(h, h, h, need_weights=False, is_causal=True)
        else:
            kv = self.norm1(prefix)
            a, _ = self.self_attn(h, kv, kv, need_weights=False)
        x = x + self.drop(a)
        h = self.norm2(x)
        if prefix is not None:  # one position of k hypotheses per sentence: k queries each
            g = group_rows(h[:, 0], memory)  # (B, k, D)
            c, w = self.cross_attn(g, memory, memory, key_padding_mask=memory_pad)
            c, w = c.flatten(0, 1).unsqueeze(1), w.flatten(0, 1).unsqueeze(1)
        else:
            c, w = self.cross_attn(h, memory, memory, key_padding_mask=memory_pad)  # (B, T, S)
        x = x + self.drop(c)
        return x + self.drop(self.ff(self.norm3(x))), w


@DECODERS.register("transformer")
class TransformerDecoder(Seq2SeqDecoder):
    """A Transformer decoder (causal self-attention + cross-attention) over the RNN encoder.

    Incremental decoding keeps, per layer, that layer's inputs at the positions decoded so far
    (state ``prefix_<i>``, (B, t, D)): with a causal mask earlier positions never change, so a
    step runs each layer for the new position only, attending over the cached inputs. The keys
    and values are re-projected from those inputs at every step (O(t) per step, not a true
    K/V cache), which is exact and keeps the state a plain reorderable tensor per layer.

    Features: the final LayerNorm of the top layer's output (D = decoder hidden_size).
    """

    uses_encoder_state = False  # its state is the prefix, the encoder is read by attention

    def __init__(self, embed_dim, hidden, layers, dropout, context_dim, heads=4, ff_dim=None):
        super().__init__()
        self.num_layers, self.feature_dim = layers, hidden
        self.in_proj = nn.Linear(embed_dim, hidden) if embed_dim != hidden else nn.Identity()
        self.pos = SinusoidalPositionalEncoding(hidden, dropout=dropout, scale=True)
        self.memory_proj = nn.Linear(context_dim, hidden)
        self.layers = nn.ModuleList(
            _TransformerDecoderLayer(hidden, heads, ff_dim or 4 * hidden, dropout)
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(hidden)

    @classmethod
    def from_config(cls, cfg):
        return cls(*decoder_args(cfg), heads=cfg.num_heads, ff_dim=cfg.ff_dim)

    @classmethod
    def check_config(cls, cfg):
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError(
                f"expected num_heads to divide hidden_size, got {cfg.num_heads} and "
                f"{cfg.hidden_size}"
            )

    @classmethod
    def init_target_embedding(cls, embedding, cfg):
        # the Transformer decoder multiplies its input embeddings by sqrt(embed_dim) (Vaswani
        # et al. 2017, §3.4), which presumes embeddings of scale embed_dim^-1/2: with torch's
        # N(0, 1) init the residual stream starts at norm ~sqrt(embed_dim) per position, the
        # sub-layers' updates are drowned and training crawls (Multi30k val loss 4.35 after 6
        # epochs vs 2.6)
        nn.init.normal_(embedding.weight, std=cfg.embed_dim**-0.5)
        with torch.no_grad():
            embedding.weight[cfg.pad_id].zero_()

    def init_state(self, memory, src_mask, hidden, cell, summary) -> dict:
        state = {"source": Shared(memory=self.memory_proj(memory), src_mask=src_mask)}
        for i in range(self.num_layers):
            state[f"prefix_{i}"] = memory.new_zeros(memory.shape[0], 0, self.feature_dim)
        return state

    def forward(self, emb, state):
        x = self.pos(self.in_proj(emb))
        src = state["source"]
        pad = ~src["src_mask"]  # torch's key_padding_mask: True = ignore
        w = None
        for layer in self.layers:
            x, w = layer(x, src["memory"], pad)
        return self.norm(x), w

    def step(self, emb, state):
        offset = state["prefix_0"].shape[1]
        x = self.pos(self.in_proj(emb.unsqueeze(1)), offset=offset)  # (B, 1, D)
        src = state["source"]
        pad, new = ~src["src_mask"], dict(state)
        for i, layer in enumerate(self.layers):
            prefix = torch.cat([state[f"prefix_{i}"], x], 1)
            new[f"prefix_{i}"] = prefix
            x, w = layer(x, src["memory"], pad, prefix=prefix)
        return self.norm(x[:, 0]), new, w[:, 0]


@DECODERS.register("location")
class LocationDecoder(AttentionalDecoder):
    """Luong, Pham & Manning (2015), §3.1: location-based attention, then h̃_t.

    h_t = RNN([y_{t-1}; h̃_{t-1}], h_{t-1}) (input feeding) or RNN(y_{t-1}, h_{t-1});
    a_t = softmax(W_a h_t) over the real source positions (W_a: max_source_len rows,
    :class:`~seqattn.nn.attention.LocationAttention`); c_t = Σ_s a_t(s) h̄_s;
    h̃_t = tanh(W_c [c_t; h_t]); features h̃_t.
    """

    def __init__(self, cell, embed_dim, hidden, layers, dropout, context_dim,
                 max_source_len=128, input_feeding=True):  # fmt: skip
        super().__init__(cell, embed_dim, hidden, layers, dropout, context_dim,
                         lambda: LocationAttention(hidden, context_dim, max_source_len),
                         "global", input_feeding)  # fmt: skip

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.cell, *decoder_args(cfg), cfg.max_source_len, cfg.input_feeding)

"""The translator's two ONNX programs as traceable modules (see
:mod:`seqattn.pipelines.export_translator`, which exports and checks them).

:class:`ExportableEncoder` runs the encoder over a right-padded batch and returns the decoder's
initial state as flat tensors; :class:`ExportableStep` runs one decoding step on flat tensors
(the recurrent decoders through :meth:`~seqattn.models.Seq2Seq.step` itself, the Transformer
decoder with a true key/value cache).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.attention import scaled_dot_product_attention
from seqattn.functional.rows import Shared
from seqattn.models.seq2seq import Seq2Seq
from seqattn.nn.attention import LocalAttention
from seqattn.nn.embeddings import sinusoidal_encoding
from seqattn.pipelines.export import ExportRecurrent, _gather_time, _recurrence_loop

__all__ = ["EncoderRecurrent", "ExportableEncoder", "ExportableStep", "SOURCE_KEYS"]

SOURCE_KEYS = ("memory", "key_proj", "src_mask", "summary")  # constant while decoding


class EncoderRecurrent(nn.Module):
    """The encoder's seqattn GRU/LSTM (eval) over right-padded batches, with h_n and c_n.

    The outputs and ``h_n`` are :class:`~seqattn.pipelines.export.ExportRecurrent`'s
    (``torch.nn`` layers, the backward direction reversed within each length by a gather). An
    LSTM's final cell state, which the fused op does not return per length, is recomputed
    exactly from the outputs: the gates of every step follow from x_t and h_{t-1} at once, and
    ``c_t = f_t c_{t-1} + i_t g_t`` is the scripted linear recurrence of the export module.

    Example:
        >>> from seqattn.nn import LSTM
        >>> lstm = LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True).eval()
        >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> ref, (h_ref, c_ref) = lstm(x, lengths=lengths)
        >>> out, h, c = EncoderRecurrent(lstm)(x, lengths)
        >>> all(torch.allclose(a, b, atol=1e-6) for a, b in ((out, ref), (h, h_ref), (c, c_ref)))
        True
    """

    def __init__(self, layer) -> None:
        super().__init__()
        base = ExportRecurrent(layer)
        self.cells, self.is_lstm = base.cells, base.is_lstm
        self.num_layers, self.num_directions = base.num_layers, base.num_directions

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """x (B, S, I) batch-first, lengths (B,) -> output (B, S, D*P), h_n, c_n or None."""
        steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, S)
        lens = lengths.to(torch.long)[:, None]  # (B, 1)
        valid = steps < lens
        rev = torch.where(valid, lens - 1 - steps, steps)  # reverse within each length
        last = (lens - 1).clamp(min=0)
        h_fin, c_fin = [], []
        for lyr in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                cell = self.cells[lyr * self.num_directions + direction]
                inp = _gather_time(x, rev) if direction else x
                out, _ = cell(inp)  # in the direction's own time order: ends at len - 1
                h_fin.append(_gather_time(out, last)[:, 0])
                if self.is_lstm:
                    c_fin.append(_gather_time(_lstm_cells(cell, inp, out), last)[:, 0])
                out = _gather_time(out, rev) if direction else out
                outs.append(out.masked_fill(~valid[..., None], 0.0))
            x = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
        return x, torch.stack(h_fin), torch.stack(c_fin) if self.is_lstm else None


def _lstm_cells(cell: nn.LSTM, inp: Tensor, out: Tensor) -> Tensor:
    """The cell states c_t (B, T, H) of ``cell`` run from zeros over ``inp``, from its outputs."""
    h_prev = torch.cat([torch.zeros_like(out[:, :1]), out[:, :-1]], 1)
    z = F.linear(inp, cell.weight_ih_l0, getattr(cell, "bias_ih_l0", None))
    z = z + F.linear(h_prev, cell.weight_hh_l0, getattr(cell, "bias_hh_l0", None))
    i, f, g, _ = z.chunk(4, dim=-1)  # torch's gate order i, f, g, o
    return _recurrence_loop()(torch.sigmoid(f), torch.sigmoid(i) * torch.tanh(g))


def _export_copy(model: Seq2Seq) -> Seq2Seq:
    """An eval copy whose recurrent layers run the traceable reference loop and whose local
    attention computes full rows (its window width would otherwise freeze S at trace time)."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, LocalAttention):
            module.backend = "reference"
        if hasattr(module, "_resolve_backend") and hasattr(module, "backend"):
            module.backend = "reference"
    return model


class ExportableEncoder(nn.Module):
    """``forward(src (B, S), src_lengths (B,)) -> the initial state's tensors`` in
    :attr:`names` order (see the module docstring); dropout off."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = _export_copy(model)
        self.rnn = EncoderRecurrent(self.model.encoder)
        self.transformer = self.model.config.decoder == "transformer"
        self.names: list[str] = []  # filled by the first forward (the state's keys)

    def initial_state(self, src: Tensor, src_lengths: Tensor) -> dict[str, Tensor]:
        m = self.model
        memory, h, c = self.rnn(m.src_embedding(src), src_lengths)
        src_mask = torch.arange(src.shape[1], device=src.device)[None, :] < src_lengths[:, None]
        h_layers = m._per_layer(h)
        hidden = m._bridge(h_layers, m.bridge)
        cell = None if c is None else m._bridge(m._per_layer(c), m.bridge_cell, tanh=False)
        state = m.decoder.init_state(memory, src_mask, hidden, cell, h_layers[:, -1])
        flat = {k: v for k, v in state.items() if k != "source" and not k.startswith("prefix_")}
        flat.update(state.get("source", {}))
        if self.transformer:
            dec = m.decoder
            heads = dec.layers[0].self_attn.num_heads
            empty = flat["memory"][:, :0, : dec.feature_dim // heads]  # (B, 0, Dh)
            flat["t"] = src_lengths.to(torch.long) * 0
            for i in range(dec.num_layers):
                for kind in ("self_key", "self_value"):
                    flat[f"{kind}_{i}"] = empty.unsqueeze(1).expand(-1, heads, -1, -1)
        return flat

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, ...]:
        flat = self.initial_state(src, src_lengths)
        if not self.names:
            self.names = sorted(flat, key=lambda k: (k not in SOURCE_KEYS, k))
        return tuple(flat[k] for k in self.names)


class ExportableStep(nn.Module):
    """``forward(tokens (N,), *state, *source) -> (log_probs (N, V), *new_state[, attention])``.

    Args:
        model: the translator's Seq2Seq.
        state_names / source_names: the names of the state and source inputs, in order.
    """

    def __init__(self, model: Seq2Seq, state_names: list[str], source_names: list[str]) -> None:
        super().__init__()
        self.model = _export_copy(model)
        self.state_names, self.source_names = list(state_names), list(source_names)
        self.transformer = self.model.config.decoder == "transformer"
        if self.transformer:
            dec = self.model.decoder
            rows = 4 * self.model.config.max_source_len + 16
            self.register_buffer("pe", sinusoidal_encoding(rows, dec.feature_dim), False)

    def forward(self, tokens: Tensor, *inputs: Tensor) -> tuple[Tensor, ...]:
        named = dict(zip(self.state_names + self.source_names, inputs, strict=True))
        if self.transformer:
            log_probs, new, attn = self._transformer_step(tokens, named)
        else:
            state = {k: named[k] for k in self.state_names}
            if "summary" in named:
                state["summary"] = named["summary"]
            shared = {k: named[k] for k in ("memory", "key_proj", "src_mask") if k in named}
            if shared:
                state["source"] = Shared(shared)
            log_probs, new, attn = self.model.step(tokens, state)
        outs = (log_probs, *(new[k] for k in self.state_names))
        return outs if attn is None else (*outs, attn)

    def _transformer_step(self, tokens: Tensor, named: dict[str, Tensor]):
        """One Transformer decoder step with a key/value cache (TransformerDecoder.step's
        numbers: per layer pre-norm self-attention, cross-attention, feed-forward)."""
        m = self.model
        dec, t = m.decoder, named["t"]
        width = dec.feature_dim
        x = dec.in_proj(m.tgt_embedding(tokens)) * math.sqrt(width) + self.pe[t]  # (N, D)
        x = x.unsqueeze(1)  # (N, 1, D)
        pad, memory = ~named["src_mask"], named["memory"]
        new: dict[str, Tensor] = {"t": t + 1}
        w = None
        for i, layer in enumerate(dec.layers):
            mha = layer.self_attn
            heads, dh = mha.num_heads, mha.head_dim
            w_q, w_k, w_v = mha._projections()
            b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
            h = layer.norm1(x)

            def split(y: Tensor, heads=heads, dh=dh) -> Tensor:  # (N, 1, D) -> (N, H, 1, Dh)
                return y.reshape(-1, 1, heads, dh).transpose(1, 2)

            keys = torch.cat([named[f"self_key_{i}"], split(F.linear(h, w_k, b_k))], 2)
            values = torch.cat([named[f"self_value_{i}"], split(F.linear(h, w_v, b_v))], 2)
            new[f"self_key_{i}"], new[f"self_value_{i}"] = keys, values
            a = scaled_dot_product_attention(split(F.linear(h, w_q, b_q)), keys, values)
            x = x + mha.out_proj(a.transpose(1, 2).reshape(-1, 1, width))
            c, w = layer.cross_attn(layer.norm2(x), memory, memory, key_padding_mask=pad)
            x = x + c
            x = x + layer.ff(layer.norm3(x))
        feat = dec.norm(x[:, 0])
        return F.log_softmax(m._logits(feat), -1), new, w[:, 0]

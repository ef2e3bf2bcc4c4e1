"""Export a translator (a ``seqattn train translate`` directory) to ONNX: encoder + one step.

``export_translator(DIR)`` writes a folder (default ``DIR/onnx``) that :mod:`seqattn.serving`
runs with numpy and onnxruntime alone:

* ``encoder.onnx``: ``src (B, S) int64, src_lengths (B,) int64 -> the decoder's initial
  state``: the *source* tensors (constant while decoding: ``memory`` (B, S, C), ``key_proj``,
  ``src_mask`` (B, S) bool, ``summary``) and the *state* tensors (``hidden`` (B, L, hidden_size),
  ``cell`` (LSTM), ``feed`` (input feeding), ``t`` (B,) int64 the target step, the Transformer's
  self-attention key/value cache ``self_key_<i>`` / ``self_value_<i>`` (B, H, 0, Dh));
  which of them a model has depends on its decoder and is listed in ``manifest.json``;
* ``decoder_step.onnx``: ``tokens (N,) int64`` (the last emitted token of each row) and every
  state and source tensor with N rows (one per hypothesis: the runner repeats an input's source
  rows for its hypotheses) ``-> log_probs (N, V)`` (log-softmax of the logits), the new state
  (``<name>_out``, the cache one position longer) and ``attention (N, S)`` (none for the plain
  and context decoders);
* the four tokenizer and vocabulary files, copied, and ``manifest.json``: the graphs' input
  and output names and shapes, the special token ids, the decoder kind, the versions.

The recurrent decoders' step is :meth:`~seqattn.models.Seq2Seq.step` itself, traced for one
time step. The Transformer decoder's is written out here with a true key/value cache (the
PyTorch decoder re-projects its cached layer inputs every step: the same numbers, O(1) instead
of O(t) projections per step). The encoder swaps the seqattn recurrent layer for
:class:`~seqattn.pipelines.export.ExportRecurrent`'s ``torch.nn`` layers (an LSTM's final cell
state is recomputed from their outputs, see :class:`EncoderRecurrent`), and local attention
runs its full-row ("reference") backend, whose window width does not depend on S.

Every export is checked before anything is written: both graphs run on a ragged batch of
another size and length than the tracing example, for several decoding steps, and must give
PyTorch's state, log-probabilities and attention within 1e-4. ``quantize="int8"`` then
rewrites both graphs with onnxruntime's dynamic int8 quantisation (weights int8, activations
quantised on the fly; not checked against PyTorch, which it is not meant to equal).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.attention import scaled_dot_product_attention
from seqattn.functional.rows import Shared
from seqattn.io import atomic_write_text
from seqattn.models.seq2seq import Seq2Seq
from seqattn.nn.attention import LocalAttention
from seqattn.nn.embeddings import sinusoidal_encoding
from seqattn.pipelines.export import OPSET, ExportRecurrent, _gather_time, _recurrence_loop

__all__ = [
    "EncoderRecurrent",
    "ExportableEncoder",
    "ExportableStep",
    "export_translator",
    "is_translator_dir",
    "check_quantize",
    "quantize_onnx",
    "quantize_onnx_file",
    "MANIFEST_FORMAT",
]

log = logging.getLogger("seqattn.pipelines")

MANIFEST_FORMAT = "seqattn.translator-onnx/1"
ENCODER_FILE, STEP_FILE = "encoder.onnx", "decoder_step.onnx"
COPIED = ("src_tokenizer.json", "src_vocab.json", "tgt_tokenizer.json", "tgt_vocab.json")
QUANTIZE = ("int8",)
TOLERANCE = 1e-4
SOURCE_KEYS = ("memory", "key_proj", "src_mask", "summary")  # constant while decoding


def is_translator_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a translator model directory (``seqattn train translate``)."""
    from seqattn.pipelines.loading import model_kind

    try:
        return model_kind(path) == "translation"
    except (FileNotFoundError, ValueError):
        return False


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


def _onnx_bytes(module: nn.Module, example: tuple, inputs, outputs, axes) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter deprecation chatter
        torch.onnx.export(module, example, buf, dynamo=False, opset_version=OPSET,
                          input_names=inputs, output_names=outputs,
                          dynamic_axes=axes)  # fmt: skip
    return buf.getvalue()


def _axes(name: str, role: str) -> dict[int, str]:
    """The dynamic axes of a state/source tensor: rows, the source length, the cache length."""
    rows = "batch" if role == "encoder" else "rows"
    axes = {0: rows}
    if name in ("memory", "key_proj", "src_mask", "attention"):
        axes[1] = "source_len"
    if name.startswith("self_"):
        axes[2] = "past" if role != "step_out" else "past_plus_1"
    return axes


def _spec(names: list[str], arrays, role: str) -> dict[str, dict]:
    """{name: {"shape": [int or axis name], "dtype": numpy dtype name}} of example arrays."""
    out = {}
    for name, a in zip(names, arrays, strict=True):
        axes = _axes(name.removesuffix("_out"), role)
        dtype = a.numpy().dtype if isinstance(a, Tensor) else a.dtype
        out[name] = {"shape": [axes.get(d, int(n)) for d, n in enumerate(a.shape)],
                     "dtype": str(dtype)}  # fmt: skip
    return out


def _ragged_source(vocab: int, lengths: list[int], seed: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    src = torch.randint(4, max(vocab, 5), (len(lengths), steps), generator=gen)
    lens = torch.tensor(lengths)
    return src.masked_fill(torch.arange(steps)[None, :] >= lens[:, None], 0), lens


class _Graphs:
    """The two ONNX programs of a translator, their names and the check against PyTorch."""

    def __init__(self, model: Seq2Seq) -> None:
        self.model = model.eval()
        self.encoder = ExportableEncoder(model).eval()
        src, lens = _ragged_source(model.config.src_vocab, [6, 4], seed=0)
        with torch.no_grad():
            enc_out = self.encoder(src, lens)
        names = self.encoder.names
        self.source = [n for n in names if n in SOURCE_KEYS]
        self.state = [n for n in names if n not in SOURCE_KEYS]
        self.step = ExportableStep(model, self.state, self.source).eval()
        named = dict(zip(names, enc_out, strict=True))
        ordered = [named[n] for n in self.state + self.source]
        tokens = torch.full((src.shape[0],), 2, dtype=torch.long)
        with torch.no_grad():
            outs = self.step(tokens, *ordered)
        if self.step.transformer:  # trace the cache at a non-zero length (a second step)
            grown = dict(zip(self.state, outs[1 : 1 + len(self.state)], strict=True))
            ordered = [grown.get(n, named[n]) for n in self.state + self.source]
            with torch.no_grad():
                outs = self.step(tokens, *ordered)
        self.has_attention = len(outs) == 2 + len(self.state)
        self.step_inputs = ["tokens", *self.state, *self.source]
        self.step_outputs = ["log_probs", *(f"{n}_out" for n in self.state)]
        self.step_outputs += ["attention"] if self.has_attention else []
        self.enc_example, self.enc_out = (src, lens), enc_out
        self.step_example, self.step_out = (tokens, *ordered), outs

    def export(self) -> tuple[bytes, bytes]:
        names = self.encoder.names
        enc_axes = {"src": {0: "batch", 1: "source_len"}, "src_lengths": {0: "batch"}}
        enc_axes.update({n: _axes(n, "encoder") for n in names})
        enc = _onnx_bytes(self.encoder, self.enc_example, ["src", "src_lengths"], names, enc_axes)
        step_axes = {"tokens": {0: "rows"}, "log_probs": {0: "rows"}}
        step_axes.update({n: _axes(n, "step") for n in self.state + self.source})
        step_axes.update({f"{n}_out": _axes(n, "step_out") for n in self.state})
        if self.has_attention:
            step_axes["attention"] = _axes("attention", "step_out")
        step = _onnx_bytes(self.step, self.step_example, self.step_inputs, self.step_outputs,
                           step_axes)  # fmt: skip
        return enc, step

    def signatures(self) -> dict[str, dict]:
        names = self.encoder.names
        return {
            "encoder": {"inputs": _spec(["src", "src_lengths"], self.enc_example, "encoder"),
                        "outputs": _spec(names, self.enc_out, "encoder")},
            "decoder_step": {"inputs": _spec(self.step_inputs, self.step_example, "step"),
                             "outputs": _spec(self.step_outputs, self.step_out, "step_out")},
        }  # fmt: skip

    def check(self, enc: bytes, step: bytes, bos: int, steps: int = 5) -> float | None:
        """The largest difference to PyTorch over a ragged batch of a new size and length:
        the encoder's state, then ``steps`` greedy steps (log-probs, attention, state)."""
        try:
            import onnxruntime as ort
        except ImportError:
            log.warning("onnxruntime is not installed: the ONNX export was not checked")
            return None
        options = ort.SessionOptions()
        options.log_severity_level = 4
        run_enc, run_step = (ort.InferenceSession(b, options, providers=["CPUExecutionProvider"])
                             for b in (enc, step))  # fmt: skip
        src, lens = _ragged_source(self.model.config.src_vocab, [3, 9, 1, 7, 5], seed=1)
        got = dict(zip(self.encoder.names, run_enc.run(None, {"src": src.numpy(),
                                                               "src_lengths": lens.numpy()}),
                       strict=True))  # fmt: skip
        worst = 0.0
        with torch.no_grad():
            ref_state = self.model.decode_state(src, lens)
            ref = {k: v for k, v in ref_state.items() if k != "source" and "prefix" not in k}
            ref.update(ref_state.get("source", {}))
            for k, v in ref.items():
                worst = max(worst, _diff(v, got[k]))
            tokens = torch.full((src.shape[0],), bos, dtype=torch.long)
            for _ in range(steps):
                lp, ref_state, attn = self.model.step(tokens, ref_state)
                feed = {"tokens": tokens.numpy(), **{n: got[n] for n in self.state + self.source}}
                outs = dict(zip(self.step_outputs, run_step.run(None, feed), strict=True))
                worst = max(worst, _diff(lp, outs["log_probs"]))
                if attn is not None:
                    worst = max(worst, _diff(attn, outs["attention"]))
                for n in self.state:
                    got[n] = outs[f"{n}_out"]
                    if n in ref_state:
                        worst = max(worst, _diff(ref_state[n], got[n]))
                tokens = lp.argmax(-1)
        return worst


def _diff(expected: Tensor, got) -> float:
    got = torch.from_numpy(got)
    if tuple(got.shape) != tuple(expected.shape):
        return math.inf
    if expected.dtype == torch.bool or not expected.is_floating_point():
        return 0.0 if bool((got == expected).all()) else math.inf
    return float((got.double() - expected.double()).abs().max()) if got.numel() else 0.0


def quantize_onnx(blob: bytes) -> bytes:
    """``blob`` after onnxruntime's dynamic int8 quantisation (``quantize_dynamic``, int8
    weights; MatMul/Gemm/Gather... quantised, activations quantised at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        src.write_bytes(blob)
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        return dst.read_bytes()


def check_quantize(format: str, quantize: str | None) -> None:
    """ValueError unless ``quantize`` is None, or a known quantisation of an ONNX export."""
    if quantize is not None and (quantize not in QUANTIZE or format != "onnx"):
        raise ValueError(f"expected quantize None or one of {QUANTIZE} with format 'onnx', got "
                         f"{quantize!r} with format {format!r}")  # fmt: skip


def quantize_onnx_file(path: str | os.PathLike, quantize: str = "int8") -> Path:
    """Write ``<name>.int8.onnx`` beside the ONNX file ``path`` (e.g. an exported
    classifier), dynamically quantised (:func:`quantize_onnx`); returns its path."""
    from seqattn.io import atomic_write

    check_quantize("onnx", quantize)
    path = Path(path)
    blob = quantize_onnx(path.read_bytes())
    out = path.with_name(f"{path.name.removesuffix('.onnx')}.{quantize}.onnx")
    atomic_write(out, lambda f: f.write(blob))
    return out


def _versions() -> dict[str, str]:
    import onnx

    import seqattn

    out = {"seqattn": seqattn.__version__, "torch": torch.__version__, "onnx": onnx.__version__,
           "opset": str(OPSET)}  # fmt: skip
    try:
        import onnxruntime

        out["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return out


def export_translator(
    model_dir: str | os.PathLike,
    format: str = "onnx",
    out_dir: str | os.PathLike | None = None,
    quantize: str | None = None,
) -> Path:
    """Export a translator directory to ONNX (see the module docstring for the programs).

    Args:
        model_dir: a directory written by ``seqattn train translate``.
        format: ``onnx`` (the only format for translators).
        out_dir: the folder to write (default ``model_dir/onnx``, with ``quantize``
            ``model_dir/onnx-int8``); its files are written atomically, after the check.
        quantize: None, or ``"int8"``: dynamic int8 quantisation of both graphs.

    Returns:
        the folder, holding ``encoder.onnx``, ``decoder_step.onnx``, the tokenizer and
        vocabulary files and ``manifest.json``.

    Raises:
        ValueError: another format or quantisation, a missing ``onnx`` package, or graphs whose
            outputs differ from PyTorch's (nothing is written).
        FileNotFoundError: no model directory.
    """
    from seqattn.io import atomic_write
    from seqattn.pipelines.translation import TranslationModel

    if format != "onnx":
        raise ValueError(f"expected format 'onnx' for a translator, got {format!r}")
    check_quantize(format, quantize)
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ValueError("expected the onnx package for ONNX export (pip install "
                         "'seqattn[export]'), got none installed") from None  # fmt: skip
    bundle = TranslationModel.load(model_dir)
    default = "onnx" if quantize is None else f"onnx-{quantize}"
    out = Path(out_dir) if out_dir is not None else Path(model_dir) / default
    graphs = _Graphs(bundle.model)
    try:
        enc, step = graphs.export()
    except Exception as err:  # the tracer and exporter raise RuntimeError, TypeError, ...
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ValueError(f"expected the ONNX export of {model_dir} to trace, got an error "
                         f"({first[:300]}); nothing was written") from err  # fmt: skip
    tv, sv = bundle.tgt.vocab, bundle.src.vocab
    worst = graphs.check(enc, step, tv.bos_id)
    if worst is not None and not worst <= TOLERANCE:
        raise ValueError(
            f"expected the ONNX export of {model_dir} to give PyTorch's states, log-probs and "
            f"attention on a ragged batch of a new length (within {TOLERANCE}), got a "
            f"difference of {worst:.3g}; nothing was written"
        )
    if quantize == "int8":
        enc, step = quantize_onnx(enc), quantize_onnx(step)
    cfg = bundle.model.config
    manifest = {
        "format": MANIFEST_FORMAT, "decoder": cfg.decoder, "cell": cfg.cell,
        "model": cfg.to_dict(), "files": {"encoder": ENCODER_FILE, "decoder_step": STEP_FILE},
        "tokenizers": {"src": "src_tokenizer.json", "tgt": "tgt_tokenizer.json"},
        "vocabularies": {"src": "src_vocab.json", "tgt": "tgt_vocab.json"},
        "subword": bundle.config.subword, "max_length": bundle.config.max_length,
        "special_ids": {"pad": tv.pad_id, "unk": tv.unk_id, "bos": tv.bos_id, "eos": tv.eos_id,
                        "src_pad": sv.pad_id, "src_unk": sv.unk_id},
        "state": graphs.state, "source": graphs.source, "attention": graphs.has_attention,
        **graphs.signatures(), "quantize": quantize, "checked_max_diff": worst,
        "versions": _versions(),
    }  # fmt: skip
    if graphs.step.transformer:
        manifest["max_target_positions"] = int(graphs.step.pe.shape[0])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / ENCODER_FILE, lambda f: f.write(enc))
    atomic_write(out / STEP_FILE, lambda f: f.write(step))
    for name in COPIED:
        data = (Path(model_dir) / name).read_bytes()
        atomic_write(out / name, lambda f, data=data: f.write(data))
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    log.info("exported %s to %s (largest difference to PyTorch %s)", model_dir, out, worst)
    return out

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

import io
import json
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from seqattn.io import atomic_write_text
from seqattn.models.seq2seq import Seq2Seq
from seqattn.pipelines.export import OPSET
from seqattn.pipelines.export_translator_graphs import (
    SOURCE_KEYS,
    EncoderRecurrent,
    ExportableEncoder,
    ExportableStep,
)

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


def is_translator_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a translator model directory (``seqattn train translate``)."""
    from seqattn.pipelines.loading import model_kind

    try:
        return model_kind(path) == "translation"
    except (FileNotFoundError, ValueError):
        return False


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

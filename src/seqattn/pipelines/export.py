"""Export a trained text classifier to TorchScript or ONNX for variable-length inputs.

The exported program is ``forward(tokens (B, T) int64, mask (B, T) bool) -> probs (B, C)``:
``mask`` is True at real tokens and right-padded (its row sums are the lengths), B and T are
free (dynamic axes in ONNX), and ``probs`` are the softmax class probabilities in the order of
the model directory's labels. Tokenise with the directory's ``tokenizer.json`` and map tokens to
ids with ``vocab.json`` (as :class:`~seqattn.pipelines.ClassifierBundle` does).

Why an adapter is needed. Variable lengths are handled with masks, not ``PackedSequence``
(which neither traces nor exports). The classifier's transformer and TCN encoders are plain
tensor code and trace as they are. The seqattn recurrent layers are not: they run the textbook
Python loop over time steps and branch on the lengths' values, so a trace would unroll the loop
for the example's length and freeze its padding pattern. For export, each recurrent layer is
therefore replaced by :class:`ExportRecurrent`: the same weights in one ``torch.nn.RNN/LSTM/GRU``
per layer and direction (one fused op whose time dimension stays dynamic; ONNX has native
RNN/LSTM/GRU ops), run over the whole padded batch. That is exact for the forward direction,
because a step never sees the padding after it; the backward direction reverses each sequence
within its own length by a gather (index computed from the mask with tensor ops), runs
forward, and gathers back, so it too starts at each sequence's own last token. The minGRU and
minLSTM encoders (:mod:`seqattn.nn.mingru`) have no torch.nn twin; :class:`ExportMinRecurrent`
keeps their gate maths as traced tensor code and runs the element-wise recurrence
``h_t = a_t h_{t-1} + b_t`` as a TorchScript-scripted loop, so its length stays dynamic in
TorchScript and becomes an ONNX ``Loop``.

Every export is checked before it is written: the exported program is run on a ragged batch
of another batch size and length than the tracing example and must give PyTorch's
probabilities (within 1e-4); otherwise nothing is written and a ValueError says so. ONNX export
uses torch's TorchScript-based exporter (``dynamo=False``, opset 17) and needs the ``onnx``
package; the check needs ``onnxruntime`` (``pip install 'seqattn[export]'``).
"""

from __future__ import annotations

import copy
import functools
import io
import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from seqattn.io import atomic_write
from seqattn.models import SequenceClassifier
from seqattn.nn.mingru import _MinRNNBase
from seqattn.nn.recurrent.layers import RNNBase
from seqattn.pipelines.classification import ClassifierBundle

__all__ = [
    "EXPORT_FORMATS",
    "ExportMinRecurrent",
    "ExportRecurrent",
    "ExportableClassifier",
    "export_classifier",
]

log = logging.getLogger("seqattn.pipelines")

EXPORT_FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
OPSET = 17
TOLERANCE = 1e-4


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """x[b, index[b, t]] for (B, T, F) x and (B, T) index."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class ExportRecurrent(nn.Module):
    """A seqattn ``RNN``/``LSTM``/``GRU`` (eval mode) rebuilt from ``torch.nn`` layers for export.

    Same weights, same outputs on right-padded batches with ``lengths=``: zeros past each
    length, ``h_n`` taken at each sequence's own last step (the backward direction at step 0).
    ``c_n`` of an LSTM is not computed (zeros): the classifier reads ``h_n`` only. No dropout
    between layers (export is for inference).

    Args:
        layer: the seqattn recurrent layer to copy.

    Example:
        >>> from seqattn.nn import LSTM
        >>> lstm = LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True).eval()
        >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> ref, (h_ref, _) = lstm(x, lengths=lengths)
        >>> out, (h, _) = ExportRecurrent(lstm)(x, lengths=lengths)
        >>> torch.allclose(out, ref, atol=1e-6), torch.allclose(h, h_ref, atol=1e-6)
        (True, True)
    """

    def __init__(self, layer: RNNBase) -> None:
        super().__init__()
        if not isinstance(layer, RNNBase):
            raise TypeError(f"expected a seqattn RNN, LSTM or GRU, got {type(layer).__name__}")
        mode = layer.mode
        self.is_lstm = mode == "LSTM"
        self.batch_first = layer.batch_first
        self.num_layers = layer.num_layers
        self.num_directions = 2 if layer.bidirectional else 1
        real_hidden = layer.proj_size or layer.hidden_size
        self.cells = nn.ModuleList()
        for lyr in range(layer.num_layers):
            size = layer.input_size if lyr == 0 else real_hidden * self.num_directions
            for direction in range(self.num_directions):
                if mode == "LSTM":
                    cell = nn.LSTM(size, layer.hidden_size, bias=layer.bias, batch_first=True,
                                   proj_size=layer.proj_size)  # fmt: skip
                elif mode == "GRU":
                    cell = nn.GRU(size, layer.hidden_size, bias=layer.bias, batch_first=True)
                else:
                    cell = nn.RNN(size, layer.hidden_size, bias=layer.bias, batch_first=True,
                                  nonlinearity=layer.nonlinearity)  # fmt: skip
                sfx = f"_l{lyr}" + ("_reverse" if direction == 1 else "")
                state = {}
                for name in cell.state_dict():
                    ours = getattr(layer, name.removesuffix("_l0") + sfx, None)
                    if ours is None and name.startswith("bias_hh") and layer.single_bias:
                        ours = torch.zeros_like(cell.state_dict()[name])
                    state[name] = ours.detach().clone()
                cell.load_state_dict(state, strict=True)
                self.cells.append(cell)

    def forward(
        self, input: Tensor, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """Args: input (B, T, I) (batch_first) or (T, B, I); lengths (B,) int64 in [1, T].

        Returns ``(output, h_n)`` or, for an LSTM, ``(output, (h_n, zeros))``."""
        if hx is not None:
            raise ValueError("ExportRecurrent: expected hx=None (export starts from zeros)")
        x = input if self.batch_first else input.transpose(0, 1)  # (B, T, I)
        steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
        if lengths is None:
            lengths = torch.full_like(x[:, 0, 0], x.shape[1], dtype=torch.long)
        lens = lengths.to(device=x.device, dtype=torch.long)[:, None]  # (B, 1)
        valid = steps < lens  # (B, T)
        rev = torch.where(valid, lens - 1 - steps, steps)  # (B, T): reverse within each length
        last = (lens - 1).clamp(min=0)  # (B, 1)
        finals = []
        for lyr in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                cell = self.cells[lyr * self.num_directions + direction]
                if direction == 0:
                    out, _ = cell(x)  # (B, T, P): step t never sees the padding after it
                    finals.append(_gather_time(out, last)[:, 0])  # (B, P)
                else:
                    out, _ = cell(_gather_time(x, rev))
                    out = _gather_time(out, rev)
                    finals.append(out[:, 0])  # the backward direction ends at step 0
                outs.append(out.masked_fill(~valid[..., None], 0.0))
            x = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
        h_n = torch.stack(finals)  # (L*D, B, P)
        output = x if self.batch_first else x.transpose(0, 1)
        return (output, (h_n, torch.zeros_like(h_n))) if self.is_lstm else (output, h_n)


@functools.cache
def _recurrence_loop():
    """h_t = a_t * h_{t-1} + b_t from h_0 = 0 over (B, T, H), scripted once on first use."""

    def loop(a: Tensor, b: Tensor) -> Tensor:
        h = torch.zeros_like(b[:, 0])
        states: list[Tensor] = []
        for t in range(a.shape[1]):  # a real loop: T stays dynamic (an ONNX Loop)
            h = a[:, t] * h + b[:, t]
            states.append(h)
        return torch.stack(states, 1)

    return torch.jit.script(loop)


class ExportMinRecurrent(nn.Module):
    """A seqattn ``MinGRU``/``MinLSTM`` (eval mode) in a traceable form for export.

    The input projection and the gate maths (the layer's own ``_coefficients``) trace as they
    are; padded steps get ``a = 1, b = 0`` (the state carries over, as in the layer); the
    backward direction reverses each sequence within its own length by a gather; the
    recurrence runs in :func:`_recurrence_loop`, a scripted loop over the dynamic time axis.
    Same outputs as the layer on right-padded batches with ``lengths=``: zeros past each
    length, ``h_n`` after each sequence's last step (the backward direction: after step 0).

    Args:
        layer: the seqattn minGRU/minLSTM layer to copy.

    Example:
        >>> from seqattn.nn import MinGRU
        >>> rnn = MinGRU(3, 4, num_layers=2, bidirectional=True).eval()
        >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> ref, h_ref = rnn(x, lengths=lengths)
        >>> out, h = ExportMinRecurrent(rnn)(x, lengths=lengths)
        >>> torch.allclose(out, ref, atol=1e-6), torch.allclose(h, h_ref, atol=1e-6)
        (True, True)
    """

    def __init__(self, layer: _MinRNNBase) -> None:
        super().__init__()
        if not isinstance(layer, _MinRNNBase):
            raise TypeError(f"expected a seqattn MinGRU or MinLSTM, got {type(layer).__name__}")
        self.layer = copy.deepcopy(layer).eval()
        self.num_directions = 2 if layer.bidirectional else 1

    def forward(
        self, input: Tensor, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Args: input (B, T, I) (batch_first) or (T, B, I); lengths (B,) int64 in [1, T]."""
        if hx is not None:
            raise ValueError("ExportMinRecurrent: expected hx=None (export starts from zeros)")
        layer, loop = self.layer, _recurrence_loop()
        x = input if layer.batch_first else input.transpose(0, 1)  # (B, T, I)
        steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
        if lengths is None:
            lengths = torch.full_like(x[:, 0, 0], x.shape[1], dtype=torch.long)
        lens = lengths.to(device=x.device, dtype=torch.long)[:, None]  # (B, 1)
        valid = (steps < lens)[..., None]  # (B, T, 1)
        rev = torch.where(steps < lens, lens - 1 - steps, steps)  # reverse within each length
        finals = []
        for lyr in range(layer.num_layers):
            outs = []
            for direction in range(self.num_directions):
                sfx = f"_l{lyr}" + ("_reverse" if direction else "")
                proj = nn.functional.linear(x, getattr(layer, "weight_ih" + sfx),
                                            getattr(layer, "bias_ih" + sfx))  # fmt: skip
                a, b = layer._coefficients(proj)  # (B, T, H) each
                a = torch.where(valid, a, torch.ones_like(a))
                b = torch.where(valid, b, torch.zeros_like(b))
                if direction:
                    a, b = _gather_time(a, rev), _gather_time(b, rev)
                h = loop(a, b)
                finals.append(h[:, -1])  # a = 1 on padding: the state at T is the last one
                if direction:
                    h = _gather_time(h, rev)
                outs.append(h.masked_fill(~valid, 0.0))
            x = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
        output = x if layer.batch_first else x.transpose(0, 1)
        return output, torch.stack(finals)


class ExportableClassifier(nn.Module):
    """``forward(tokens (B, T), mask (B, T) bool) -> probs (B, C)`` around a classifier.

    A copy of the model, in eval mode, with every recurrent layer replaced by
    :class:`ExportRecurrent` (minGRU/minLSTM: :class:`ExportMinRecurrent`). Tokens beyond the
    model's ``max_length`` are dropped (as in
    :meth:`~seqattn.pipelines.ClassifierBundle.predict`); for the ``concat`` head the batch is
    padded to exactly ``max_length`` by tensor ops, so its fixed size holds for any T.

    Example:
        >>> from seqattn.models import ClassifierConfig
        >>> model = SequenceClassifier(ClassifierConfig(20, embed_dim=4, hidden_size=4)).eval()
        >>> tokens, lengths = torch.randint(1, 20, (2, 6)), torch.tensor([6, 3])
        >>> mask = torch.arange(6)[None, :] < lengths[:, None]
        >>> probs = ExportableClassifier(model)(tokens, mask)
        >>> torch.allclose(probs, model(tokens, lengths).logits.softmax(-1), atol=1e-6)
        True
    """

    def __init__(self, model: SequenceClassifier, multi_label: bool = False) -> None:
        super().__init__()
        self.multi_label = multi_label  # probs: one sigmoid per label instead of the softmax
        if not isinstance(model, SequenceClassifier):
            raise TypeError(f"expected a SequenceClassifier, got {type(model).__name__}")
        model = copy.deepcopy(model).eval()
        replaced = 0
        for name, module in list(model.named_modules()):
            if isinstance(module, RNNBase | _MinRNNBase):
                adapter = ExportRecurrent if isinstance(module, RNNBase) else ExportMinRecurrent
                parent_name, _, attr = name.rpartition(".")
                setattr(model.get_submodule(parent_name), attr, adapter(module))
                replaced += 1
        encoder = model.config.encoder
        if encoder not in ("transformer", "tcn") and not replaced:
            raise ValueError(
                f"expected encoder {encoder!r} to hold a seqattn RNN/LSTM/GRU/MinGRU/MinLSTM "
                f"(the recurrent layers are swapped for traceable ones to export), got none; "
                f"exporting it needs an export adapter in seqattn.pipelines.export"
            )
        self.model = model
        self.max_length = model.config.max_length
        self.pad_to_max = model.config.head == "concat"

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        n = self.max_length
        if self.pad_to_max:  # always exactly N steps: the concat head's size is fixed
            tokens = torch.cat([tokens, torch.zeros_like(tokens[:, :1]).expand(-1, n)], 1)
            mask = torch.cat([mask, torch.zeros_like(mask[:, :1]).expand(-1, n)], 1)
        tokens, mask = tokens[:, :n], mask[:, :n]
        lengths = mask.to(torch.long).sum(dim=1)  # (B,)
        logits = self.model(tokens, lengths).logits
        return logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)  # (B, C)


def _ragged(vocab_size: int, lengths: list[int], seed: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    tokens = torch.randint(2, max(vocab_size, 3), (len(lengths), steps), generator=gen)
    mask = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    return tokens.masked_fill(~mask, 0), mask


def _export_bytes(wrapper: ExportableClassifier, fmt: str, example, meta: dict) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter deprecation chatter
        if fmt == "torchscript":
            traced = torch.jit.trace(wrapper, example, check_trace=False)
            torch.jit.save(traced, buf, _extra_files={"seqattn.json": json.dumps(meta)})
            return buf.getvalue()
        try:
            import onnx
        except ImportError:
            raise ValueError(
                "expected the onnx package for ONNX export (pip install 'seqattn[export]'), "
                "got none installed"
            ) from None
        torch.onnx.export(
            wrapper, example, buf, dynamo=False, opset_version=OPSET,
            input_names=["tokens", "mask"], output_names=["probs"],
            dynamic_axes={"tokens": {0: "batch", 1: "time"}, "mask": {0: "batch", 1: "time"},
                          "probs": {0: "batch"}},
        )  # fmt: skip
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    return proto.SerializeToString()


def _run_exported(blob: bytes, fmt: str, tokens: Tensor, mask: Tensor) -> Tensor | None:
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.jit.load(io.BytesIO(blob))
            with torch.no_grad():
                return program(tokens, mask)
    try:
        import onnxruntime as ort
    except ImportError:
        log.warning("onnxruntime is not installed: the ONNX export was not checked")
        return None
    options = ort.SessionOptions()
    options.log_severity_level = 4  # errors come back as exceptions; no console output
    session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
    (probs,) = session.run(["probs"], {"tokens": tokens.numpy(), "mask": mask.numpy()})
    return torch.from_numpy(probs)


def export_classifier(
    model_dir: str | os.PathLike, format: str = "onnx", out_path: str | os.PathLike | None = None
) -> Path:
    """Export a model directory's classifier (see the module docstring for the program).

    Args:
        model_dir: a directory written by ``seqattn train classify``.
        format: ``onnx`` or ``torchscript``.
        out_path: the file to write (default ``model_dir/model.onnx`` or
            ``model_dir/model.torchscript.pt``); written atomically, after the check.

    Returns:
        the written path. The labels (class order), the input/output names and the model
        format are stored in the file (ONNX metadata / TorchScript extra file ``seqattn.json``).

    Raises:
        ValueError: an unknown format, a missing ``onnx`` package, or an export whose outputs
            differ from PyTorch's on a ragged batch of an unseen length (nothing is written).
        FileNotFoundError: no model directory (see :meth:`ClassifierBundle.load`).

    Example:
        >>> export_classifier("no/dir", "onnx")
        Traceback (most recent call last):
        ...
        FileNotFoundError: expected a text-classifier model directory, got no directory at no/dir
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"expected format in {EXPORT_FORMATS}, got {format!r}")
    bundle = ClassifierBundle.load(model_dir)
    out = Path(out_path) if out_path is not None else Path(model_dir) / f"model{SUFFIX[format]}"
    wrapper = ExportableClassifier(bundle.model, bundle.multi_label).eval()
    vocab_size = bundle.model.config.vocab_size
    example = _ragged(vocab_size, [5, 3], seed=0)
    meta = {
        "format": "seqattn.text-classifier-export/1",
        "labels": bundle.labels,
        "inputs": {"tokens": "(B, T) int64 vocabulary ids, 0 = <pad>",
                   "mask": "(B, T) bool, True = real token, right-padded"},
        "outputs": {"probs": "(B, C) float32 class probabilities, in the order of labels"},
        "max_length": bundle.max_length,
    }  # fmt: skip
    if bundle.multi_label:  # each label's own sigmoid, predicted at its threshold
        meta["outputs"]["probs"] = "(B, C) float32 per-label sigmoid probabilities"
        meta["multi_label"] = {"label_sep": bundle.label_sep, "thresholds": bundle.thresholds}
    try:
        blob = _export_bytes(wrapper, format, example, meta)
    except Exception as err:  # the tracer/exporter raise RuntimeError, TypeError, ...
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"expected the {format} export of {model_dir} to trace, got an error "
            f"({first[:300]}); nothing was written (the {bundle.model.config.encoder!r} encoder "
            f"ran code the exporter cannot follow)"
        ) from err
    tokens, mask = _ragged(vocab_size, [9, 2, 7, 1], seed=1)  # unseen batch size and length
    with torch.no_grad():
        expected = bundle.model(tokens, mask.sum(1)).logits
        expected = expected.sigmoid() if bundle.multi_label else expected.softmax(-1)
    try:
        got = _run_exported(blob, format, tokens, mask)
    except Exception as err:  # TorchScript and onnxruntime raise their own error types
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"expected the {format} export of {model_dir} to run on a ragged batch of a new "
            f"length, got an error ({first[:300]}); nothing was written (the "
            f"{bundle.model.config.encoder!r} encoder has shape-dependent Python code that "
            f"tracing freezes)"
        ) from None
    if got is not None:
        diff = float((got.double() - expected.double()).abs().max())
        if not diff <= TOLERANCE:
            raise ValueError(
                f"expected the {format} export of {model_dir} to give PyTorch's probabilities "
                f"on a ragged batch of a new length (within {TOLERANCE}), got a difference of "
                f"{diff:.3g}; nothing was written (the {bundle.model.config.encoder!r} encoder "
                f"has shape-dependent Python code that tracing freezes)"
            )
    atomic_write(out, lambda f: f.write(blob))
    log.info("exported %s to %s", model_dir, out)
    return out

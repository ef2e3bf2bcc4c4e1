"""Export the modern recurrent layers through their step form: one step as an ONNX or
TorchScript graph, state in and state out, and a numpy loop that runs it over a ragged batch.

The layers of :mod:`seqattn.nn` that carry a state (``Mamba``, ``MLSTM``, ``SLSTM``,
``DeltaNet``, ``GatedLinearAttention``, ``CausalLinearAttention``, ``SSD``) have chunked and
parallel forms made of Python loops over chunks and data-dependent shapes, which do not
export; their recurrent form does, one step at a time (as the translators' decoder step and
:class:`~seqattn.pipelines.export.ExportMinRecurrent` do). :func:`export_step` writes

``step(x_t (B, D), length (B,) int64, *state) -> (y_t (B, D), *new_state)``

where ``length`` is 1 for a row with a real token at this step and 0 for a padded one (the
layer's own ``lengths=`` masking: the state carries over and the output is zero). The state
is the layer's ``init_state`` tuple, flattened to ``state_0``, ``state_1``, ... (the names,
shapes and dtypes in the file's metadata ``seqattn``). :func:`run_steps` feeds a right-padded
(B, T, D) batch with ``lengths`` step by step through an onnxruntime session and returns what
the layer's ``forward(x, lengths=lengths)`` returns: outputs (zero past each length) and the
final state of every row.

Example:
    >>> import torch
    >>> from seqattn.nn import DeltaNet
    >>> layer = DeltaNet(8, num_heads=2).eval()
    >>> path = export_step(layer, "delta_step.onnx")  # doctest: +SKIP
    >>> y, state = run_steps(path, torch.randn(3, 5, 8).numpy(), [5, 2, 4])  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seqattn.io import atomic_write

__all__ = ["StepGraph", "export_step", "run_steps"]

OPSET = 17


def _flat(state: Any) -> tuple[Tensor, ...]:
    """A layer's state as a flat tuple of tensors (a tensor, or a tuple of them)."""
    if isinstance(state, Tensor):
        return (state,)
    if isinstance(state, tuple | list) and all(isinstance(t, Tensor) for t in state):
        return tuple(state)
    raise TypeError(f"expected a state of tensors or a tuple of tensors, got {type(state)}")


class StepGraph(nn.Module):
    """One step of a stateful seqattn layer, with a flat state, for tracing.

    Args:
        layer: a layer with ``init_state(batch)`` and ``forward(x, state, lengths[, mode])``.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        if not (hasattr(layer, "init_state") and hasattr(layer, "forward")):
            raise TypeError(f"expected a seqattn layer with init_state and a state-taking "
                            f"forward, got {type(layer).__name__}")  # fmt: skip
        params = inspect.signature(layer.forward).parameters
        if "lengths" not in params:
            raise TypeError(f"expected a forward(x, state, lengths) in {type(layer).__name__}, "
                            f"got forward{inspect.signature(layer.forward)}")  # fmt: skip
        self.layer = layer.eval()
        self.kwargs = {"mode": "sequential"} if "mode" in params else {}
        self.single = isinstance(layer.init_state(1), Tensor)

    def forward(self, x_t: Tensor, length: Tensor, *state: Tensor):
        carried = state[0] if self.single else tuple(state)
        y, new = self.layer(x_t[:, None], carried, lengths=length, **self.kwargs)
        return (y[:, 0], *_flat(new))


def _example(layer: nn.Module, batch: int) -> tuple[Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    dim = getattr(layer, "embed_dim", None) or getattr(layer, "input_size", None)
    if dim is None:
        raise TypeError(f"expected an embed_dim or input_size on {type(layer).__name__}")
    dtype = next(layer.parameters()).dtype
    x = torch.randn(batch, dim, generator=gen, dtype=dtype)
    state = _flat(layer.init_state(batch, dtype=dtype))
    return (x, torch.tensor([1] + [0] * (batch - 1)), *state)


def _fill(t: Tensor) -> float:
    """The one value an initial state tensor holds (the numpy runner starts from it)."""
    first = t.flatten()[0]
    if not bool((t == first).all()):
        raise ValueError(f"expected an init_state of one constant value, got {t.unique()[:4]}")
    return float(first)


def export_step(
    layer: nn.Module, path: str | os.PathLike, format: str = "onnx", check: bool = True
) -> Path:
    """Write ``layer``'s step graph (see the module docstring) to ``path``, atomically.

    Args:
        layer: a stateful seqattn layer (in eval mode; dropout is off in the graph).
        path: the file (``.onnx``, or a TorchScript file for ``format="torchscript"``).
        format: ``onnx`` or ``torchscript``.
        check: run the written graph over a ragged batch of another batch size and compare it
            with the layer's ``forward(x, lengths=)`` (outputs and final state, 1e-4); a
            mismatch raises ValueError and nothing is written.

    Returns:
        the path written.
    """
    if format not in ("onnx", "torchscript"):
        raise ValueError(f"expected format 'onnx' or 'torchscript', got {format!r}")
    graph = StepGraph(layer)
    example = _example(layer, 2)
    names = [f"state_{i}" for i in range(len(example) - 2)]
    meta = {"format": "seqattn.step-export/1", "layer": type(layer).__name__,
            "inputs": ["x_t", "length", *names], "outputs": ["y_t", *[f"{n}_out" for n in names]],
            "state": [{"name": n, "shape": list(t.shape[1:]), "dtype": str(t.dtype),
                       "fill": _fill(t)}
                      for n, t in zip(names, example[2:], strict=True)]}  # fmt: skip
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer chatter about Python values in the checks
        if format == "torchscript":
            traced = torch.jit.trace(graph, example, check_trace=False)
            torch.jit.save(traced, buf, _extra_files={"seqattn.json": json.dumps(meta)})
            blob = buf.getvalue()
        else:
            import onnx

            axes = {n: {0: "batch"} for n in [*meta["inputs"], *meta["outputs"]]}
            torch.onnx.export(graph, example, buf, dynamo=False, opset_version=OPSET,
                              input_names=meta["inputs"], output_names=meta["outputs"],
                              dynamic_axes=axes)  # fmt: skip
            proto = onnx.load_from_string(buf.getvalue())
            entry = proto.metadata_props.add()
            entry.key, entry.value = "seqattn", json.dumps(meta)
            blob = proto.SerializeToString()
    if check:
        _check(layer, blob, format)
    return atomic_write(path, lambda f: f.write(blob))


def _check(layer: nn.Module, blob: bytes, format: str) -> None:
    gen = torch.Generator().manual_seed(1)
    dim = _example(layer, 1)[0].shape[-1]
    dtype = next(layer.parameters()).dtype
    x, lengths = torch.randn(3, 6, dim, generator=gen, dtype=dtype), [6, 2, 4]
    with torch.no_grad():
        want_y, want_state = layer(x, None, lengths=torch.tensor(lengths))
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.jit.load(io.BytesIO(blob))

        def step(*args):
            with torch.no_grad():
                return [t.numpy() for t in program(*map(torch.from_numpy, args))]

        init = [t.numpy() for t in _flat(layer.init_state(3, dtype=dtype))]
        got_y, got_state = _loop(step, x.numpy(), lengths, init)
    else:
        got_y, got_state = run_steps(blob, x.numpy(), lengths)
    pairs = [(got_y, want_y), *zip(got_state, _flat(want_state), strict=True)]
    worst = max(float(np.abs(g - w.numpy()).max()) for g, w in pairs)
    if not worst <= 1e-4:
        raise ValueError(
            f"expected the exported {type(layer).__name__} step to match the layer "
            f"within 1e-4, got a difference of {worst:.3g}; nothing was written"
        )


def _loop(step, x: np.ndarray, lengths: Sequence[int], state: Sequence[Any]):
    """Run ``step(x_t, length, *state) -> [y_t, *state]`` over (B, T, D) ``x``."""
    B, T, _ = x.shape
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.shape != (B,) or (lengths < 0).any() or (lengths > T).any():
        raise ValueError(f"expected lengths of shape ({B},) in [0, {T}], got {lengths.tolist()}")
    state = [np.asarray(s) for s in state]
    ys = []
    for t in range(T):
        out = step(np.ascontiguousarray(x[:, t]), (t < lengths).astype(np.int64), *state)
        ys.append(out[0])
        state = list(out[1:])
    return np.stack(ys, 1) if ys else np.zeros_like(x), state


def run_steps(
    model: str | os.PathLike | bytes, x: np.ndarray, lengths: Sequence[int] | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run an exported step graph (a path or the ONNX bytes) over a right-padded (B, T, D)
    batch with onnxruntime: (outputs (B, T, D), zero past each length; final state of each
    row, from zeros)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["seqattn"])
    x = np.asarray(x)
    B, T = x.shape[:2]
    dtype = np.float64 if "float64" in meta["state"][0]["dtype"] else np.float32
    state = [np.full((B, *s["shape"]), s["fill"], dtype=dtype) for s in meta["state"]]
    names = meta["inputs"]

    def step(*args):
        return session.run(None, dict(zip(names, args, strict=True)))

    return _loop(step, x.astype(dtype), [T] * B if lengths is None else lengths, state)

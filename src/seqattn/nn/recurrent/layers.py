"""Multi-layer, optionally bidirectional RNN, LSTM and GRU layers, written with plain tensor ops.

They mirror ``torch.nn.RNN``/``LSTM``/``GRU``: constructor arguments and defaults, parameter
names and layouts (``weight_ih_l0``, ``bias_hh_l1_reverse``, ``weight_hr_l0`` ...), return
values, ``PackedSequence`` input, so a ``state_dict`` loads both ways with ``strict=True``. They
never call torch's fused RNN kernels: the recurrence is the Python loop of the textbook.

Two things make that loop reasonable:

* the input projection ``W_ih x_t + b_ih`` of every step is one matmul over the whole sequence,
  and the result is split once with ``unbind(0)``. (Indexing ``xp[t]`` inside the loop instead
  makes every step's backward write a full-size gradient, quadratic in T.)
* all gates of a step come from one matmul ``W_hh h``.

Variable-length batches (``lengths`` or a ``PackedSequence``): outputs past a sequence's length
are zero, the final state is taken at each sequence's own last step (the state stops updating
there), and the reverse direction starts at each sequence's own end (each sequence is reversed
within its length by a gather, run forward, and gathered back).

Shape glossary (docs/architecture.md): T time, B batch, I input_size, P proj_size (or
hidden_size when 0), G gates; hidden_size, num_directions (2 if bidirectional), num_layers by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from seqattn.nn.recurrent import _checks, _extension, fast, packing
from seqattn.nn.recurrent.cells import GATES, _check_size, gru_step, lstm_step, rnn_step
from seqattn.nn.recurrent.streaming import State, StreamingRecurrent

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "BACKENDS"]

#: Values of the ``backend`` argument. "auto" picks "fast" when the compiled extension is
#: loaded and applies (CPU, float32/float64, no proj_size, not under torch.compile), else
#: "reference". See docs/recurrent.md, "Backends".
BACKENDS = ("auto", "reference", "fast", "native")


class RNNBase(StreamingRecurrent, nn.Module):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`; streams with
    ``init_state``/``step`` (:mod:`seqattn.nn.recurrent.streaming`).

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``.
        input_size: I. hidden_size: the hidden features.
        num_layers: stacked layers (default 1).
        bias: learn biases (default True).
        batch_first: input/output as (B, T, *) instead of (T, B, *) (default False).
        dropout: dropout on the outputs of every layer but the last, in training (default 0).
        bidirectional: run a second, reversed direction per layer (default False).
        proj_size: LSTM only, project h to this size (Sak et al. 2014; default 0 = off).
        single_bias: one bias vector per gate (``bias_ih_l*`` only) instead of torch.nn's two
            (``b_ih`` and ``b_hh``): the textbook equations and the seed's parameter counts.
            Such a module does not load torch.nn state_dicts.
        backend: how the time loop runs (default ``"auto"``); any backend gives the same
            results up to rounding, with the same parameters.
            ``"reference"``: the readable Python loop of this module, autograd per step.
            ``"fast"``: :mod:`seqattn.nn.recurrent.fast`, one autograd Function per layer
            and direction with a hand-written backward through time, compiled C++ when the
            extension builds (else the same algorithm in Python); no ``proj_size``.
            ``"native"``: torch's fused kernels (``torch._VF.lstm``/``gru``/``rnn_*``, cuDNN
            on a GPU) called with this module's parameters; dropout between layers then
            draws torch's own random masks.
            ``"auto"``: ``"fast"`` where the compiled extension is loaded and applies (CPU,
            float32/float64, no ``proj_size``, not while ``torch.compile`` traces), else
            ``"reference"``. Can be changed after construction (``layer.backend = ...``).
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        single_bias: bool = False,
        backend: str = "auto",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"expected backend in {BACKENDS}, got {backend!r}")
        if mode not in GATES:
            raise ValueError(f"expected mode in {sorted(GATES)}, got {mode!r}")
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        _check_size("num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise TypeError(f"expected dropout to be a float, got {type(dropout).__name__}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"expected dropout in [0, 1], got {dropout}")
        if proj_size < 0:
            raise ValueError(f"expected proj_size >= 0, got {proj_size}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"proj_size is supported by LSTM only, got proj_size={proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(
                f"expected proj_size < hidden_size ({hidden_size}), got proj_size={proj_size}"
            )
        if single_bias and not bias:
            raise ValueError("expected single_bias=False when bias=False, got single_bias=True")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.single_bias = single_bias
        self.backend = backend
        self.nonlinearity = "relu" if mode == "RNN_RELU" else "tanh"

        factory = {"device": device, "dtype": dtype}
        num_directions = 2 if bidirectional else 1
        gate_size = GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * num_directions
            for direction in range(num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {
                    f"weight_ih{sfx}": (gate_size, layer_input),
                    f"weight_hh{sfx}": (gate_size, real_hidden),
                }
                if bias:
                    shapes[f"bias_ih{sfx}"] = (gate_size,)
                    if not single_bias:
                        shapes[f"bias_hh{sfx}"] = (gate_size,)
                if proj_size:
                    shapes[f"weight_hr{sfx}"] = (proj_size, hidden_size)
                for name, shape in shapes.items():
                    setattr(self, name, nn.Parameter(torch.empty(shape, **factory)))
                self._flat_weights_names.extend(shapes)
                self._all_weights.append(list(shapes))
        self.reset_parameters()

    # -- torch.nn compatibility -------------------------------------------------------------
    def reset_parameters(self) -> None:
        """torch.nn's default: every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            nn.init.uniform_(w, -bound, bound)

    def flatten_parameters(self) -> None:
        """No-op, for code written against torch.nn (there is no cuDNN weight buffer here)."""

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (
            ("proj_size", 0),
            ("num_layers", 1),
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
            ("single_bias", False),
            ("backend", "auto"),
        ):
            value = getattr(self, name)
            if value != default:
                s += f", {name}={value}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s

    # -- forward -----------------------------------------------------------------------------
    def _weights(self, layer: int, direction: int) -> tuple[Tensor | None, ...]:
        sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        return tuple(
            getattr(self, f"{kind}{sfx}", None)
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        )

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, State]:
        """Run the stack over a sequence.

        Args:
            input: (T, B, I), (B, T, I) with ``batch_first``, unbatched (T, I), or a
                ``PackedSequence`` (unbatched: the states have no B dim either).
            hx: initial state, zeros if omitted: h0 (num_layers*num_directions, B, P), for LSTM
                a tuple (h0, c0) with c0 (num_layers*num_directions, B, hidden_size).
            lengths: optional per-sequence lengths (B,) for a padded batch; not with a
                ``PackedSequence``, which carries its own.

        Returns:
            ``(output, h_n)`` for RNN/GRU, ``(output, (h_n, c_n))`` for LSTM: ``output``
            (T, B, num_directions*P), batch-first or packed like the input, zeros past each
            length; ``h_n``/``c_n`` shaped as h0/c0, taken at each sequence's last step.
        """
        name = type(self).__name__
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError(f"{name}: expected lengths=None with a PackedSequence input")
            x, lens = pad_packed_sequence(input)  # (T, B, I) in the caller's batch order
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise TypeError(
                    f"{name}: expected a Tensor or PackedSequence, got {type(input).__name__}"
                )
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"{name}: expected input of rank 3 ((T, B, I), or (B, T, I) with "
                    f"batch_first) or rank 2 (T, I), got shape {tuple(input.shape)}"
                )
            batched = input.dim() == 3
            if not batched:
                x = input.unsqueeze(1)
            else:
                x = input.transpose(0, 1) if self.batch_first else input
            lens = None
            if lengths is not None:
                if not batched:
                    raise ValueError(f"{name}: lengths need a batched (rank 3) input")
                lens = packing.as_lengths(lengths, x.shape[1], x.shape[0])
        shape = input.data.shape if packed else input.shape
        _checks.check_sequence(name, x, self.weight_ih_l0, self.input_size, shape)
        steps = x.shape[0]
        h0, c0 = self._initial_state(hx, x, batched)

        mask = rev = None
        if lens is not None and bool((lens < steps).any()):
            mask = packing.length_mask(lens, steps, x.device).unsqueeze(-1)  # (T, B, 1)
            if self.bidirectional:
                rev = packing.reverse_index(lens, steps, x.device)  # (T, B)
        first_ragged = int(lens.min()) if mask is not None else steps

        backend = self._resolve_backend(x)
        if backend == "native":
            output, h_out, c_out = self._native(x, h0, c0, lens if mask is not None else None)
        else:
            output, h_out, c_out = self._layers(
                x, h0, c0, mask, rev, first_ragged, lens if backend == "fast" else None,
                backend == "fast",
            )  # fmt: skip
        if packed:
            output = _repack(output, lens, input)
        elif not batched:
            output, h_out = output.squeeze(1), h_out.squeeze(1)
            c_out = None if c_out is None else c_out.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (h_out if c_out is None else (h_out, c_out))

    def _resolve_backend(self, x: Tensor) -> str:
        """The backend this call runs: ``self.backend``, with "auto" resolved."""
        if self.backend not in BACKENDS:
            raise ValueError(f"expected backend in {BACKENDS}, got {self.backend!r}")
        problem = None
        if self.proj_size:
            problem = f"proj_size={self.proj_size}"
        if self.backend == "fast" and problem:
            raise ValueError(
                f"{type(self).__name__}: backend='fast' does not support {problem}; "
                "expected backend 'reference' or 'native'"
            )
        if self.backend != "auto":
            return self.backend
        if (
            problem
            or torch.compiler.is_compiling()  # the C++ loop is opaque to dynamo; trace Python
            or x.device.type != "cpu"
            or x.dtype not in (torch.float32, torch.float64)
            or _extension.load() is None
        ):
            return "reference"
        return "fast"

    def _layers(self, x, h0, c0, mask, rev, first_ragged, lens, use_fast: bool):
        """The stack, layer by layer and direction by direction; the time loop is
        :meth:`_run` (reference) or :func:`fast.recurrence` (fast)."""
        num_directions = 2 if self.bidirectional else 1
        engine = fast.engine_for(x) if use_fast else None
        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
                idx = layer * num_directions + direction
                c_init = None if c0 is None else c0[idx]
                if use_fast:
                    if self.mode != "GRU" and b_hh is not None:  # they only ever add up
                        b_ih, b_hh = b_ih + b_hh, None
                    if self.mode == "GRU":  # b_hn stays inside r ⊙ (W_hn h + b_hn)
                        xp = fast.projection(layer_input, w_ih, b_ih)  # (T, B, G*hidden_size)
                        proj = {}
                    else:  # projected inside the per-step GEMM, [x_t, h] [W_ih, W_hh]ᵀ
                        xp = None
                        proj = {"input": layer_input, "weight_ih": w_ih, "bias": b_ih}
                    res = fast.recurrence(
                        self.mode, xp, h0[idx], c_init, w_hh, b_hh,
                        reverse=direction == 1, lengths=lens, engine=engine, **proj,
                    )  # fmt: skip
                    out, h, c = res if len(res) == 3 else (*res, None)
                    outs.append(out)
                else:
                    xp = F.linear(layer_input, w_ih, b_ih)  # (T, B, G*hidden_size), all steps
                    if direction == 1:
                        xp = _reverse(xp, rev)
                    out, h, c = self._run(xp, h0[idx], c_init, w_hh, b_hh, w_hr, mask, first_ragged)
                    outs.append(_reverse(out, rev) if direction == 1 else out)
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            layer_input = outs[0] if num_directions == 1 else torch.cat(outs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        output = layer_input  # (T, B, num_directions*P)
        h_out = torch.stack(h_n)  # (num_layers*num_directions, B, P)
        c_out = torch.stack(c_n) if c_n else None
        return output, h_out, c_out

    def _native(self, x, h0, c0, lens):
        """torch's fused kernels with this module's parameters (cuDNN on a GPU)."""
        weights = []
        for layer in range(self.num_layers):
            for direction in range(2 if self.bidirectional else 1):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
                weights += [w_ih, w_hh]
                if self.bias:  # torch's kernels want two biases; a single one adds zeros
                    weights += [b_ih, torch.zeros_like(b_ih) if b_hh is None else b_hh]
                if w_hr is not None:
                    weights.append(w_hr)
        fn = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh,
              "RNN_RELU": _VF.rnn_relu}[self.mode]  # fmt: skip
        lstm = self.mode == "LSTM"
        args = (weights, self.bias, self.num_layers, self.dropout, self.training,
                self.bidirectional)  # fmt: skip
        if lens is None:
            hx = (h0, c0) if lstm else h0
            res = fn(x, hx, *args, False)
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lens, enforce_sorted=False)
            order, unorder = packed.sorted_indices, packed.unsorted_indices
            h0 = h0.index_select(1, order)
            hx = (h0, c0.index_select(1, order)) if lstm else h0
            res = fn(packed.data, packed.batch_sizes, hx, *args)
            out_packed = PackedSequence(res[0], packed.batch_sizes, order, unorder)
            out, _ = pad_packed_sequence(out_packed, total_length=x.shape[0])
            res = (out, *(s.index_select(1, unorder) for s in res[1:]))
        return res[0], res[1], (res[2] if lstm else None)

    def _initial_state(self, hx: State | None, x: Tensor, batched: bool):
        name = type(self).__name__
        layers = self.num_layers * (2 if self.bidirectional else 1)
        batch = x.shape[1]
        real_hidden = self.proj_size or self.hidden_size
        lstm = self.mode == "LSTM"
        if hx is None:
            h0 = x.new_zeros(layers, batch, real_hidden)
            return h0, (x.new_zeros(layers, batch, self.hidden_size) if lstm else None)
        if lstm:
            if not (isinstance(hx, tuple | list) and len(hx) == 2):
                raise TypeError(f"{name}: expected hx to be a tuple (h_0, c_0), got {type(hx)}")
            pairs = [("h_0", hx[0], real_hidden), ("c_0", hx[1], self.hidden_size)]
        else:
            if not isinstance(hx, Tensor):
                raise TypeError(f"{name}: expected hx to be a Tensor, got {type(hx).__name__}")
            pairs = [("hx", hx, real_hidden)]
        states = []
        for label, state, size in pairs:
            expected = (layers, batch, size) if batched else (layers, size)
            if not isinstance(state, Tensor) or tuple(state.shape) != expected:
                got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
                raise ValueError(
                    f"{name}: expected {label} of shape {expected} "
                    f"(num_layers * num_directions{', batch' if batched else ''}, hidden), "
                    f"got {got}"
                )
            _checks.check_dtype(name, label, state, self.weight_hh_l0)
            states.append(state if batched else state.unsqueeze(1))
        return states[0], (states[1] if lstm else None)

    def _run(self, xp, h, c, w_hh, b_hh, w_hr, mask, first_ragged):
        """One direction of one layer over the input projections xp (T, B, G*hidden_size)."""
        outputs = []
        for t, xp_t in enumerate(xp.unbind(0)):
            if self.mode == "LSTM":
                h_new, c_new = lstm_step(xp_t, h, c, w_hh, b_hh, w_hr)
            elif self.mode == "GRU":
                h_new, c_new = gru_step(xp_t, h, w_hh, b_hh), None
            else:
                h_new, c_new = rnn_step(xp_t, h, w_hh, b_hh, self.nonlinearity), None
            if mask is None or t < first_ragged:
                h, c = h_new, c_new
                outputs.append(h_new)
            else:  # some sequences have ended: freeze their state, zero their output
                m = mask[t]  # (B, 1)
                h = torch.where(m, h_new, h)
                c = None if c is None else torch.where(m, c_new, c)
                outputs.append(torch.where(m, h_new, torch.zeros_like(h_new)))
        return torch.stack(outputs), h, c


def _reverse(seq: Tensor, rev: Tensor | None) -> Tensor:
    """Reverse (T, B, F) in time, each sequence within its own length when rev is given."""
    if rev is None:
        return seq.flip(0)
    return seq.gather(0, rev.unsqueeze(-1).expand_as(seq))


def _repack(output: Tensor, lens: Tensor, like: PackedSequence) -> PackedSequence:
    """Pack a padded (T, B, F) output, in the caller's batch order, as ``like`` was packed."""
    order = like.sorted_indices
    if order is not None:
        output, lens = output.index_select(1, order), lens[order.cpu()]
    data = torch.nn.utils.rnn.pack_padded_sequence(output, lens, enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class RNN(RNNBase):
    """Elman RNN stack: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    Mirrors :class:`torch.nn.RNN`; see :class:`RNNBase` for arguments, plus
    ``nonlinearity="tanh"`` (default) or ``"relu"``.

    Shape:
        input (T, B, I) / (B, T, I) with batch_first / (T, I) / PackedSequence;
        returns output (T, B, num_directions*hidden_size) and h_n as :meth:`RNNBase.forward`.

    Example:
        >>> rnn = RNN(8, 16, num_layers=2, batch_first=True)
        >>> out, h_n = rnn(torch.randn(4, 10, 8), lengths=[10, 7, 7, 3])
        >>> out.shape, h_n.shape
        (torch.Size([4, 10, 16]), torch.Size([2, 4, 16]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *,
                 single_bias: bool = False, backend: str = "auto", device=None,
                 dtype=None) -> None:  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"expected nonlinearity 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
            num_layers, bias, batch_first, dropout, bidirectional,
            single_bias=single_bias, backend=backend, device=device, dtype=dtype,
        )  # fmt: skip


class LSTM(RNNBase):
    """LSTM stack, gate order i, f, g, o; mirrors :class:`torch.nn.LSTM` (``proj_size`` too).

    Shape:
        returns output (T, B, num_directions*P) and (h_n, c_n) as :meth:`RNNBase.forward`.

    Example:
        >>> out, (h, c) = LSTM(8, 16, bidirectional=True)(torch.randn(10, 4, 8))
        >>> out.shape, h.shape
        (torch.Size([10, 4, 32]), torch.Size([2, 4, 16]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *,
                 single_bias: bool = False, backend: str = "auto", device=None,
                 dtype=None) -> None:  # fmt: skip
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, single_bias=single_bias, backend=backend, device=device,
            dtype=dtype,
        )  # fmt: skip


class GRU(RNNBase):
    """GRU stack, gate order r, z, n; mirrors :class:`torch.nn.GRU`.

    Shape:
        returns output (T, B, num_directions*hidden_size) and h_n as :meth:`RNNBase.forward`.

    Example:
        >>> out, h = GRU(8, 16, num_layers=3)(torch.randn(10, 4, 8))
        >>> out.shape, h.shape
        (torch.Size([10, 4, 16]), torch.Size([3, 4, 16]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, single_bias: bool = False,
                 backend: str = "auto", device=None, dtype=None) -> None:  # fmt: skip
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, single_bias=single_bias, backend=backend, device=device, dtype=dtype,
        )  # fmt: skip

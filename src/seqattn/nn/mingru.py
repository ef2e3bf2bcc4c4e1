"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): RNNs that train as scans.

A GRU's gates read the previous state, h_{t-1}, so step t cannot start before step t-1 ends and
each step carries a recurrent matmul. minGRU keeps only the input-dependent parts:

    z_t = sigmoid(W_z x_t + b_z)          h~_t = W_h x_t + b_h
    h_t = (1 - z_t) * h_{t-1} + z_t * h~_t                        (paper, Sec. 3.1)

and minLSTM (Sec. 3.2) normalises an input-only forget and input gate so they sum to one:

    f_t, i_t = sigmoid(W_f x_t + b_f), sigmoid(W_i x_t + b_i)     h~_t = W_h x_t + b_h
    h_t = f_t / (f_t + i_t) * h_{t-1} + i_t / (f_t + i_t) * h~_t

Both are the linear recurrence h_t = a_t * h_{t-1} + b_t of :mod:`seqattn.functional.scan`:
one input projection for all steps (a single large matmul), then an element-wise recurrence
evaluated sequentially, in chunks or as a parallel scan (``mode``), all with the same result.
On a CPU, ``mode="fused"`` (the ``"auto"`` choice there once it is built) runs the gates and the
recurrence of a layer and direction as one compiled pass over time, forward and backward
(:mod:`seqattn.nn._mingru_fused`, ``seqattn/csrc/mingru.cpp``); without a compiler, or with
``SEQATTN_NO_EXT=1``, the Python path below runs instead.

The layers follow ``torch.nn.GRU``'s interface where it applies: ``num_layers``,
``bidirectional``, ``batch_first``, ``dropout`` between layers, ``forward(x, h0) ->
(output, h_n)``, plus ``lengths=`` for right-padded batches (padded steps leave the state
unchanged and give zero outputs) and :meth:`step` for streaming with carried state.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqattn.functional.scan import MODES, linear_recurrence
from seqattn.nn import _mingru_fused

LAYER_MODES = (*MODES, "fused")


def _reverse_within(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse (B, T, F) in time, each sequence within its own length (padding stays put)."""
    if lengths is None:
        return x.flip(1)
    T = x.shape[1]
    t = torch.arange(T, device=x.device)
    idx = torch.where(t[None] < lengths[:, None], lengths[:, None] - 1 - t[None], t[None])
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class _MinRNNBase(nn.Module):
    _gates = 2  # projections per direction: minGRU (z, h~), minLSTM (f, i, h~)
    _kind = _mingru_fused.MINGRU

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        mode: str = "auto",
        chunk_size: int | None = None,
        memory_bias: float = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):  # fmt: skip
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"expected 0 <= dropout < 1, got {dropout}")
        if mode not in LAYER_MODES:
            raise ValueError(f"expected mode in {LAYER_MODES}, got {mode!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.mode, self.chunk_size = bidirectional, mode, chunk_size
        self.memory_bias = float(memory_bias)
        D = 2 if bidirectional else 1
        factory = {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w = nn.Parameter(torch.empty(self._gates * hidden_size, in_size, **factory))
                self.register_parameter("weight_ih" + sfx, w)
                bias_p = (nn.Parameter(torch.empty(self._gates * hidden_size, **factory))
                          if bias else None)  # fmt: skip
                self.register_parameter("bias_ih" + sfx, bias_p)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every weight and bias, as torch.nn's
        recurrent layers, then ``memory_bias`` added to the gate biases in the keep-memory
        direction."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)
        if self.memory_bias and self.bias:
            with torch.no_grad():
                for name, p in self.named_parameters():
                    if name.startswith("bias_ih"):
                        self._shift_memory_bias(p)

    def _shift_memory_bias(self, bias: Tensor) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s + f", mode={self.mode!r}"

    def _coefficients(self, proj: Tensor) -> tuple[Tensor, Tensor]:
        """The projected input (..., gates * hidden_size) -> (a, b) of h_t = a_t * h_{t-1} + b_t."""
        raise NotImplementedError

    def _fused(self, x: Tensor) -> bool:
        """Whether this call runs the compiled kernel (``mode`` "fused", or "auto" on a CPU)."""
        supported = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
        if self.mode == "fused" and not supported:
            raise ValueError(
                f"expected a CPU float32/float64 input for mode='fused', got {x.dtype} on "
                f"{x.device.type}; use mode='auto'"
            )
        if self.mode not in ("fused", "auto") or not supported:
            return False
        # the C++ pass is opaque to dynamo; when it cannot be built, the Python path runs
        return not torch.compiler.is_compiling() and _mingru_fused.load() is not None

    def _direction(self, x, layer, d, h0, lengths, mask, fused=False):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        weight, bias = getattr(self, "weight_ih" + sfx), getattr(self, "bias_ih" + sfx)
        if fused:  # projection, padding, direction and final state all inside one function
            return _mingru_fused.fused_minrnn(x, weight, bias, h0, lengths, self._kind, bool(d))
        proj = nn.functional.linear(x, weight, bias)
        a, b = self._coefficients(proj)  # (B, T, hidden_size) each
        if mask is not None:  # padded steps: a = 1, b = 0 carries the state unchanged
            a = torch.where(mask, a, torch.ones_like(a))
            b = torch.where(mask, b, torch.zeros_like(b))
        if d:
            a, b = _reverse_within(a, lengths), _reverse_within(b, lengths)
        mode = "sequential" if self.mode == "fused" else self.mode  # fused, but not built
        h = linear_recurrence(a, b, h0, mode=mode, chunk_size=self.chunk_size)
        last = h[:, -1]  # with a = 1 on padding, the state at T equals the state at the length
        if d:
            h = _reverse_within(h, lengths)
        if mask is not None:
            h = h.masked_fill(~mask, 0.0)
        return h, last

    def forward(
        self, x: Tensor, h0: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Run all layers over a (padded) batch.

        Args:
            x: (B, T, I) if ``batch_first`` else (T, B, I).
            h0: (num_layers * num_directions, B, hidden_size) initial states, or None for zeros.
            lengths: (B,) valid steps of each right-padded sequence, or None (all T).

        Shape:
            Returns output (B, T, num_directions * hidden_size) (zeros at padded steps) and h_n
            (num_layers * num_directions, B, hidden_size), the state after each sequence's last
            valid step (for the reverse direction: after its first step).
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input of shape (B, T, {self.input_size}) (batch_first="
                f"{self.batch_first}), got {tuple(x.shape)}"
            )
        if not self.batch_first:
            x = x.transpose(0, 1)
        B, T, _ = x.shape
        if T == 0:  # as the classic layers (and torch's) refuse an empty sequence
            raise ValueError(f"expected a sequence of T >= 1 steps, got input {tuple(x.shape)}")
        D = 2 if self.bidirectional else 1
        if h0 is not None and tuple(h0.shape) != (self.num_layers * D, B, self.hidden_size):
            raise ValueError(
                f"expected h0 of shape {(self.num_layers * D, B, self.hidden_size)}, "
                f"got {tuple(h0.shape)}"
            )
        mask = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device)
            if lengths.shape != (B,) or bool((lengths < 0).any()) or bool((lengths > T).any()):
                raise ValueError(
                    f"expected lengths of shape ({B},) in [0, {T}], got {lengths.tolist()}"
                )
            mask = (torch.arange(T, device=x.device)[None] < lengths[:, None]).unsqueeze(-1)
        finals = []
        fused = self._fused(x)
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = nn.functional.dropout(x, self.dropout, training=True)
            outs = []
            for d in range(D):
                init = None if h0 is None else h0[layer * D + d]
                h, last = self._direction(x, layer, d, init, lengths, mask, fused)
                outs.append(h)
                finals.append(last)
            x = outs[0] if D == 1 else torch.cat(outs, -1)
        out = x if self.batch_first else x.transpose(0, 1)
        return out, torch.stack(finals)

    def init_state(self, batch: int, dtype=None, device=None) -> Tensor:
        """Zero state h (num_layers, B, hidden_size) of a unidirectional stack, for step()."""
        if self.bidirectional:
            raise ValueError("expected a unidirectional layer to stream, got bidirectional=True")
        p = self.weight_ih_l0
        shape = (self.num_layers, batch, self.hidden_size)
        return torch.zeros(shape, dtype=dtype or p.dtype, device=device or p.device)

    @torch.no_grad()
    def step(self, x_t: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One streaming step of a unidirectional stack: x_t (B, I), h (num_layers, B,
        hidden_size).

        Returns (output (B, hidden_size), new h). Equal to :meth:`forward` run over the whole
        sequence (tested), at O(1) cost per step.
        """
        if self.bidirectional:
            raise ValueError("expected a unidirectional layer for step(), got bidirectional=True")
        B = x_t.shape[0]
        if h is None:
            h = x_t.new_zeros(self.num_layers, B, self.hidden_size)
        new = []
        inp = x_t
        for layer in range(self.num_layers):
            proj = nn.functional.linear(inp, getattr(self, f"weight_ih_l{layer}"),
                                        getattr(self, f"bias_ih_l{layer}"))  # fmt: skip
            a, b = self._coefficients(proj)
            inp = torch.addcmul(b, a, h[layer])
            new.append(inp)
        return inp, torch.stack(new)


class MinGRU(_MinRNNBase):
    """minGRU (Feng et al. 2024, Sec. 3.1): h_t = (1 - z_t) h_{t-1} + z_t h~_t, gates from x_t.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as
            :class:`torch.nn.GRU` (but ``batch_first`` defaults to True).
        mode: how the recurrence is evaluated: ``"sequential"``, ``"chunked"``, ``"scan"`` (see
            :mod:`seqattn.functional.scan`), ``"fused"`` (the compiled CPU kernel, see the
            module notes) or ``"auto"`` (``"fused"`` on a CPU where it is built, else the
            scan module's choice). The result does not depend on it (to rounding).
        chunk_size: C of the chunked mode (default about sqrt(T)).
        memory_bias: subtracted from the initial z-gate bias (minLSTM: split between raising
            the forget and lowering the input gate bias). With the default 0 the initial
            z is about 1/2, so a state decays by about 2^-t and gradients from t steps later
            vanish (the vanishing-gradient story again); ``memory_bias=3`` starts at a decay of
            about 0.95 per step, in the spirit of the LSTM forget-gate bias of Gers et al.

    Parameters: ``weight_ih_l{k}[_reverse]`` (2*hidden_size, I_k) with rows [z; h~],
    ``bias_ih_l{k}``.

    Shape:
        x (B, T, I) -> output (B, T, num_directions * hidden_size), h_n (num_layers *
        num_directions, B, hidden_size).

    Example:
        >>> rnn = MinGRU(8, 16)
        >>> out, h = rnn(torch.randn(2, 5, 8), lengths=torch.tensor([5, 3]))
        >>> out.shape, h.shape
        (torch.Size([2, 5, 16]), torch.Size([1, 2, 16]))
    """

    _gates = 2

    def _shift_memory_bias(self, bias: Tensor) -> None:
        bias[: self.hidden_size] -= self.memory_bias  # smaller z: keep more of h_{t-1}

    def _coefficients(self, proj: Tensor) -> tuple[Tensor, Tensor]:
        k_z, h_tilde = proj.chunk(2, -1)
        z = torch.sigmoid(k_z)
        return 1.0 - z, z * h_tilde


class MinLSTM(_MinRNNBase):
    """minLSTM (Feng et al. 2024, Sec. 3.2): normalised input-only forget and input gates.

    h_t = f'_t h_{t-1} + i'_t h~_t with f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t).
    Arguments and shapes as :class:`MinGRU`; ``weight_ih_l{k}`` rows are [f; i; h~]
    (3*hidden_size, I_k).
    The ratio is computed as f' = sigmoid(log sigmoid(k_f) - log sigmoid(k_i)) and i' = 1 - f',
    the same numbers without the 0 / 0 of two underflowed sigmoids.
    """

    _gates = 3
    _kind = _mingru_fused.MINLSTM

    def _shift_memory_bias(self, bias: Tensor) -> None:
        H = self.hidden_size
        bias[:H] += self.memory_bias / 2  # forget gate up, input gate down
        bias[H : 2 * H] -= self.memory_bias / 2

    def _coefficients(self, proj: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, h_tilde = proj.chunk(3, -1)
        f = torch.sigmoid(nn.functional.logsigmoid(k_f) - nn.functional.logsigmoid(k_i))
        return f, (1.0 - f) * h_tilde

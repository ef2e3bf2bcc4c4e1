"""Recurrent cells: one time step of a vanilla RNN, an LSTM and a GRU.

Each cell mirrors its ``torch.nn`` counterpart (constructor arguments, parameter names and
layouts, return values), so ``load_state_dict`` works both ways with ``strict=True``.
The step functions below (``rnn_step``, ``lstm_step``, ``gru_step``) take the input projection
``W_ih x + b_ih`` already computed; the layers in :mod:`seqattn.nn.recurrent.layers` compute
that projection for every time step in one matmul and reuse these same functions.

Shape glossary: B batch, I input_size, hidden_size by name, G number of gates (1 for RNN,
4 for LSTM, 3 for GRU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn.recurrent._checks import check_dtype

__all__ = [
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "rnn_step",
    "lstm_step",
    "gru_step",
    "GATES",
]

#: Number of gate blocks stacked in ``weight_ih``/``weight_hh`` per mode.
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def rnn_step(
    xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, nonlinearity: str = "tanh"
) -> Tensor:
    """Elman RNN step: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    Args:
        xp: input projection ``W_ih x + b_ih``, shape (B, hidden_size).
        h: previous hidden state, shape (B, hidden_size).
        weight_hh: (hidden_size, hidden_size). bias_hh: (hidden_size,) or None.
        nonlinearity: ``"tanh"`` or ``"relu"``.
    """
    pre = xp + F.linear(h, weight_hh, bias_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(
    xp: Tensor,
    h: Tensor,
    c: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    weight_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM step (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    Gate order i, f, g, o as in torch.nn::

        i = σ(.), f = σ(.), g = tanh(.), o = σ(.)   # each (.) = W_i* x + b_i* + W_h* h + b_h*
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')          (then h' = W_hr h' with a projection, Sak et al. 2014)

    Args:
        xp: input projection for all four gates, (B, 4*hidden_size).
        h: (B, P) with P = proj_size or hidden_size. c: (B, hidden_size).
        weight_hh: (4*hidden_size, P). bias_hh: (4*hidden_size,) or None.
        weight_hr: (P, hidden_size) or None.
    """
    gates = xp + F.linear(h, weight_hh, bias_hh)  # (B, 4*hidden_size): all gates in one matmul
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    if weight_hr is not None:
        h_new = F.linear(h_new, weight_hr)
    return h_new, c_new


def gru_step(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """GRU step (Cho et al. 2014), in torch.nn's form, gate order r, z, n::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h' = (1 - z) ⊙ n + z ⊙ h

    Args:
        xp: input projection for the three gates, (B, 3*hidden_size).
        h: (B, hidden_size). weight_hh: (3*hidden_size, hidden_size).
        bias_hh: (3*hidden_size,) or None.
    """
    hp = F.linear(h, weight_hh, bias_hh)  # (B, 3*hidden_size)
    x_r, x_z, x_n = xp.chunk(3, dim=-1)
    h_r, h_z, h_n = hp.chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return n + z * (h - n)  # == (1 - z) * n + z * h, one op fewer


class _CellBase(nn.Module):
    """Parameters and checks shared by the three cells."""

    mode: str

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        single_bias: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        if single_bias and not bias:
            raise ValueError("expected single_bias=False when bias=False, got single_bias=True")
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.single_bias = single_bias
        gh = GATES[self.mode] * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gh, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(gh, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gh, **factory))
            if single_bias:
                self.register_parameter("bias_hh", None)
            else:
                self.bias_hh = nn.Parameter(torch.empty(gh, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn's default: every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            nn.init.uniform_(w, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.single_bias:
            s += ", single_bias=True"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s

    def _prepare(self, input: Tensor, hx: Tensor | None, name: str = "hx") -> tuple[Tensor, bool]:
        if input.dim() not in (1, 2):
            raise ValueError(
                f"{type(self).__name__}: expected input of rank 1 (I,) or 2 (B, I), "
                f"got rank {input.dim()} with shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: expected input with {self.input_size} features "
                f"(last dim), got shape {tuple(input.shape)}"
            )
        check_dtype(type(self).__name__, "input", input, self.weight_ih)
        batched = input.dim() == 2
        if hx is not None:
            check_dtype(type(self).__name__, name, hx, self.weight_hh)
            expected = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
            if tuple(hx.shape) != expected:
                raise ValueError(
                    f"{type(self).__name__}: expected {name} of shape {expected}, "
                    f"got {tuple(hx.shape)}"
                )
        return input, batched

    def _zeros(self, input: Tensor) -> Tensor:
        return input.new_zeros(input.shape[0], self.hidden_size)

    def _start(self, input: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor, bool]:
        """(input (B, I), h (B, hidden_size), batched): an unbatched call gets B = 1 and a
        missing ``hx`` zeros, as torch's cells."""
        input, batched = self._prepare(input, hx)
        if not batched:
            input = input.unsqueeze(0)
            hx = hx.unsqueeze(0) if hx is not None else None
        return input, self._zeros(input) if hx is None else hx, batched


class RNNCell(_CellBase):
    """Elman RNN cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or ReLU).

    Mirrors :class:`torch.nn.RNNCell`.

    Args:
        input_size: I. hidden_size: the hidden features.
        bias: learn ``bias_ih`` and ``bias_hh``. Default True.
        nonlinearity: ``"tanh"`` (default) or ``"relu"`` (IRNN, Le et al. 2015).
        single_bias: keep only ``bias_ih`` (one bias vector per gate, as most textbooks write
            the equations); the parameter count then drops by hidden_size. torch.nn has no such
            option.

    Shape:
        input (B, I) or (I,); hx (B, hidden_size) or (hidden_size,), zeros if omitted; output
        like hx.

    Example:
        >>> cell = RNNCell(3, 5)
        >>> cell(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    mode = "RNN_TANH"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        single_bias: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"expected nonlinearity 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, bias, single_bias=single_bias, device=device, dtype=dtype
        )

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        input, h, batched = self._start(input, hx)
        xp = F.linear(input, self.weight_ih, self.bias_ih)
        out = rnn_step(xp, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return out if batched else out.squeeze(0)


class LSTMCell(_CellBase):
    """LSTM cell, gate order i, f, g, o; mirrors :class:`torch.nn.LSTMCell`.

    Args: as :class:`RNNCell` (no ``nonlinearity``).

    Shape:
        input (B, I) or (I,); hx a tuple (h, c), each (B, hidden_size) or (hidden_size,), zeros
        if omitted.
        Returns (h', c').

    Example:
        >>> h, c = LSTMCell(3, 5)(torch.randn(2, 3))
        >>> h.shape, c.shape
        (torch.Size([2, 5]), torch.Size([2, 5]))
    """

    mode = "LSTM"

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        if hx is not None and not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise TypeError(f"LSTMCell: expected hx to be a tuple (h, c), got {type(hx).__name__}")
        h0, c0 = (None, None) if hx is None else hx
        input, batched = self._prepare(input, h0, "h")
        self._prepare(input, c0, "c")
        if not batched:
            input = input.unsqueeze(0)
            h0 = h0.unsqueeze(0) if h0 is not None else None
            c0 = c0.unsqueeze(0) if c0 is not None else None
        h = self._zeros(input) if h0 is None else h0
        c = self._zeros(input) if c0 is None else c0
        xp = F.linear(input, self.weight_ih, self.bias_ih)
        h, c = lstm_step(xp, h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """GRU cell, gate order r, z, n; mirrors :class:`torch.nn.GRUCell`.

    With ``single_bias=True`` the candidate uses n = tanh(W_in x + b_n + r ⊙ (W_hn h)), the
    form of Cho et al. (2014) with one bias per gate.

    Shape:
        input (B, I) or (I,); hx (B, hidden_size) or (hidden_size,), zeros if omitted; output
        like hx.

    Example:
        >>> GRUCell(3, 5)(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    mode = "GRU"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        input, h, batched = self._start(input, hx)
        xp = F.linear(input, self.weight_ih, self.bias_ih)
        out = gru_step(xp, h, self.weight_hh, self.bias_hh)
        return out if batched else out.squeeze(0)


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected {name} to be a positive int, got {value!r}")

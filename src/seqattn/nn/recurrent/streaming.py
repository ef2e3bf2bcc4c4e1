"""The streaming state API of the classic recurrent layers (issue 24, section 2).

Every sequence model of :mod:`seqattn.nn` streams the same way::

    state = layer.init_state(batch)           # zeros
    y_t, state = layer.step(x_t, state)       # one step, x_t (B, I) -> y_t (B, P)
    y, state = layer(x, state)                # a whole chunk, carrying the state

For :class:`~seqattn.nn.RNN`, :class:`~seqattn.nn.LSTM` and :class:`~seqattn.nn.GRU` the third
line is their usual ``forward(input, hx)``: the state is ``h`` (num_layers, B, P), for the LSTM
``(h, c)`` with c (num_layers, B, hidden_size), exactly the ``hx`` / ``h_n`` of torch.nn. A step
is one cell update per layer (:mod:`seqattn.nn.recurrent.cells`), the reference loop's
equations, so feeding a sequence step by step equals one forward call (to rounding; tested in
float64 for every configuration in tests/parity/test_streaming_api.py). A bidirectional layer
cannot stream (its reverse direction needs the future) and raises.

Shape glossary (docs/architecture.md): B batch, I input_size, P proj_size (or hidden_size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqattn.nn.recurrent import _checks
from seqattn.nn.recurrent.cells import gru_step, lstm_step, rnn_step

__all__ = ["State", "StreamingRecurrent"]

#: The state of a classic recurrent layer: h, or (h, c) for the LSTM.
State = Tensor | tuple[Tensor, Tensor]


class StreamingRecurrent:
    """``init_state`` and ``step`` for :class:`~seqattn.nn.RNNBase` (a mixin; the layer's own
    ``forward(x, state)`` is the chunked form)."""

    def _check_streamable(self) -> None:
        if self.bidirectional:
            raise ValueError(
                f"{type(self).__name__}: expected a unidirectional layer to stream (the reverse "
                "direction needs the future), got bidirectional=True"
            )

    def init_state(self, batch: int, dtype=None, device=None) -> State:
        """Zero state for ``batch`` sequences: h (num_layers, B, P), LSTM (h, c)."""
        self._check_streamable()
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
            raise ValueError(f"expected batch to be an int >= 0, got {batch!r}")
        w = self.weight_hh_l0
        kw = {"dtype": dtype or w.dtype, "device": device or w.device}
        h = torch.zeros(self.num_layers, batch, self.proj_size or self.hidden_size, **kw)
        if self.mode != "LSTM":
            return h
        return h, torch.zeros(self.num_layers, batch, self.hidden_size, **kw)

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One time step: x_t (B, I) -> (y_t (B, P), new state); ``state=None`` is zeros.

        Equal to the step of :meth:`forward` at that time (the same cell equations); dropout
        between layers applies in training as in forward (its own random draws).
        """
        name = type(self).__name__
        self._check_streamable()
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[-1] != self.input_size:
            got = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"{name}: expected x_t of shape (B, {self.input_size}), got {got}")
        _checks.check_dtype(name, "x_t", x_t, self.weight_hh_l0)
        if state is None:
            state = self.init_state(x_t.shape[0], x_t.dtype, x_t.device)
        h0, c0 = self._initial_state(state, x_t.unsqueeze(0), True)  # checks shapes and dtypes
        inp, h_n, c_n = x_t, [], []
        for layer in range(self.num_layers):
            if layer and self.dropout > 0 and self.training:
                inp = F.dropout(inp, self.dropout, training=True)
            w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, 0)
            xp = F.linear(inp, w_ih, b_ih)  # (B, G*hidden_size)
            if self.mode == "LSTM":
                inp, c = lstm_step(xp, h0[layer], c0[layer], w_hh, b_hh, w_hr)
                c_n.append(c)
            elif self.mode == "GRU":
                inp = gru_step(xp, h0[layer], w_hh, b_hh)
            else:
                inp = rnn_step(xp, h0[layer], w_hh, b_hh, self.nonlinearity)
            h_n.append(inp)
        h = torch.stack(h_n)
        return inp, ((h, torch.stack(c_n)) if c_n else h)

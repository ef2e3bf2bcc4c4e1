"""The neural Turing machine cell: an LSTM controller with read and write heads on a memory.

Graves, Wayne & Danihelka (2014), "Neural Turing Machines", section 3. One step::

    h, c  = LSTMCell([x_t, r_{t-1}], (h, c))            # controller sees the previous reads
    p     = Linear(h)                                   # every head's parameters in one matmul
    w^w   = address(M_{t-1}, w^w_{t-1}, k, β, g, s, γ)   # write heads (eq. 5-9)
    M_t   = erase/add(M_{t-1}, w^w, e, a)                # eq. 3, 4
    w^r   = address(M_t, w^r_{t-1}, ...)                 # read heads, on the new memory
    r_t   = w^r M_t                                      # eq. 2

The cell keeps no state between calls: :class:`NTMState` goes in and comes out.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.ntm import address, memory_read, memory_write
from seqattn.nn.recurrent import LSTMCell

__all__ = ["NTMCell", "NTMState"]


class NTMState(NamedTuple):
    """Everything an NTM carries from one step to the next.

    Shape:
        h, c (B, controller_size); memory (B, M, W); read_weights (B, R, M); write_weights
        (B, Wh, M); reads (B, R*W).
    """

    h: Tensor
    c: Tensor
    memory: Tensor
    read_weights: Tensor
    write_weights: Tensor
    reads: Tensor


class NTMCell(nn.Module):
    """One step of a neural Turing machine (LSTM controller, R read and Wh write heads).

    Args:
        input_size: features of x_t.
        controller_size: the LSTM controller's hidden_size.
        memory_slots: M (N in the paper), rows of memory.
        memory_width: W (M in the paper), width of a row.
        read_heads, write_heads: number of heads.
        shift_range: allowed shifts -shift_range..shift_range (kernel K = 2*shift_range+1).
        memory_init: every memory cell starts at this constant (Collier & Beel 2018 found a
            small constant trains fastest; 1e-6 as in common reference implementations).
        eps: regulariser of the cosine similarity's norms.

    Shape:
        input (B, input_size), state :class:`NTMState` or None (start state).
        Returns (out (B, controller_size + R*W), state): the controller output and the new
        reads, which is what the paper's output layer sees.

    Example:
        >>> cell = NTMCell(9, 16, memory_slots=8, memory_width=4)
        >>> out, s = cell(torch.randn(2, 9))
        >>> out.shape, s.memory.shape, s.read_weights.shape
        (torch.Size([2, 20]), torch.Size([2, 8, 4]), torch.Size([2, 1, 8]))
    """

    def __init__(
        self,
        input_size: int,
        controller_size: int,
        memory_slots: int,
        memory_width: int,
        read_heads: int = 1,
        write_heads: int = 1,
        shift_range: int = 1,
        memory_init: float = 1e-6,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        for name, value in (
            ("input_size", input_size),
            ("controller_size", controller_size),
            ("memory_slots", memory_slots),
            ("memory_width", memory_width),
            ("read_heads", read_heads),
            ("write_heads", write_heads),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if not isinstance(shift_range, int) or shift_range < 0:
            raise ValueError(f"expected shift_range to be an int >= 0, got {shift_range!r}")
        if 2 * shift_range + 1 > memory_slots:
            raise ValueError(
                f"expected 2*shift_range+1 <= memory_slots ({memory_slots}), got {shift_range}"
            )
        self.input_size = input_size
        self.controller_size = controller_size
        self.memory_slots = memory_slots
        self.memory_width = memory_width
        self.read_heads = read_heads
        self.write_heads = write_heads
        self.shift_size = 2 * shift_range + 1
        self.memory_init = memory_init
        self.eps = eps
        self.controller = LSTMCell(input_size + read_heads * memory_width, controller_size)
        # per head: key W, beta 1, gate 1, shift K, gamma 1; write heads add erase W and add W
        self.addr_size = memory_width + 3 + self.shift_size
        self.head_size = read_heads * self.addr_size + write_heads * (
            self.addr_size + 2 * memory_width
        )
        self.heads = nn.Linear(controller_size, self.head_size)

    @property
    def output_size(self) -> int:
        return self.controller_size + self.read_heads * self.memory_width

    def initial_state(
        self, batch_size: int, device=None, dtype: torch.dtype | None = None
    ) -> NTMState:
        """The start state: zero controller, constant memory, every head on slot 0."""
        dtype = dtype or self.heads.weight.dtype
        device = device or self.heads.weight.device
        h = torch.zeros(batch_size, self.controller_size, device=device, dtype=dtype)
        memory = torch.full(
            (batch_size, self.memory_slots, self.memory_width),
            self.memory_init,
            device=device,
            dtype=dtype,
        )
        # heads start focused on slot 0: a location the shift can walk from (a uniform start
        # would make the first writes smear over all of memory)
        w = torch.zeros(batch_size, self.memory_slots, device=device, dtype=dtype)
        w[:, 0] = 1.0
        rw = w.unsqueeze(1).expand(-1, self.read_heads, -1)
        ww = w.unsqueeze(1).expand(-1, self.write_heads, -1)
        reads = memory_read(memory, rw).flatten(1)
        return NTMState(h, torch.zeros_like(h), memory, rw, ww, reads)

    def _split(self, p: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        # (B, addr_size) -> key, beta >= 0, gate in [0,1], shift on the simplex, gamma >= 1
        w = self.memory_width
        key = p[:, :w]
        beta = F.softplus(p[:, w : w + 1])
        gate = torch.sigmoid(p[:, w + 1 : w + 2])
        shift = torch.softmax(p[:, w + 2 : w + 2 + self.shift_size], dim=-1)
        gamma = 1.0 + F.softplus(p[:, -1:])
        return key, beta, gate, shift, gamma

    def forward(self, input: Tensor, state: NTMState | None = None) -> tuple[Tensor, NTMState]:
        if input.dim() != 2 or input.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input of shape (B, {self.input_size}), got {tuple(input.shape)}"
            )
        if state is None:
            state = self.initial_state(input.shape[0], input.device, input.dtype)
        h, c = self.controller(torch.cat([input, state.reads], dim=-1), (state.h, state.c))
        params = self.heads(h)  # (B, head_size)
        memory = state.memory
        a, wd = self.addr_size, self.memory_width
        offset = self.read_heads * a
        write_weights = []
        for i in range(self.write_heads):
            p = params[:, offset : offset + a + 2 * wd]
            offset += a + 2 * wd
            w = address(memory, state.write_weights[:, i], *self._split(p[:, :a]), eps=self.eps)
            erase = torch.sigmoid(p[:, a : a + wd])
            add = torch.tanh(p[:, a + wd :])
            memory = memory_write(memory, w, erase, add)
            write_weights.append(w)
        read_weights = []
        for i in range(self.read_heads):
            p = params[:, i * a : (i + 1) * a]
            read_weights.append(
                address(memory, state.read_weights[:, i], *self._split(p), eps=self.eps)
            )
        rw = torch.stack(read_weights, dim=1)  # (B, R, M)
        ww = torch.stack(write_weights, dim=1)  # (B, Wh, M)
        reads = memory_read(memory, rw).flatten(1)  # (B, R*W)
        return torch.cat([h, reads], dim=-1), NTMState(h, c, memory, rw, ww, reads)

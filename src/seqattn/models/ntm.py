"""The neural Turing machine as a sequence model (Graves, Wayne & Danihelka 2014).

An :class:`~seqattn.nn.memory.NTMCell` run over time with a linear output layer on the
controller output and the reads. Returns logits; the copy task puts a sigmoid on them (BCE).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from seqattn.nn.memory.ntm import NTMCell, NTMState

__all__ = ["NTM", "NTMConfig", "NTMOutput"]


@dataclass(frozen=True)
class NTMConfig:
    """Sizes of an NTM; the defaults are the paper's copy-task machine (section 4.1, Table 1):
    one read and one write head, 128 x 20 memory, a 100-unit LSTM controller, shifts -1..1."""

    input_size: int = 9
    output_size: int = 8
    controller_size: int = 100
    memory_slots: int = 128
    memory_width: int = 20
    read_heads: int = 1
    write_heads: int = 1
    shift_range: int = 1
    memory_init: float = 1e-6

    def __post_init__(self) -> None:
        for name in (
            "input_size",
            "output_size",
            "controller_size",
            "memory_slots",
            "memory_width",
            "read_heads",
            "write_heads",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if not isinstance(self.shift_range, int) or self.shift_range < 0:
            raise ValueError(f"expected shift_range to be an int >= 0, got {self.shift_range!r}")
        if 2 * self.shift_range + 1 > self.memory_slots:
            raise ValueError(
                f"expected 2*shift_range+1 <= memory_slots ({self.memory_slots}), "
                f"got shift_range={self.shift_range}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


class NTMOutput(NamedTuple):
    """logits (T, B, O); state after the last step; read_weights (T, B, R, M) and
    write_weights (T, B, Wh, M), or None when not asked for."""

    logits: Tensor
    state: NTMState
    read_weights: Tensor | None
    write_weights: Tensor | None


class NTM(nn.Module):
    """Neural Turing machine: LSTM controller, content + location addressing, erase/add memory.

    Graves, Wayne & Danihelka (2014), section 3; output y_t = W [h_t, r_t] + b.

    Args:
        config: :class:`NTMConfig`.

    Shape:
        x (T, B, I), time-major as the recurrent layers; state :class:`NTMState` or None.
        Returns :class:`NTMOutput` with logits (T, B, O).

    Example:
        >>> ntm = NTM(NTMConfig(controller_size=16, memory_slots=8, memory_width=4))
        >>> out = ntm(torch.zeros(5, 2, 9), return_weights=True)
        >>> out.logits.shape, out.write_weights.shape
        (torch.Size([5, 2, 8]), torch.Size([5, 2, 1, 8]))
    """

    def __init__(self, config: NTMConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or NTMConfig()
        if not isinstance(config, NTMConfig):
            raise TypeError(f"expected an NTMConfig, got {type(config).__name__}")
        self.cell = NTMCell(
            config.input_size,
            config.controller_size,
            config.memory_slots,
            config.memory_width,
            read_heads=config.read_heads,
            write_heads=config.write_heads,
            shift_range=config.shift_range,
            memory_init=config.memory_init,
        )
        self.output = nn.Linear(self.cell.output_size, config.output_size)

    def forward(
        self, x: Tensor, state: NTMState | None = None, return_weights: bool = False
    ) -> NTMOutput:
        if x.dim() != 3 or x.shape[-1] != self.config.input_size:
            raise ValueError(
                f"expected x of shape (T, B, {self.config.input_size}), got {tuple(x.shape)}"
            )
        outs, rws, wws = [], [], []
        for x_t in x.unbind(0):
            out, state = self.cell(x_t, state)
            outs.append(out)
            if return_weights:
                rws.append(state.read_weights)
                wws.append(state.write_weights)
        # one output matmul over all steps instead of one per step
        logits = self.output(torch.stack(outs))  # (T, B, O)
        if return_weights:
            return NTMOutput(logits, state, torch.stack(rws), torch.stack(wws))
        return NTMOutput(logits, state, None, None)

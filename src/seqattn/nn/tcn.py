"""Temporal convolutional network: residual blocks of dilated causal convolutions.

WaveNet (van den Oord et al. 2016) stacks causal convolutions whose dilation doubles with depth,
so the receptive field grows exponentially with the number of layers; Bai, Kolter & Koltun
(2018, "An empirical evaluation of generic convolutional and recurrent networks for sequence
modeling") wrap two such convolutions in a residual block, the "TCN":

    y = ReLU(x + Drop(ReLU(CausalConv_d(Drop(ReLU(CausalConv_d(x)))))))     (1x1 conv on x
                                                                                if sizes differ)

with dilation d = 2^i in block i. A causal convolution pads (k - 1) * d steps on the left only,
so the output at step t reads inputs at steps <= t. Each block adds 2 (k - 1) d steps of context:

    receptive field = 1 + 2 (k - 1) (2^L - 1)     for L blocks of kernel size k.

Variable-length batches are right-padded; with ``lengths`` the padded steps are set to zero
before every block (and in the output), so padding never leaks into a real step, whatever the
padding values were, and a later masked pooling sees exact zeros there. (Bai et al. also use
weight normalisation; it is left out here to keep the block plain.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CausalConv1d", "TemporalBlock", "TemporalConvNet"]


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected {name} to be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"expected {name} >= 1, got {value}")
    return value


class CausalConv1d(nn.Conv1d):
    """A ``Conv1d`` padded on the left only, so output step t sees input steps <= t.

    Shape:
        input (B, C_in, T); returns (B, C_out, T).

    Example:
        >>> conv = CausalConv1d(2, 3, kernel_size=3, dilation=2)
        >>> conv(torch.randn(1, 2, 7)).shape
        torch.Size([1, 3, 7])
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
        bias: bool = True, device=None, dtype=None,
    ) -> None:  # fmt: skip
        super().__init__(
            in_channels, out_channels, kernel_size, dilation=dilation, padding=0, bias=bias,
            device=device, dtype=dtype,
        )  # fmt: skip
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, input: Tensor) -> Tensor:
        return super().forward(F.pad(input, (self.left_pad, 0)))


class TemporalBlock(nn.Module):
    """Residual block of two dilated causal convolutions (Bai et al. 2018, Fig. 1b).

    Args:
        in_channels, out_channels: feature sizes; a 1x1 convolution maps the residual when
            they differ.
        kernel_size: k. dilation: d. dropout: after each convolution's ReLU, in training.

    Shape:
        input (B, C_in, T); returns (B, C_out, T).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
        dropout: float = 0.0, device=None, dtype=None,
    ) -> None:  # fmt: skip
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.conv1 = CausalConv1d(in_channels, out_channels, kernel_size, dilation, **factory)
        self.conv2 = CausalConv1d(out_channels, out_channels, kernel_size, dilation, **factory)
        self.dropout = nn.Dropout(dropout)
        self.downsample = (
            nn.Conv1d(in_channels, out_channels, 1, **factory)
            if in_channels != out_channels
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.dropout(F.relu(self.conv1(x)))
        y = self.dropout(F.relu(self.conv2(y)))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(y + res)


class TemporalConvNet(nn.Module):
    """A stack of :class:`TemporalBlock` with dilations 1, 2, 4, ... (WaveNet; Bai et al. 2018).

    Args:
        input_size: I, the input features.
        num_channels: the output channels of every block, e.g. ``[64, 64, 64]``; an int C
            with ``num_layers`` means ``[C] * num_layers``.
        num_layers: number of blocks L when ``num_channels`` is an int (default 1).
        kernel_size: k (default 2, as Bai et al.).
        dropout: inside every block, in training (default 0).
        batch_first: input and output (B, T, I) (default) instead of (T, B, I).

    Shape:
        input (B, T, I) (or (T, B, I)); lengths (B,) optional, for a right-padded batch.
        Returns (B, T, C_L) (or (T, B, C_L)), zero at padded steps when lengths are given.

    The output at step t depends on inputs at steps t - receptive_field + 1 .. t only, with
    ``receptive_field = 1 + 2 (k - 1) (2^L - 1)``.

    Example:
        >>> tcn = TemporalConvNet(8, 16, num_layers=3, kernel_size=3)
        >>> out = tcn(torch.randn(2, 20, 8), lengths=torch.tensor([20, 11]))
        >>> out.shape, tcn.receptive_field, float(out.detach()[1, 11:].abs().sum())
        (torch.Size([2, 20, 16]), 29, 0.0)
    """

    def __init__(
        self,
        input_size: int,
        num_channels: int | Sequence[int],
        num_layers: int = 1,
        kernel_size: int = 2,
        dropout: float = 0.0,
        batch_first: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        _check_positive("input_size", input_size)
        _check_positive("kernel_size", kernel_size)
        if isinstance(num_channels, int) and not isinstance(num_channels, bool):
            channels = [_check_positive("num_channels", num_channels)] * _check_positive(
                "num_layers", num_layers
            )
        elif isinstance(num_channels, Sequence) and len(num_channels) > 0:
            channels = [_check_positive("num_channels[i]", c) for c in num_channels]
        else:
            raise TypeError(
                f"expected num_channels to be an int or a non-empty sequence of ints, "
                f"got {num_channels!r}"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise TypeError(f"expected dropout to be a float, got {type(dropout).__name__}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"expected dropout in [0, 1], got {dropout}")
        self.input_size, self.kernel_size, self.batch_first = input_size, kernel_size, batch_first
        self.num_channels = tuple(channels)
        self.blocks = nn.ModuleList(
            TemporalBlock(
                input_size if i == 0 else channels[i - 1],
                c,
                kernel_size,
                2**i,
                dropout,
                device=device,
                dtype=dtype,
            )  # fmt: skip
            for i, c in enumerate(channels)
        )

    @property
    def output_size(self) -> int:
        """Channels of the last block, C_L."""
        return self.num_channels[-1]

    @property
    def receptive_field(self) -> int:
        """Input steps one output step can see: 1 + 2 (k - 1) (2^L - 1)."""
        return 1 + 2 * (self.kernel_size - 1) * (2 ** len(self.blocks) - 1)

    def forward(self, input: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        name = type(self).__name__
        if not isinstance(input, Tensor) or input.dim() != 3:
            got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"{name}: expected input of rank 3 (B, T, I), got {got}")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: expected input with {self.input_size} features (last dim), "
                f"got shape {tuple(input.shape)}"
            )
        x = input if self.batch_first else input.transpose(0, 1)  # (B, T, I)
        batch, steps = x.shape[:2]
        keep = None
        if lengths is not None:
            lens = torch.as_tensor(lengths, device=x.device)
            if lens.dtype.is_floating_point or lens.dtype == torch.bool:
                raise TypeError(f"{name}: expected integer lengths, got dtype {lens.dtype}")
            if tuple(lens.shape) != (batch,):
                raise ValueError(
                    f"{name}: expected lengths of shape ({batch},), got {tuple(lens.shape)}"
                )
            if batch and (int(lens.min()) < 0 or int(lens.max()) > steps):
                raise ValueError(
                    f"{name}: expected lengths in [0, {steps}], got min {int(lens.min())} "
                    f"and max {int(lens.max())}"
                )
            keep = (torch.arange(steps, device=x.device)[None, :] < lens[:, None]).unsqueeze(1)
        if steps == 0:  # no steps, no outputs (Conv1d itself refuses an empty input)
            out = x.new_zeros(batch, 0, self.output_size)
            return out if self.batch_first else out.transpose(0, 1)
        h = x.transpose(1, 2)  # (B, I, T): Conv1d's layout
        for block in self.blocks:
            if keep is not None:
                h = h.masked_fill(~keep, 0.0)
            h = block(h)  # (B, C_i, T)
        if keep is not None:
            h = h.masked_fill(~keep, 0.0)
        out = h.transpose(1, 2)  # (B, T, C_L)
        return out if self.batch_first else out.transpose(0, 1)

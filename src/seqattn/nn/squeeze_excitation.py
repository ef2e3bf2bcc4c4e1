"""Squeeze-and-excitation: attention over channels (Hu, Shen & Sun 2018, "Squeeze-and-Excitation
Networks", CVPR; TPAMI 2019).

A convolution mixes channels only through its learned, input-independent weights. An SE block
lets the network reweight its channels per input, from a global summary of that input:

    squeeze     z_c = 1/(height·width) Σ_{i,j} u_c(i, j)            (Eq. 2, global average pool)
    excitation  s   = σ(W_2 δ(W_1 z + b_1) + b_2)                   (Eq. 3, δ = ReLU, σ = sigmoid)
    scale       x̃_c = s_c · u_c                                     (Eq. 4)

with W_1 ∈ R^{C/r × C} (the bottleneck, reduction ratio r) and W_2 ∈ R^{C × C/r}. The
excitations s ∈ (0, 1)^C are a soft, input-dependent gate per channel: unlike softmax attention
they need not sum to one, so several channels can be emphasised at once. (The paper's Eq. 3 has
no biases; its released models, like torchvision's, use 1x1 convolutions with biases, which is
the default here: ``bias=False`` gives the equation exactly.)

Parameters per block: 2 C²/r (+ C/r + C biases); the paper's Eq. 5 sums 2/r Σ_s N_s C_s² over
the stages s with N_s blocks of C_s channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SqueezeExcitation", "se_parameter_count"]


def _squeeze_width(channels: int, reduction: int) -> int:
    for name, value in (("channels", channels), ("reduction", reduction)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected {name} to be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"expected {name} >= 1, got {value}")
    if channels // reduction < 1:
        raise ValueError(
            f"expected channels // reduction >= 1, got {channels} // {reduction} = "
            f"{channels // reduction} (use a smaller reduction or pass squeeze_channels)"
        )
    return channels // reduction


def se_parameter_count(channels: int, squeeze_channels: int, bias: bool = True) -> int:
    """Parameters of one SE block: 2 C C' (+ C' + C biases), C' = C // r (Hu et al., Eq. 5).

    >>> se_parameter_count(64, 4), se_parameter_count(64, 4, bias=False)
    (580, 512)
    """
    return 2 * channels * squeeze_channels + (squeeze_channels + channels if bias else 0)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation block: s = σ(W_2 ReLU(W_1 avgpool(x))), returns x · s.

    Hu, Shen & Sun (2018), Eqs. 2-4; see the module docstring.

    Args:
        channels: C, the channels of the input.
        reduction: r; the bottleneck has ``channels // reduction`` units, which must be >= 1.
        squeeze_channels: the bottleneck width C' directly (overrides ``reduction``; e.g. a
            model that keeps C' >= 1 for narrow layers at large r).
        bias: biases in both fully connected layers (the released models have them).

    Shape:
        input (B, C, height, width); output likewise; :meth:`excitation` gives (B, C).

    Attributes:
        fc1: ``nn.Linear(C, C')`` (W_1, b_1). fc2: ``nn.Linear(C', C)`` (W_2, b_2).

    Example:
        >>> se = SqueezeExcitation(32, reduction=8)
        >>> x = torch.randn(2, 32, 7, 7)
        >>> se(x).shape, se.excitation(x).shape, se.squeeze_channels
        (torch.Size([2, 32, 7, 7]), torch.Size([2, 32]), 4)
        >>> y, s = se(x, return_excitation=True)
        >>> bool(torch.allclose(y, x * s[:, :, None, None]))
        True
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        squeeze_channels: int | None = None,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if squeeze_channels is None:
            squeeze_channels = _squeeze_width(channels, reduction)
        else:
            _squeeze_width(channels, 1)
            _squeeze_width(squeeze_channels, 1)
        self.channels = channels
        self.squeeze_channels = squeeze_channels
        kw = {"device": device, "dtype": dtype}
        self.fc1 = nn.Linear(channels, squeeze_channels, bias=bias, **kw)
        self.fc2 = nn.Linear(squeeze_channels, channels, bias=bias, **kw)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"expected a Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"expected input of shape (B, {self.channels}, H, W), got {tuple(x.shape)}"
            )

    def excitation(self, x: Tensor) -> Tensor:
        """The channel weights s ∈ (0, 1), shape (B, C), for input x (B, C, height, width)."""
        self._check(x)
        z = x.mean(dim=(2, 3))  # (B, C): squeeze
        return torch.sigmoid(self.fc2(F.relu(self.fc1(z))))  # (B, C): excitation

    def forward(self, x: Tensor, return_excitation: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """x (B, C, height, width) -> x · s (same shape), and s (B, C) with
        ``return_excitation``."""
        s = self.excitation(x)  # (B, C)
        out = x * s[:, :, None, None]  # (B, C, height, width): scale
        return (out, s) if return_excitation else out

    def extra_repr(self) -> str:
        return f"channels={self.channels}, squeeze_channels={self.squeeze_channels}"

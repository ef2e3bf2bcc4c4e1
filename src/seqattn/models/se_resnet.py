"""SE-ResNet for 28x28 images: ResNet-20 (He et al. 2016, the CIFAR variant) with optional
squeeze-and-excitation in every residual block (Hu, Shen & Sun 2018, Fig. 3 right).

ResNet-20: a 3x3 convolution to 16 channels, three stages of three basic blocks with 16, 32 and
64 channels (the first block of stages 2 and 3 halves the resolution with stride 2: 28 -> 14 ->
7), global average pooling and a linear classifier; 6 n + 2 = 20 weighted layers for n = 3.
A basic block is

    y = ReLU(x' + SE(BN(conv3x3(ReLU(BN(conv3x3(x)))))))

where SE rescales the residual branch's channels *before* the addition, as in the paper (the
identity path is not gated), and x' is the shortcut: ``"a"`` (the CIFAR ResNet's parameter-free
option A: subsample with stride 2 and zero-pad the new channels) or ``"b"`` (1x1 convolution and
BN, option B) where the shape changes, the identity otherwise.

The SE bottleneck has C // r units; a narrow stage at a large r would get zero (16 // 32), so
the model keeps at least ``min_squeeze_channels`` units there and says so in
:meth:`SEResNet.squeeze_widths`.

Shape glossary: B batch, C channels, height and width by name (H is heads), K classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn.squeeze_excitation import SqueezeExcitation, se_parameter_count

__all__ = ["SEResNetConfig", "BasicBlock", "SEResNet"]


@dataclass(frozen=True)
class SEResNetConfig:
    """ResNet-20 for 28x28 single-channel images; ``se_reduction=None`` is the plain ResNet.

    Args:
        in_channels, image_size: the expected input (B, in_channels, image_size, image_size).
        num_classes: K.
        widths: channels per stage. blocks_per_stage: n (3 gives ResNet-20).
        se_reduction: r, or None for no SE. min_squeeze_channels: lower bound on C // r.
        se_bias: biases in the SE fully connected layers.
        shortcut: ``"a"`` (zero-padding, parameter-free) or ``"b"`` (1x1 projection).
    """

    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    widths: tuple[int, ...] = (16, 32, 64)
    blocks_per_stage: int = 3
    se_reduction: int | None = 16
    min_squeeze_channels: int = 1
    se_bias: bool = True
    shortcut: Literal["a", "b"] = "a"

    def __post_init__(self) -> None:
        for name in ("in_channels", "image_size", "num_classes", "blocks_per_stage",
                     "min_squeeze_channels"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if not self.widths or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.widths
        ):
            raise ValueError(f"expected widths as positive ints, got {self.widths!r}")
        if self.se_reduction is not None and (
            isinstance(self.se_reduction, bool)
            or not isinstance(self.se_reduction, int)
            or self.se_reduction < 1
        ):
            raise ValueError(f"expected se_reduction as an int >= 1 or None, got "
                             f"{self.se_reduction!r}")  # fmt: skip
        if self.shortcut not in ("a", "b"):
            raise ValueError(f"expected shortcut 'a' or 'b', got {self.shortcut!r}")

    def squeeze_width(self, channels: int) -> int | None:
        """The SE bottleneck width for a block of ``channels``: max(C // r, minimum); None
        without SE."""
        if self.se_reduction is None:
            return None
        return max(channels // self.se_reduction, self.min_squeeze_channels)


class _ShortcutA(nn.Module):
    """Option A: x[:, :, ::s, ::s], zero-padded to the new channel count (no parameters)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # pad channels at the end


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a shortcut; optional SE on the residual branch.

    Args:
        in_channels, out_channels: C_in, C_out. stride: of the first convolution.
        squeeze_channels: SE bottleneck width, or None for the plain residual block.
        se_bias: biases in the SE layers. shortcut: ``"a"`` or ``"b"`` (see the module).

    Shape:
        input (B, C_in, height, width); output (B, C_out, height / stride, width / stride); the
        excitation (B, C_out) with ``return_excitation=True`` (None without SE).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1,
        squeeze_channels: int | None = None, se_bias: bool = True, shortcut: str = "a",
    ) -> None:  # fmt: skip
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = (
            None
            if squeeze_channels is None
            else SqueezeExcitation(out_channels, squeeze_channels=squeeze_channels, bias=se_bias)
        )
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "a":
            self.shortcut = _ShortcutA(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(
        self, x: Tensor, return_excitation: bool = False
    ) -> Tensor | tuple[Tensor, Tensor | None]:
        u = F.relu(self.bn1(self.conv1(x)))  # (B, C_out, height', width')
        u = self.bn2(self.conv2(u))
        s = None
        if self.se is not None:
            u, s = self.se(u, return_excitation=True)  # gate the branch before the addition
        out = F.relu(u + self.shortcut(x))
        return (out, s) if return_excitation else out


class SEResNet(nn.Module):
    """ResNet-20 (He et al. 2016) with SE blocks (Hu et al. 2018) for 28x28 images.

    Args:
        config: :class:`SEResNetConfig`.

    Shape:
        input (B, in_channels, image_size, image_size) float; logits (B, K). With
        ``return_excitations=True`` also ``{block name: (B, C)}`` for every SE block, named
        ``"stage{i}.block{j}"`` (1-based), in depth order.

    Example:
        >>> import torch
        >>> model = SEResNet(SEResNetConfig(se_reduction=16))
        >>> logits, exc = model(torch.randn(2, 1, 28, 28), return_excitations=True)
        >>> logits.shape, list(exc)[:2], exc["stage3.block3"].shape
        (torch.Size([2, 10]), ['stage1.block1', 'stage1.block2'], torch.Size([2, 64]))
    """

    def __init__(self, config: SEResNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or SEResNetConfig()
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.in_channels, cfg.widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(cfg.widths[0]),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.ModuleDict()
        in_c = cfg.widths[0]
        for i, width in enumerate(cfg.widths, start=1):
            for j in range(1, cfg.blocks_per_stage + 1):
                stride = 2 if i > 1 and j == 1 else 1
                self.blocks[f"stage{i}_block{j}"] = BasicBlock(
                    in_c, width, stride, cfg.squeeze_width(width), cfg.se_bias, cfg.shortcut
                )
                in_c = width
        self.fc = nn.Linear(in_c, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def block_names(self) -> list[str]:
        """``"stage{i}.block{j}"`` for every residual block, in depth order."""
        return [k.replace("_", ".") for k in self.blocks]

    def squeeze_widths(self) -> dict[str, int]:
        """The SE bottleneck width C' of every SE block (empty without SE)."""
        return {
            k.replace("_", "."): b.se.squeeze_channels
            for k, b in self.blocks.items()
            if b.se is not None
        }

    def se_parameter_overhead(self) -> int:
        """Parameters the SE blocks add: Σ_blocks 2 C C' (+ C' + C) (Hu et al., Eq. 5)."""
        cfg = self.config
        total = 0
        for width in cfg.widths:
            c_sq = cfg.squeeze_width(width)
            if c_sq is not None:
                total += cfg.blocks_per_stage * se_parameter_count(width, c_sq, cfg.se_bias)
        return total

    def _check(self, x: Tensor) -> None:
        cfg = self.config
        want = (cfg.in_channels, cfg.image_size, cfg.image_size)
        if not isinstance(x, Tensor):
            raise TypeError(f"expected images as a Tensor, got {type(x).__name__}")
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"expected images of shape (B, {', '.join(map(str, want))}), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"expected floating-point images (scale uint8 first), got {x.dtype}")

    def forward(
        self, x: Tensor, return_excitations: bool = False
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        self._check(x)
        h = self.stem(x)  # (B, C_1, height, width)
        excitations = {}
        for key, block in self.blocks.items():
            h, s = block(h, return_excitation=True)
            if s is not None:
                excitations[key.replace("_", ".")] = s  # (B, C)
        logits = self.fc(h.mean(dim=(2, 3)))  # (B, K)
        return (logits, excitations) if return_excitations else logits

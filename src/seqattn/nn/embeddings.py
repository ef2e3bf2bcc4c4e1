"""Positional encodings: sinusoidal (Vaswani et al. 2017, §3.5) and learned.

Both add a position-dependent vector to token embeddings (B, T, D) (or (T, B, D) with
``batch_first=False``) and apply dropout, as in the Transformer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["sinusoidal_encoding", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding"]


def sinusoidal_encoding(length: int, dim: int, base: float = 10000.0, device=None, dtype=None):
    """PE(pos, 2i) = sin(pos / base^(2i/D)), PE(pos, 2i+1) = cos(pos / base^(2i/D)); (T, D).

    Example:
        >>> pe = sinusoidal_encoding(4, 6)
        >>> pe.shape, float(pe[0, 1])
        (torch.Size([4, 6]), 1.0)
    """
    if dim < 1 or length < 0:
        raise ValueError(f"expected length >= 0 and dim >= 1, got length={length}, dim={dim}")
    pos = torch.arange(length, dtype=torch.float64, device=device)[:, None]
    freq = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float64, device=device) * (-math.log(base) / dim)
    )
    pe = torch.zeros(length, dim, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe.to(dtype or torch.get_default_dtype())


class SinusoidalPositionalEncoding(nn.Module):
    """Add fixed sinusoidal position vectors; works for any length (no learned table).

    Args:
        dim: D. dropout: applied after the addition. scale: multiply the input by sqrt(D) first
            (as the Transformer does with its embeddings). batch_first: (B, T, D).
    """

    def __init__(
        self, dim: int, dropout: float = 0.0, scale: bool = False, batch_first: bool = True,
        base: float = 10000.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.dim, self.scale, self.batch_first, self.base = dim, scale, batch_first, base
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        steps = _steps(self, x)
        pe = sinusoidal_encoding(offset + steps, self.dim, self.base, x.device, x.dtype)[offset:]
        pe = pe.unsqueeze(0) if self.batch_first else pe.unsqueeze(1)
        x = x * math.sqrt(self.dim) if self.scale else x
        return self.dropout(x + pe)


def _steps(module: nn.Module, x: Tensor) -> int:
    """T of ``x``, (B, T, D) or (T, B, D) as ``module.batch_first`` says; D checked."""
    if x.dim() != 3 or x.shape[-1] != module.dim:
        raise ValueError(
            f"{type(module).__name__}: expected input (B, T, {module.dim}), got {tuple(x.shape)}"
        )
    return x.shape[1] if module.batch_first else x.shape[0]


class LearnedPositionalEncoding(nn.Module):
    """Add a learned vector per position 0..max_len-1 (Gehring et al. 2017; BERT)."""

    def __init__(
        self, max_len: int, dim: int, dropout: float = 0.0, batch_first: bool = True,
        device=None, dtype=None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.max_len, self.dim, self.batch_first = max_len, dim, batch_first
        self.embedding = nn.Embedding(max_len, dim, device=device, dtype=dtype)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        steps = _steps(self, x)
        if offset + steps > self.max_len:
            raise ValueError(
                f"{type(self).__name__}: expected at most max_len={self.max_len} positions, "
                f"got {offset + steps}"
            )
        pe = self.embedding.weight[offset : offset + steps]
        pe = pe.unsqueeze(0) if self.batch_first else pe.unsqueeze(1)
        return self.dropout(x + pe)

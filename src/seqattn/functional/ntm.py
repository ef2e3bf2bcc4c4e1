"""Addressing and memory access of the neural Turing machine (Graves, Wayne & Danihelka 2014).

Pure, parameter-free functions over a batch of memories. One head step is::

    w_c = content_addressing(memory, key, beta)        # eq. (5), (6)
    w_g = interpolate(w_c, w_prev, gate)               # eq. (7)
    w_s = circular_shift(w_g, shift)                   # eq. (8)
    w   = sharpen(w_s, gamma)                          # eq. (9)

or ``address(...)`` for all four. A read is ``memory_read(memory, w)`` (eq. 2) and a write
``memory_write(memory, w, erase, add)`` (eq. 3, 4).

Numerical safety (the NTM is known for NaNs late in training): cosine similarity divides by
``sqrt(|u|² + eps²)`` so zero-norm rows and keys have similarity 0 and finite gradients;
content weights come from a max-shifted softmax, so a large ``beta`` saturates instead of
overflowing; sharpening is done as ``softmax(gamma * log w)`` with ``w`` clamped away from 0,
so ``0 ** gamma`` (whose gradient in ``gamma`` is ``0 * log 0 = NaN``) never occurs and a large
``gamma`` cannot overflow.

Shapes: B batch (any leading dims), M memory slots (N in the paper), W memory width (M in the
paper), K shift kernel size (odd).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "cosine_similarity",
    "content_addressing",
    "interpolate",
    "circular_shift",
    "sharpen",
    "address",
    "memory_read",
    "memory_write",
]

_TINY = 1e-30  # clamp for log w; exp(gamma * log 1e-30) is below any weight that matters


def _safe_norm(x: Tensor, eps: float) -> Tensor:
    # sqrt(|x|² + eps²) instead of max(|x|, eps): smooth, and the gradient at x = 0 is 0, not NaN
    return torch.sqrt((x * x).sum(-1) + eps * eps)


def cosine_similarity(memory: Tensor, key: Tensor, eps: float = 1e-8) -> Tensor:
    """Cosine similarity K[u, v] = u·v / (|u| |v|) of a key with every memory row (eq. 6).

    Args:
        memory: (B, M, W). key: (B, W).
        eps: regulariser of the norms; a zero row or key has similarity 0.

    Shape:
        Returns (B, M).

    Example:
        >>> cosine_similarity(torch.eye(3)[None], torch.tensor([[1.0, 0.0, 0.0]]))
        tensor([[1., 0., 0.]])
    """
    dot = (memory @ key.unsqueeze(-1)).squeeze(-1)  # (B, M)
    return dot / (_safe_norm(memory, eps) * _safe_norm(key, eps).unsqueeze(-1))


def content_addressing(memory: Tensor, key: Tensor, beta: Tensor, eps: float = 1e-8) -> Tensor:
    """Content weighting w_c = softmax(beta * K[k, M_i]) over memory rows (eq. 5).

    Args:
        memory: (B, M, W). key: (B, W). beta: key strength >= 0, (B,) or (B, 1).

    Shape:
        Returns (B, M), each row on the simplex.
    """
    beta = beta.reshape(beta.shape[0], 1) if beta.dim() == 1 else beta
    return torch.softmax(beta * cosine_similarity(memory, key, eps), dim=-1)


def interpolate(w_content: Tensor, w_prev: Tensor, gate: Tensor) -> Tensor:
    """Interpolation w_g = g w_c + (1 - g) w_{t-1} (eq. 7).

    Args:
        w_content, w_prev: (B, M). gate: g in [0, 1], (B,) or (B, 1).

    Shape:
        Returns (B, M).
    """
    gate = gate.reshape(gate.shape[0], 1) if gate.dim() == 1 else gate
    return gate * w_content + (1.0 - gate) * w_prev


def circular_shift(w: Tensor, shift: Tensor) -> Tensor:
    """Circular convolution w~(i) = sum_j w(j) s(i - j mod M) (eq. 8).

    The kernel ``shift`` has odd size K and covers the offsets -(K-1)/2 .. (K-1)/2 in order:
    ``shift = [0, 1, 0]`` is the identity, ``[0, 0, 1]`` moves every weight one slot forward
    (i -> i + 1). Done as K rolls (K is 3 in practice) rather than an (M, M) matrix.

    Args:
        w: (B, M). shift: (B, K), each row a distribution over offsets.

    Shape:
        Returns (B, M).

    Example:
        >>> circular_shift(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]]))
        tensor([[0., 1., 0., 0.]])
    """
    k = shift.shape[-1]
    if k % 2 != 1:
        raise ValueError(f"expected an odd shift kernel size, got {k}")
    if k > w.shape[-1]:
        raise ValueError(f"expected a shift kernel no larger than {w.shape[-1]} slots, got {k}")
    half = k // 2
    out = shift[..., half : half + 1] * w
    for j in range(k):
        if j != half:
            out = out + shift[..., j : j + 1] * torch.roll(w, j - half, dims=-1)
    return out


def sharpen(w: Tensor, gamma: Tensor) -> Tensor:
    """Sharpening w(i) = w~(i)^gamma / sum_j w~(j)^gamma with gamma >= 1 (eq. 9).

    Computed as ``softmax(gamma * log w~)``: the same value for w~ > 1e-30, but stable for any
    gamma and free of the NaN gradient of ``0 ** gamma`` in gamma.

    Args:
        w: (B, M), non-negative. gamma: (B,) or (B, 1).

    Shape:
        Returns (B, M), on the simplex.
    """
    gamma = gamma.reshape(gamma.shape[0], 1) if gamma.dim() == 1 else gamma
    return torch.softmax(gamma * torch.log(w.clamp_min(_TINY)), dim=-1)


def address(
    memory: Tensor,
    w_prev: Tensor,
    key: Tensor,
    beta: Tensor,
    gate: Tensor,
    shift: Tensor,
    gamma: Tensor,
    eps: float = 1e-8,
) -> Tensor:
    """One head's weighting: content, interpolation, shift, sharpening (eq. 5-9, Fig. 2).

    Args:
        memory: (B, M, W). w_prev: (B, M). key: (B, W). beta, gate, gamma: (B,) or (B, 1).
        shift: (B, K).

    Shape:
        Returns (B, M).
    """
    w = content_addressing(memory, key, beta, eps)
    w = interpolate(w, w_prev, gate)
    w = circular_shift(w, shift)
    return sharpen(w, gamma)


def memory_read(memory: Tensor, w: Tensor) -> Tensor:
    """Read vector r = sum_i w(i) M(i) (eq. 2).

    Shape:
        memory (B, M, W), w (B, M); returns (B, W). With heads, w (B, R, M) gives (B, R, W).
    """
    if w.dim() == memory.dim():  # (B, R, M): all read heads in one matmul
        return w @ memory
    return (w.unsqueeze(-2) @ memory).squeeze(-2)


def memory_write(memory: Tensor, w: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """Erase then add: M~ = M ∘ (1 - w eᵀ), M' = M~ + w aᵀ (eq. 3, 4).

    Args:
        memory: (B, M, W). w: (B, M). erase: (B, W) in [0, 1]. add: (B, W).

    Shape:
        Returns the new memory (B, M, W); the input is not modified.
    """
    wc = w.unsqueeze(-1)  # (B, M, 1)
    return memory * (1.0 - wc * erase.unsqueeze(-2)) + wc * add.unsqueeze(-2)

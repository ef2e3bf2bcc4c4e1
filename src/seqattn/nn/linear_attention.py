"""Causal linear attention (Katharopoulos et al. 2020, "Transformers are RNNs").

Softmax attention's similarity exp(q . k) is replaced by a kernel phi(q) . phi(k) with the
feature map phi(x) = elu(x) + 1 (paper, Eq. 7). Causal attention then becomes an RNN whose state
is a matrix S and a normaliser z (paper, Secs. 3.3-3.4, Eqs. 16-20), per head:

    S_t = S_{t-1} + phi(k_t) v_t^T                  (Dh x Dh)
    z_t = z_{t-1} + phi(k_t)                        (Dh)
    y_t = (phi(q_t)^T S_t) / (phi(q_t)^T z_t + eps)

``mode="sequential"`` runs this recurrence step by step (the definition). ``mode="chunked"``
splits time into chunks of ``chunk_size``: inside a chunk the causal quadratic form
(phi(Q) phi(K)^T masked to j <= i) gives the intra-chunk part, and the state carried from the
previous chunks gives the rest, so the result is the same for every chunk size.

Right-padded batches take ``lengths=``: padded steps leave the state unchanged and give zero
outputs. The streaming API is ``init_state(batch)``, ``step(x_t, state) -> (y_t, state)`` and
``forward(x, state=None) -> (y, state)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn._streaming import MODES, check_input, check_mode, valid_mask

__all__ = ["MODES", "CausalLinearAttention", "elu_feature_map"]


def elu_feature_map(x: Tensor) -> Tensor:
    """phi(x) = elu(x) + 1, positive everywhere (Katharopoulos et al. 2020, Eq. 7)."""
    return F.elu(x) + 1.0


class CausalLinearAttention(nn.Module):
    """Multi-head causal linear attention with a matrix-valued recurrent state.

    Args:
        embed_dim: D, the model dim (input and output).
        num_heads: H; D must be divisible by H (Dh = D / H).
        bias: whether the q, k, v and output projections have biases.
        eps: added to the normaliser phi(q)^T z.

    Shape:
        x: (B, T, D); output (B, T, D); state (S, z) with S (B, H, Dh, Dh), z (B, H, Dh).

    Example:
        >>> attn = CausalLinearAttention(16, num_heads=2)
        >>> y, state = attn(torch.randn(3, 10, 16), lengths=torch.tensor([10, 7, 2]))
        >>> y.shape, state[0].shape
        (torch.Size([3, 10, 16]), torch.Size([3, 2, 8, 8]))
    """

    def __init__(self, embed_dim: int, num_heads: int = 1, bias: bool = True, eps: float = 1e-6):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"expected embed_dim divisible by num_heads, got {embed_dim}, {num_heads}"
            )
        self.embed_dim, self.num_heads, self.eps = embed_dim, num_heads, eps
        self.head_dim = embed_dim // num_heads
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def init_state(self, batch: int, dtype=None, device=None) -> tuple[Tensor, Tensor]:
        """Zero state (S, z) for ``batch`` sequences."""
        p = self.in_proj.weight
        kw = {"dtype": dtype or p.dtype, "device": device or p.device}
        H, Dh = self.num_heads, self.head_dim
        return torch.zeros(batch, H, Dh, Dh, **kw), torch.zeros(batch, H, Dh, **kw)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        B, T, _ = x.shape
        q, k, v = self.in_proj(x).view(B, T, 3, self.num_heads, self.head_dim).unbind(2)
        # (B, H, T, Dh) each
        return (
            elu_feature_map(q).transpose(1, 2),
            elu_feature_map(k).transpose(1, 2),
            v.transpose(1, 2),
        )

    def _check(self, x: Tensor, state, lengths) -> tuple[tuple[Tensor, Tensor], Tensor | None]:
        B, T = check_input(x, self.embed_dim)
        if state is None:
            state = self.init_state(B, x.dtype, x.device)
        H, Dh = self.num_heads, self.head_dim
        if state[0].shape != (B, H, Dh, Dh) or state[1].shape != (B, H, Dh):
            raise ValueError(
                f"expected state of shapes ({B}, {H}, {Dh}, {Dh}) and ({B}, {H}, {Dh}), "
                f"got {tuple(state[0].shape)} and {tuple(state[1].shape)}"
            )
        mask = valid_mask(lengths, B, T, x.device)  # (B, T) or None
        return state, mask

    def forward(
        self,
        x: Tensor,
        state: tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | None = None,
        mode: str = "chunked",
        chunk_size: int = 64,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Attend causally over ``x`` from ``state``; returns (output, final state)."""
        check_mode(mode, chunk_size)
        (S, z), mask = self._check(x, state, lengths)
        q, k, v = self._qkv(x)
        if mask is not None:  # padded steps add nothing to the state
            m = mask[:, None, :, None].to(k.dtype)
            k, v = k * m, v * m
        if mode == "sequential":
            y, S, z = self._sequential(q, k, v, S, z)
        else:
            y, S, z = self._chunked(q, k, v, S, z, chunk_size)
        B, T, D = x.shape
        y = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        if mask is not None:
            y = y * mask[..., None].to(y.dtype)
        return y, (S, z)

    def _read(self, q: Tensor, num: Tensor, den: Tensor) -> Tensor:
        return num / (den + self.eps).unsqueeze(-1)

    def _sequential(self, q, k, v, S, z):
        ys = []
        for t in range(q.shape[2]):
            S = S + k[:, :, t, :, None] * v[:, :, t, None, :]
            z = z + k[:, :, t]
            qt = q[:, :, t]
            num = torch.einsum("bhd,bhde->bhe", qt, S)
            ys.append(self._read(qt, num, (qt * z).sum(-1)))
        return (torch.stack(ys, 2) if ys else v[:, :, :0]), S, z

    def _chunked(self, q, k, v, S, z, chunk_size):
        T, ys = q.shape[2], []
        for s in range(0, T, chunk_size):
            qc, kc, vc = (
                q[:, :, s : s + chunk_size],
                k[:, :, s : s + chunk_size],
                v[:, :, s : s + chunk_size],
            )
            n = qc.shape[2]
            causal = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
            a = (qc @ kc.transpose(-1, -2)).masked_fill(~causal, 0.0)  # (B, H, n, n)
            num = qc @ S + a @ vc
            den = (qc * z.unsqueeze(2)).sum(-1) + a.sum(-1)
            ys.append(self._read(qc, num, den))
            S = S + kc.transpose(-1, -2) @ vc
            z = z + kc.sum(2)
        return (torch.cat(ys, 2) if ys else v[:, :, :0]), S, z

    def step(self, x_t: Tensor, state: tuple[Tensor, Tensor] | None = None):
        """One step: x_t (B, D) -> (y_t (B, D), state)."""
        if x_t.dim() != 2:
            raise ValueError(f"expected x_t of shape (B, {self.embed_dim}), got {tuple(x_t.shape)}")
        y, state = self.forward(x_t[:, None], state, mode="sequential")
        return y[:, 0], state

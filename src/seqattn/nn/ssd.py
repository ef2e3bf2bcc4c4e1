"""Mamba-2's state-space dual (SSD) layer core (Dao & Gu 2024, "Transformers are SSMs").

SSD restricts the selective SSM's A to a scalar times the identity per head, so the recurrence
of head h (state N x P, N the state size, P = Dh the head dim) is

    dt_t = softplus(W_dt x_t + b_dt)              a_t = exp(dt_t * A),  A = -exp(A_log) < 0
    h_t  = a_t h_{t-1} + dt_t B_t x_t^T            (B_t, C_t in R^N, shared by the heads)
    y_t  = h_t^T C_t + D * x_t                                     (paper, Sec. 3 / Eq. 1)

Unrolled, y = M X with the 1-semiseparable mask M_ij = C_i^T B_j dt_j prod_{s=j+1..i} a_s for
j <= i (paper, Sec. 3.2): ``mode="sequential"`` runs the recurrence (the definition),
``mode="chunked"`` the chunked matrix form of Sec. 6 (the quadratic form inside each chunk, the
carried state across chunks), equal for every chunk size. Decays are summed in log space and
masked before ``exp`` so no entry above the diagonal overflows.

This module is the SSD mixing layer only (input projection to x, B, C, dt; SSD; output
projection); the Mamba-2 block's causal convolution, gate and norm are not part of it.
Right-padded batches take ``lengths=`` (padded steps keep the state, outputs are zero); the
streaming API is ``init_state(batch)``, ``step(x_t, state)`` and ``forward(x, state=None)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn._streaming import MODES, check_input, check_mode, valid_mask

__all__ = ["MODES", "SSD"]


class SSD(nn.Module):
    """Mamba-2 SSD mixing layer with scalar-times-identity A per head.

    Args:
        embed_dim: D (input and output).
        num_heads: H; Dh = D / H is the head dim P.
        state_size: N, the length of B_t and C_t.

    Shape:
        x: (B, T, D); output (B, T, D); state (B, H, N, Dh).

    Example:
        >>> ssd = SSD(16, num_heads=2, state_size=4)
        >>> y, h = ssd(torch.randn(3, 10, 16), lengths=torch.tensor([10, 7, 2]))
        >>> y.shape, h.shape
        (torch.Size([3, 10, 16]), torch.Size([3, 2, 4, 8]))
    """

    def __init__(self, embed_dim: int, num_heads: int = 1, state_size: int = 16):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads or state_size <= 0:
            raise ValueError(
                "expected embed_dim divisible by num_heads and state_size > 0, "
                f"got {embed_dim}, {num_heads}, {state_size}"
            )
        self.embed_dim, self.num_heads, self.state_size = embed_dim, num_heads, state_size
        self.head_dim = embed_dim // num_heads
        self.in_proj = nn.Linear(embed_dim, embed_dim + 2 * state_size + num_heads)
        self.A_log = nn.Parameter(torch.log(torch.linspace(1.0, 16.0, num_heads)))
        self.D = nn.Parameter(torch.ones(num_heads))
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def init_state(self, batch: int, dtype=None, device=None) -> Tensor:
        """Zero state (B, H, N, Dh)."""
        p = self.in_proj.weight
        shape = (batch, self.num_heads, self.state_size, self.head_dim)
        return torch.zeros(shape, dtype=dtype or p.dtype, device=device or p.device)

    def _check(self, x: Tensor, state, lengths):
        B, T = check_input(x, self.embed_dim)
        state = self.init_state(B, x.dtype, x.device) if state is None else state
        want = (B, self.num_heads, self.state_size, self.head_dim)
        if state.shape != want:
            raise ValueError(f"expected state of shape {want}, got {tuple(state.shape)}")
        mask = valid_mask(lengths, B, T, x.device)  # (B, T) or None
        return state, mask

    def forward(
        self,
        x: Tensor,
        state: Tensor | None = None,
        lengths: Tensor | None = None,
        mode: str = "chunked",
        chunk_size: int = 64,
    ) -> tuple[Tensor, Tensor]:
        """Run SSD over ``x`` from ``state``; returns (output, final state)."""
        check_mode(mode, chunk_size)
        h, mask = self._check(x, state, lengths)
        B, T, D = x.shape
        H, N = self.num_heads, self.state_size
        xs, Bm, Cm, dt = self.in_proj(x).split([D, N, N, H], -1)
        dt = F.softplus(dt)  # (B, T, H)
        if mask is not None:  # padded steps: a_t = 1 and no input
            dt = dt * mask[..., None].to(dt.dtype)
        log_a = (dt * -torch.exp(self.A_log)).transpose(1, 2)  # (B, H, T)
        u = (xs.view(B, T, H, self.head_dim) * dt[..., None]).transpose(
            1, 2
        )  # dt_t x_t: (B, H, T, Dh)
        run = self._sequential if mode == "sequential" else self._chunked
        y, h = run(log_a, u, Bm, Cm, h, chunk_size)
        y = y + self.D[:, None, None] * xs.view(B, T, H, self.head_dim).transpose(1, 2)
        y = self.out_proj(y.transpose(1, 2).reshape(B, T, D))
        if mask is not None:
            y = y * mask[..., None].to(y.dtype)
        return y, h

    @staticmethod
    def _sequential(log_a, u, Bm, Cm, h, chunk_size):
        ys = []
        for t in range(u.shape[2]):
            outer = Bm[:, None, t, :, None] * u[:, :, t, None, :]  # (B, H, N, Dh)
            h = torch.exp(log_a[:, :, t])[..., None, None] * h + outer
            ys.append(torch.einsum("bhnp,bn->bhp", h, Cm[:, t]))
        return (torch.stack(ys, 2) if ys else u[:, :, :0]), h

    @staticmethod
    def _chunked(log_a, u, Bm, Cm, h, chunk_size):
        ys = []
        for s in range(0, u.shape[2], chunk_size):
            la, uc = log_a[:, :, s : s + chunk_size], u[:, :, s : s + chunk_size]
            bc, cc = Bm[:, s : s + chunk_size], Cm[:, s : s + chunk_size]  # (B, n, N)
            n = uc.shape[2]
            L = la.cumsum(-1)  # (B, H, n): log prod_{s<=i} a_s inside the chunk
            causal = torch.ones(n, n, dtype=torch.bool, device=u.device).tril()
            diff = (L[..., :, None] - L[..., None, :]).masked_fill(~causal, float("-inf"))
            M = torch.exp(diff) * (cc @ bc.transpose(-1, -2))[:, None]  # (B, H, n, n)
            y = M @ uc + torch.exp(L)[..., None] * torch.einsum("bin,bhnp->bhip", cc, h)
            ys.append(y)
            w = torch.exp(L[..., -1:] - L)  # decay from step j to the chunk's end
            h = torch.exp(L[..., -1])[..., None, None] * h + torch.einsum(
                "bjn,bhj,bhjp->bhnp", bc, w, uc
            )
        return (torch.cat(ys, 2) if ys else u[:, :, :0]), h

    def step(self, x_t: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step: x_t (B, D) -> (y_t (B, D), state)."""
        if x_t.dim() != 2:
            raise ValueError(f"expected x_t of shape (B, {self.embed_dim}), got {tuple(x_t.shape)}")
        y, state = self.forward(x_t[:, None], state, mode="sequential")
        return y[:, 0], state

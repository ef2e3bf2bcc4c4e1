"""Mamba-1: the selective state-space model S6 and the Mamba block (Gu & Dao 2023).

An S4-style SSM maps each of the ``hidden_size`` channels u (one scalar per step) through a
state h in R^N. Mamba makes the SSM *selective*: the step size Delta and the matrices B, C depend
on the input (paper, Sec. 3.2, Algorithm 2), per step t and channel d:

    Delta_t = softplus(W_dt (W_r u_t) + b_dt)      (W_r: rank-``dt_rank`` bottleneck, x_proj)
    B_t = W_B u_t,  C_t = W_C u_t                  (B_t, C_t in R^N, shared by the channels)
    A = -exp(A_log)                                (hidden_size x N, negative: a decaying state)

discretised with the zero-order hold for A and the simplified (Euler) rule for B that the
reference ``selective_scan_ref`` uses (paper, Eq. 4; B-bar = (Delta A)^-1 (exp(Delta A) - I)
Delta B is approximated by Delta B):

    A-bar_t = exp(Delta_t A)        B-bar_t u_t = Delta_t B_t u_t
    h_t = A-bar_t * h_{t-1} + B-bar_t u_t          (element-wise over hidden_size x N)
    y_t = C_t^T h_t + D * u_t                                                 (paper, Eq. 2a-2b)

The Mamba block (paper, Fig. 3) wraps S6 as: in_proj D -> 2 hidden_size giving (x, z); x through
a depthwise causal conv1d of width ``conv_kernel`` and SiLU gives u; y = S6(u) * SiLU(z) (the
gating branch); out_proj hidden_size -> D. Parameter names follow the reference
implementation (in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj).

Forms of the scan (``mode``): ``"sequential"`` runs the recurrence one step at a time with plain
autograd (the definition); ``"chunked"`` (default) and ``"scan"`` hand h_t = a_t h_{t-1} + b_t
to :func:`seqattn.functional.scan.linear_recurrence` (chunked, or the Hillis-Steele parallel
prefix scan), whose exact custom backward runs the same recurrence backwards. All forms multiply
and add the same numbers (no log-space division), so they agree to rounding.

Right-padded batches take ``lengths=``: padded steps get Delta = 0 (A-bar = 1, no input), so
the SSM state is unchanged, the conv state keeps the last real inputs, and outputs there are 0.
The streaming API is ``init_state(batch)``, ``step(x_t, state) -> (y_t, state)`` and
``forward(x, state=None) -> (y, state)`` with state = (conv_state, ssm_state).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.scan import linear_recurrence
from seqattn.nn._streaming import check_input, valid_mask

__all__ = ["SCAN_MODES", "Mamba", "selective_scan"]

SCAN_MODES = ("sequential", "chunked", "scan")


def _check_scan_mode(mode: str, chunk_size: int | None) -> None:
    if mode not in SCAN_MODES:
        raise ValueError(f"expected mode in {SCAN_MODES}, got {mode!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"expected chunk_size > 0, got {chunk_size}")


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    h0: Tensor | None = None,
    *,
    mode: str = "chunked",
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The S6 scan: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = C_t^T h_t + D u_t.

    Args:
        u: the channel inputs; delta: the (already positive) step sizes.
        A: the continuous state matrix, diagonal per channel (negative entries).
        B, C: the input-dependent input and output matrices, shared by the channels.
        D: the skip connection per channel, or None.
        h0: the state before the first step, or None (zeros).
        mode: ``"sequential"`` (the definition), ``"chunked"`` or ``"scan"``.
        chunk_size: the chunk length of ``"chunked"`` (default about sqrt(T)).

    Shape:
        u, delta: (B, T, hidden_size); A: (hidden_size, N); B, C: (B, T, N);
        D: (hidden_size,); h0: (B, hidden_size, N).
        Returns y (B, T, hidden_size) and the final state (B, hidden_size, N).
    """
    _check_scan_mode(mode, chunk_size)
    batch, T, hidden = u.shape
    N = A.shape[-1]
    if delta.shape != u.shape or A.shape != (hidden, N):
        raise ValueError(
            f"expected delta of shape {tuple(u.shape)} and A of shape ({hidden}, N), "
            f"got {tuple(delta.shape)} and {tuple(A.shape)}"
        )
    if B.shape != (batch, T, N) or C.shape != (batch, T, N):
        raise ValueError(
            f"expected B and C of shape ({batch}, {T}, {N}), got {tuple(B.shape)}, {tuple(C.shape)}"
        )
    if h0 is None:
        h0 = u.new_zeros(batch, hidden, N)
    a = torch.exp(delta[..., None] * A)  # A-bar: (B, T, hidden_size, N)
    b = (delta * u)[..., None] * B[:, :, None, :]  # B-bar u: (B, T, hidden_size, N)
    if mode == "sequential":
        ys, h = [], h0
        # unbind, not a[:, t]: each slice's backward would write a full-size zero gradient
        for a_t, b_t, c_t in zip(a.unbind(1), b.unbind(1), C.unbind(1), strict=True):
            h = a_t * h + b_t
            ys.append((h * c_t[:, None, :]).sum(-1))
        y = torch.stack(ys, 1) if ys else u[:, :0]
    else:
        hs = linear_recurrence(a, b, h0, mode=mode, chunk_size=chunk_size)
        y = torch.einsum("btdn,btn->btd", hs, C)
        h = hs[:, -1] if T else h0
    if D is not None:
        y = y + D * u
    return y, h


class Mamba(nn.Module):
    """The Mamba block: in_proj, causal depthwise conv + SiLU, S6, SiLU gate, out_proj.

    Args:
        embed_dim: D (input and output).
        hidden_size: the inner width (the reference's d_inner); default 2 * D.
        state_size: N, the SSM state per channel (d_state).
        conv_kernel: width of the causal depthwise convolution (d_conv).
        dt_rank: rank of the Delta projection; default ceil(D / 16).
        dt_min, dt_max: softplus(b_dt) is initialised log-uniform in [dt_min, dt_max].
        bias: whether in_proj and out_proj have biases (the reference: no).

    Shape:
        x: (B, T, D); output (B, T, D); state (conv_state (B, hidden_size, conv_kernel - 1),
        ssm_state (B, hidden_size, N)).

    Example:
        >>> block = Mamba(8, state_size=4)
        >>> y, (conv, h) = block(torch.randn(3, 10, 8), lengths=torch.tensor([10, 7, 2]))
        >>> y.shape, conv.shape, h.shape
        (torch.Size([3, 10, 8]), torch.Size([3, 16, 3]), torch.Size([3, 16, 4]))
    """

    def __init__(
        self,
        embed_dim: int,
        hidden_size: int | None = None,
        state_size: int = 16,
        conv_kernel: int = 4,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        bias: bool = False,
    ):
        super().__init__()
        hidden_size = 2 * embed_dim if hidden_size is None else hidden_size
        dt_rank = math.ceil(embed_dim / 16) if dt_rank is None else dt_rank
        for name, value in (("embed_dim", embed_dim), ("hidden_size", hidden_size),
                            ("state_size", state_size), ("conv_kernel", conv_kernel),
                            ("dt_rank", dt_rank)):  # fmt: skip
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if not 0.0 < dt_min <= dt_max:
            raise ValueError(f"expected 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        self.embed_dim, self.hidden_size, self.state_size = embed_dim, hidden_size, state_size
        self.conv_kernel, self.dt_rank = conv_kernel, dt_rank
        self.in_proj = nn.Linear(embed_dim, 2 * hidden_size, bias=bias)
        self.conv1d = nn.Conv1d(
            hidden_size, hidden_size, conv_kernel, groups=hidden_size, padding=conv_kernel - 1
        )
        self.x_proj = nn.Linear(hidden_size, dt_rank + 2 * state_size, bias=False)
        self.dt_proj = nn.Linear(dt_rank, hidden_size)
        self._init_dt(dt_min, dt_max)
        A = torch.arange(1, state_size + 1, dtype=torch.float32).repeat(hidden_size, 1)
        self.A_log = nn.Parameter(torch.log(A))  # S4D-real init: A = -(1, 2, ..., N)
        self.D = nn.Parameter(torch.ones(hidden_size))
        self.out_proj = nn.Linear(hidden_size, embed_dim, bias=bias)

    @torch.no_grad()
    def _init_dt(self, dt_min: float, dt_max: float) -> None:
        # the reference's init: softplus(b_dt) log-uniform in [dt_min, dt_max]
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        log_dt = torch.rand(self.hidden_size) * (math.log(dt_max) - math.log(dt_min))
        dt = torch.exp(log_dt + math.log(dt_min)).clamp(min=1e-4)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def init_state(self, batch: int, dtype=None, device=None) -> tuple[Tensor, Tensor]:
        """Zero state (conv_state, ssm_state) for ``batch`` sequences."""
        p = self.in_proj.weight
        kw = {"dtype": dtype or p.dtype, "device": device or p.device}
        return (
            torch.zeros(batch, self.hidden_size, self.conv_kernel - 1, **kw),
            torch.zeros(batch, self.hidden_size, self.state_size, **kw),
        )

    def _check(self, x: Tensor, state, lengths):
        B, T = check_input(x, self.embed_dim)
        state = self.init_state(B, x.dtype, x.device) if state is None else state
        want = ((B, self.hidden_size, self.conv_kernel - 1), (B, self.hidden_size, self.state_size))
        if len(state) != 2 or tuple(state[0].shape) != want[0] or tuple(state[1].shape) != want[1]:
            raise ValueError(
                f"expected state of shapes {want[0]} and {want[1]}, "
                f"got {[tuple(s.shape) for s in state]}"
            )
        return state, valid_mask(lengths, B, T, x.device)  # mask (B, T) or None

    def _conv(self, xi: Tensor, conv_state: Tensor, lengths) -> tuple[Tensor, Tensor]:
        """Causal depthwise conv of xi (B, hidden_size, T) continuing from conv_state."""
        K, T = self.conv_kernel, xi.shape[-1]
        xc = torch.cat([conv_state, xi], -1)  # (B, hidden_size, K - 1 + T)
        if T:
            w, bias = self.conv1d.weight, self.conv1d.bias
            out = F.conv1d(xc, w, bias, groups=self.hidden_size)  # (B, hidden_size, T)
        else:
            out = xi
        if lengths is None:
            new_state = xc[..., T:]
        else:  # the last K - 1 inputs before each sequence's end, prior context included
            idx = torch.as_tensor(lengths, device=xi.device)[:, None] + torch.arange(
                K - 1, device=xi.device
            )
            new_state = xc.gather(-1, idx[:, None, :].expand(-1, self.hidden_size, -1))
        return out, new_state

    def forward(
        self,
        x: Tensor,
        state: tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | None = None,
        mode: str = "chunked",
        chunk_size: int | None = 64,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the block over ``x`` from ``state``; returns (output, final state)."""
        _check_scan_mode(mode, chunk_size)
        (conv_state, h), mask = self._check(x, state, lengths)
        xi, z = self.in_proj(x).chunk(2, -1)  # (B, T, hidden_size) each
        u, conv_state = self._conv(xi.transpose(1, 2), conv_state, lengths)
        u = F.silu(u.transpose(1, 2))  # (B, T, hidden_size)
        dt, Bm, Cm = self.x_proj(u).split([self.dt_rank, self.state_size, self.state_size], -1)
        delta = F.softplus(self.dt_proj(dt))  # (B, T, hidden_size)
        if mask is not None:  # padded steps: A-bar = 1, no input
            delta = delta * mask[..., None].to(delta.dtype)
        A = -torch.exp(self.A_log)
        y, h = selective_scan(u, delta, A, Bm, Cm, self.D, h, mode=mode, chunk_size=chunk_size)
        y = self.out_proj(y * F.silu(z))
        if mask is not None:
            y = y * mask[..., None].to(y.dtype)
        return y, (conv_state, h)

    def step(self, x_t: Tensor, state: tuple[Tensor, Tensor] | None = None):
        """One step: x_t (B, D) -> (y_t (B, D), state)."""
        if x_t.dim() != 2:
            raise ValueError(f"expected x_t of shape (B, {self.embed_dim}), got {tuple(x_t.shape)}")
        y, state = self.forward(x_t[:, None], state, mode="sequential")
        return y[:, 0], state

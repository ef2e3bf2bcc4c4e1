"""xLSTM's two cells (Beck et al. 2024): sLSTM and mLSTM, with exponential gating and stabiliser.

Both replace the LSTM's sigmoid input gate by an exponential one, i_t = exp(i~_t), which can
revise a stored value strongly, and keep a normaliser n_t so the read-out is a weighted mean.
exp overflows, so a stabiliser state m_t carries the log of a common scale (paper, Eqs. 15-17):

    m_t = max(log f_t + m_{t-1}, i~_t)
    i'_t = exp(i~_t - m_t)          f'_t = exp(log f_t + m_{t-1} - m_t)

and the stored c, n (sLSTM) or C, n (mLSTM) are the true ones times exp(-m_t). Every read-out is
a ratio of two stored quantities scaled alike, so the stabiliser changes no output.

**sLSTM** (paper, Sec. 2.2, Eqs. 8-14): scalar memory with recurrent connections, per unit

    z_t = tanh(z~_t)   i_t = exp(i~_t)   f_t = sigmoid(f~_t) or exp(f~_t)   o_t = sigmoid(o~_t)
    g~_t = W_g x_t + R_g h_{t-1} + b_g     (g in i, f, z, o; R_g block-diagonal: one
                                            (hidden_size/H)^2 block per head)
    c_t = f_t c_{t-1} + i_t z_t    n_t = f_t n_{t-1} + i_t    h_t = o_t * c_t / n_t

The recurrence on h_{t-1} makes sLSTM sequential only (the paper gives no parallel form).

**mLSTM** (paper, Sec. 2.3, Eqs. 19-27): a matrix memory per head with a covariance update, no
recurrent connections, so it has a parallel form. Per head (Dh = D / H):

    q_t = W_q x_t    k_t = W_k x_t / sqrt(Dh)    v_t = W_v x_t
    i_t = exp(i~_t)  f_t = sigmoid(f~_t)  (scalars per head)    o_t = sigmoid(W_o x_t)
    C_t = f_t C_{t-1} + i_t v_t k_t^T     n_t = f_t n_{t-1} + i_t k_t
    h_t = o_t * C_t q_t / max(|n_t^T q_t|, 1)

``mode="sequential"`` runs this recurrence (stabilised); ``mode="parallel"`` is the paper's
stabilised parallel form (its App. A.3): with F_i = sum_{s<=i} log f_s,
D~_ij = F_i - F_j + i~_j (j <= i), m_i = max(F_i + m_0, max_j D~_ij),
C~ = (Q K^T) * exp(D~ - m), h_i = o_i * (C~ V)_i / max(|sum_j C~_ij|, exp(-m_i)) (plus the
carried state's part); ``mode="chunked"`` applies that form inside chunks of ``chunk_size`` and
carries (C, n, m) between them, so the result does not depend on the chunk size. ``parallel``
is ``chunked`` with one chunk: O(T^2) memory, and no faster than ``chunked`` on the dev CPU
(equal at T = 64, slower from T = 256; benchmarks/modern_recurrent_forms.py).

Right-padded batches take ``lengths=``: padded steps get f = 1 and i = 0 (sLSTM: the state is
kept), so the state is unchanged there and the outputs are zero. The streaming API is
``init_state(batch)``, ``step(x_t, state) -> (y_t, state)``, ``forward(x, state=None)``. The
xLSTM *blocks* around the cells (up-projections, causal conv, group norm, skip) are not here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn._heads import HeadsLayer
from seqattn.nn._streaming import check_input, valid_mask

__all__ = ["MLSTM", "MLSTM_MODES", "SLSTM"]

MLSTM_MODES = ("sequential", "parallel", "chunked")


def _check_state(state, want: list[tuple[int, ...]]) -> None:
    got = [tuple(s.shape) for s in state]
    if got != want:
        raise ValueError(f"expected state of shapes {want}, got {got}")


class MLSTM(HeadsLayer):
    """The mLSTM cell layer: matrix memory, covariance update, exponential input gate.

    Args:
        embed_dim: D (input and output).
        num_heads: H; D must be divisible by H (Dh = D / H).
        bias: whether the q, k, v, output-gate and output projections have biases.

    Shape:
        x: (B, T, D); output (B, T, D); state (C (B, H, Dh, Dh) indexed [value, key],
        n (B, H, Dh), m (B, H)).

    Example:
        >>> cell = MLSTM(16, num_heads=2)
        >>> y, (C, n, m) = cell(torch.randn(3, 10, 16), lengths=torch.tensor([10, 7, 2]))
        >>> y.shape, C.shape, m.shape
        (torch.Size([3, 10, 16]), torch.Size([3, 2, 8, 8]), torch.Size([3, 2]))
    """

    def __init__(self, embed_dim: int, num_heads: int = 1, bias: bool = True):
        super().__init__(embed_dim, num_heads)
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)  # q, k, v
        self.gate_proj = nn.Linear(embed_dim, 2 * num_heads)  # i~, f~ per head
        self.o_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # the output gate
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        with torch.no_grad():  # forget gates start open (f ~ 0.95 .. 0.998), as in the paper's code
            self.gate_proj.bias[:num_heads].zero_()
            self.gate_proj.bias[num_heads:].copy_(torch.linspace(3.0, 6.0, num_heads))

    def init_state(self, batch: int, dtype=None, device=None) -> tuple[Tensor, Tensor, Tensor]:
        """Zero state (C, n, m) for ``batch`` sequences."""
        p = self.in_proj.weight
        kw = {"dtype": dtype or p.dtype, "device": device or p.device}
        H, Dh = self.num_heads, self.head_dim
        return (
            torch.zeros(batch, H, Dh, Dh, **kw),
            torch.zeros(batch, H, Dh, **kw),
            torch.zeros(batch, H, **kw),
        )

    def forward(
        self,
        x: Tensor,
        state: tuple[Tensor, Tensor, Tensor] | None = None,
        lengths: Tensor | None = None,
        mode: str = "chunked",
        chunk_size: int = 64,
    ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """Run the cell over ``x`` from ``state``; returns (output, final state)."""
        if mode not in MLSTM_MODES:
            raise ValueError(f"expected mode in {MLSTM_MODES}, got {mode!r}")
        if chunk_size <= 0:
            raise ValueError(f"expected chunk_size > 0, got {chunk_size}")
        B, T = check_input(x, self.embed_dim)
        H, Dh = self.num_heads, self.head_dim
        state = self.init_state(B, x.dtype, x.device) if state is None else state
        _check_state(state, [(B, H, Dh, Dh), (B, H, Dh), (B, H)])
        mask = valid_mask(lengths, B, T, x.device)  # (B, T) or None
        q, k, v = self.in_proj(x).view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)  # (B, H, T, Dh)
        k = k / Dh**0.5
        i_pre, f_pre = self.gate_proj(x).transpose(1, 2).split(H, 1)  # (B, H, T) each
        log_f = F.logsigmoid(f_pre)
        if mask is not None:  # padded steps: f = 1, i = 0
            keep = mask[:, None, :]
            log_f = log_f * keep.to(log_f.dtype)
            i_pre = i_pre.masked_fill(~keep, float("-inf"))
        if mode == "sequential":
            h, state = self._sequential(q, k, v, i_pre, log_f, state)
        else:
            size = max(T, 1) if mode == "parallel" else chunk_size
            h, state = self._chunked(q, k, v, i_pre, log_f, state, size)
        y = self.out_proj(torch.sigmoid(self.o_proj(x)) * self._merge(h))
        if mask is not None:
            y = y * mask[..., None].to(y.dtype)
        return y, state

    @staticmethod
    def _sequential(q, k, v, i_pre, log_f, state):
        C, n, m = state
        hs = []
        steps = zip(*(t.unbind(2) for t in (q, k, v, i_pre, log_f)), strict=True)
        for qt, kt, vt, it, lf in steps:  # unbind: one backward per tensor, not one per slice
            m_new = torch.maximum(lf + m, it)
            fp = torch.exp(lf + m - m_new)[..., None]
            ip = torch.exp(it - m_new)[..., None]
            C = fp[..., None] * C + ip[..., None] * vt[..., :, None] * kt[..., None, :]
            n = fp * n + ip * kt
            num = torch.einsum("bhvk,bhk->bhv", C, qt)
            den = torch.maximum((n * qt).sum(-1).abs(), torch.exp(-m_new))
            hs.append(num / den[..., None])
            m = m_new
        return (torch.stack(hs, 2) if hs else v[:, :, :0]), (C, n, m)

    @staticmethod
    def _chunked(q, k, v, i_pre, log_f, state, chunk_size):
        C, n, m = state
        hs = []
        for s in range(0, q.shape[2], chunk_size):
            qc, kc, vc = (t[:, :, s : s + chunk_size] for t in (q, k, v))
            ic, Fc = i_pre[..., s : s + chunk_size], log_f[..., s : s + chunk_size].cumsum(-1)
            L = qc.shape[2]
            causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
            Dt = (Fc[..., :, None] - Fc[..., None, :] + ic[..., None, :]).masked_fill(
                ~causal, float("-inf")
            )  # (B, H, L, L): log of the true weight of step j in the memory at step i
            carried = Fc + m[..., None]  # log weight of the carried state at each step i
            mi = torch.maximum(carried, Dt.amax(-1))  # (B, H, L): the stabiliser m_i
            S = (qc @ kc.transpose(-1, -2)) * torch.exp(Dt - mi[..., None])
            sc = torch.exp(carried - mi)[..., None]
            num = S @ vc + sc * torch.einsum("bhik,bhvk->bhiv", qc, C)
            den = S.sum(-1, keepdim=True) + sc * (qc @ n[..., None])
            hs.append(num / torch.maximum(den.abs(), torch.exp(-mi)[..., None]))
            m_end = mi[..., -1]
            w = torch.exp(Fc[..., -1:] - Fc + ic - m_end[..., None])  # (B, H, L)
            se = torch.exp(carried[..., -1] - m_end)
            C = se[..., None, None] * C + torch.einsum("bhj,bhjv,bhjk->bhvk", w, vc, kc)
            n = se[..., None] * n + torch.einsum("bhj,bhjk->bhk", w, kc)
            m = m_end
        return (torch.cat(hs, 2) if hs else v[:, :, :0]), (C, n, m)


class SLSTM(nn.Module):
    """The sLSTM cell layer: exponential gating, normaliser, stabiliser, block-diagonal recurrence.

    Args:
        input_size: the features of x (D).
        hidden_size: the units; divisible by ``num_heads``.
        num_heads: H, the blocks of the recurrent matrices (each (hidden_size/H)^2 per gate).
        bias: whether the input projection has a bias.
        forget_gate: ``"sigmoid"`` or ``"exp"`` (both in the paper).

    Parameters follow torch.nn.LSTM's naming with the gate order (i, f, z, o):
    ``weight_ih`` (4 hidden_size, D), ``bias_ih`` (4 hidden_size), and ``weight_hh`` of shape
    (H, 4, hidden_size/H, hidden_size/H), one block per head and gate.

    Shape:
        x: (B, T, D); output (B, T, hidden_size); state (h, c, n, m), each (B, hidden_size).

    Example:
        >>> cell = SLSTM(8, hidden_size=12, num_heads=3)
        >>> y, (h, c, n, m) = cell(torch.randn(2, 5, 8), lengths=torch.tensor([5, 3]))
        >>> y.shape, h.shape
        (torch.Size([2, 5, 12]), torch.Size([2, 12]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_heads: int = 1,
        bias: bool = True,
        forget_gate: str = "sigmoid",
    ):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0 or num_heads <= 0 or hidden_size % num_heads:
            raise ValueError(
                "expected positive input_size and hidden_size divisible by num_heads, "
                f"got {input_size}, {hidden_size}, {num_heads}"
            )
        if forget_gate not in ("sigmoid", "exp"):
            raise ValueError(f"expected forget_gate 'sigmoid' or 'exp', got {forget_gate!r}")
        self.input_size, self.hidden_size, self.num_heads = input_size, hidden_size, num_heads
        self.head_dim, self.forget_gate = hidden_size // num_heads, forget_gate
        Dh = self.head_dim
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.bias_ih = nn.Parameter(torch.zeros(4 * hidden_size)) if bias else None
        self.weight_hh = nn.Parameter(torch.empty(num_heads, 4, Dh, Dh))
        bound = hidden_size**-0.5
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -(Dh**-0.5), Dh**-0.5)
        if bias and forget_gate == "sigmoid":  # forget gates start open
            with torch.no_grad():
                self.bias_ih[hidden_size : 2 * hidden_size].fill_(3.0)

    def init_state(self, batch: int, dtype=None, device=None) -> tuple[Tensor, ...]:
        """Zero state (h, c, n, m) for ``batch`` sequences."""
        p = self.weight_ih
        kw = {"dtype": dtype or p.dtype, "device": device or p.device}
        return tuple(torch.zeros(batch, self.hidden_size, **kw) for _ in range(4))

    def _recurrent(self, h: Tensor) -> Tensor:
        """R h for the block-diagonal R: (B, hidden_size) -> (B, 4, hidden_size)."""
        B = h.shape[0]
        r = torch.einsum("hgde,bhe->bghd", self.weight_hh, h.view(B, self.num_heads, -1))
        return r.reshape(B, 4, self.hidden_size)

    def _cell(self, pre: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        h, c, n, m = state
        i_pre, f_pre, z_pre, o_pre = (pre + self._recurrent(h)).unbind(1)
        log_f = F.logsigmoid(f_pre) if self.forget_gate == "sigmoid" else f_pre
        m_new = torch.maximum(log_f + m, i_pre)
        ip, fp = torch.exp(i_pre - m_new), torch.exp(log_f + m - m_new)
        c = fp * c + ip * torch.tanh(z_pre)
        n = fp * n + ip
        return torch.sigmoid(o_pre) * c / n, c, n, m_new

    def forward(
        self,
        x: Tensor,
        state: tuple[Tensor, ...] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Run the cell over ``x`` from ``state``; returns (output, final state)."""
        B, T = check_input(x, self.input_size)
        state = self.init_state(B, x.dtype, x.device) if state is None else tuple(state)
        _check_state(state, [(B, self.hidden_size)] * 4)
        mask = valid_mask(lengths, B, T, x.device)  # (B, T) or None
        pre = F.linear(x, self.weight_ih, self.bias_ih).view(B, T, 4, self.hidden_size)
        ys = []
        for t, pre_t in enumerate(pre.unbind(1)):
            new = self._cell(pre_t, state)
            if mask is not None:  # padded steps keep the state
                keep = mask[:, t, None]
                new = tuple(torch.where(keep, a, b) for a, b in zip(new, state, strict=True))
            state = new
            ys.append(state[0] if mask is None else state[0] * mask[:, t, None].to(x.dtype))
        y = torch.stack(ys, 1) if ys else x.new_zeros(B, 0, self.hidden_size)
        return y, state

    def step(self, x_t: Tensor, state=None):
        """One step: x_t (B, D) -> (y_t (B, hidden_size), state)."""
        if x_t.dim() != 2:
            raise ValueError(
                f"expected x_t of shape (B, {self.input_size}), got {tuple(x_t.shape)}"
            )
        y, state = self.forward(x_t[:, None], state)
        return y[:, 0], state

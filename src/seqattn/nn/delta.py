"""DeltaNet and gated linear attention (GLA): linear attention with a forgetting matrix state.

Plain linear attention (:mod:`seqattn.nn.linear_attention`) only adds to its state,
S_t = S_{t-1} + k_t v_t^T, so old associations are never removed. Two fixes, per head
(state S in R^{Dh x Dh} indexed [key, value], read-out o_t = S_t^T q_t):

**DeltaNet** (Schlag et al. 2021, "Linear Transformers Are Secretly Fast Weight Programmers";
parallelised by Yang et al. 2024, "Parallelizing Linear Transformers with the Delta Rule") writes
with the delta rule: it first reads what the state stores for k_t and replaces a fraction
beta_t of it by v_t. In the papers' value-by-key convention (S^T):

    S_t^T = S_{t-1}^T (I - beta_t k_t k_t^T) + beta_t v_t k_t^T
          = S_{t-1}^T + beta_t (v_t - S_{t-1}^T k_t) k_t^T          (Yang et al. 2024, Eq. 3)

with q, k = L2-normalised SiLU features (so I - beta k k^T is a contraction) and
beta_t = sigmoid(w_beta^T x_t) per head. The chunked form is the WY/UT representation (Yang et
al. 2024, Sec. 3): inside a chunk of L steps with carried state S,
T = (I + tril(diag(beta) K K^T, -1))^{-1} diag(beta), W = T K, U = T V, and then

    U' = U - W S         O = Q S + (Q K^T * M) U'        S <- S + K^T U'     (M: causal, j <= i)

(one unit-triangular solve per chunk, the rest matmuls).

**GLA** (Yang et al. 2023, "Gated Linear Attention Transformers with Hardware-Efficient
Training") decays the state with a data-dependent diagonal gate over the key dim:

    alpha_t = sigmoid(x_t W_a1 W_a2 + b_a)^(1/tau)     (low rank 16, tau = 16; in (0, 1)^Dh)
    S_t = Diag(alpha_t) S_{t-1} + k_t v_t^T            o_t = S_t^T q_t        (paper, Eq. 3)
    y_t = W_o (LayerNorm(o_t) * swish(W_r x_t))                               (paper, Sec. 4.4)

Chunked with the log-space cumulative decay b_i = sum_{s<=i} log alpha_s inside a chunk:
o_i = (q_i * e^{b_i})^T S + sum_{j<=i} (q_i * e^{b_i - b_j})^T k_j v_j, and
S <- Diag(e^{b_L}) S + sum_j (k_j * e^{b_L - b_j}) v_j^T. Differences b_i - b_j are masked to
j <= i before ``exp``, so every exponent is <= 0 and nothing overflows.

``mode="sequential"`` runs the recurrence (the definition); ``mode="chunked"`` the chunked form,
equal for every ``chunk_size``. Right-padded batches take ``lengths=``: padded steps have
beta = 0 (DeltaNet) or alpha = 1 and k = 0 (GLA), so the state is unchanged, and their outputs
are zero. The streaming API is ``init_state(batch)``, ``step(x_t, state)`` and
``forward(x, state=None) -> (y, state)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn._heads import HeadsLayer
from seqattn.nn._streaming import MODES, check_input, check_mode, valid_mask

__all__ = ["MODES", "DeltaNet", "GatedLinearAttention"]


class _MatrixStateLayer(HeadsLayer):
    """Shared checks, zero state and forward of the per-head (Dh x Dh) state layers."""

    def init_state(self, batch: int, dtype=None, device=None) -> Tensor:
        """Zero state (B, H, Dh, Dh) for ``batch`` sequences."""
        p = self.in_proj.weight
        shape = (batch, self.num_heads, self.head_dim, self.head_dim)
        return torch.zeros(shape, dtype=dtype or p.dtype, device=device or p.device)

    def _check(self, x: Tensor, state, lengths, mode: str, chunk_size: int):
        check_mode(mode, chunk_size)
        B, T = check_input(x, self.embed_dim)
        state = self.init_state(B, x.dtype, x.device) if state is None else state
        want = (B, self.num_heads, self.head_dim, self.head_dim)
        if state.shape != want:
            raise ValueError(f"expected state of shape {want}, got {tuple(state.shape)}")
        return state, valid_mask(lengths, B, T, x.device)  # mask (B, T) or None

    def _heads(self, t: Tensor) -> Tensor:
        """(B, T, D) -> (B, H, T, Dh)."""
        B, T, _ = t.shape
        return t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: Tensor,
        state: Tensor | None = None,
        lengths: Tensor | None = None,
        mode: str = "chunked",
        chunk_size: int = 64,
    ) -> tuple[Tensor, Tensor]:
        """Run the layer over ``x`` from ``state``; returns (output, final state)."""
        S, mask = self._check(x, state, lengths, mode, chunk_size)
        q, k, v = (self._heads(t) for t in self.in_proj(x).chunk(3, -1))  # (B, H, T, Dh)
        q, k, g = self._gates(x, q, k, mask)  # g: DeltaNet's beta or GLA's log alpha
        if mode == "sequential":
            o, S = self._sequential(q, k, v, g, S)
        else:
            o, S = self._chunked(q, k, v, g, S, chunk_size)
        y = self._output(o, x)
        if mask is not None:
            y = y * mask[..., None].to(y.dtype)
        return y, S


class DeltaNet(_MatrixStateLayer):
    """Multi-head DeltaNet: linear attention whose state is written with the delta rule.

    Args:
        embed_dim: D (input and output).
        num_heads: H; D must be divisible by H (Dh = D / H).
        bias: whether the q, k, v and output projections have biases.

    Shape:
        x: (B, T, D); output (B, T, D); state (B, H, Dh, Dh) indexed [key, value].

    Example:
        >>> layer = DeltaNet(16, num_heads=2)
        >>> y, S = layer(torch.randn(3, 10, 16), lengths=torch.tensor([10, 7, 2]))
        >>> y.shape, S.shape
        (torch.Size([3, 10, 16]), torch.Size([3, 2, 8, 8]))
    """

    def __init__(self, embed_dim: int, num_heads: int = 1, bias: bool = True):
        super().__init__(embed_dim, num_heads)
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.beta_proj = nn.Linear(embed_dim, num_heads)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def _gates(self, x: Tensor, q: Tensor, k: Tensor, mask: Tensor | None):
        q, k = (F.normalize(F.silu(t), dim=-1) for t in (q, k))
        beta = torch.sigmoid(self.beta_proj(x)).transpose(1, 2)  # (B, H, T)
        if mask is not None:  # padded steps: beta = 0 leaves the state unchanged
            beta = beta * mask[:, None, :].to(beta.dtype)
        return q, k, beta

    def _output(self, o: Tensor, x: Tensor) -> Tensor:
        return self.out_proj(self._merge(o))

    @staticmethod
    def _sequential(q, k, v, beta, S):
        outs = []
        for qt, kt, vt, bt in zip(*(t.unbind(2) for t in (q, k, v, beta)), strict=True):
            err = vt - torch.einsum("bhkv,bhk->bhv", S, kt)  # v_t - S^T k_t
            S = S + (bt[..., None] * kt)[..., :, None] * err[..., None, :]
            outs.append(torch.einsum("bhkv,bhk->bhv", S, qt))
        return (torch.stack(outs, 2) if outs else v[:, :, :0]), S

    @staticmethod
    def _chunked(q, k, v, beta, S, chunk_size):
        outs = []
        for s in range(0, q.shape[2], chunk_size):
            qc, kc, vc = (t[:, :, s : s + chunk_size] for t in (q, k, v))
            bc = beta[:, :, s : s + chunk_size, None]  # (B, H, L, 1)
            L = qc.shape[2]
            kk = kc @ kc.transpose(-1, -2)  # (B, H, L, L)
            A = (bc * kk).tril(-1)  # strictly lower: I + A is unit lower triangular
            # the UT transform: W = T K, U = T V with T = (I + A)^-1 diag(beta), one solve
            WU = torch.linalg.solve_triangular(
                A, torch.cat([bc * kc, bc * vc], -1), upper=False, unitriangular=True
            )
            W, U = WU.split(kc.shape[-1], -1)
            Up = U - W @ S  # (B, H, L, Dh): the pseudo-values u'_j = beta_j (v_j - S_{j-1}^T k_j)
            causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
            outs.append(qc @ S + (qc @ kc.transpose(-1, -2)).masked_fill(~causal, 0.0) @ Up)
            S = S + kc.transpose(-1, -2) @ Up
        return (torch.cat(outs, 2) if outs else v[:, :, :0]), S


class GatedLinearAttention(_MatrixStateLayer):
    """Multi-head gated linear attention (GLA) with a data-dependent diagonal decay.

    Args:
        embed_dim: D (input and output).
        num_heads: H; D must be divisible by H (Dh = D / H).
        gate_rank: rank of the decay projection W_a1 W_a2 (the paper: 16).
        gate_temperature: tau in alpha = sigmoid(.)^(1/tau) (the paper: 16).
        bias: whether the q, k, v, output-gate and output projections have biases.

    Shape:
        x: (B, T, D); output (B, T, D); state (B, H, Dh, Dh) indexed [key, value].

    Example:
        >>> layer = GatedLinearAttention(16, num_heads=2)
        >>> y, S = layer(torch.randn(3, 10, 16), lengths=torch.tensor([10, 7, 2]))
        >>> y.shape, S.shape
        (torch.Size([3, 10, 16]), torch.Size([3, 2, 8, 8]))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int = 1,
        gate_rank: int = 16,
        gate_temperature: float = 16.0,
        bias: bool = True,
    ):
        super().__init__(embed_dim, num_heads)
        if gate_rank <= 0 or gate_temperature <= 0:
            raise ValueError(
                f"expected gate_rank > 0 and gate_temperature > 0, got {gate_rank}, "
                f"{gate_temperature}"
            )
        self.gate_temperature = float(gate_temperature)
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.gate_down = nn.Linear(embed_dim, gate_rank, bias=False)  # W_a1
        self.gate_up = nn.Linear(gate_rank, embed_dim)  # W_a2, b_a
        self.r_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # the swish output gate
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def _gates(self, x: Tensor, q: Tensor, k: Tensor, mask: Tensor | None):
        log_a = self._heads(F.logsigmoid(self.gate_up(self.gate_down(x))) / self.gate_temperature)
        if mask is not None:  # padded steps: alpha = 1 and no write
            keep = mask[:, None, :, None].to(k.dtype)
            log_a, k = log_a * keep, k * keep
        return q, k, log_a  # log_a: (B, H, T, Dh)

    def _output(self, o: Tensor, x: Tensor) -> Tensor:
        o = F.layer_norm(o, (self.head_dim,))  # per head, as the paper's LayerNorm(o)
        return self.out_proj(self._merge(o) * F.silu(self.r_proj(x)))

    @staticmethod
    def _sequential(q, k, v, log_a, S):
        outs = []
        for qt, kt, vt, la in zip(*(t.unbind(2) for t in (q, k, v, log_a)), strict=True):
            S = torch.exp(la[..., :, None]) * S + kt[..., :, None] * vt[..., None, :]
            outs.append(torch.einsum("bhkv,bhk->bhv", S, qt))
        return (torch.stack(outs, 2) if outs else v[:, :, :0]), S

    @staticmethod
    def _chunked(q, k, v, log_a, S, chunk_size):
        outs = []
        for s in range(0, q.shape[2], chunk_size):
            qc, kc, vc = (t[:, :, s : s + chunk_size] for t in (q, k, v))
            b = log_a[:, :, s : s + chunk_size].cumsum(2)  # (B, H, L, Dh)
            L = qc.shape[2]
            causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()[..., None]
            diff = (b[:, :, :, None] - b[:, :, None]).masked_fill(~causal, float("-inf"))
            # (B, H, L, L); the broadcast product runs ~2x faster than the 3-operand einsum
            A = (qc[:, :, :, None] * kc[:, :, None] * torch.exp(diff)).sum(-1)
            outs.append((qc * torch.exp(b)) @ S + A @ vc)
            b_end = b[:, :, -1:]  # (B, H, 1, Dh)
            S = (
                torch.exp(b_end).transpose(-1, -2) * S
                + (kc * torch.exp(b_end - b)).transpose(-1, -2) @ vc
            )
        return (torch.cat(outs, 2) if outs else v[:, :, :0]), S

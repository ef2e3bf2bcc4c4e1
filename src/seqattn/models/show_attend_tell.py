"""Show, attend and tell: image captioning with soft attention (Xu et al., 2015).

Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel & Bengio (2015), "Show, attend and tell:
neural image caption generation with visual attention", section 3 (deterministic soft
attention):

* encoder: a CNN maps the image to an L x D grid of annotation vectors a_1..a_L (eq. 1);
* attention: e_ti = f_att(a_i, h_{t-1}) an MLP (here :class:`AdditiveAttention`,
  v^T tanh(W h_{t-1} + U a_i + b)), alpha_t = softmax(e_t) (eqs. 4-5);
* gating: z_t = beta_t * sum_i alpha_ti a_i with beta_t = sigmoid(f_beta(h_{t-1})) (sec. 4.2.1);
* decoder: an LSTM fed [E y_{t-1}; z_t] (eqs. 1-3 with the context as input);
* deep output: p(y_t) ~ exp(L_o(E y_{t-1} + L_h h_t + L_z z_t)) (eq. 7);
* initial state: h_0 = f_init,h(mean_i a_i), c_0 = f_init,c(mean_i a_i) (tanh MLPs, sec. 3.1.2);
* doubly stochastic regularisation: lambda * sum_i (1 - sum_t alpha_ti)^2 (eq. 14).

The decoder exposes one step, ``step(y_prev, state, memory)``, with every piece of state passed
explicitly (the encoder's features and their precomputed key projection as ``memory``), so any
search (greedy here, beam search in :mod:`seqattn.decoding`) can reorder it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.nn.attention.additive import AdditiveAttention
from seqattn.nn.recurrent.cells import LSTMCell

__all__ = [
    "ShowAttendTellConfig",
    "ShowAttendTell",
    "CaptionOutput",
    "GreedyCaptions",
    "doubly_stochastic_penalty",
    "caption_loss",
]


@dataclass(frozen=True)
class ShowAttendTellConfig:
    """Hyper-parameters of :class:`ShowAttendTell`.

    Args:
        vocab_size: K, output words (specials included).
        in_channels: image channels (1 grey, 3 RGB).
        channels: output channels of the CNN's conv-BN-ReLU blocks.
        num_pools: a 2x2 max-pool follows each of the first ``num_pools`` blocks, so the
            feature grid is the image downsampled by ``2**num_pools``.
        position_features: append each region's (row, col) centre in [-1, 1] to its
            annotation vector, so attention can move in reading order (a CNN's features say
            what is there, hardly where).
        embed_dim: m, word embedding size. hidden_size: n, LSTM size. attn_dim: the attention
            MLP's hidden size.
        dropout: on the deep output's input (the paper: dropout before L_o).
        gate: use beta_t (False: z_t is the plain context).
        deep_output: eq. 7 (False: logits = L_o h_t).
        pad_id, bos_id, eos_id: special word ids.
    """

    vocab_size: int
    in_channels: int = 1
    channels: tuple[int, ...] = (32, 64, 64)
    num_pools: int = 3
    position_features: bool = True
    embed_dim: int = 64
    hidden_size: int = 128
    attn_dim: int = 96
    dropout: float = 0.2
    gate: bool = True
    deep_output: bool = True
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        for name in ("vocab_size", "in_channels", "embed_dim", "hidden_size", "attn_dim"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"expected {name} to be a positive int, got {v!r}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"expected channels as positive ints, got {self.channels!r}")
        if not 0 <= self.num_pools <= len(self.channels):
            raise ValueError(
                f"expected 0 <= num_pools <= len(channels) = {len(self.channels)}, "
                f"got {self.num_pools}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"expected 0 <= dropout < 1, got {self.dropout}")
        for name in ("pad_id", "bos_id", "eos_id"):
            v = getattr(self, name)
            if not 0 <= v < self.vocab_size:
                raise ValueError(f"expected 0 <= {name} < vocab_size, got {v}")

    @property
    def feature_dim(self) -> int:
        """D, the size of an annotation vector."""
        return self.channels[-1] + (2 if self.position_features else 0)

    @property
    def stride(self) -> int:
        """Pixels per feature-grid cell along each axis."""
        return 2**self.num_pools

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShowAttendTellConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"expected config keys from {sorted(known)}, got unknown {unknown}")
        return cls(**d)


class CaptionOutput(NamedTuple):
    """Teacher-forced outputs: logits (B, T, K), alphas (B, T, L), betas (B, T), grid
    (height', width')."""

    logits: Tensor
    alphas: Tensor
    betas: Tensor
    grid: tuple[int, int]


class GreedyCaptions(NamedTuple):
    """Greedy decoding: tokens (B, T) without <bos> (<pad> after <eos>), lengths (B,) counting
    the <eos> when produced, alphas (B, T, L), betas (B, T), grid (height', width')."""

    tokens: Tensor
    lengths: Tensor
    alphas: Tensor
    betas: Tensor
    grid: tuple[int, int]


class ShowAttendTell(nn.Module):
    """CNN encoder + LSTM decoder with soft attention, gating and a deep output layer.

    Args:
        config: :class:`ShowAttendTellConfig`.

    Shape:
        images (B, C, height, width) float; captions (B, T) int64 starting with <bos> (the decoder's
        inputs y_0..y_{T-1}). Features (B, L, D) with L = (height / stride) * (width / stride).

    Example:
        >>> cfg = ShowAttendTellConfig(vocab_size=12, channels=(8, 8), num_pools=2)
        >>> model = ShowAttendTell(cfg)
        >>> out = model(torch.rand(2, 1, 32, 48), torch.tensor([[2, 5, 6], [2, 7, 3]]))
        >>> out.logits.shape, out.alphas.shape, out.grid
        (torch.Size([2, 3, 12]), torch.Size([2, 3, 96]), (8, 12))
    """

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__()
        self.config = cfg = config
        blocks: list[nn.Module] = []
        prev = cfg.in_channels
        for i, ch in enumerate(cfg.channels):
            blocks += [nn.Conv2d(prev, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
            if i < cfg.num_pools:
                blocks.append(nn.MaxPool2d(2))
            prev = ch
        self.encoder = nn.Sequential(*blocks)
        d, n = cfg.feature_dim, cfg.hidden_size
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=cfg.pad_id)
        self.init_h = nn.Linear(d, n)
        self.init_c = nn.Linear(d, n)
        self.attention = AdditiveAttention(n, d, cfg.attn_dim)
        self.f_beta = nn.Linear(n, 1)
        self.cell = LSTMCell(cfg.embed_dim + d, n)
        if cfg.deep_output:
            self.L_h = nn.Linear(n, cfg.embed_dim, bias=False)
            self.L_z = nn.Linear(d, cfg.embed_dim, bias=False)
            self.L_o = nn.Linear(cfg.embed_dim, cfg.vocab_size)
        else:
            self.L_o = nn.Linear(n, cfg.vocab_size)
        self.drop = nn.Dropout(cfg.dropout)

    # -- encoder ---------------------------------------------------------------------------------
    def encode(self, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """Annotation vectors a_1..a_L, (B, L, D), and the grid (height', width');
        L = height' * width'."""
        cfg = self.config
        if images.dim() != 4 or images.shape[1] != cfg.in_channels:
            raise ValueError(
                f"expected images of shape (B, {cfg.in_channels}, H, W), got {tuple(images.shape)}"
            )
        s = cfg.stride
        if images.shape[2] % s or images.shape[3] % s:
            raise ValueError(
                f"expected image height and width divisible by {s} (2**num_pools), got "
                f"{images.shape[2]}x{images.shape[3]}"
            )
        fmap = self.encoder(images)  # (B, C', height', width')
        b, _, hh, ww = fmap.shape
        feats = fmap.flatten(2).transpose(1, 2)  # (B, L, C') in reading order
        if cfg.position_features:
            ys = torch.linspace(-1, 1, hh, device=fmap.device, dtype=fmap.dtype)
            xs = torch.linspace(-1, 1, ww, device=fmap.device, dtype=fmap.dtype)
            pos = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(1, hh * ww, 2)
            feats = torch.cat([feats, pos.expand(b, -1, -1)], -1)  # (B, L, D)
        return feats, (hh, ww)

    def init_state(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """h_0, c_0 = tanh(f_init(mean_i a_i)), each (B, n)."""
        mean = features.mean(1)  # (B, D)
        return torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def memory(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """What every decoder step reads: the features and their key projection U a_i + b."""
        return features, self.attention.project_keys(features)

    # -- one decoder step ------------------------------------------------------------------------
    def step(
        self, y_prev: Tensor, state: tuple[Tensor, Tensor], memory: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor, Tensor]:
        """One word: (y_{t-1}, (h, c)_{t-1}, memory) -> logits_t, (h, c)_t, alpha_t, beta_t.

        Shape:
            y_prev (B,); h, c (B, n); memory ((B, L, D), (B, L, A)). Returns logits (B, K),
            the new state, alpha (B, L) and beta (B,).
        """
        h, c = state
        feats, keys = memory
        context, alpha = self.attention(h, feats, key_proj=keys)  # (B, D), (B, L)
        if self.config.gate:
            beta = torch.sigmoid(self.f_beta(h)).squeeze(-1)  # (B,)
            z = beta.unsqueeze(-1) * context
        else:
            beta = torch.ones_like(context[:, 0])
            z = context
        emb = self.embedding(y_prev)  # (B, m)
        h, c = self.cell(torch.cat([emb, z], -1), (h, c))
        if self.config.deep_output:
            logits = self.L_o(self.drop(emb + self.L_h(h) + self.L_z(z)))
        else:
            logits = self.L_o(self.drop(h))
        return logits, (h, c), alpha, beta

    # -- whole captions --------------------------------------------------------------------------
    def forward(self, images: Tensor, captions: Tensor) -> CaptionOutput:
        """Teacher forcing: feed ``captions[:, t]`` at step t, predict word t+1."""
        if captions.dim() != 2 or captions.shape[0] != images.shape[0]:
            raise ValueError(
                f"expected captions of shape ({images.shape[0]}, T), got {tuple(captions.shape)}"
            )
        feats, grid = self.encode(images)
        memory = self.memory(feats)
        state = self.init_state(feats)
        logits, alphas, betas = [], [], []
        for t in range(captions.shape[1]):
            lg, state, a, b = self.step(captions[:, t], state, memory)
            logits.append(lg)
            alphas.append(a)
            betas.append(b)
        return CaptionOutput(
            torch.stack(logits, 1), torch.stack(alphas, 1), torch.stack(betas, 1), grid
        )

    @torch.no_grad()
    def generate(self, images: Tensor, max_len: int = 20) -> GreedyCaptions:
        """Greedy decoding: the most probable word at every step, until <eos> or ``max_len``."""
        cfg = self.config
        feats, grid = self.encode(images)
        memory = self.memory(feats)
        state = self.init_state(feats)
        b = images.shape[0]
        y = torch.full((b,), cfg.bos_id, dtype=torch.long, device=images.device)
        done = torch.zeros(b, dtype=torch.bool, device=images.device)
        lengths = torch.full((b,), max_len, dtype=torch.long, device=images.device)
        tokens, alphas, betas = [], [], []
        for t in range(max_len):
            logits, state, a, beta = self.step(y, state, memory)
            y = logits.argmax(-1).masked_fill(done, cfg.pad_id)
            tokens.append(y)
            alphas.append(a.masked_fill(done.unsqueeze(-1), 0.0))
            betas.append(beta.masked_fill(done, 0.0))
            ended = (y == cfg.eos_id) & ~done
            lengths[ended] = t + 1
            done |= ended
            if bool(done.all()):
                break
        return GreedyCaptions(
            torch.stack(tokens, 1), lengths, torch.stack(alphas, 1), torch.stack(betas, 1), grid
        )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def doubly_stochastic_penalty(alphas: Tensor, mask: Tensor | None = None) -> Tensor:
    """sum_i (1 - sum_t alpha_ti)^2 per caption, averaged over the batch (Xu et al. eq. 14).

    Encourages the model to look at every region over the whole caption (sum_t alpha_ti ~ 1).

    Args:
        alphas: (B, T, L) attention weights.
        mask: (B, T) bool, True = a real decoder step (padding steps do not count).

    Returns:
        A scalar (multiply by lambda).
    """
    if alphas.dim() != 3:
        raise ValueError(f"expected alphas of shape (B, T, L), got {tuple(alphas.shape)}")
    if mask is not None:
        if mask.shape != alphas.shape[:2]:
            raise ValueError(
                f"expected mask of shape {tuple(alphas.shape[:2])}, got {tuple(mask.shape)}"
            )
        alphas = alphas * mask.unsqueeze(-1).to(alphas.dtype)
    return ((1.0 - alphas.sum(1)) ** 2).sum(-1).mean()


def caption_loss(
    output: CaptionOutput, targets: Tensor, pad_id: int = 0, alpha_c: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Negative log-likelihood per word plus ``alpha_c`` times the doubly stochastic penalty.

    Args:
        output: the model's teacher-forced output.
        targets: (B, T) next words (``<pad>`` where there is none).
        pad_id: the padding id (ignored in both terms).
        alpha_c: lambda of eq. 14.

    Returns:
        (total, nll, penalty), scalars.
    """
    logits = output.logits
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                          ignore_index=pad_id)  # fmt: skip
    penalty = doubly_stochastic_penalty(output.alphas, targets != pad_id)
    return nll + alpha_c * penalty, nll, penalty

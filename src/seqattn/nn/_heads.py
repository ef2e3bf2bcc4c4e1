"""The shared base of the multi-head streaming layers of issue 24 (xLSTM's mLSTM, DeltaNet, GLA)."""

from __future__ import annotations

from torch import Tensor, nn


class HeadsLayer(nn.Module):
    """Checks D divisible by H, merges heads back and gives the one-step streaming call.

    Shape:
        ``_merge``: (B, H, T, Dh) -> (B, T, D); ``step``: x_t (B, D) -> (y_t (B, D), state).
    """

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"expected embed_dim divisible by num_heads, got {embed_dim}, {num_heads}"
            )
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads

    def _merge(self, t: Tensor) -> Tensor:
        """(B, H, T, Dh) -> (B, T, D)."""
        B, _, T, _ = t.shape
        return t.transpose(1, 2).reshape(B, T, self.embed_dim)

    def step(self, x_t: Tensor, state=None):
        """One step: x_t (B, D) -> (y_t (B, D), state)."""
        if x_t.dim() != 2:
            raise ValueError(f"expected x_t of shape (B, {self.embed_dim}), got {tuple(x_t.shape)}")
        y, state = self.forward(x_t[:, None], state, mode="sequential")
        return y[:, 0], state

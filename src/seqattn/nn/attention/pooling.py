"""Query-free soft attention pooling: a score per position, a softmax, a weighted sum.

The seed's fix for a recurrent classifier that forgot an early word: instead of the last hidden
state (which remembers mostly the last words), concatenation (size grows with T) or the mean
(every position alike), learn where to look. Bahdanau-style scoring without a query
(Yang et al. 2016, "Hierarchical attention networks"; Lin et al. 2017):

    e_t = v^T tanh(W h_t + b)     (or e_t = w^T h_t with ``hidden_dim=None``)
    a = softmax(e) over the unmasked positions;   c = Σ_t a_t h_t
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqattn.functional.softmax import masked_softmax

__all__ = ["AttentionPooling"]


class AttentionPooling(nn.Module):
    """Pool a sequence (B, T, D) into one vector (B, D) with learned attention weights.

    The output size and the parameter count do not depend on T.

    Args:
        input_dim: D.
        hidden_dim: size A of the score network's hidden layer; None for a linear score.
        bias: bias in the score network's hidden layer.
        batch_first: input (B, T, D) (default) or (T, B, D).

    Shape:
        input (B, T, D); mask (B, T) bool, True = real position (or ``lengths`` (B,)).
        Returns (pooled (B, D), weights (B, T)).

    Example:
        >>> pool = AttentionPooling(8, 16)
        >>> c, a = pool(torch.randn(3, 5, 8), lengths=torch.tensor([5, 2, 4]))
        >>> c.shape, a.shape, a.detach()[1, 2:].sum().item()
        (torch.Size([3, 8]), torch.Size([3, 5]), 0.0)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int | None = None,
        bias: bool = True,
        batch_first: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_dim, self.hidden_dim, self.batch_first = input_dim, hidden_dim, batch_first
        if hidden_dim is None:
            self.proj = None
            self.v = nn.Linear(input_dim, 1, bias=False, **factory)
        else:
            self.proj = nn.Linear(input_dim, hidden_dim, bias=bias, **factory)
            self.v = nn.Linear(hidden_dim, 1, bias=False, **factory)

    def scores(self, x: Tensor) -> Tensor:
        """Unnormalised scores e_t, (B, T)."""
        h = x if self.proj is None else torch.tanh(self.proj(x))
        return self.v(h).squeeze(-1)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        name = type(self).__name__
        if x.dim() != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(
                f"{name}: expected input of shape (B, T, {self.input_dim})"
                f"{'' if self.batch_first else ' as (T, B, D)'}, got {tuple(x.shape)}"
            )
        if not self.batch_first:
            x = x.transpose(0, 1)
        batch, steps = x.shape[:2]
        if lengths is not None:
            if mask is not None:
                raise ValueError(f"{name}: expected mask or lengths, got both")
            lengths = torch.as_tensor(lengths, device=x.device)
            if lengths.shape != (batch,):
                raise ValueError(
                    f"{name}: expected lengths of shape ({batch},), got {tuple(lengths.shape)}"
                )
            mask = torch.arange(steps, device=x.device)[None, :] < lengths[:, None]
        if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != (batch, steps)):
            raise ValueError(
                f"{name}: expected a bool mask of shape ({batch}, {steps}) (True = real "
                f"position), got dtype {mask.dtype} and shape {tuple(mask.shape)}"
            )
        weights = masked_softmax(self.scores(x), mask)  # (B, T)
        pooled = (weights.unsqueeze(-1) * x).sum(dim=1)  # (B, D)
        return pooled, weights

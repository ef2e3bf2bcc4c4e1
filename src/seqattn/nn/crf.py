"""Linear-chain conditional random field (Lafferty et al., 2001), the tagging head of Lample et
al. (2016) and Huang et al. (2015): a score for every tag path, normalised over all paths.

For emissions e (B, T, K) of a sequence of length L and a tag path y_1..y_L, the score is

    s(y) = start[y_1] + sum_{t=1..L} e[t, y_t] + sum_{t=2..L} trans[y_{t-1}, y_t] + end[y_L]

and p(y | x) = exp(s(y)) / Z with Z = sum over all K^L paths of exp(s(y')). ``log Z`` comes from
the forward algorithm in log space, alpha_1 = start + e_1 and
alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + trans[i, j]) + e_t[j], log Z = logsumexp(alpha_L + end),
in O(L K^2) instead of K^L; Viterbi decoding is the same recursion with max and back-pointers.
Ragged batches: ``mask`` (B, T) is True at real tokens, a prefix of each row (right padding);
past a sequence's length alpha is carried unchanged, so padding (any emission, any tag value)
changes nothing. Every sequence needs at least one token.

Shape glossary: B batch, T time steps, K tags (``num_tags``).

The parameter names follow pytorch-crf (``start_transitions``, ``end_transitions``,
``transitions[i, j]``: from tag i to tag j).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CRF"]

_REDUCTIONS = ("none", "sum", "mean", "token_mean")


class CRF(nn.Module):
    """A linear-chain CRF over ``num_tags`` tags, batch-first.

    Args:
        num_tags: K >= 1.

    Shape:
        emissions (B, T, K) float; tags (B, T) int64 (any value at padding); mask (B, T) bool,
        True at real tokens, each row a prefix (None: every token is real).

    Example:
        >>> crf = CRF(3)
        >>> emissions = torch.randn(2, 4, 3)
        >>> mask = torch.tensor([[True] * 4, [True, True, False, False]])
        >>> [len(p) for p in crf.decode(emissions, mask)]
        [4, 2]
        >>> loss = crf(emissions, torch.zeros(2, 4, dtype=torch.long), mask)  # mean NLL
        >>> bool(loss > 0)
        True
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        if isinstance(num_tags, bool) or not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"expected num_tags to be an int >= 1, got {num_tags!r}")
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # [from, to]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every score ~ U(-0.1, 0.1), as pytorch-crf."""
        for p in (self.start_transitions, self.end_transitions, self.transitions):
            nn.init.uniform_(p, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    # -- checks ----------------------------------------------------------------------------
    def _check(self, emissions: Tensor, mask: Tensor | None, tags: Tensor | None = None) -> Tensor:
        """The mask (all True when None), after checking every input; ValueError/TypeError."""
        if not isinstance(emissions, Tensor) or not emissions.is_floating_point():
            got = emissions.dtype if isinstance(emissions, Tensor) else type(emissions).__name__
            raise TypeError(f"expected emissions to be a float tensor, got {got}")
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(
                f"expected emissions of shape (B, T, {self.num_tags}), got {tuple(emissions.shape)}"
            )
        batch, steps = emissions.shape[:2]
        if steps == 0:
            raise ValueError("expected emissions with T >= 1 time steps, got T = 0")
        if mask is None:
            mask = torch.ones(batch, steps, dtype=torch.bool, device=emissions.device)
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise TypeError(f"expected mask to be a bool tensor (True = real token), got {got}")
        if tuple(mask.shape) != (batch, steps):
            raise ValueError(f"expected mask of shape {(batch, steps)}, got {tuple(mask.shape)}")
        if not bool(mask[:, 0].all()):
            raise ValueError(
                "expected every sequence to have at least one token (mask[:, 0] all True), got "
                f"{int((~mask[:, 0]).sum())} empty sequence(s)"
            )
        if steps > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
            raise ValueError(
                "expected each row of mask to be a prefix (True then False: right padding), got "
                "a True after a False"
            )
        if tags is not None:
            if not isinstance(tags, Tensor) or tags.dtype != torch.long:
                got = tags.dtype if isinstance(tags, Tensor) else type(tags).__name__
                raise TypeError(f"expected tags to be an int64 tensor, got {got}")
            if tuple(tags.shape) != (batch, steps):
                raise ValueError(f"expected tags of shape {(batch, steps)}, got "
                                 f"{tuple(tags.shape)}")  # fmt: skip
            real = tags[mask]
            if real.numel() and (int(real.min()) < 0 or int(real.max()) >= self.num_tags):
                raise ValueError(
                    f"expected tags in [0, {self.num_tags}) at real tokens, got values from "
                    f"{int(real.min())} to {int(real.max())}"
                )
        return mask

    # -- scores ----------------------------------------------------------------------------
    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """s(y) of the given tag paths (B,): start + emissions + transitions + end."""
        mask = self._check(emissions, mask, tags)
        tags = tags.masked_fill(~mask, 0)  # padding may hold any value (-100, pad ids...)
        maskf = mask.to(emissions.dtype)
        rows = torch.arange(emissions.shape[0], device=emissions.device)
        emit = emissions.gather(-1, tags[..., None]).squeeze(-1)  # (B, T)
        total = self.start_transitions[tags[:, 0]] + (emit * maskf).sum(1)
        if tags.shape[1] > 1:
            trans = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, T - 1)
            total = total + (trans * maskf[:, 1:]).sum(1)
        last = tags[rows, mask.sum(1) - 1]  # each sequence's own last tag
        return total + self.end_transitions[last]

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """log Z (B,) by the forward algorithm in log space."""
        mask = self._check(emissions, mask)
        alpha = self.start_transitions + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            # (B, K_from, 1) + (K_from, K_to) -> logsumexp over K_from, + e_t (B, K_to)
            step = torch.logsumexp(alpha[:, :, None] + self.transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
        return torch.logsumexp(alpha + self.end_transitions, dim=-1)

    def log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """log p(tags | emissions) (B,) = s(tags) - log Z."""
        return self.score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def forward(
        self,
        emissions: Tensor,
        tags: Tensor,
        mask: Tensor | None = None,
        reduction: str = "mean",
    ) -> Tensor:
        """The negative log-likelihood of ``tags``, the training loss.

        Args:
            reduction: ``"none"`` (B,), ``"sum"``, ``"mean"`` (over sequences) or
                ``"token_mean"`` (the sum over the number of real tokens, on the scale of a
                per-token cross-entropy).
        """
        if reduction not in _REDUCTIONS:
            raise ValueError(f"expected reduction in {_REDUCTIONS}, got {reduction!r}")
        mask = self._check(emissions, mask, tags)
        nll = -self.log_likelihood(emissions, tags, mask)
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        if reduction == "mean":
            return nll.mean()
        return nll.sum() / mask.sum()

    # -- decoding --------------------------------------------------------------------------
    def viterbi(self, emissions: Tensor, mask: Tensor | None = None) -> tuple[Tensor, list]:
        """The best path of every sequence and its score.

        Returns:
            ``(scores (B,), paths)``: ``paths[b]`` a list of ``length_b`` tag ids, the argmax of
            s(y) over all paths, and ``scores[b]`` its s(y).
        """
        mask = self._check(emissions, mask)
        batch, steps = mask.shape
        delta = self.start_transitions + emissions[:, 0]  # (B, K)
        pointers = []
        for t in range(1, steps):
            best, index = (delta[:, :, None] + self.transitions).max(dim=1)  # (B, K_to)
            step = best + emissions[:, t]
            delta = torch.where(mask[:, t, None], step, delta)
            pointers.append(index)
        final = delta + self.end_transitions
        scores, last = final.max(dim=-1)  # (B,)
        lengths = mask.sum(1).tolist()
        back = torch.stack(pointers, 1).tolist() if pointers else [[] for _ in range(batch)]
        last_tags = last.tolist()
        paths = []
        for b in range(batch):
            path = [last_tags[b]]
            for t in range(lengths[b] - 1, 0, -1):  # back[b][t - 1] maps y_t to y_{t-1}
                path.append(back[b][t - 1][path[-1]])
            paths.append(path[::-1])
        return scores, paths

    def decode(self, emissions: Tensor, mask: Tensor | None = None) -> list[list[int]]:
        """The Viterbi path of every sequence (ragged: ``len(paths[b])`` is its length)."""
        with torch.no_grad():
            return self.viterbi(emissions, mask)[1]

"""Ancestral sampling with temperature and top-k, over the same step function as greedy."""

from __future__ import annotations

import torch
from torch import Tensor

from seqattn.decoding._state import Hypotheses, Reorder, State, StepFn
from seqattn.decoding.greedy import decode_left_to_right


@torch.no_grad()
def sample(
    step: StepFn,
    state: State,
    *,
    bos: int,
    eos: int,
    max_len: int | Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
    reorder: Reorder | None = None,
) -> Hypotheses:
    """Sample each next token from ``softmax(log p / temperature)``, optionally top-k truncated.

    ``temperature < 1`` sharpens the distribution towards greedy, ``> 1`` flattens it; as the
    temperature goes to 0 the sample is the argmax (``temperature=0`` is greedy exactly).
    ``top_k`` keeps the k most probable tokens and renormalises (Fan et al. 2018); ``top_k=1``
    is greedy. Scores are the sums of the model's own (untempered) log-probabilities.

    Args:
        step, state, bos, eos, max_len, batch_size, reorder: as in :func:`greedy_search`.
        temperature: >= 0.
        top_k: None (the whole vocabulary) or >= 1.
        generator: a ``torch.Generator`` (on the model's device) for reproducible samples.

    Returns:
        :class:`Hypotheses` with ``n_best = 1``.

    Example:
        >>> table = torch.log_softmax(torch.randn(4, 4), -1)
        >>> step = lambda tok, s: (table[tok], s, None)
        >>> g = lambda: torch.Generator().manual_seed(0)
        >>> a = sample(step, None, bos=3, eos=0, max_len=8, batch_size=2, generator=g())
        >>> b = sample(step, None, bos=3, eos=0, max_len=8, batch_size=2, generator=g())
        >>> a.tokens == b.tokens
        True
    """
    if not temperature >= 0:
        raise ValueError(f"expected temperature >= 0, got {temperature}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"expected top_k None or an int >= 1, got {top_k!r}")

    def choose(log_probs: Tensor) -> Tensor:
        if temperature == 0 or top_k == 1:
            return log_probs.argmax(dim=-1)
        logits = (
            log_probs.float() if log_probs.dtype in (torch.float16, torch.bfloat16) else (log_probs)
        )
        # shift the row max to 0 before dividing: the argmax stays at exp(0) = 1 however small
        # the temperature (no -inf / -inf = NaN), so a vanishing temperature degrades to greedy
        logits = (logits - logits.max(dim=-1, keepdim=True).values) / temperature
        if top_k is not None and top_k < logits.shape[-1]:
            kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (N, 1)
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return decode_left_to_right(
        step,
        state,
        choose,
        bos=bos,
        eos=eos,
        max_len=max_len,
        batch_size=batch_size,
        reorder=reorder,
    )

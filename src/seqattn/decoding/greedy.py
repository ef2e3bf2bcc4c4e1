"""Greedy decoding over a step function, shared with ancestral sampling.

One loop serves every decoder: the model is a step function ``step(tokens, state) ->
(log_probs, state, attention)`` (see ``seqattn.decoding``), so RNN and Transformer decoders
decode with the same code. Finished rows are dropped from the batch (``reorder``), so a batch
costs no more steps than its longest output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from seqattn.decoding._state import (
    Hypotheses,
    Reorder,
    State,
    StepFn,
    check_eos,
    check_step_output,
    infer_batch_size,
    max_len_tensor,
    select_rows,
)

# choose(log_probs (N, V)) -> (N,) long: the next token of every active row
Chooser = Callable[[Tensor], Tensor]


def decode_left_to_right(
    step: StepFn,
    state: State,
    choose: Chooser,
    *,
    bos: int,
    eos: int,
    max_len: int | Tensor,
    batch_size: int | None = None,
    reorder: Reorder | None = None,
) -> Hypotheses:
    """Emit one token per row and step with ``choose``, until eos or ``max_len`` tokens.

    The score of a row is the sum of ``log_probs`` of the tokens it emitted (eos included),
    whatever rule picked them. Used by :func:`greedy_search` and :func:`~seqattn.decoding.sample`.
    """
    reorder = reorder or select_rows
    batch = infer_batch_size(state, max_len, batch_size)
    limit = max_len_tensor(max_len, batch)  # (B,)
    longest = int(limit.max()) if batch else 0
    out = torch.zeros(batch, longest, dtype=torch.long)  # (B, T)
    lengths = torch.zeros(batch, dtype=torch.long)  # tokens kept, eos excluded
    scores: Tensor | None = None  # (B,) in the dtype of log_probs
    attn_buf: Tensor | None = None  # (B, T, S), created at the first attention
    active = torch.nonzero(limit > 0).flatten()  # (N,) original row of each state row
    if active.numel() < batch:
        state = reorder(state, active)
    device_tokens: Tensor | None = None
    t = 0
    while active.numel() > 0:
        if device_tokens is None:
            tokens = torch.full((active.numel(),), bos, dtype=torch.long)
        else:
            tokens = device_tokens
        log_probs, state, attn = step(tokens, state)
        check_step_output(log_probs, attn, active.numel())
        if t == 0:
            check_eos(eos, log_probs.shape[1])
            scores = torch.zeros(batch, dtype=log_probs.dtype)
        nxt = choose(log_probs)  # (N,) on the model's device
        picked = log_probs.gather(1, nxt.view(-1, 1)).squeeze(1)
        nxt_cpu = nxt.detach().to("cpu")
        assert scores is not None
        scores[active] += picked.detach().to("cpu", scores.dtype)
        ended = nxt_cpu == eos
        keep = ~ended
        rows = active[keep]
        out[rows, t] = nxt_cpu[keep]
        lengths[rows] += 1
        if attn is not None:
            if attn_buf is None:
                attn_buf = torch.zeros(batch, longest, attn.shape[1], dtype=attn.dtype)
            attn_buf[rows, t] = attn.detach().to("cpu")[keep]
        t += 1
        alive = keep & (limit[active] > t)
        if not bool(alive.all()):
            sel = torch.nonzero(alive).flatten()
            state = reorder(state, sel.to(nxt.device))
            nxt = nxt[sel.to(nxt.device)]
            active = active[alive]
        device_tokens = nxt
    if scores is None:
        scores = torch.zeros(batch)
    tokens_out = [[out[b, : lengths[b]].tolist()] for b in range(batch)]
    attention = [
        [attn_buf[b, : lengths[b]].clone() if attn_buf is not None else None] for b in range(batch)
    ]
    return Hypotheses(tokens=tokens_out, scores=scores.view(batch, 1), attention=attention)


@torch.no_grad()
def greedy_search(
    step: StepFn,
    state: State,
    *,
    bos: int,
    eos: int,
    max_len: int | Tensor,
    batch_size: int | None = None,
    reorder: Reorder | None = None,
) -> Hypotheses:
    """Greedy decoding: at every step emit the most probable token, ``argmax_y log p(y | ...)``.

    Args:
        step: ``step(tokens (N,), state) -> (log_probs (N, V), state, attention (N, S) | None)``;
            ``tokens`` is the last emitted token of each row (bos at the first step).
        state: the initial decoder state, one row per input (see ``select_rows``).
        bos, eos: the start token fed first, and the token that ends a row.
        max_len: the most tokens a row emits (eos included), an int or a (B,) tensor
            (e.g. ``ceil(1.5 * source_lengths)``); a row that reaches it stops without eos.
        batch_size: B. Without it B is the length of a (B,) ``max_len``, else dim 0 of the
            state's first tensor leaf: pass it when a custom ``reorder`` means that is not B.
        reorder: ``reorder(state, idx) -> state`` replacing :func:`select_rows` for states
            whose rows are not on dim 0 of every tensor.

    Returns:
        :class:`Hypotheses` with ``n_best = 1``; ``scores`` (B, 1) are raw sums of log-probs.

    Example:
        >>> table = torch.log_softmax(torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 1.0],
        ...                                         [0.0, 2.0, 1.0]]), -1)
        >>> step = lambda tok, s: (table[tok], s, None)
        >>> greedy_search(step, None, bos=2, eos=0, max_len=5, batch_size=1).best()
        [[1]]
    """
    return decode_left_to_right(
        step,
        state,
        lambda lp: lp.argmax(dim=-1),
        bos=bos,
        eos=eos,
        max_len=max_len,
        batch_size=batch_size,
        reorder=reorder,
    )

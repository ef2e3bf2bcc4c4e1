"""Batched beam search over a step function (one implementation for every decoder).

Every input keeps ``beam_size`` live hypotheses. At each step the ``k * V`` one-token
extensions of an input's beam are ranked by score; walking down that ranking, an extension that
ends in eos is *finished* (it leaves the beam, into the input's finished list) and any other
joins the new beam, until the new beam holds ``k`` hypotheses. Eos extensions therefore never
take a live slot, and a finished hypothesis is exactly one that scored above the k-th live
extension. The top ``2k`` extensions always suffice: at most ``k`` of them (one per beam) end in
eos.

Scores and length normalisation (Wu et al. 2016, "Google's Neural Machine Translation System",
eq. 14): a hypothesis Y that emitted ``|Y|`` tokens (eos included when it ended with one) has
raw score ``log P(Y) = sum_t log p(y_t | y_<t, x)`` and normalised score
``log P(Y) / lp(Y)`` with ``lp(Y) = ((5 + |Y|) / 6) ** alpha``; ``alpha = 0`` is the raw sum.
Live hypotheses of one step all have the same length, so normalisation changes only how
finished hypotheses of different lengths compare.

Early stopping is exact, not a heuristic: log-probabilities are <= 0, so a live hypothesis with
raw score ``s`` at any length can end with raw score at most ``s``, and since ``s <= 0`` and lp
grows with length its normalised score is at most ``s / lp(max_len)``. An input stops once it
has ``n_best`` finished hypotheses and the n-th best of them is at least that bound for its best
live hypothesis (with ``alpha = 0`` the bound is simply ``s``). ``early_stop=False`` runs every
input to ``max_len`` (or until its beam is empty) and returns the same hypotheses (up to
ties); it exists to check that claim and to time the difference. The step must return
normalised log-probabilities for the bound to hold.
"""

from __future__ import annotations

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
    reorder_hypotheses,
)


def length_penalty_gnmt(length: int, alpha: float) -> float:
    """``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016, eq. 14); 1 for alpha = 0.

    Example:
        >>> length_penalty_gnmt(1, 0.6), round(length_penalty_gnmt(7, 1.0), 3)
        (1.0, 2.0)
    """
    return ((5.0 + length) / 6.0) ** alpha if alpha else 1.0


@torch.no_grad()
def beam_search(
    step: StepFn,
    state: State,
    *,
    bos: int,
    eos: int,
    beam_size: int,
    max_len: int | Tensor,
    length_penalty: float = 0.0,
    n_best: int = 1,
    early_stop: bool = True,
    reorder: Reorder | None = None,
    batch_size: int | None = None,
) -> Hypotheses:
    """Beam search for ``argmax_Y log P(Y | x) / lp(Y)``, all inputs of a batch at once.

    Args:
        step: ``step(tokens (N,), state) -> (log_probs (N, V), state, attention (N, S) | None)``
            with ``N = B' * beam_size`` rows, hypothesis j of the i-th still-active input at
            row ``i * beam_size + j``.
        state: the initial state with one row per input. The first step runs on it as it is
            (every hypothesis starts from the same bos), and the first ``reorder`` expands it
            to ``beam_size`` rows per input (its indices repeat rows). With the default
            ``reorder``, :class:`~seqattn.decoding.Shared` dicts in it keep one row per input
            (and are selected only when inputs finish): the step sees up to ``k`` rows per
            Shared row.
        bos, eos: start token, end token.
        beam_size: k >= 1; ``beam_size=1`` with ``length_penalty=0`` is greedy search exactly.
        max_len: the most tokens a hypothesis emits (eos included), an int or a (B,) tensor.
        length_penalty: GNMT alpha >= 0; 0 ranks by the raw sum of log-probabilities.
        n_best: how many hypotheses to return per input, 1 <= n_best <= beam_size.
        early_stop: stop an input once no live hypothesis can beat its n-th best finished one
            (an exact bound, see the module docstring).
        reorder: ``reorder(state, idx) -> state`` replacing the default row selection (which
            is :func:`select_rows` on every leaf but those of Shared dicts); it gets every
            row index, Shared leaves included.
        batch_size: B. Without it B is the length of a (B,) ``max_len``, else dim 0 of the
            state's first tensor leaf: pass it when a custom ``reorder`` means that is not B.

    Returns:
        :class:`Hypotheses`: per input the ``n_best`` distinct hypotheses by descending
        normalised score; ``scores`` (B, n_best) are those normalised scores.

    Example:
        >>> table = torch.log_softmax(torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 1.0],
        ...                                         [0.0, 2.0, 1.0]]), -1)
        >>> step = lambda tok, s: (table[tok], s, None)
        >>> hyps = beam_search(step, None, bos=2, eos=0, beam_size=2, max_len=4, n_best=2,
        ...                    batch_size=1)
        >>> hyps.tokens
        [[[1], [2, 1]]]
    """
    _check_args(beam_size, n_best, length_penalty)
    reorder_ = _reorder_fn(reorder)
    k = beam_size
    batch = infer_batch_size(state, max_len, batch_size)
    limit = max_len_tensor(max_len, batch)  # (B,)
    # finished[b]: (normalised score, raw score, tokens, attention (len, S) | None)
    finished: list[list[_Finished]] = [[] for _ in range(batch)]
    for b in torch.nonzero(limit == 0).flatten().tolist():
        finished[b].append((0.0, 0.0, [], None))

    active = torch.nonzero(limit > 0).flatten()  # (B',) input of each active beam
    if active.numel() < batch:  # inputs with max_len 0 never run a step
        state = reorder_(state, active, active)
    beams = _Beams(active, torch.get_default_dtype())
    while beams.active.numel() > 0:
        active, width, n = beams.active, beams.width, beams.active.numel()
        tokens = (
            beams.tokens if beams.tokens is not None else torch.full((n,), bos, dtype=torch.long)
        )
        log_probs, state, attn = step(tokens, state)
        check_step_output(log_probs, attn, n * width)
        if beams.scores is None:
            check_eos(eos, log_probs.shape[1])
            beams.dtype = log_probs.dtype
            beams.scores = torch.zeros((n, 1), dtype=beams.dtype, device=log_probs.device)
        top, tok, row, live_rank, take_live, take_eos = _extensions(
            beams.scores, log_probs, width, k, eos
        )
        beams.t += 1
        at_limit = limit[active] <= beams.t  # (B',) CPU
        # finished hypotheses (eos extensions, and every live one of an input at its limit)
        attn_cpu = attn.detach().to("cpu") if attn is not None else None
        finish = take_eos.to("cpu") | (take_live.to("cpu") & at_limit.unsqueeze(1))
        norm = length_penalty_gnmt(beams.t, length_penalty)
        for i, hyp in _finished_now(finish, top, tok, row, beams.hist, beams.attn_hist,
                                    attn_cpu, eos):  # fmt: skip
            finished[int(active[i])].append((hyp[0] / norm, *hyp))
        new = _new_beam(top, tok, row, live_rank, take_live, width, k, bos, beams.dtype)
        done = at_limit | ~take_live.any(1).to("cpu")
        if early_stop:
            _early_stop(done, new[0], finished, active, limit, n_best, length_penalty)
        keep = ~done
        if not bool(keep.any()):
            break
        sel = new[1][keep.to(new[1].device)].flatten()  # (B''k,) rows of the current state
        # shared (per-input) rows move only when inputs leave
        state = reorder_(state, sel, None if bool(keep.all()) else torch.nonzero(keep).flatten())
        beams.advance(keep, sel, *new, attn_cpu, k)
    return _hypotheses(finished, n_best, beams.dtype)


_Finished = tuple[float, float, list[int], Tensor | None]


class _Beams:
    """The live beams between steps: which inputs are active, their hypotheses' tokens,
    attention history and raw scores.

    ``width`` rows (hypotheses) per active input: 1 at the first step, where all k hypotheses
    would be the same bos (one row per input is computed, not k identical ones), then k.
    """

    def __init__(self, active: Tensor, dtype: torch.dtype) -> None:
        self.active, self.dtype, self.width, self.t = active, dtype, 1, 0
        self.hist = torch.zeros(active.numel(), 0, dtype=torch.long)  # (B' width, t) tokens
        self.attn_hist: Tensor | None = None  # (B' width, t, S)
        self.scores: Tensor | None = None  # (B', width) raw scores, -inf = empty slot
        self.tokens: Tensor | None = None  # (B' width,) the last tokens

    def advance(self, keep, sel, new_scores, new_row, new_tok, attn_cpu, k: int) -> None:
        """Keep the inputs in ``keep`` (B',), their new beams taken from rows ``sel``."""
        keep_dev = keep.to(new_scores.device)
        sel_c = sel.to("cpu")
        self.hist = torch.cat([self.hist[sel_c], new_tok[keep_dev].flatten().to("cpu")[:, None]], 1)
        if attn_cpu is not None:
            step_attn = attn_cpu[sel_c].unsqueeze(1)
            prev = self.attn_hist
            self.attn_hist = step_attn if prev is None else torch.cat([prev[sel_c], step_attn], 1)
        self.scores = new_scores[keep_dev]
        self.tokens = new_tok[keep_dev].flatten()
        self.active = self.active[keep]
        self.width = k


def _check_args(beam_size: int, n_best: int, length_penalty: float) -> None:
    if not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"expected beam_size an int >= 1, got {beam_size!r}")
    if not isinstance(n_best, int) or not 1 <= n_best <= beam_size:
        raise ValueError(f"expected 1 <= n_best <= beam_size ({beam_size}), got {n_best!r}")
    if not length_penalty >= 0:
        raise ValueError(f"expected length_penalty (alpha) >= 0, got {length_penalty}")


def _reorder_fn(reorder: Reorder | None):
    """``reorder_(state, idx, inputs)``: the default row selection, or the caller's."""
    if reorder is None:
        return reorder_hypotheses
    return lambda st, idx, inputs: reorder(st, idx)


def _extensions(scores: Tensor, log_probs: Tensor, width: int, k: int, eos: int):
    """The top 2k one-token extensions of every beam and which of them are taken.

    Returns ``(top, tok, row, live_rank, take_live, take_eos)``, each (B', <= 2k): raw scores
    (descending), tokens, state rows they extend, the number of live extensions ranked at or
    above each, and the masks of live extensions that join the new beam and of eos extensions
    that finish (those ranked above the k-th live one).
    """
    n, vocab = scores.shape[0], log_probs.shape[1]
    cand = (scores.unsqueeze(-1) + log_probs.view(n, width, vocab)).view(n, width * vocab)
    top, idx = cand.topk(min(2 * k, width * vocab), dim=1)  # (B', <= 2k), descending
    beam_of = torch.div(idx, vocab, rounding_mode="floor")
    tok = idx - beam_of * vocab
    finite = top > float("-inf")
    is_eos = tok == eos
    live = finite & ~is_eos
    live_rank = live.long().cumsum(1)  # live extensions ranked at or above this one
    take_live = live & (live_rank <= k)
    take_eos = finite & is_eos & (live_rank - live.long() < k)
    row = torch.arange(n, device=log_probs.device).unsqueeze(1) * width + beam_of  # state row
    return top, tok, row, live_rank, take_live, take_eos


def _finished_now(finish, top, tok, row, hist, attn_hist, attn_cpu, eos: int):
    """``(i, (raw score, tokens, attention))`` for every extension in ``finish`` (B', 2k)."""
    top_c, tok_c, row_c = top.to("cpu"), tok.to("cpu"), row.to("cpu")
    for i, c in torch.nonzero(finish).tolist():
        r = int(row_c[i, c])
        ended = bool(tok_c[i, c] == eos)
        seq = hist[r].tolist() + ([] if ended else [int(tok_c[i, c])])
        if attn_cpu is None:
            a = None
        else:
            prev = attn_hist[r] if attn_hist is not None else attn_cpu[:0]
            a = prev if ended else torch.cat([prev, attn_cpu[r : r + 1]])
        yield i, (float(top_c[i, c]), seq, a)


def _new_beam(top, tok, row, live_rank, take_live, width: int, k: int, bos: int, dtype):
    """The new beam: the live extension of rank r goes to slot r - 1; empty slots stay -inf."""
    n, device = top.shape[0], top.device
    new_scores = torch.full((n, k), float("-inf"), dtype=dtype, device=device)
    new_row = torch.arange(n, device=device).unsqueeze(1).mul(width).expand(n, k).clone()
    new_tok = torch.full((n, k), bos, dtype=torch.long, device=device)
    ii, cc = torch.nonzero(take_live, as_tuple=True)
    slot = live_rank[ii, cc] - 1
    new_scores[ii, slot] = top[ii, cc]
    new_row[ii, slot] = row[ii, cc]
    new_tok[ii, slot] = tok[ii, cc]
    return new_scores, new_row, new_tok


def _early_stop(done, new_scores, finished, active, limit, n_best: int, alpha: float) -> None:
    """Mark done (in place) every input whose n-th best finished hypothesis no live one can
    beat (the exact bound of the module docstring)."""
    best_live = new_scores[:, 0].to("cpu")
    for i in torch.nonzero(~done).flatten().tolist():
        fin = finished[int(active[i])]
        if len(fin) >= n_best:
            nth = sorted((f[0] for f in fin), reverse=True)[n_best - 1]
            bound = float(best_live[i]) / length_penalty_gnmt(int(limit[active[i]]), alpha)
            done[i] = nth >= bound


def _hypotheses(finished: list[list[_Finished]], n_best: int, dtype) -> Hypotheses:
    out_tokens: list[list[list[int]]] = []
    out_attn: list[list[Tensor | None]] = []
    out_scores = torch.full((len(finished), n_best), float("-inf"), dtype=dtype)
    for b, fin in enumerate(finished):
        # stable sort: among equal scores the earlier-finished (shorter) hypothesis comes first
        ranked = sorted(fin, key=lambda f: -f[0])[:n_best]
        out_tokens.append([f[2] for f in ranked] + [[] for _ in range(n_best - len(ranked))])
        out_attn.append([f[3] for f in ranked] + [None] * (n_best - len(ranked)))
        for j, f in enumerate(ranked):
            out_scores[b, j] = f[0]
    return Hypotheses(tokens=out_tokens, scores=out_scores, attention=out_attn)

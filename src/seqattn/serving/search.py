"""Greedy and beam search in numpy, step for step the algorithm of :mod:`seqattn.decoding`.

The searches see the decoder only through ``step(tokens (N,), state) -> (log_probs (N, V),
new_state, attention (N, S) or None)`` and a ``reorder(state, rows, inputs) -> state`` that
keeps (and repeats) rows; ``inputs`` are the inputs still searched when some left, else None
(hypotheses only moved within their inputs). Scores are float32 sums of log-probabilities as
in PyTorch, and beam search ranks, finishes, normalises (GNMT ``lp(Y) = ((5 + |Y|) / 6) **
alpha``) and stops early exactly as :func:`seqattn.decoding.beam_search` (see its module
docstring): same extensions in the same order, so the same hypotheses, up to float differences
between the two runtimes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["greedy_search", "beam_search", "length_penalty_gnmt"]

Step = Callable[[np.ndarray, Any], tuple[np.ndarray, Any, np.ndarray | None]]
Reorder = Callable[[Any, np.ndarray, np.ndarray | None], Any]


def length_penalty_gnmt(length: int, alpha: float) -> float:
    """``((5 + |Y|) / 6) ** alpha``; 1 for alpha = 0 (:func:`seqattn.decoding.length_penalty_gnmt`).

    >>> length_penalty_gnmt(7, 1.0)
    2.0
    """
    return ((5.0 + length) / 6.0) ** alpha if alpha else 1.0


def greedy_search(step: Step, state: Any, reorder: Reorder, *, bos: int, eos: int,
                  max_len: np.ndarray) -> tuple[list[list[int]], np.ndarray, list]:  # fmt: skip
    """The most probable token at every step until eos or ``max_len`` (B,) tokens.

    Returns (token lists without eos, (B,) float32 sums of their log-probabilities, eos
    included, per input the (len, S) attention of the steps that emitted the tokens, or None
    when the step gives none). Finished rows leave the batch.

    Example:
        >>> table = np.log(np.array([[1, 1, 1], [8, 1, 2], [1, 6, 3]]) / [[3], [11], [10]])
        >>> step = lambda tok, s: (table[tok].astype(np.float32), s, None)
        >>> greedy_search(step, None, lambda s, r, i: s, bos=2, eos=0,
        ...               max_len=np.array([5]))[0]
        [[1]]
    """
    limit = np.asarray(max_len, dtype=np.int64)
    batch = limit.shape[0]
    out = np.zeros((batch, int(limit.max()) if batch else 0), dtype=np.int64)
    lengths = np.zeros(batch, dtype=np.int64)
    scores = np.zeros(batch, dtype=np.float32)
    active = np.flatnonzero(limit > 0)
    if active.size < batch:
        state = reorder(state, active, active)
    tokens = np.full(active.size, bos, dtype=np.int64)
    t, buf = 0, None  # buf: (B, T, S) attention, made at the first step that returns one
    while active.size:
        log_probs, state, attn = step(tokens, state)
        nxt = log_probs.argmax(-1)
        scores[active] += log_probs[np.arange(active.size), nxt]
        keep = nxt != eos
        rows = active[keep]
        out[rows, t] = nxt[keep]
        lengths[rows] += 1
        if attn is not None:
            if buf is None:
                buf = np.zeros((batch, out.shape[1], attn.shape[1]), dtype=attn.dtype)
            buf[rows, t] = attn[keep]
        t += 1
        alive = keep & (limit[active] > t)
        if not alive.all():
            sel = np.flatnonzero(alive)
            state, nxt, active = reorder(state, sel, sel), nxt[sel], active[alive]
        tokens = nxt
    attention = [None if buf is None else buf[b, : lengths[b]] for b in range(batch)]
    return [out[b, : lengths[b]].tolist() for b in range(batch)], scores, attention


def _extensions(scores: np.ndarray, log_probs: np.ndarray, width: int, k: int, eos: int):
    """The top 2k extensions of every beam (descending; ties: the lower index first) and which
    are taken (``seqattn.decoding.beam._extensions``)."""
    n, vocab = scores.shape[0], log_probs.shape[1]
    cand = (scores[:, :, None] + log_probs.reshape(n, width, vocab)).reshape(n, width * vocab)
    m = min(2 * k, width * vocab)
    size = cand.shape[1]
    part = np.argpartition(cand, size - m, axis=1)[:, size - m :] if m < size else (
        np.broadcast_to(np.arange(size), cand.shape))  # fmt: skip
    vals = np.take_along_axis(cand, part, 1)
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, 1)
    top = np.take_along_axis(vals, order, 1)
    beam_of = idx // vocab
    tok = idx - beam_of * vocab
    finite = top > -np.inf
    live = finite & (tok != eos)
    live_rank = np.cumsum(live, axis=1)
    take_live = live & (live_rank <= k)
    take_eos = finite & (tok == eos) & (live_rank - live < k)
    row = np.arange(n)[:, None] * width + beam_of
    return top, tok, row, live_rank, take_live, take_eos


def _new_beam(top, tok, row, live_rank, take_live, width: int, k: int, bos: int):
    n = top.shape[0]
    new_scores = np.full((n, k), -np.inf, dtype=top.dtype)
    new_row = np.repeat(np.arange(n)[:, None] * width, k, axis=1)
    new_tok = np.full((n, k), bos, dtype=np.int64)
    ii, cc = np.nonzero(take_live)
    slot = live_rank[ii, cc] - 1
    new_scores[ii, slot], new_row[ii, slot], new_tok[ii, slot] = top[ii, cc], row[ii, cc], tok[
        ii, cc]  # fmt: skip
    return new_scores, new_row, new_tok


def _early_stop(done, best_live, finished, active, limit, n_best: int, alpha: float) -> None:
    """Mark done every input whose n-th best finished hypothesis no live one can beat."""
    for i in np.flatnonzero(~done):
        fin = finished[active[i]]
        if len(fin) >= n_best:
            nth = sorted((f[0] for f in fin), reverse=True)[n_best - 1]
            bound = float(best_live[i]) / length_penalty_gnmt(int(limit[active[i]]), alpha)
            done[i] = nth >= bound


def beam_search(step: Step, state: Any, reorder: Reorder, *, bos: int, eos: int,
                beam_size: int, max_len: np.ndarray, length_penalty: float = 0.0,
                n_best: int = 1, early_stop: bool = True,
                ) -> tuple[list[list[list[int]]], np.ndarray, list[list]]:  # fmt: skip
    """Beam search for ``argmax_Y log P(Y | x) / lp(Y)`` (:func:`seqattn.decoding.beam_search`).

    The first step runs on one row per input; rows ``i*k .. i*k+k-1`` then hold input i's
    hypotheses. Returns (per input the ``n_best`` token lists, best first; (B, n_best)
    normalised scores, -inf where fewer exist; per input and hypothesis the (len, S)
    attention of the steps that emitted its tokens, or None).

    Example:
        >>> table = np.log(np.array([[1, 1, 1], [8, 1, 2], [1, 6, 3]]) / [[3], [11], [10]])
        >>> step = lambda tok, s: (table[tok].astype(np.float32), s, None)
        >>> beam_search(step, None, lambda s, r, i: s, bos=2, eos=0, beam_size=2,
        ...             max_len=np.array([4]), n_best=2)[0]
        [[[1], [2, 1]]]
    """
    checks = (  # (what is expected, the value, whether it holds), in order
        ("beam_size an int >= 1", beam_size, lambda: isinstance(beam_size, int) and beam_size > 0),
        (f"1 <= n_best <= beam_size ({beam_size})", n_best,
         lambda: isinstance(n_best, int) and 1 <= n_best <= beam_size),
        ("length_penalty (alpha) >= 0", length_penalty, lambda: length_penalty >= 0),
    )  # fmt: skip
    for what, got, holds in checks:
        if not holds():
            raise ValueError(f"expected {what}, got {got!r}")
    k, limit = beam_size, np.asarray(max_len, dtype=np.int64)
    finished: list[list[tuple]] = [[] for _ in range(limit.shape[0])]
    for b in np.flatnonzero(limit == 0):
        finished[b].append((0.0, 0.0, [], None))
    active = np.flatnonzero(limit > 0)
    if active.size < limit.shape[0]:
        state = reorder(state, active, active)
    hist = np.zeros((active.size, 0), dtype=np.int64)
    scores, tokens, width, t, seen = None, None, 1, 0, None  # seen: (rows, t, S) attention
    while active.size:
        if tokens is None:
            tokens = np.full(active.size, bos, dtype=np.int64)
        log_probs, state, attn = step(tokens, state)
        if scores is None:
            scores = np.zeros((active.size, 1), dtype=log_probs.dtype)
        top, tok, row, rank, take_live, take_eos = _extensions(scores, log_probs, width, k, eos)
        t += 1
        at_limit = limit[active] <= t
        norm = length_penalty_gnmt(t, length_penalty)
        for i, c in np.argwhere(take_eos | (take_live & at_limit[:, None])):
            ended, r = tok[i, c] == eos, row[i, c]
            seq = hist[r].tolist() + ([] if ended else [int(tok[i, c])])
            a = _attention(seen, attn, r, ended)
            finished[active[i]].append((float(top[i, c]) / norm, float(top[i, c]), seq, a))
        new_scores, new_row, new_tok = _new_beam(top, tok, row, rank, take_live, width, k, bos)
        done = at_limit | ~take_live.any(1)
        if early_stop:
            _early_stop(done, new_scores[:, 0], finished, active, limit, n_best, length_penalty)
        keep = ~done
        if not keep.any():
            break
        sel = new_row[keep].reshape(-1)
        state = reorder(state, sel, None if keep.all() else np.flatnonzero(keep))
        hist = np.concatenate([hist[sel], new_tok[keep].reshape(-1, 1)], 1)
        if attn is not None:
            now = attn[sel][:, None]
            seen = now if seen is None else np.concatenate([seen[sel], now], 1)
        scores, tokens, active, width = new_scores[keep], new_tok[keep].reshape(-1), active[
            keep], k  # fmt: skip
    return _ranked(finished, n_best)


def _attention(seen, attn, r: int, ended: bool):
    """A finishing hypothesis's attention: its rows so far, plus this step's unless eos."""
    if attn is None:
        return None
    prev = seen[r] if seen is not None else attn[:0]
    return prev if ended else np.concatenate([prev, attn[r : r + 1]])


def _ranked(finished: list[list[tuple]], n_best: int):
    """Per input the n_best finished hypotheses by descending normalised score (stable: the
    earlier-finished first among equals), padded with empty ones scored -inf."""
    out_scores = np.full((len(finished), n_best), -np.inf)
    out_tokens, out_attn = [], []
    for b, fin in enumerate(finished):
        ranked = sorted(fin, key=lambda f: -f[0])[:n_best]
        missing = n_best - len(ranked)
        out_tokens.append([f[2] for f in ranked] + [[] for _ in range(missing)])
        out_attn.append([f[3] for f in ranked] + [None] * missing)
        out_scores[b, : len(ranked)] = [f[0] for f in ranked]
    return out_tokens, out_scores, out_attn

"""Scores by length bucket: BLEU/chrF by source length, accuracy by input length.

A bucket is the half-open interval ``[edges[i], edges[i+1])`` of lengths; the last edge may be
``math.inf``. Every length must fall into some bucket (a ValueError names the first that does
not), so the counts always add up to the corpus size. Empty buckets are reported with count 0
and ``None`` scores (``skip_empty=True`` drops them), so tables for different systems align.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from seqattn.evaluation.translation import corpus_bleu, corpus_chrf, reference_streams


@dataclass(frozen=True)
class BucketRow:
    """One length bucket ``[lo, hi)`` with its size and scores (None when empty).

    ``accuracy`` is set by :func:`accuracy_by_length`; ``bleu``/``chrf`` by
    :func:`bleu_by_length`.
    """

    lo: float
    hi: float
    count: int
    bleu: float | None = None
    chrf: float | None = None
    accuracy: float | None = None

    @property
    def label(self) -> str:
        """``"10-19"`` for integer lengths in [10, 20), ``"40+"`` for [40, inf)."""
        if math.isinf(self.hi):
            return f"{_num(self.lo)}+"
        if float(self.lo).is_integer() and float(self.hi).is_integer():
            return f"{_num(self.lo)}-{_num(self.hi - 1)}"
        return f"[{_num(self.lo)}, {_num(self.hi)})"

    def as_dict(self) -> dict:
        return {"bucket": self.label, **asdict(self)}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def assign_buckets(lengths: Sequence[float], edges: Sequence[float]) -> list[int]:
    """The bucket index of each length for half-open buckets ``[edges[i], edges[i+1])``.

    Example:
        >>> assign_buckets([0, 9, 10, 55], [0, 10, 20, float("inf")])
        [0, 0, 1, 2]
    """
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(not a < b for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"expected at least two strictly increasing bucket edges, got {edges}")
    out = []
    for i, n in enumerate(lengths):
        n = float(n)
        if not edges[0] <= n < edges[-1]:
            raise ValueError(
                f"expected every length in [{_num(edges[0])}, {_num(edges[-1])}), got {_num(n)} "
                f"at position {i} (add an edge, e.g. math.inf)"
            )
        # few buckets: a linear scan is clearer than bisect and as fast
        out.append(next(j for j in range(len(edges) - 1) if n < edges[j + 1]))
    return out


def bleu_by_length(
    sources: Sequence[str] | Sequence[int],
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    edges: Sequence[float],
    *,
    lowercase: bool = False,
    skip_empty: bool = False,
) -> list[BucketRow]:
    """Corpus BLEU and chrF of the segments in each source-length bucket.

    Bahdanau et al. (2015, fig. 2) and Luong et al. (2015, fig. 6) plot this to show where
    attention helps: a fixed-size encoding degrades on long sentences.

    Args:
        sources: source sentences (length = number of whitespace tokens) or their lengths.
        hypotheses, references: as in :func:`~seqattn.evaluation.corpus_bleu`.
        edges: increasing bucket edges; bucket i is ``[edges[i], edges[i+1])``.
        lowercase: case-insensitive scores.
        skip_empty: drop buckets without segments instead of reporting count 0.

    Returns:
        One :class:`BucketRow` per bucket, in order; a bucket's BLEU is a corpus BLEU over its
        own segments (not an average of sentence BLEUs).

    Example:
        >>> hyp, ref = ["w x y z", "p q r s"], ["w x y z", "t u v w"]
        >>> rows = bleu_by_length(["a b", "a b c d"], hyp, ref, [0, 3, 9])
        >>> [(r.label, r.count, round(r.bleu, 1)) for r in rows]
        [('0-2', 1, 100.0), ('3-8', 1, 0.0)]
    """
    streams = reference_streams(hypotheses, references)
    if len(sources) != len(hypotheses):
        raise ValueError(f"expected {len(hypotheses)} sources, got {len(sources)}")
    lengths = [len(s.split()) if isinstance(s, str) else s for s in sources]
    which = assign_buckets(lengths, edges)
    rows = []
    for j in range(len(edges) - 1):
        idx = [i for i, w in enumerate(which) if w == j]
        lo, hi = float(edges[j]), float(edges[j + 1])
        if not idx:
            if not skip_empty:
                rows.append(BucketRow(lo, hi, 0))
            continue
        hyps = [hypotheses[i] for i in idx]
        refs = [[s[i] for i in idx] for s in streams]
        rows.append(
            BucketRow(
                lo,
                hi,
                len(idx),
                bleu=corpus_bleu(hyps, refs, lowercase=lowercase).score,
                chrf=corpus_chrf(hyps, refs, lowercase=lowercase).score,
            )
        )
    return rows


def accuracy_by_length(
    lengths: Sequence[float],
    correct: Sequence[bool],
    edges: Sequence[float],
    *,
    skip_empty: bool = False,
) -> list[BucketRow]:
    """Accuracy (fraction in [0, 1]) of the examples in each length bucket.

    For classifiers (input length) and synthetic tasks (sequence length, delay): pass each
    example's length and whether it was right (bools, 0/1, or a bool tensor's ``.tolist()``).

    Example:
        >>> rows = accuracy_by_length([3, 5, 12, 14], [True, False, True, True], [0, 10, 20, 30])
        >>> [(r.label, r.count, r.accuracy) for r in rows]
        [('0-9', 2, 0.5), ('10-19', 2, 1.0), ('20-29', 0, None)]
    """
    lengths, correct = list(lengths), list(correct)
    if len(lengths) != len(correct):
        raise ValueError(
            f"expected one correct flag per length ({len(lengths)}), got {len(correct)}"
        )
    which = assign_buckets(lengths, edges)
    rows = []
    for j in range(len(edges) - 1):
        flags = [bool(c) for c, w in zip(correct, which, strict=True) if w == j]
        if not flags and skip_empty:
            continue
        acc = sum(flags) / len(flags) if flags else None
        rows.append(BucketRow(float(edges[j]), float(edges[j + 1]), len(flags), accuracy=acc))
    return rows

"""Corpus BLEU and chrF through sacreBLEU, with the signature that makes a number reproducible.

BLEU (Papineni et al. 2002): ``BP * exp(sum_n 1/4 log p_n)`` over modified n-gram precisions
``p_1..p_4`` of the whole corpus, with brevity penalty ``BP = min(1, exp(1 - r / c))``. chrF
(Popović 2015): the character n-gram F-score with beta = 2 (n <= 6). Both are computed by
sacreBLEU (Post 2018) with its defaults (13a tokenisation, exponential smoothing for BLEU), so
every score comes with sacreBLEU's signature string; report the two together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sacrebleu.metrics import BLEU, CHRF


@dataclass(frozen=True)
class CorpusScore:
    """A corpus-level score (0-100), its sacreBLEU signature and, for BLEU, its parts.

    Attributes:
        score: the metric on a 0-100 scale.
        signature: sacreBLEU's signature, e.g. ``nrefs:1|case:mixed|eff:no|tok:13a|...``.
        metric: ``"BLEU"`` or ``"chrF2"``.
        precisions: BLEU's four n-gram precisions (percent); empty for chrF.
        brevity_penalty: BLEU's BP; None for chrF.
        sys_len, ref_len: BLEU's hypothesis and reference lengths in tokens; None for chrF.
    """

    score: float
    signature: str
    metric: str
    precisions: tuple[float, ...] = ()
    brevity_penalty: float | None = None
    sys_len: int | None = None
    ref_len: int | None = None

    def __str__(self) -> str:
        return f"{self.metric} = {self.score:.2f} ({self.signature})"


def reference_streams(
    hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]]
) -> list[list[str]]:
    """Normalise references to sacreBLEU's list of streams, checking types and lengths.

    ``references`` is one reference per hypothesis (a sequence of strings), or several streams
    (a sequence of such sequences, sacreBLEU's layout for multiple references).
    """
    if isinstance(hypotheses, str) or not all(isinstance(h, str) for h in hypotheses):
        raise TypeError("expected hypotheses as a sequence of strings, got " + _kind(hypotheses))
    if len(hypotheses) == 0:
        raise ValueError("expected at least one hypothesis, got an empty corpus")
    if isinstance(references, str):
        raise TypeError("expected references as a sequence of strings, got a single string")
    if len(references) > 0 and all(isinstance(r, str) for r in references):
        streams = [list(references)]
    elif len(references) > 0 and all(
        isinstance(s, Sequence) and not isinstance(s, str) and all(isinstance(r, str) for r in s)
        for s in references
    ):
        streams = [list(s) for s in references]
    else:
        raise TypeError(
            "expected references as a sequence of strings or of reference streams, got "
            + _kind(references)
        )
    for i, s in enumerate(streams):
        if len(s) != len(hypotheses):
            raise ValueError(
                f"expected {len(hypotheses)} references (one per hypothesis) in stream {i}, "
                f"got {len(s)}"
            )
    return streams


def _kind(x: object) -> str:
    if isinstance(x, str):
        return "a single string"
    try:
        inner = {type(v).__name__ for v in x}  # type: ignore[attr-defined]
    except TypeError:
        return type(x).__name__
    return f"{type(x).__name__} of {'/'.join(sorted(inner)) or 'nothing'}"


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    lowercase: bool = False,
    tokenize: str | None = None,
) -> CorpusScore:
    """Corpus BLEU (sacreBLEU defaults) and its signature.

    Args:
        hypotheses: detokenised system outputs, one string per segment.
        references: one reference string per hypothesis, or a list of reference streams.
        lowercase: case-insensitive BLEU (the signature then says ``case:lc``).
        tokenize: a sacreBLEU tokeniser name (default ``13a``).

    Returns:
        :class:`CorpusScore` with BLEU in [0, 100].

    Example:
        >>> s = corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"])
        >>> round(s.score, 6), s.signature.startswith("nrefs:1|case:mixed")
        (100.0, True)
    """
    streams = reference_streams(hypotheses, references)
    metric = BLEU(lowercase=lowercase, tokenize=tokenize)
    res = metric.corpus_score(list(hypotheses), streams)
    return CorpusScore(
        score=float(res.score),
        signature=str(metric.get_signature()),
        metric="BLEU",
        precisions=tuple(float(p) for p in res.precisions),
        brevity_penalty=float(res.bp),
        sys_len=int(res.sys_len),
        ref_len=int(res.ref_len),
    )


def corpus_chrf(
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    lowercase: bool = False,
) -> CorpusScore:
    """Corpus chrF (beta 2, character 6-grams, sacreBLEU defaults) and its signature.

    Example:
        >>> corpus_chrf(["a b c"], ["a b c"]).score
        100.0
    """
    streams = reference_streams(hypotheses, references)
    metric = CHRF(lowercase=lowercase)
    res = metric.corpus_score(list(hypotheses), streams)
    return CorpusScore(
        score=float(res.score), signature=str(metric.get_signature()), metric="chrF2"
    )

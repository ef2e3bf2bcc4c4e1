"""Scoring a translator: sacreBLEU corpus BLEU / chrF with their signatures, BLEU by source
length, and the greedy + beam summary that ``seqattn train translate`` prints at its end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqattn.data.datasets.parallel import SentencePair
    from seqattn.pipelines.translation import Translation, TranslationModel

__all__ = ["bleu_by_length", "bleu_scores", "evaluate_translator", "bleu_summary"]


def bleu_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """sacreBLEU corpus BLEU (cased and lowercased) and chrF on detokenised text, with the
    signatures that make the numbers comparable (Post 2018); via :mod:`seqattn.evaluation`."""
    from seqattn.evaluation import corpus_bleu, corpus_chrf

    cased = corpus_bleu(hypotheses, references)
    lower = corpus_bleu(hypotheses, references, lowercase=True)
    chrf = corpus_chrf(hypotheses, references)
    return {"bleu": cased.score, "bleu_lowercase": lower.score, "chrf": chrf.score,
            "signature": cased.signature, "signature_lowercase": lower.signature}  # fmt: skip


def bleu_by_length(
    hypotheses: Sequence[str],
    references: Sequence[str],
    src_lengths: Sequence[int],
    edges: Sequence[int] = (10, 15, 20, 25, 30),
) -> list[dict[str, Any]]:
    """Corpus BLEU of the sentences in each source-length bucket [lo, hi) (empty buckets
    left out); via :func:`seqattn.evaluation.bleu_by_length`."""
    from seqattn.evaluation import bleu_by_length as _by_length

    top = max([*src_lengths, edges[-1]]) + 1
    rows = _by_length(list(src_lengths), hypotheses, references, [0, *edges, top],
                      skip_empty=True)  # fmt: skip
    return [
        {"bucket": f"{int(r.lo)}-{int(r.hi) - 1}" if r.hi < top else f"{int(r.lo)}+",
         "sentences": r.count, "bleu": r.bleu}
        for r in rows
    ]  # fmt: skip


def evaluate_translator(
    bundle: TranslationModel, pairs: Sequence[SentencePair], beam: int, lp: float = 0.0
) -> tuple[dict[str, Any], list[Translation]]:
    """Translate ``pairs``' sources with beam size ``beam`` (1 = greedy): sacreBLEU against
    their targets, BLEU by source length, speed; and the translations."""
    srcs, refs = [p.src for p in pairs], [p.tgt for p in pairs]
    t0, c0 = time.perf_counter(), time.process_time()
    out = bundle.translate(srcs, beam=beam, length_penalty=lp)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    hyps = [t.text for t in out]
    src_len = [len(t.src_tokens) for t in out]
    return {
        "beam": beam,
        **bleu_scores(hyps, refs),
        "by_length": bleu_by_length(hyps, refs, src_len),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "sentences_per_s": len(pairs) / seconds if seconds > 0 else float("inf"),
    }, out


def bleu_summary(
    bundle: TranslationModel,
    splits: dict[str, Sequence[SentencePair] | None],
    beams: Sequence[int] = (1, 5),
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{split: {"greedy" | "beam5": scores}}`` for every split given (None skipped): BLEU,
    lowercased BLEU, chrF, the signatures and sentences/s (no per-length rows)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for split, pairs in splits.items():
        if not pairs:
            continue
        for beam in dict.fromkeys(beams):
            scores, _ = evaluate_translator(bundle, pairs, beam)
            scores.pop("by_length")
            out.setdefault(split, {})["greedy" if beam == 1 else f"beam{beam}"] = scores
    return out

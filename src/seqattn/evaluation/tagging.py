"""Scores of tag sequences: entity precision / recall / F1 through ``seqeval``, token accuracy.

Entity F1 (the CoNLL-2000/2003 shared-task measure) counts a predicted entity as right only
when its type and both boundaries match a gold entity; :func:`entity_scores` computes it with
seqeval (Nakayama, 2018), by default in its conlleval-compatible mode (an ``I-X`` that starts a
chunk starts an entity, as conlleval.pl reads it), or in strict mode for a named ``scheme``
(``"IOB2"``, ``"IOBES"``, ``"BILOU"``...: ill-formed chunks are no entities). Parts of speech
and other per-token tags are scored by :func:`token_accuracy`. :func:`tagging_scores` picks
both or one by the tags: entity F1 only for entity tags (``O`` or a ``B-``/``I-``/... prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "ENTITY_PREFIXES",
    "SCHEMES",
    "entity_scores",
    "token_accuracy",
    "is_entity_tagset",
    "tagging_scores",
]

#: The chunk prefixes of the IOB / IOBES / BILOU schemes (``B-PER``, ``E-LOC``, ``U-ORG``...).
ENTITY_PREFIXES = ("B", "I", "E", "S", "L", "U")
SCHEMES = ("IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")


def _check_pairs(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    for name, seqs in (("gold", gold), ("pred", pred)):
        if isinstance(seqs, str) or any(isinstance(s, str) for s in seqs):
            raise TypeError(f"expected {name} as a list of tag lists (one per sentence), got "
                            f"strings")  # fmt: skip
    if len(gold) != len(pred):
        raise ValueError(f"expected as many predicted sentences as gold ones ({len(gold)}), "
                         f"got {len(pred)}")  # fmt: skip
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"expected {len(g)} predicted tags in sentence {i + 1} (as gold), "
                             f"got {len(p)}")  # fmt: skip


def is_entity_tagset(tags: Iterable[str]) -> bool:
    """True when every tag is ``O`` or ``P-TYPE`` with P in :data:`ENTITY_PREFIXES`.

    Example:
        >>> is_entity_tagset(["O", "B-PER", "I-PER"]), is_entity_tagset(["NOUN", "VERB"])
        (True, False)
    """
    seen = False
    for tag in tags:
        seen = True
        prefix, sep, kind = str(tag).partition("-")
        if tag != "O" and not (sep and prefix in ENTITY_PREFIXES and kind):
            return False
    return seen


def token_accuracy(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """The fraction of tokens whose predicted tag is the gold tag (NaN with no tokens).

    Example:
        >>> token_accuracy([["DET", "NOUN"], ["VERB"]], [["DET", "VERB"], ["VERB"]])
        0.6666666666666666
    """
    _check_pairs(gold, pred)
    pairs = [(a, b) for g, p in zip(gold, pred, strict=True) for a, b in zip(g, p, strict=True)]
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else float("nan")


def entity_scores(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str | None = None
) -> dict[str, Any]:
    """Micro-averaged entity precision, recall and F1, and the same per entity type.

    Args:
        gold, pred: one tag list per sentence, of equal lengths.
        scheme: None: seqeval's default (conlleval) mode; a name of :data:`SCHEMES`: its
            strict mode under that scheme.

    Returns:
        ``{"precision", "recall", "f1", "support" (gold entities), "per_type": {type:
        {"precision", "recall", "f1", "support"}}, "mode"}``.

    Example:
        >>> gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
        >>> pred = [["B-PER", "I-PER", "O", "O"], ["O", "I-ORG"]]
        >>> s = entity_scores(gold, pred)
        >>> round(s["precision"], 3), round(s["recall"], 3), round(s["f1"], 3), s["support"]
        (1.0, 0.667, 0.8, 3)
        >>> round(entity_scores(gold, pred, scheme="IOB2")["f1"], 3)  # I-ORG starts no entity
        0.5
    """
    from seqeval.metrics import classification_report

    _check_pairs(gold, pred)
    if scheme is not None and scheme not in SCHEMES:
        raise ValueError(f"expected scheme None or one of {SCHEMES}, got {scheme!r}")
    gold, pred = [list(map(str, g)) for g in gold], [list(map(str, p)) for p in pred]
    kwargs: dict[str, Any] = {"output_dict": True, "zero_division": 0}
    if scheme is not None:
        import seqeval.scheme

        kwargs.update(mode="strict", scheme=getattr(seqeval.scheme, scheme))
    report = classification_report(gold, pred, **kwargs)

    def row(r: dict) -> dict[str, float | int]:
        return {"precision": float(r["precision"]), "recall": float(r["recall"]),
                "f1": float(r["f1-score"]), "support": int(r["support"])}  # fmt: skip

    averages = ("micro avg", "macro avg", "weighted avg")
    micro = row(report["micro avg"])
    per_type = {k: row(v) for k, v in report.items() if k not in averages}
    return {**micro, "per_type": per_type, "mode": f"strict {scheme}" if scheme else "conlleval"}


def tagging_scores(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    entities: bool | None = None,
    scheme: str | None = None,
) -> dict[str, Any]:
    """``{"n_sentences", "n_tokens", "token_accuracy", "entity"}``: ``entity`` the
    :func:`entity_scores` when ``entities`` (None: when the gold tags are an entity tag set,
    :func:`is_entity_tagset`), else None."""
    acc = token_accuracy(gold, pred)
    if entities is None:
        entities = is_entity_tagset(t for g in gold for t in g)
    return {
        "n_sentences": len(gold),
        "n_tokens": sum(len(g) for g in gold),
        "token_accuracy": acc,
        "entity": entity_scores(gold, pred, scheme) if entities else None,
    }

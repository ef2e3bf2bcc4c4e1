"""Multi-label text classification (``TextClassifierConfig(multi_label=True)``): label sets
and their multi-hot targets, the per-label sigmoid loss, F1 scores and per-label decision
thresholds.

An example's label field holds a set of labels joined by ``label_sep`` (``"sports|politics"``;
an empty field is the empty set). The classifier is the same :class:`SequenceClassifier` with
one logit per label; training minimises binary cross-entropy (each label a yes/no decision),
early stopping watches the validation micro-F1 at threshold 0.5, and afterwards each label's
threshold is the one of :data:`GRID` that maximises its F1 on the validation set (0.5 for a
label without a validation positive, or without a validation set). Scores come from
scikit-learn: micro-F1 (every decision pooled), macro-F1 (the mean of the per-label F1s),
subset accuracy (the whole set right) and the Hamming loss (the fraction of wrong decisions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["GRID", "join_labels", "multi_hot", "scores", "split_labels", "tune_thresholds"]

#: The candidate decision thresholds of :func:`tune_thresholds`.
GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 ... 0.95


def split_labels(field: Any, sep: str) -> list[str]:
    """The label set of a field: the parts between ``sep``, stripped, empties dropped, each
    once, in order of first appearance.

    >>> split_labels(" sports | politics|sports ", "|"), split_labels("", "|")
    (['sports', 'politics'], [])
    """
    if field is None:
        return []
    return list(dict.fromkeys(p.strip() for p in str(field).split(sep) if p.strip()))


def join_labels(names: Sequence[str], order: Sequence[str], sep: str) -> str:
    """``names`` in the model's label ``order``, joined by ``sep`` (the canonical field).

    >>> join_labels(["b", "a"], ["a", "b", "c"], "|")
    'a|b'
    """
    chosen = set(names)
    return sep.join(n for n in order if n in chosen)


def multi_hot(names: Sequence[str], index: dict[str, int]) -> list[float]:
    """The target row: 1.0 at each name's index, 0.0 elsewhere.

    >>> multi_hot(["c", "a"], {"a": 0, "b": 1, "c": 2})
    [1.0, 0.0, 1.0]
    """
    row = [0.0] * len(index)
    for n in names:
        row[index[n]] = 1.0
    return row


def loss(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of (B, C) logits against (B, C) multi-hot targets."""
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction=reduction)


def _decide(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    return (probs >= np.asarray(thresholds, dtype=probs.dtype)[None, :]).astype(int)


def scores(
    probs: Tensor | np.ndarray,
    target: Tensor | np.ndarray,
    labels: Sequence[str],
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Micro- and macro-F1, subset accuracy, Hamming loss, mean binary cross-entropy and
    per-label precision / recall / F1 / support of (N, C) probabilities against (N, C)
    multi-hot targets, deciding at ``thresholds`` (default 0.5 each).

    >>> s = scores([[0.9, 0.2], [0.6, 0.7]], [[1, 0], [0, 1]], ["a", "b"])
    >>> s["f1_micro"], s["subset_accuracy"], s["per_label"]["a"]["precision"]
    (0.8, 0.5, 0.5)
    """
    from sklearn.metrics import f1_score, hamming_loss, precision_recall_fscore_support

    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64).astype(int)
    if p.ndim != 2 or p.shape != y.shape or p.shape[1] != len(labels):
        raise ValueError(f"expected probs and targets of shape (N, {len(labels)}), got "
                         f"{p.shape} and {y.shape}")  # fmt: skip
    thr = [0.5] * len(labels) if thresholds is None else list(thresholds)
    pred = _decide(p, thr)
    n = len(p)
    prec, rec, f1, support = precision_recall_fscore_support(y, pred, average=None,
                                                             zero_division=0)  # fmt: skip
    eps = 1e-12
    bce = -(y * np.log(np.clip(p, eps, 1)) + (1 - y) * np.log(np.clip(1 - p, eps, 1)))
    return {
        "n": n,
        "f1_micro": float(f1_score(y, pred, average="micro", zero_division=0)) if n else np.nan,
        "f1_macro": float(f1_score(y, pred, average="macro", zero_division=0)) if n else np.nan,
        "subset_accuracy": float((pred == y).all(1).mean()) if n else np.nan,
        "hamming_loss": float(hamming_loss(y, pred)) if n else np.nan,
        "log_loss": float(bce.mean()) if n else np.nan,
        "thresholds": dict(zip(labels, thr, strict=True)),
        "per_label": {name: {"n": int(support[k]), "precision": float(prec[k]),
                             "recall": float(rec[k]), "f1": float(f1[k])}
                      for k, name in enumerate(labels)},
    }  # fmt: skip


def tune_thresholds(probs: Tensor | np.ndarray, target: Tensor | np.ndarray) -> list[float]:
    """Per label, the :data:`GRID` threshold with the best F1 on these (validation) rows; ties
    go to the threshold nearest 0.5, a label without a positive here keeps 0.5.

    >>> tune_thresholds([[0.3, 0.9], [0.1, 0.8], [0.35, 0.2]], [[1, 1], [0, 1], [1, 0]])
    [0.3, 0.5]
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64).astype(bool)
    out = []
    for k in range(p.shape[1]):
        if not y[:, k].any():
            out.append(0.5)
            continue
        best = None
        for t in GRID:
            pred = p[:, k] >= t
            tp = int((pred & y[:, k]).sum())
            f1 = 2 * tp / (int(pred.sum()) + int(y[:, k].sum()))
            key = (f1, -abs(t - 0.5))
            if best is None or key > best[0]:
                best = (key, t)
        out.append(best[1])
    return out


def probabilities(logits: Tensor) -> Tensor:
    """Each label's probability: the sigmoid of its logit (they need not sum to 1)."""
    return torch.sigmoid(logits)

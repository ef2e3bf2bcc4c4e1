"""How class-specific a feature is: per-class means and the class's share of its variance (η²).

Hu, Shen & Sun (2018), Fig. 6, plot the mean squeeze-and-excitation activation per class and
channel; :func:`class_specificity` turns that picture into one number per block.

>>> import torch
>>> labels = torch.arange(8) % 2
>>> s = torch.tensor([[0.2], [0.8]])[labels]  # (N, C): a function of the class alone
>>> class_means(s, labels, 2).tolist(), class_specificity(s, labels, 2)
([[0.20000000298023224], [0.800000011920929]], 1.0)
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["class_means", "class_specificity"]


def class_means(s: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Mean excitation per class and channel: (K, C) from s (N, C) and labels (N,)."""
    sums = torch.zeros(num_classes, s.shape[1], dtype=s.dtype).index_add_(0, labels, s)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1)
    return sums / counts[:, None].to(s.dtype)


def class_specificity(s: Tensor, labels: Tensor, num_classes: int) -> float:
    """η² averaged over channels: between-class variance of s over its total variance.

    0 when every class has the same mean excitation (class-agnostic), 1 when the excitation
    is a function of the class alone. Channels with (numerically) constant s are skipped.

    Shape:
        s (N, C), labels (N,) in 0..num_classes - 1.
    """
    s = s.double()
    means = class_means(s, labels, num_classes)  # (K, C)
    counts = torch.bincount(labels, minlength=num_classes).double()  # (K,)
    grand = s.mean(0)  # (C,)
    between = (counts[:, None] * (means - grand) ** 2).sum(0) / len(s)  # (C,)
    total = s.var(0, unbiased=False)  # (C,)
    keep = total > 1e-12
    if not bool(keep.any()):
        return 0.0
    return float((between[keep] / total[keep]).mean())

"""The 8x8 handwritten digits bundled with scikit-learn (UCI "Optical Recognition of Handwritten
Digits", Alpaydin & Kaynak 1998, test part: 1,797 images, 16 grey levels).

scikit-learn ships the file inside its wheel (``sklearn.datasets.load_digits``), so this loader
needs no data directory and no download. The images have no official train/test split: a fixed,
class-stratified split (the same on every machine) keeps held-out item images for testing.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["DIGIT_WORDS", "load_digits"]

#: One lowercase word per digit.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def load_digits(
    split: str = "train", test_fraction: float = 0.25, split_seed: int = 0
) -> tuple[Tensor, Tensor]:
    """scikit-learn's 8x8 digits, split into disjoint train and test images.

    Args:
        split: ``train``, ``test`` or ``all``.
        test_fraction: the share of each class's images reserved for ``test``.
        split_seed: seed of the fixed stratified split (keep the default to compare runs).

    Returns:
        images ``(N, 8, 8)`` float32 in [0, 1] (the 0-16 grey levels / 16) and labels ``(N,)``
        int64 in 0..9 (words in ``DIGIT_WORDS``).

    Example:
        >>> train, test = load_digits("train"), load_digits("test")
        >>> train[0].shape[1:], len(train[0]) + len(test[0])
        (torch.Size([8, 8]), 1797)
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"expected split 'train', 'test' or 'all', got {split!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"expected 0 < test_fraction < 1, got {test_fraction}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:  # pragma: no cover - a dependency of seqattn
        raise ImportError("expected scikit-learn to be installed (pip install scikit-learn)") from e
    bunch = _sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    if split == "all":
        return torch.from_numpy(images), torch.from_numpy(labels)
    rng = np.random.default_rng(split_seed)
    test_mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test_mask[idx[: round(test_fraction * len(idx))]] = True
    keep = test_mask if split == "test" else ~test_mask
    return torch.from_numpy(images[keep]), torch.from_numpy(labels[keep])

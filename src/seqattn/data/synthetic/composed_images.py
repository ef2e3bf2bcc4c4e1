"""Composed Fashion-MNIST scenes for show-attend-tell: 3-6 items on a grid, named in reading order.

Each scene is a ``rows x cols`` grid of ``cell x cell`` cells; ``k`` items (``min_items`` to
``max_items``) go into ``k`` distinct random cells, each 28x28 item at a random offset inside
its cell. The caption is the items' class names in reading order (row by row, left to right),
e.g. ``"sneaker bag shirt"``. ``rows=1`` gives items side by side.

Held-out compositions: every class sequence is assigned to ``train`` or ``test`` by a fixed hash
(:func:`is_held_out`), so a test caption's class sequence never occurs in training. Held-out
items: test scenes draw item images from Fashion-MNIST's test split, training scenes from the
training split (the caller passes the images).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CAPTION_WORDS",
    "ComposedScenes",
    "caption_words",
    "compose_scenes",
    "is_held_out",
]

#: One lowercase word per Fashion-MNIST class (``FASHION_MNIST_CLASSES`` order).
CAPTION_WORDS = (
    "tshirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "boot",
)  # fmt: skip

ITEM = 28  # Fashion-MNIST item side


def caption_words(classes: Sequence[int], words: Sequence[str] = CAPTION_WORDS) -> str:
    """``[7, 8, 6]`` -> ``"sneaker bag shirt"``."""
    return " ".join(words[int(c)] for c in classes)


def is_held_out(classes: Sequence[int], fraction: float = 0.2) -> bool:
    """Whether a class sequence belongs to the held-out (test-only) compositions.

    A fixed hash of the sequence (sha256 of ``"7-8-6"``), so the split is the same on every
    machine, for every seed and for every scene count.
    """
    key = "-".join(str(int(c)) for c in classes).encode()
    bucket = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0**64
    return bucket < fraction


@dataclass
class ComposedScenes:
    """A batch of composed scenes.

    Attributes:
        images: (N, 1, rows*cell, cols*cell) float32 in [0, 1].
        classes: N lists of class ids in reading order.
        boxes: N lists of (top, left, bottom, right) pixel boxes (bottom/right exclusive) of
            the items, in the captions' order.
        cells: N lists of (row, col) grid cells, in the captions' order.
        item_index: N lists of the source images' indices (into the ``items`` given).
        words: the word naming each class id (what :meth:`captions` uses).
    """

    images: Tensor
    classes: list[list[int]]
    boxes: list[list[tuple[int, int, int, int]]]
    cells: list[list[tuple[int, int]]]
    item_index: list[list[int]]
    words: Sequence[str] = CAPTION_WORDS

    def __len__(self) -> int:
        return len(self.classes)

    def captions(self, words: Sequence[str] | None = None) -> list[str]:
        """The captions, with ``words`` (default the scenes' own words) naming the classes."""
        return [caption_words(c, self.words if words is None else words) for c in self.classes]


def _check_scene_args(
    items_np: np.ndarray, labels_np: np.ndarray, rows: int, cols: int, cell: int,
    min_items: int, max_items: int, split: str, held_out_fraction: float,
) -> None:  # fmt: skip
    if items_np.ndim != 3 or items_np.shape[1] != items_np.shape[2] or items_np.shape[1] < 1:
        raise ValueError(f"expected square items of shape (M, S, S), got {tuple(items_np.shape)}")
    side = int(items_np.shape[1])
    if labels_np.shape != (items_np.shape[0],):
        raise ValueError(
            f"expected labels of shape ({items_np.shape[0]},), got {tuple(labels_np.shape)}"
        )
    if cell < side:
        raise ValueError(f"expected cell >= the item side {side}, got {cell}")
    if not 1 <= min_items <= max_items <= rows * cols:
        raise ValueError(
            f"expected 1 <= min_items <= max_items <= rows*cols = {rows * cols}, "
            f"got min_items={min_items}, max_items={max_items}"
        )
    if split not in ("train", "test", "any"):
        raise ValueError(f"expected split 'train', 'test' or 'any', got {split!r}")
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"expected 0 < held_out_fraction < 1, got {held_out_fraction}")


def _draw_sequence(
    rng: np.random.Generator, pool: Sequence[int], min_items: int, max_items: int, split: str,
    held_out_fraction: float,
) -> list[int]:  # fmt: skip
    """A class sequence of the requested split (rejection sampling of the composition split)."""
    for _ in range(10_000):
        k = int(rng.integers(min_items, max_items + 1))
        seq = [pool[int(j)] for j in rng.integers(0, len(pool), size=k)]
        if split == "any" or is_held_out(seq, held_out_fraction) == (split == "test"):
            return seq
    # pragma: no cover - with a fraction in (0, 1) this needs astronomically bad luck
    raise RuntimeError("could not draw a composition of the requested split")


def compose_scenes(
    items: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    n: int,
    *,
    seed: int,
    rows: int = 2,
    cols: int = 3,
    cell: int = 32,
    min_items: int = 3,
    max_items: int = 6,
    split: str = "train",
    held_out_fraction: float = 0.2,
    classes: Sequence[int] | None = None,
    words: Sequence[str] = CAPTION_WORDS,
) -> ComposedScenes:
    """Compose ``n`` scenes from square item images; deterministic for a given ``seed``.

    Args:
        items: (M, S, S) item images, uint8 0-255 or float in [0, 1] (28x28 Fashion-MNIST;
            any square size, e.g. upscaled 8x8 digits); the training split's images for
            ``split="train"``, the test split's for ``split="test"`` (held-out item images).
        labels: (M,) class ids 0..9.
        n: number of scenes.
        seed: the random seed (same seed and inputs -> identical scenes).
        rows, cols: the grid; ``rows=1`` places the items side by side.
        cell: cell side in pixels (>= S; the slack is the random offset of the item).
        min_items, max_items: items per scene, uniform in [min_items, max_items].
        split: ``train`` keeps only class sequences with ``not is_held_out(seq)``, ``test`` only
            the held-out ones, ``any`` both.
        held_out_fraction: the share of class sequences reserved for ``test``.
        classes: the class ids to draw from (default all classes present in ``labels``).
        words: the word naming each class id (default the Fashion-MNIST names).

    Returns:
        :class:`ComposedScenes`.

    Example:
        >>> items = torch.full((20, 28, 28), 255, dtype=torch.uint8)
        >>> s = compose_scenes(items, torch.arange(20) % 10, 2, seed=0, split="any")
        >>> s.images.shape, len(s.classes[0]) >= 3
        (torch.Size([2, 1, 64, 96]), True)
    """
    items_np = np.asarray(items.numpy() if isinstance(items, Tensor) else items)
    labels_np = np.asarray(labels.numpy() if isinstance(labels, Tensor) else labels)
    _check_scene_args(items_np, labels_np, rows, cols, cell, min_items, max_items, split,
                      held_out_fraction)  # fmt: skip
    side = int(items_np.shape[1])
    pool = sorted({int(c) for c in labels_np}) if classes is None else sorted(set(classes))
    by_class = {c: np.flatnonzero(labels_np == c) for c in pool}
    if len(words) <= max(pool):
        raise ValueError(f"expected a word for every class id up to {max(pool)}, got {len(words)}")
    empty = [c for c, idx in by_class.items() if len(idx) == 0]
    if empty:
        raise ValueError(f"expected items of every class in {pool}, got none of {empty}")
    rng = np.random.default_rng(seed)
    scale = 1.0 / 255.0 if items_np.dtype == np.uint8 else 1.0
    images = np.zeros((n, 1, rows * cell, cols * cell), dtype=np.float32)
    out_classes, out_boxes, out_cells, out_index = [], [], [], []
    for s in range(n):
        seq = _draw_sequence(rng, pool, min_items, max_items, split, held_out_fraction)
        where = sorted(rng.choice(rows * cols, size=len(seq), replace=False).tolist())
        boxes, cells, index = [], [], []
        for c, pos in zip(seq, where, strict=True):  # reading order
            i = int(by_class[c][rng.integers(0, len(by_class[c]))])
            r, q = divmod(pos, cols)
            dy, dx = (int(v) for v in rng.integers(0, cell - side + 1, size=2))
            top, left = r * cell + dy, q * cell + dx
            images[s, 0, top : top + side, left : left + side] = items_np[i] * scale
            boxes.append((top, left, top + side, left + side))
            cells.append((r, q))
            index.append(i)
        out_classes.append(seq)
        out_boxes.append(boxes)
        out_cells.append(cells)
        out_index.append(index)
    return ComposedScenes(
        torch.from_numpy(images), out_classes, out_boxes, out_cells, out_index, tuple(words)
    )

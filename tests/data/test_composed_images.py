"""Composed Fashion-MNIST scenes: determinism, boxes, reading order, held-out compositions."""

from __future__ import annotations

import pytest
import torch

from seqattn.data.synthetic.composed_images import (
    CAPTION_WORDS,
    caption_words,
    compose_scenes,
    is_held_out,
)


def _items(n: int = 50):
    # item i is a distinct constant image (value 1 + i): a scene pixel says which item is there
    g = torch.Generator().manual_seed(0)
    items = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for i in range(n):
        items[i, 2:26, 4:24] = 1 + i
    return items, torch.randint(0, 10, (n,), generator=g)


def test_deterministic_per_seed():
    items, labels = _items()
    a = compose_scenes(items, labels, 20, seed=3)
    b = compose_scenes(items, labels, 20, seed=3)
    c = compose_scenes(items, labels, 20, seed=4)
    assert torch.equal(a.images, b.images) and a.classes == b.classes and a.boxes == b.boxes
    assert a.classes != c.classes


def test_boxes_hold_the_named_items_in_reading_order():
    items, labels = _items()
    s = compose_scenes(items, labels, 30, seed=1, rows=2, cols=3, cell=32, split="any")
    assert s.images.shape == (30, 1, 64, 96)
    for img, cls, boxes, cells, idx in zip(s.images, s.classes, s.boxes, s.cells, s.item_index,
                                           strict=True):  # fmt: skip
        assert 3 <= len(cls) <= 6 and len(boxes) == len(cls)
        assert cells == sorted(cells)  # reading order: row by row, left to right
        covered = torch.zeros(64, 96, dtype=torch.bool)
        for c, (top, left, bottom, right), (r, q), i in zip(cls, boxes, cells, idx, strict=True):
            assert (bottom - top, right - left) == (28, 28)
            assert r * 32 <= top and bottom <= (r + 1) * 32 and q * 32 <= left <= (q + 1) * 32
            assert int(labels[i]) == c
            patch = img[0, top:bottom, left:right]
            assert torch.allclose(patch, items[i].float() / 255)
            covered[top:bottom, left:right] = True
        assert float(img[0][~covered].abs().sum()) == 0.0  # nothing outside the boxes


def test_held_out_compositions_are_disjoint():
    items, labels = _items()
    train = compose_scenes(items, labels, 300, seed=0, split="train")
    test = compose_scenes(items, labels, 300, seed=0, split="test")
    assert all(not is_held_out(c) for c in train.classes)
    assert all(is_held_out(c) for c in test.classes)
    assert not {tuple(c) for c in train.classes} & {tuple(c) for c in test.classes}
    # the hash split is stable and roughly the requested fraction
    seqs = [[a, b, c] for a in range(10) for b in range(10) for c in range(10)]
    share = sum(is_held_out(s) for s in seqs) / len(seqs)
    assert 0.15 < share < 0.25


def test_side_by_side_and_captions():
    items, labels = _items()
    s = compose_scenes(items, labels, 5, seed=2, rows=1, cols=6, cell=28, split="any")
    assert s.images.shape == (5, 1, 28, 168)
    for boxes in s.boxes:
        lefts = [b[1] for b in boxes]
        assert lefts == sorted(lefts)
    assert caption_words([7, 8, 6]) == "sneaker bag shirt"
    assert s.captions()[0] == " ".join(CAPTION_WORDS[c] for c in s.classes[0])


def test_bad_arguments():
    items, labels = _items()
    with pytest.raises(ValueError, match=r"expected square items of shape \(M, S, S\)"):
        compose_scenes(items[:, :20], labels, 2, seed=0)
    with pytest.raises(ValueError, match="max_items <= rows\\*cols"):
        compose_scenes(items, labels, 2, seed=0, rows=1, cols=3, max_items=6)
    with pytest.raises(ValueError, match="cell >= the item side 28"):
        compose_scenes(items, labels, 2, seed=0, cell=20)
    with pytest.raises(ValueError, match="a word for every class id up to"):
        compose_scenes(items, labels, 2, seed=0, words=("a", "b"))
    with pytest.raises(ValueError, match="split"):
        compose_scenes(items, labels, 2, seed=0, split="val")


def test_small_float_items_and_own_words():
    """Any square item size (here 16x16 floats in [0, 1]) and the scenes' own class words."""
    items = torch.zeros(20, 16, 16)
    items[:, 4:12, 4:12] = torch.linspace(0.1, 1.0, 20)[:, None, None]
    labels = torch.arange(20) % 10
    words = tuple(f"w{i}" for i in range(10))
    s = compose_scenes(items, labels, 8, seed=1, cell=24, split="any", words=words)
    assert s.images.shape == (8, 1, 48, 72)
    for img, boxes, index in zip(s.images, s.boxes, s.item_index, strict=True):
        for (top, left, bottom, right), i in zip(boxes, index, strict=True):
            assert (bottom - top, right - left) == (16, 16)
            assert torch.equal(img[0, top:bottom, left:right], items[i])
    assert s.captions()[0].split() == [words[c] for c in s.classes[0]]
    assert s.captions(CAPTION_WORDS)[0].split()[0] in CAPTION_WORDS


def test_digits_loader_split_is_fixed_stratified_and_disjoint():
    from seqattn.data.datasets import DIGIT_WORDS, load_digits

    (tr, _), (te, yte) = load_digits("train"), load_digits("test")
    assert len(tr) + len(te) == 1797 and tr.shape[1:] == (8, 8)
    assert float(tr.min()) >= 0.0 and float(tr.max()) <= 1.0
    assert abs(len(te) / 1797 - 0.25) < 0.01
    assert set(yte.tolist()) == set(range(10)) and len(DIGIT_WORDS) == 10
    # disjoint: no test image occurs in the training split
    train_keys = {bytes(x.numpy().tobytes()) for x in tr}
    assert sum(bytes(x.numpy().tobytes()) in train_keys for x in te) < 5  # exact duplicates only
    assert torch.equal(load_digits("test")[0], te)  # the same split every call
    with pytest.raises(ValueError, match="expected split"):
        load_digits("val")


@pytest.mark.data
def test_real_fashion_mnist_scenes(data_dir):
    from seqattn.data.datasets import load_fashion_mnist

    items, labels = load_fashion_mnist("test", data_dir)
    s = compose_scenes(items, labels, 10, seed=0, split="test")
    assert s.images.shape == (10, 1, 64, 96) and 0 < float(s.images.max()) <= 1

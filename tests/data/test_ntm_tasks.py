"""Associative recall and priority sort batches: layout, targets against a per-sequence
re-derivation, seeding, and bad arguments."""

from __future__ import annotations

import pytest
import torch

from seqattn.data.synthetic import associative_recall_batch, priority_sort_batch


def _items_of(x: torch.Tensor, b: int, items: int, length: int, width: int) -> list[torch.Tensor]:
    step = length + 1
    return [x[i * step + 1 : (i + 1) * step, b, :width] for i in range(items)]


@pytest.mark.parametrize("items", [2, 3, 6, 12])
def test_recall_layout_and_target_is_the_item_after_the_query(items):
    B, L, W = 200, 3, 6
    x, y = associative_recall_batch(B, items, L, W, torch.Generator().manual_seed(items))
    assert x.shape == (items * (L + 1) + 2 * L + 2, B, W + 2) and y.shape == (L, B, W)
    q0 = items * (L + 1)
    queried = []
    for b in range(B):
        stored = _items_of(x, b, items, L, W)
        # delimiters: one item flag before every item, the query flag before and after the query
        assert x[:, b, W].nonzero().flatten().tolist() == [i * (L + 1) for i in range(items)]
        assert x[:, b, W + 1].nonzero().flatten().tolist() == [q0, q0 + L + 1]
        assert (x[q0 + L + 2 :, b] == 0).all()  # the answer phase is silent
        query = x[q0 + 1 : q0 + 1 + L, b, :W]
        matches = [i for i, it in enumerate(stored) if torch.equal(it, query)]
        assert matches and matches[0] < items - 1  # the query is a stored item, never the last
        assert torch.equal(y[:, b], stored[matches[0] + 1])
        queried.append(matches[0])
    assert set(queried) == set(range(items - 1))  # every position gets queried (B = 200)
    assert set(x.unique().tolist()) == {0.0, 1.0}


def test_sort_target_is_the_top_vectors_by_priority_highest_first():
    B, N, K, W = 16, 20, 16, 8
    x, y = priority_sort_batch(B, N, K, W, torch.Generator().manual_seed(3))
    assert x.shape == (N + 1 + K, B, W + 2) and y.shape == (K, B, W)
    prio = x[:N, :, W]
    assert float(prio.min()) >= -1 and float(prio.max()) <= 1 and float(prio.std()) > 0.4
    assert (x[N, :, W + 1] == 1).all() and (x[:N, :, W + 1] == 0).all()
    assert (x[N + 1 :] == 0).all() and (x[N, :, :W] == 0).all()
    for b in range(B):
        ranked = sorted(range(N), key=lambda i: -float(prio[i, b]))[:K]
        assert torch.equal(y[:, b], x[ranked, b, :W])


def test_seeded_draws_repeat_and_differ_by_seed():
    for make in (lambda g: associative_recall_batch(4, 5, generator=g),
                 lambda g: priority_sort_batch(4, generator=g)):  # fmt: skip
        a = make(torch.Generator().manual_seed(1))
        b = make(torch.Generator().manual_seed(1))
        c = make(torch.Generator().manual_seed(2))
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
        assert not torch.equal(a[0], c[0])


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="items >= 2"):
        associative_recall_batch(2, 1)
    with pytest.raises(ValueError, match="item_length"):
        associative_recall_batch(2, 3, item_length=0)
    with pytest.raises(ValueError, match="outputs <= length"):
        priority_sort_batch(2, length=4, outputs=5)
    with pytest.raises(ValueError, match="batch_size"):
        priority_sort_batch(True)

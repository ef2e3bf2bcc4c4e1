"""Synthetic tasks: determinism, and each task's defining property."""

from __future__ import annotations

import pytest
import torch

from seqattn.data.synthetic import (
    ProbeVocab,
    adding_problem,
    associative_recall,
    copy_task,
    position_probe,
    reverse_task,
    sort_task,
)


def test_position_probe_has_one_decisive_word_at_p():
    vocab = ProbeVocab()
    r = vocab.ranges()
    tokens, labels, pos = position_probe(500, 30, position=3, vocab=vocab, seed=1)
    assert tokens.shape == (500, 30) and torch.all(pos == 3)
    decisive = tokens[:, 3]
    assert torch.all(
        (decisive >= r["positive"].start) & (decisive < r["positive"].stop) == (labels == 1)
    )
    sentiment = (tokens >= r["positive"].start) & (tokens < r["negative"].stop)
    assert torch.all(sentiment.sum(1) == 1), "exactly one decisive word per sequence"
    assert 0.4 < labels.float().mean() < 0.6
    assert torch.equal(position_probe(500, 30, 3, vocab, seed=1)[0], tokens)  # seeded
    _, _, anywhere = position_probe(2000, 30, seed=2)
    assert anywhere.min() == 0 and anywhere.max() == 29
    assert tokens.max() < vocab.size and tokens.min() >= 1
    with pytest.raises(ValueError, match="expected 0 <= position < length=30"):
        position_probe(1, 30, position=30)


def test_seq2seq_drills():
    src, tgt = copy_task(4, 9, seed=0)
    assert torch.equal(src, tgt)
    src, tgt = reverse_task(4, 9, seed=0)
    assert torch.equal(tgt, src.flip(-1))
    src, tgt = sort_task(4, 9, seed=0)
    assert torch.all(tgt[:, 1:] >= tgt[:, :-1]) and torch.equal(
        tgt.sort(-1).values, src.sort(-1).values
    )


def test_adding_problem():
    x, y = adding_problem(1000, 50, seed=0)
    assert x.shape == (1000, 50, 2) and torch.all(x[..., 1].sum(1) == 2)
    assert torch.all(x[:, :25, 1].sum(1) == 1)  # one marker in each half
    torch.testing.assert_close(y, (x[..., 0] * x[..., 1]).sum(1))
    assert ((y - 1.0) ** 2).mean().item() == pytest.approx(1 / 6, abs=0.02)  # the baseline


def test_associative_recall():
    tokens, target = associative_recall(200, pairs=5, num_keys=8, num_values=6, seed=0)
    assert tokens.shape == (200, 12) and torch.all(tokens[:, 10] == 14)
    for row, t in zip(tokens, target, strict=True):
        keys, values = row[0:10:2], row[1:10:2] - 8
        assert len(set(keys.tolist())) == 5
        assert values[(keys == row[11]).nonzero()[0, 0]] == t

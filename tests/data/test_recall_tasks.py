"""MQAR and selective copying: layout, answers, seeding and argument checks."""

from __future__ import annotations

import pytest
import torch

from seqattn.data.synthetic.recall import (
    IGNORE_INDEX,
    mqar_batch,
    mqar_vocab_size,
    selective_copy_batch,
    selective_copy_vocab_size,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mqar_every_query_asks_a_stored_key_once_and_wants_its_value():
    B, T, P, K, V = 16, 64, 8, 20, 10
    x, y = mqar_batch(B, T, P, K, V, generator=_gen())
    assert x.shape == y.shape == (B, T) and x.dtype == y.dtype == torch.long
    assert int(x.min()) >= 0 and int(x.max()) < mqar_vocab_size(K, V)
    for row_x, row_y in zip(x, y, strict=True):
        keys, values = row_x[0 : 2 * P : 2], row_x[1 : 2 * P : 2]
        assert ((keys >= 1) & (keys <= K)).all() and len(set(keys.tolist())) == P
        assert ((values > K) & (values <= K + V)).all()
        asked = row_y != IGNORE_INDEX
        assert int(asked.sum()) == P and not asked[: 2 * P].any()
        store = dict(zip(keys.tolist(), values.tolist(), strict=True))
        queried = row_x[asked].tolist()
        assert sorted(queried) == sorted(store)  # each key exactly once
        assert row_y[asked].tolist() == [store[k] for k in queried]
        rest = row_x[2 * P :][~asked[2 * P :]]
        assert (rest == 0).all()  # blanks between the queries


def test_mqar_query_order_and_positions_vary():
    x, y = mqar_batch(64, 48, 4, 8, 8, generator=_gen(1))
    positions = {tuple((row != IGNORE_INDEX).nonzero().flatten().tolist()) for row in y}
    assert len(positions) > 32
    first_query_is_first_key = [
        int(row_x[row_y != IGNORE_INDEX][0]) == int(row_x[0])
        for row_x, row_y in zip(x, y, strict=True)
    ]
    assert 0 < sum(first_query_is_first_key) < 64


@pytest.mark.parametrize("fn, args", [
    (mqar_batch, (4, 40, 5, 9, 7)),
    (selective_copy_batch, (4, 40, 6, 5)),
])  # fmt: skip
def test_same_seed_same_batch_other_seed_other_batch(fn, args):
    a = fn(*args, generator=_gen(3))
    b = fn(*args, generator=_gen(3))
    c = fn(*args, generator=_gen(4))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_selective_copy_targets_are_the_data_tokens_in_order():
    B, T, n, V = 32, 40, 6, 5
    x, y = selective_copy_batch(B, T, n, V, generator=_gen())
    assert x.shape == y.shape == (B, T)
    assert int(x.max()) < selective_copy_vocab_size(V)
    assert (x[:, T - n :] == V + 1).all() and (y[:, : T - n] == IGNORE_INDEX).all()
    for row_x, row_y in zip(x, y, strict=True):
        data = row_x[: T - n][row_x[: T - n] != 0]
        assert len(data) == n and data.tolist() == row_y[T - n :].tolist()
        assert ((data >= 1) & (data <= V)).all()
    spread = {tuple((row[: T - n] != 0).nonzero().flatten().tolist()) for row in x}
    assert len(spread) == B  # the data tokens sit at different places in each row


@pytest.mark.parametrize("call, message", [
    (lambda: mqar_batch(2, 11, 4, 8, 8), "seq_len >= 3 \\* num_pairs"),
    (lambda: mqar_batch(2, 64, 9, 8, 8), "num_keys >= num_pairs"),
    (lambda: mqar_batch(0, 64, 4, 8, 8), "batch_size"),
    (lambda: mqar_batch(2, 64, 4, 8, 2.0), "num_values"),
    (lambda: selective_copy_batch(2, 7, 4, 8), "seq_len >= 2 \\* num_tokens"),
    (lambda: selective_copy_batch(2, 16, True, 8), "num_tokens"),
])  # fmt: skip
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()

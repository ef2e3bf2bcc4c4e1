"""The functional core: masks, masked softmax, score functions, attention."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import seqattn.functional as sf


def test_causal_and_padding_masks():
    assert torch.equal(sf.causal_mask(3, 4), torch.ones(3, 4, dtype=torch.bool).tril())
    assert sf.causal_mask(2, 3, offset=1).tolist() == [[True, True, False], [True, True, True]]
    assert sf.padding_mask([2, 0, 3]).tolist() == [
        [True, True, False], [False, False, False], [True, True, True],
    ]  # fmt: skip
    assert sf.padding_mask(torch.tensor([1]), max_len=3).tolist() == [[True, False, False]]
    with pytest.raises(ValueError, match="expected lengths >= 0"):
        sf.padding_mask([-1, 2])


def test_mask_conversions_roundtrip():
    m = torch.tensor([[True, False, True]])
    assert torch.equal(sf.to_key_padding_mask(m), ~m)
    assert torch.equal(sf.from_key_padding_mask(~m), m)
    add = sf.bool_to_additive(m, torch.float64)
    assert add.tolist() == [[0.0, float("-inf"), 0.0]]
    assert torch.equal(sf.additive_to_bool(add), m)
    assert torch.equal(sf.from_key_padding_mask(add), m)  # a float key_padding_mask is additive
    assert torch.equal(sf.merge_masks(m, None, torch.tensor([[True, True, False]])),
                       torch.tensor([[True, False, False]]))  # fmt: skip
    assert sf.merge_masks(None, None) is None


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    p=st.floats(0.0, 1.0),
)
def test_masked_softmax_properties(rows, cols, seed, p):
    gen = torch.Generator().manual_seed(seed)
    scores = (torch.randn(rows, cols, dtype=torch.double, generator=gen) * 30).requires_grad_(True)
    mask = torch.rand(rows, cols, generator=gen) >= p
    w = sf.masked_softmax(scores, mask)
    has_any = mask.any(-1)
    torch.testing.assert_close(
        w.sum(-1)[has_any], torch.ones(int(has_any.sum()), dtype=torch.double)
    )
    assert torch.all(w[~mask] == 0)
    assert torch.all(w[~has_any] == 0)
    ref = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    torch.testing.assert_close(w[has_any], ref[has_any], atol=1e-12, rtol=0)
    (w * torch.randn(w.shape, dtype=torch.double, generator=gen)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.all(scores.grad[~mask] == 0)


def test_masked_softmax_handles_minus_inf_scores_and_rejects_float_masks():
    s = torch.tensor([[float("-inf")] * 3, [0.0, float("-inf"), 0.0]], requires_grad=True)
    w = sf.masked_softmax(s)
    assert w.tolist() == [[0.0, 0.0, 0.0], [0.5, 0.0, 0.5]]
    w.sum().backward()
    assert torch.isfinite(s.grad).all()
    with pytest.raises(TypeError, match="expected a bool mask"):
        sf.masked_softmax(s, torch.zeros(2, 3))


def test_score_functions_match_their_equations():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 4, dtype=torch.double, generator=gen)
    k = torch.randn(2, 5, 6, dtype=torch.double, generator=gen)
    kq = torch.randn(2, 5, 4, dtype=torch.double, generator=gen)
    W = torch.randn(4, 6, dtype=torch.double, generator=gen)
    wq = torch.randn(7, 4, dtype=torch.double, generator=gen)
    wk = torch.randn(7, 6, dtype=torch.double, generator=gen)
    b = torch.randn(7, dtype=torch.double, generator=gen)
    v = torch.randn(7, dtype=torch.double, generator=gen)
    torch.testing.assert_close(sf.dot_score(q, kq), torch.einsum("btd,bsd->bts", q, kq))
    torch.testing.assert_close(sf.scaled_dot_score(q, kq), sf.dot_score(q, kq) / 2.0)
    torch.testing.assert_close(sf.general_score(q, k, W), torch.einsum("btd,de,bse->bts", q, W, k))
    loops = torch.empty(2, 3, 5, dtype=torch.double)
    for bi in range(2):
        for t in range(3):
            for s in range(5):
                loops[bi, t, s] = v @ torch.tanh(wq @ q[bi, t] + wk @ k[bi, s] + b)
    torch.testing.assert_close(sf.additive_score(q, k, wq, wk, v, b), loops)
    Wc = torch.cat([wq, wk], dim=1)
    for bi in range(2):
        for t in range(3):
            for s in range(5):
                loops[bi, t, s] = v @ torch.tanh(Wc @ torch.cat([q[bi, t], k[bi, s]]))
    torch.testing.assert_close(sf.concat_score(q, k, Wc, v), loops)


def test_attention_returns_context_and_weights():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    mask = sf.padding_mask([5, 2]).unsqueeze(1)  # (B, 1, S)
    ctx, w = sf.attention(q, k, v, mask=mask, score="scaled_dot")
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3))
    assert torch.all(w[1, :, 2:] == 0)
    torch.testing.assert_close(ctx, w @ v)
    ctx2, _ = sf.attention(q, k, v, mask=mask, score=lambda a, b: sf.dot_score(a, b) / 2.0)
    torch.testing.assert_close(ctx, ctx2)


@pytest.mark.parametrize(
    "call,err,match",
    [
        (lambda: sf.dot_score(torch.randn(2, 3, 4), torch.randn(2, 5, 6)), ValueError,
         r"same feature size, got 4 .* and 6"),
        (lambda: sf.attention(torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 4, 4)),
         ValueError, "same number of positions S"),
        (lambda: sf.attention(torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 4),
                              mask=torch.ones(4, 5, dtype=torch.bool)), ValueError,
         r"broadcastable to the scores' shape \(3, 5\)"),
        (lambda: sf.attention(torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 4),
                              mask=torch.ones(3, 5, dtype=torch.int64)), TypeError,
         "dtype bool or float, got torch.int64"),
        (lambda: sf.attention(torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 4),
                              score="cosine"), ValueError, "expected score in"),
        (lambda: sf.scaled_dot_product_attention(torch.randn(3, 4), torch.randn(5, 4),
                                                 torch.randn(5, 4), attn_mask=torch.ones(3, 5),
                                                 is_causal=True),
         ValueError, "got both"),
        (lambda: sf.general_score(torch.randn(3, 4), torch.randn(5, 6), torch.randn(6, 4)),
         ValueError, r"expected weight of shape \(Dq, Dk\) = \(4, 6\), got \(6, 4\)"),
        (lambda: sf.efficient_attention(torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 4),
                                        block_size=0), ValueError, "positive int or None, got 0"),
    ],
)  # fmt: skip
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_scaled_dot_default_scale():
    q, k = torch.randn(1, 2, 9), torch.randn(1, 3, 9)
    torch.testing.assert_close(sf.scaled_dot_score(q, k), (q @ k.mT) / math.sqrt(9))

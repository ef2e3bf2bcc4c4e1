"""Attention modules: equations, precomputed keys, local windows, and no NaN anywhere."""

from __future__ import annotations

import math

import pytest
import torch

import seqattn.functional as sf
import seqattn.nn as snn
from seqattn.nn.attention import LocationAttention

B, T, S, DQ, DK = 2, 3, 7, 6, 5


def _inputs(dtype=torch.double, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, DQ, dtype=dtype, generator=gen)
    k = torch.randn(B, S, DK, dtype=dtype, generator=gen)
    v = torch.randn(B, S, 4, dtype=dtype, generator=gen)
    return q, k, v


def test_additive_equals_functional_and_precompute():
    att = snn.AdditiveAttention(DQ, DK, 8).double()
    q, k, v = _inputs()
    mask = sf.padding_mask([7, 4])
    ctx, w = att(q, k, v, mask=mask)
    scores = sf.additive_score(q, k, att.query_proj.weight, att.key_proj.weight, att.v,
                               att.key_proj.bias)  # fmt: skip
    ref = sf.masked_softmax(scores, mask.unsqueeze(1))
    torch.testing.assert_close(w, ref)
    torch.testing.assert_close(ctx, ref @ v)
    kp = att.project_keys(k)
    for t in range(T):  # one decoder step at a time, keys projected once
        c_t, w_t = att(q[:, t], k, v, mask=mask, key_proj=kp)
        torch.testing.assert_close(c_t, ctx[:, t])
        torch.testing.assert_close(w_t, w[:, t])


@pytest.mark.parametrize("mode", snn.LUONG_MODES)
def test_luong_equals_equations(mode):
    dk = DQ if mode == "dot" else DK
    att = snn.LuongAttention(mode, DQ, dk, attn_dim=9).double()
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(B, T, DQ, dtype=torch.double, generator=gen)
    k = torch.randn(B, S, dk, dtype=torch.double, generator=gen)
    ctx, w = att(q, k)
    if mode == "dot":
        scores = sf.dot_score(q, k)
    elif mode == "general":
        scores = sf.general_score(q, k, att.weight)
    else:
        scores = sf.concat_score(q, k, att.weight, att.v)
    torch.testing.assert_close(w, torch.softmax(scores, -1))
    torch.testing.assert_close(ctx, w @ k)
    kp = att.project_keys(k)
    c1, w1 = att(q[:, 1], k, key_proj=kp)
    torch.testing.assert_close(w1, w[:, 1])


def test_location_equals_equation_and_masks_padding():
    """Luong et al. (2015) §3.1: a_t = softmax(W_a h_t) over the real source positions."""
    torch.manual_seed(0)
    att = LocationAttention(DQ, DK, max_source_len=S + 3).double()
    q, k, v = _inputs(seed=2)
    mask = sf.padding_mask([S, 4])
    ctx, w = att(q, k, v, mask=mask)
    assert ctx.shape == (B, T, 4) and w.shape == (B, T, S)
    scores = q @ att.weight[:S].T  # (B, T, S): one row of W_a per source position
    ref = sf.masked_softmax(scores, mask.unsqueeze(1))
    torch.testing.assert_close(w, ref)
    torch.testing.assert_close(ctx, ref @ v)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, T, dtype=torch.double))
    assert float(w[1, :, 4:].detach().abs().max()) == 0.0
    ref1 = torch.softmax(scores[1, :, :4], -1)  # padding masked = the softmax of 4 positions
    torch.testing.assert_close(w[1, :, :4], ref1)
    k2 = k.clone()
    k2[1, 4:] = 99.0  # keys never reach the weights, padded values never reach the context
    v2 = v.clone()
    v2[1, 4:] = 99.0
    c2, w2 = att(q, k2, v2, mask=mask)
    torch.testing.assert_close(w2, w, rtol=0, atol=0)
    torch.testing.assert_close(c2, ctx)
    for t in range(T):  # one decoder step equals the sequence
        c_t, w_t = att(q[:, t], k, v, mask=mask, key_proj=att.project_keys(k))
        torch.testing.assert_close(w_t, w[:, t])
        torch.testing.assert_close(c_t, ctx[:, t])
    with pytest.raises(ValueError, match="at most max_source_len=4 positions, got 7"):
        LocationAttention(DQ, DK, max_source_len=4).double()(q, k)


def test_location_gradcheck():
    torch.manual_seed(0)
    att = LocationAttention(3, 2, max_source_len=6).double()
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(2, 2, 3, dtype=torch.double, generator=gen, requires_grad=True)
    v = torch.randn(2, 5, 2, dtype=torch.double, generator=gen, requires_grad=True)
    mask = sf.padding_mask([5, 3])

    def fn(q, v, weight):  # W_a as an input, so gradcheck checks its gradient too
        return torch.func.functional_call(att, {"weight": weight}, (q, v), {"mask": mask})

    w0 = att.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (q, v, w0))


def test_local_m_window_and_local_p_gaussian():
    q, k, v = _inputs()
    local_m = snn.LocalAttention(DQ, DK, window=1, mode="local-m").double()
    _, w = local_m(q, k, v)  # positions 0..T-1
    for t in range(T):
        allowed = [s for s in range(S) if abs(s - t) <= 1]
        assert torch.all(w[:, t, allowed] > 0)
        assert torch.all(w[:, t, [s for s in range(S) if s not in allowed]] == 0)
        torch.testing.assert_close(w[:, t].sum(-1), torch.ones(B, dtype=torch.double))
    _, w5 = local_m(q[:, 0], k, v, position=torch.tensor([5, 6]))
    assert torch.all(w5[0, :4] == 0) and torch.all(w5[1, :5] == 0)

    local_p = snn.LocalAttention(DQ, DK, window=2, mode="local-p").double()
    mask = sf.padding_mask([7, 5])
    _, w = local_p(q, k, v, mask=mask)
    p = local_p.predict_position(q, torch.tensor([7, 5]))
    align = sf.masked_softmax(
        local_p.score.scores(q, local_p.project_keys(k)),
        ((torch.arange(S)[None, None] - p.unsqueeze(-1)).abs() <= 2) & mask.unsqueeze(1),
    )
    gauss = torch.exp(-((torch.arange(S)[None, None] - p.unsqueeze(-1)) ** 2) / (2 * 1.0**2))
    torch.testing.assert_close(w, align * gauss)
    assert torch.all(w.sum(-1) <= 1 + 1e-12) and torch.all(p >= 0) and torch.all(p[1] <= 5)
    renorm = snn.LocalAttention(DQ, DK, window=2, mode="local-p", renormalize=True).double()
    renorm.load_state_dict(local_p.state_dict())
    torch.testing.assert_close(renorm(q, k, v, mask=mask)[1].sum(-1), torch.ones(B, T).double())
    w.sum().backward()  # the Gaussian lets gradient reach the position predictor
    assert local_p.position_proj.weight.grad.abs().sum() > 0


def test_attention_pooling():
    pool = snn.AttentionPooling(DK, 8).double()
    _, k, _ = _inputs()
    n_params = sum(p.numel() for p in pool.parameters())
    pooled, w = pool(k, lengths=torch.tensor([7, 3]))
    assert pooled.shape == (B, DK) and w.shape == (B, S)
    assert torch.all(w[1, 3:] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, dtype=torch.double))
    torch.testing.assert_close(pooled, (w.unsqueeze(-1) * k).sum(1))
    longer = torch.randn(B, 50, DK, dtype=torch.double)
    assert pool(longer)[0].shape == (B, DK)  # fixed size, same parameters, any T
    assert sum(p.numel() for p in pool.parameters()) == n_params == DK * 8 + 8 + 8
    linear = snn.AttentionPooling(DK)
    assert sum(p.numel() for p in linear.parameters()) == DK
    tf = snn.AttentionPooling(DK, 8, batch_first=False).double()
    tf.load_state_dict(pool.state_dict())
    torch.testing.assert_close(tf(k.transpose(0, 1))[0], pool(k)[0])


def test_positional_encodings():
    pe = snn.sinusoidal_encoding(50, 8)
    pos, i = 17, 3
    assert pe[pos, 2 * i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 8)), abs=1e-6)
    assert pe[pos, 2 * i + 1].item() == pytest.approx(
        math.cos(pos / 10000 ** (2 * i / 8)), abs=1e-6
    )
    assert snn.sinusoidal_encoding(4, 5).shape == (4, 5)  # odd dims work
    enc = snn.SinusoidalPositionalEncoding(8)
    x = torch.zeros(2, 50, 8)
    torch.testing.assert_close(enc(x)[1], pe)
    torch.testing.assert_close(enc(x[:, :10], offset=5)[0], pe[5:15])
    learned = snn.LearnedPositionalEncoding(10, 8)
    assert learned(torch.zeros(1, 10, 8)).shape == (1, 10, 8)
    with pytest.raises(ValueError, match="expected at most max_len=10 positions, got 11"):
        learned(torch.zeros(1, 11, 8))


# -- no NaN with fully masked rows, for every attention of the attention core ------------------


def _fully_masked_cases():
    q, k, v = (t.requires_grad_(True) for t in _inputs())
    mask = torch.ones(B, S, dtype=torch.bool)
    mask[1] = False  # sequence 1: no key at all
    row_mask = torch.ones(B, T, S, dtype=torch.bool)
    row_mask[0, 1] = False  # query 1 of sequence 0: nothing visible
    mha = snn.MultiHeadAttention(8, 2, batch_first=True).double()
    x = torch.randn(B, S, 8, dtype=torch.double)
    kpm = ~mask  # torch convention: True = ignore
    enc = snn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double()
    q4, k4, v4 = q.view(B, 1, T, DQ)[..., :4], k.view(B, 1, S, DK)[..., :4], v.view(B, 1, S, 4)
    return {
        "attention": lambda: sf.attention(q[..., :DK], k, v, mask=row_mask),
        "sdpa": lambda: sf.scaled_dot_product_attention(q4, k4, v4, attn_mask=row_mask.unsqueeze(1),
                                                        need_weights=True),
        "sdpa_float": lambda: sf.scaled_dot_product_attention(
            q4, k4, v4, attn_mask=sf.bool_to_additive(row_mask.unsqueeze(1), torch.double),
            need_weights=True),
        "efficient": lambda: (sf.efficient_attention(q4, k4, v4, attn_mask=row_mask.unsqueeze(1),
                                                     block_size=3), None),
        "pooling": lambda: snn.AttentionPooling(DK, 8).double()(k, mask=mask),
        "additive": lambda: snn.AdditiveAttention(DQ, DK, 8).double()(q, k, v, mask=mask),
        "luong_dot": lambda: snn.LuongAttention("dot", DQ).double()(q, q.repeat(1, 3, 1)[:, :S],
                                                                   mask=mask),
        "luong_general": lambda: snn.LuongAttention("general", DQ, DK).double()(q, k, v, mask=mask),
        "luong_concat": lambda: snn.LuongAttention("concat", DQ, DK).double()(q, k, v, mask=mask),
        "local_m": lambda: snn.LocalAttention(DQ, DK, window=1, mode="local-m").double()(
            q, k, v, mask=mask),
        "local_m_beyond": lambda: snn.LocalAttention(DQ, DK, window=1, mode="local-m").double()(
            q[:, 0], k, v, position=torch.tensor([20, 0])),
        "local_p": lambda: snn.LocalAttention(DQ, DK, window=2, mode="local-p").double()(
            q, k, v, mask=mask),
        "location": lambda: LocationAttention(DQ, DK, max_source_len=S).double()(
            q, k, v, mask=mask),
        "multihead": lambda: mha(x, x, x, key_padding_mask=kpm, average_attn_weights=False),
        "encoder_layer": lambda: enc(x, src_key_padding_mask=kpm, need_weights=True),
    }  # fmt: skip


CASES = _fully_masked_cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_nan_with_fully_masked_rows(name):
    torch.manual_seed(0)
    params = []
    out, w = CASES[name]()
    tensors = [out] + ([w] if w is not None else [])
    assert all(torch.isfinite(t).all() for t in tensors), f"{name}: NaN/Inf in forward"
    leaves = [p for p in _leaves(out) if p.requires_grad]
    assert leaves, f"{name}: nothing to differentiate"
    loss = sum((t * torch.randn(t.shape, dtype=t.dtype)).sum() for t in tensors)
    if loss.requires_grad:
        params = torch.autograd.grad(loss, leaves, allow_unused=True) if leaves else []
    assert all(g is None or torch.isfinite(g).all() for g in params), f"{name}: NaN in backward"
    if w is not None:
        sums = w.sum(-1)
        ok = (sums - 1).abs() < 1e-9
        zero = sums == 0
        sub_one = name == "local_p"  # Luong's local-p weights are scaled by a Gaussian
        assert torch.all(ok | zero | (sub_one & (sums < 1))), f"{name}: rows neither 1 nor 0"
        assert zero.any(), f"{name}: the fully masked row should have zero weights"


def _leaves(t):
    """Parameters the output depends on (walk the autograd graph)."""
    seen, stack, leaves = set(), [t.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):
            leaves.append(fn.variable)
        stack.extend(f for f, _ in fn.next_functions)
    return leaves


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,err,match",
    [
        (lambda: snn.MultiHeadAttention(10, 3), ValueError,
         "expected num_heads to divide embed_dim, got embed_dim=10, num_heads=3"),
        (lambda: snn.MultiHeadAttention(8, 2)(torch.randn(3, 2, 8), torch.randn(4, 2, 6),
                                              torch.randn(4, 2, 8)),
         ValueError, r"expected key with 8 features \(last dim\), got shape \(4, 2, 6\)"),
        (lambda: snn.MultiHeadAttention(8, 2)(torch.randn(3, 2, 8), torch.randn(4, 2, 8),
                                              torch.randn(4, 2, 8),
                                              key_padding_mask=torch.zeros(2, 3, dtype=torch.bool)),
         ValueError, r"expected key_padding_mask of shape \(2, 4\), got \(2, 3\)"),
        (lambda: snn.MultiHeadAttention(8, 2)(torch.randn(3, 2, 8), torch.randn(4, 2, 8),
                                              torch.randn(4, 2, 8),
                                              attn_mask=torch.zeros(4, 3, dtype=torch.bool)),
         ValueError, r"expected attn_mask of shape \(3, 4\) or \(4, 3, 4\), got \(4, 3\)"),
        (lambda: snn.MultiHeadAttention(8, 2)(torch.randn(3, 2, 8), torch.randn(4, 2, 8),
                                              torch.randn(4, 2, 8),
                                              attn_mask=torch.zeros(3, 4, dtype=torch.int32)),
         TypeError, "expected attn_mask of dtype bool or float, got torch.int32"),
        (lambda: snn.AdditiveAttention(6, 5, 8)(torch.randn(2, 6), torch.randn(2, 7, 4)),
         ValueError, r"expected key with 5 features, got shape \(2, 7, 4\)"),
        (lambda: snn.AdditiveAttention(6, 5, 8)(torch.randn(2, 6), torch.randn(2, 7, 5),
                                               mask=torch.ones(2, 6, dtype=torch.bool)),
         ValueError, r"expected mask of shape \(B, S\) = \(2, 7\)"),
        (lambda: snn.AdditiveAttention(6, 5, 8)(torch.randn(2, 6), torch.randn(2, 7, 5),
                                               mask=torch.ones(2, 7)),
         TypeError, "expected a bool mask"),
        (lambda: snn.LuongAttention("dot", 6, 5), ValueError,
         "dot attention needs key_dim == query_dim"),
        (lambda: snn.LuongAttention("bilinear", 6), ValueError, "expected mode in"),
        (lambda: snn.LuongAttention("general", 6, 5)(torch.randn(2, 6), torch.randn(3, 7, 5)),
         ValueError, "expected key with batch size 2"),
        (lambda: snn.LocalAttention(6, window=2, mode="local-m")(torch.randn(2, 6),
                                                                 torch.randn(2, 7, 6)),
         ValueError, "local-m needs position"),
        (lambda: snn.AttentionPooling(5)(torch.randn(2, 7, 4)), ValueError,
         r"expected input of shape \(B, T, 5\)"),
        (lambda: snn.TransformerEncoderLayer(8, 2, activation="swish"), ValueError,
         "expected activation in"),
    ],
)  # fmt: skip
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()

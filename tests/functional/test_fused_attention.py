"""The fused C++ attention kernel (csrc/attention.cpp, seqattn.functional._fused): float64
parity with F.sdpa and the PyTorch reference, gradcheck, masks, causal, fully masked rows,
tile remainders, bfloat16, thread-count determinism, and the routing of the public functions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from seqattn.functional import _fused as ext
from seqattn.functional import efficient_attention, scaled_dot_product_attention
from seqattn.nn import MultiHeadAttention

pytestmark = pytest.mark.skipif(ext.load() is None, reason="attention extension unavailable")


def _qkv(b, h, t, s, d, dv=None, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shapes = [(b, h, t, d), (b, h, s, d), (b, h, s, dv or d)]
    return [torch.randn(*sh, generator=g, dtype=dtype).requires_grad_() for sh in shapes]


def _grads(fn, q, k, v, **kw):
    out = fn(q, k, v, **kw)
    go = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    go = go.to(out.dtype)  # the same draw whatever the dtype
    return (out, *torch.autograd.grad(out, (q, k, v), go))


def _reference(q, k, v, **kw):
    return efficient_attention(q, k, v, backend="reference", **kw)


@pytest.mark.parametrize(
    ("t", "s", "d", "causal", "blocks"),
    [
        (70, 130, 16, False, (16, 32)),
        (130, 70, 8, True, (32, 16)),
        (1, 1, 1, False, (None, None)),
        (1, 5, 3, True, (None, None)),
        (65, 65, 1, True, (7, 9)),
        (300, 600, 32, False, (None, None)),  # default tiles (64 x 512) with remainders
        (257, 257, 64, True, (None, None)),
        (40, 50, 128, False, (None, None)),
    ],
)
def test_outputs_and_gradients_match_sdpa_and_reference(t, s, d, causal, blocks):
    q, k, v = _qkv(2, 3, t, s, d, dv=d + 1)
    bq, bk = blocks
    ours = _grads(ext.attention, q, k, v, is_causal=causal, block_q=bq, block_k=bk)
    ref = _grads(F.scaled_dot_product_attention, q, k, v, is_causal=causal)
    py = _grads(_reference, q, k, v, is_causal=causal)
    for a, b, c in zip(ours, ref, py, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(a, c, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kind", ["bool", "float", "padding"])
def test_masks_and_fully_masked_rows(kind):
    q, k, v = _qkv(2, 2, 67, 140, 8)
    g = torch.Generator().manual_seed(3)
    allowed = torch.rand(2, 1, 67, 140, generator=g) > 0.5
    allowed[:, :, 5] = False  # fully masked query rows
    if kind == "padding":  # (B, 1, 1, S): broadcast, never materialised; batch 1 sees nothing
        mask = torch.ones(2, 1, 1, 140, dtype=torch.bool)
        mask[0, ..., 100:] = False
        mask[1] = False
    elif kind == "bool":
        mask = allowed
    else:
        mask = torch.randn(2, 1, 67, 140, generator=g, dtype=torch.float64)
        mask = mask.masked_fill(~allowed, float("-inf"))
    ours = _grads(ext.attention, q, k, v, attn_mask=mask, block_q=16, block_k=64)
    py = _grads(_reference, q, k, v, attn_mask=mask)
    for a, c in zip(ours, py, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, c, atol=1e-10, rtol=1e-10)
    dead = (0, slice(None), 5) if kind != "padding" else (1,)
    assert (ours[0][dead] == 0).all() and (ours[1][dead] == 0).all()


def test_gradcheck_small():
    q, k, v = _qkv(1, 2, 5, 7, 3)
    mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(4)) > 0.3
    assert torch.autograd.gradcheck(
        lambda a, b, c: ext.attention(a, b, c, mask, block_q=2, block_k=3), (q, k, v)
    )
    assert torch.autograd.gradcheck(
        lambda a, b, c: ext.attention(a, b, c, is_causal=True, block_q=2, block_k=2), (q, k, v)
    )


@pytest.mark.parametrize("causal", [False, True])
def test_float32_close_to_sdpa(causal):
    q, k, v = _qkv(2, 2, 200, 300, 64, dtype=torch.float32)
    ours = _grads(ext.attention, q, k, v, is_causal=causal)
    ref = _grads(F.scaled_dot_product_attention, q, k, v, is_causal=causal)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_bfloat16_accumulates_in_float32():
    q, k, v = _qkv(2, 2, 150, 260, 64, dtype=torch.bfloat16)
    ours = _grads(ext.attention, q, k, v)
    exact = _grads(F.scaled_dot_product_attention, *(x.detach().double().requires_grad_()
                                                    for x in (q, k, v)))  # fmt: skip
    assert ours[0].dtype == torch.bfloat16 and ours[1].dtype == torch.bfloat16
    for a, b in zip(ours, exact, strict=True):  # bf16 inputs and outputs: ~3 digits
        torch.testing.assert_close(a.double(), b, atol=3e-2, rtol=3e-2)


def test_one_and_two_threads_give_identical_bits():
    q, k, v = _qkv(2, 3, 300, 520, 32, dtype=torch.float32)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_grads(ext.attention, q, k, v, is_causal=True))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_public_functions_route_to_the_kernel():
    q, k, v = _qkv(2, 2, 33, 45, 8)
    mask = torch.rand(2, 1, 33, 45, generator=torch.Generator().manual_seed(5)) > 0.2
    fused = ext.attention(q, k, v, mask)
    assert torch.equal(efficient_attention(q, k, v, mask), fused)
    assert torch.equal(scaled_dot_product_attention(q, k, v, mask), fused)
    assert torch.equal(scaled_dot_product_attention(q, k, v, mask, backend="fused"), fused)
    ref, weights = scaled_dot_product_attention(q, k, v, mask, need_weights=True)
    torch.testing.assert_close(ref, fused, atol=1e-12, rtol=1e-12)
    with pytest.raises(RuntimeError, match="weights asked for"):
        scaled_dot_product_attention(q, k, v, backend="fused", need_weights=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        efficient_attention(q, k, v, mask.double().requires_grad_(), backend="fused")
    with pytest.raises(ValueError, match="expected backend in"):
        efficient_attention(q, k, v, backend="cuda")


def test_multihead_attention_without_weights_runs_the_kernel(monkeypatch):
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4, batch_first=True).double().eval()
    x = torch.randn(3, 17, 32, dtype=torch.float64)
    pad = torch.zeros(3, 17, dtype=torch.bool)
    pad[1, 10:] = True  # torch's convention: True = padding
    with_weights, _ = mha(x, x, x, key_padding_mask=pad)
    calls = []
    real = ext.attention
    monkeypatch.setattr(ext, "attention", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    without, none = mha(x, x, x, key_padding_mask=pad, need_weights=False)
    assert none is None and calls == [1]
    torch.testing.assert_close(without, with_weights, atol=1e-12, rtol=1e-12)


def test_fallback_without_extension():
    code = (
        "import torch; from seqattn.functional import _fused, efficient_attention; "
        "q = torch.randn(1, 4, 3); out = efficient_attention(q, q, q); "
        "print(_fused.load() is None, _fused.unavailable_reason(), out.shape)"
    )
    env = {"SEQATTN_NO_EXT": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert res.stdout.startswith("True disabled by SEQATTN_NO_EXT torch.Size([1, 4, 3])")


@pytest.mark.parametrize("causal", [False, True])
def test_dropout_is_the_weights_times_the_kernels_mask(causal):
    """out = (softmax(s) z) v with z the kernel's own mask (0 or 1/(1-p)), and the gradients
    of that formula, in float64; the same seed gives the same mask, another seed another."""
    q, k, v = _qkv(2, 2, 37, 530, 16)  # two key tiles of 512
    p = 0.3
    torch.manual_seed(7)
    out = ext.attention(q, k, v, is_causal=causal, dropout_p=p)
    torch.manual_seed(7)
    seed = int(torch.randint(0, 2**62, ()).item())
    z = ext.dropout_multipliers((2, 2, 37, 530), p, seed).to(q.dtype)
    kept = (z > 0).double().mean().item()
    assert abs(kept - (1 - p)) < 0.01 and torch.allclose(
        z[z > 0], torch.tensor(1 / (1 - p)).double()
    )

    def formula(q, k, v):
        w = scaled_dot_product_attention(q, k, v, is_causal=causal, need_weights=True)[1]
        return (w * z) @ v

    go = torch.randn(out.shape, generator=torch.Generator().manual_seed(2), dtype=q.dtype)
    torch.testing.assert_close(out, formula(q, k, v), atol=1e-10, rtol=1e-10)
    ours = torch.autograd.grad(out, (q, k, v), go)
    ref = torch.autograd.grad(formula(q, k, v), (q, k, v), go)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    torch.manual_seed(7)
    assert torch.equal(ext.attention(q, k, v, is_causal=causal, dropout_p=p), out)
    assert not torch.equal(ext.attention(q, k, v, is_causal=causal, dropout_p=p), out)


def test_multihead_attention_trains_through_the_kernel_with_dropout(monkeypatch):
    mha = MultiHeadAttention(16, 2, dropout=0.5, batch_first=True).train()
    x = torch.randn(2, 9, 16, requires_grad=True)
    calls = []
    real = ext.attention
    monkeypatch.setattr(ext, "attention", lambda *a, **kw: calls.append(a[6]) or real(*a, **kw))
    out, _ = mha(x, x, x, need_weights=False)
    out.sum().backward()
    assert calls == [0.5] and torch.isfinite(x.grad).all()

"""The fused C++ attention kernel (csrc/attention.cpp) against F.sdpa and the Python path."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from seqattn.functional import efficient_attention
from seqattn.nn import _attention_ext as ext

pytestmark = pytest.mark.skipif(ext.load() is None, reason="attention extension unavailable")


def _qkv(b, h, t, s, d, dv=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(b, h, t, d), (b, h, s, d), (b, h, s, dv or d)]
    return [torch.randn(*sh, generator=g, dtype=torch.float64, requires_grad=True) for sh in shapes]


def _grads(fn, q, k, v, **kw):
    out = fn(q, k, v, **kw)
    go = torch.randn_like(out, generator=torch.Generator().manual_seed(1))
    return (out, *torch.autograd.grad(out, (q, k, v), go))


@pytest.mark.parametrize(
    ("t", "s", "d", "causal"),
    [
        (70, 130, 16, False),
        (130, 70, 8, True),
        (1, 1, 1, False),
        (1, 5, 3, True),
        (65, 65, 1, True),
    ],
)
def test_outputs_and_gradients_match_sdpa_and_python(t, s, d, causal):
    q, k, v = _qkv(2, 3, t, s, d, dv=d + 1)
    ours = _grads(ext.fused_attention, q, k, v, is_causal=causal)
    ref = _grads(F.scaled_dot_product_attention, q, k, v, is_causal=causal)
    py = _grads(efficient_attention, q, k, v, is_causal=causal)
    for a, b, c in zip(ours, ref, py, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(a, c, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_masks_and_fully_masked_rows(kind):
    q, k, v = _qkv(2, 2, 67, 140, 8)
    g = torch.Generator().manual_seed(3)
    allowed = torch.rand(2, 1, 67, 140, generator=g) > 0.5
    allowed[:, :, 5] = False  # fully masked query rows
    mask = (
        allowed
        if kind == "bool"
        else torch.randn(2, 1, 67, 140, generator=g, dtype=torch.float64).masked_fill(
            ~allowed, float("-inf")
        )
    )
    ours = _grads(ext.fused_attention, q, k, v, attn_mask=mask)
    py = _grads(efficient_attention, q, k, v, attn_mask=mask)
    for a, c in zip(ours, py, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, c, atol=1e-10, rtol=1e-10)
    assert (ours[0][:, :, 5] == 0).all() and (ours[1][:, :, 5] == 0).all()


def test_gradcheck_small():
    q, k, v = _qkv(1, 2, 5, 7, 3)
    mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(4)) > 0.3
    assert torch.autograd.gradcheck(
        lambda a, b, c: ext.fused_attention(a, b, c, mask, block_q=2, block_k=3), (q, k, v)
    )
    assert torch.autograd.gradcheck(
        lambda a, b, c: ext.fused_attention(a, b, c, is_causal=True, block_q=2, block_k=2),
        (q, k, v),
    )


def test_float32_close_to_sdpa():
    q, k, v = (x.detach().float() for x in _qkv(2, 2, 200, 300, 64))
    torch.testing.assert_close(
        ext.fused_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-4
    )


def test_fallback_without_extension():
    code = (
        "import torch; from seqattn.nn import _attention_ext as e; "
        "q = torch.randn(1, 4, 3); out = e.fused_attention(q, q, q); "
        "print(e.load() is None, e.unavailable_reason(), out.shape)"
    )
    env = {"SEQATTN_NO_EXT": "1", "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert res.stdout.startswith("True disabled by SEQATTN_NO_EXT torch.Size([1, 4, 3])")

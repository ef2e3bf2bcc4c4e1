"""sliding_window_attention against the dense masked formula (float64): outputs and gradients,
causal and not, bool padding masks, fully masked rows, odd lengths and block remainders,
gradcheck, and no n × n buffer."""

import math

import pytest
import torch

import seqattn.functional as sf
from seqattn.functional.banded import sliding_window_attention


def dense(q, k, v, window, causal=False, mask=None, scale=None, block_size=None):
    """The definition: full scores, masked outside the band and the key mask (block_size is
    the blocked version's and does not apply here)."""
    n, m = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    diff = torch.arange(n).unsqueeze(-1) - torch.arange(m)
    allowed = (diff >= 0) & (diff <= window) if causal else diff.abs() <= window
    if mask is not None:
        allowed = allowed & mask.unsqueeze(-2)
    return sf.masked_softmax((q @ k.transpose(-2, -1)) * scale, allowed) @ v


def _qkv(shape_q, m, dv, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*shape_q, generator=g, dtype=torch.double)
    k = torch.randn(*shape_q[:-2], m, shape_q[-1], generator=g, dtype=torch.double)
    v = torch.randn(*shape_q[:-2], m, dv, generator=g, dtype=torch.double)
    return [x.requires_grad_(True) for x in (q, k, v)]


def _both(q, k, v, window, **kw):
    outs = []
    for fn in (dense, sliding_window_attention):
        for x in (q, k, v):
            x.grad = None
        out = fn(q, k, v, window, **kw)
        weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(9), dtype=out.dtype)
        (out * weight).sum().backward()
        outs.append((out.detach(), [x.grad.clone() for x in (q, k, v)]))
    (o0, g0), (o1, g1) = outs
    torch.testing.assert_close(o1, o0, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g0, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
    return o1


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(
    "n, m, window, block",
    [(37, 37, 3, None), (64, 64, 8, 16), (33, 33, 0, 5), (17, 17, 40, None), (50, 50, 7, 7),
     (1, 1, 2, None), (29, 41, 4, 6), (41, 29, 4, 6)],
)  # fmt: skip
def test_matches_dense(n, m, window, block, causal):
    q, k, v = _qkv((2, 3, n, 5), m, 4)
    _both(q, k, v, window, causal=causal, block_size=block)


@pytest.mark.parametrize("causal", [False, True])
def test_padding_mask_and_fully_masked_rows(causal):
    q, k, v = _qkv((3, 2, 23, 4), 23, 3, seed=1)
    lengths = torch.tensor([23, 11, 0])
    mask = (torch.arange(23) < lengths.unsqueeze(-1)).unsqueeze(1)  # (B, 1, m)
    mask[1, 0, 3:6] = False
    out = _both(q, k, v, 2, causal=causal, mask=mask, block_size=4)
    assert torch.all(out[2] == 0)  # no key at all
    # query 4 of sequence 1 sees keys 2..6 (3..6 causal); 3..5 masked -> 2 and 6 remain
    rows_zero = out[1, :, 3:6].abs().sum(-1)
    assert torch.all(rows_zero > 0) if not causal else torch.all(rows_zero[:, :2] > 0)
    # a query whose band is entirely masked gets zeros: causal query 5 with window 2
    if causal:
        mask2 = mask.clone()
        mask2[0, 0, 3:6] = False
        out2 = _both(q, k, v, 2, causal=True, mask=mask2, block_size=4)
        assert torch.all(out2[0, :, 5] == 0)


def test_scale_gradcheck_and_empty():
    q, k, v = _qkv((1, 9, 3), 9, 2, seed=2)
    _both(q, k, v, 2, scale=0.3)
    mask = torch.tensor([True] * 6 + [False] * 3)

    def fn(q, k, v):
        return sliding_window_attention(q, k, v, 2, mask=mask, block_size=4)

    assert torch.autograd.gradcheck(fn, (q, k, v))
    q0, k0, v0 = _qkv((2, 0, 3), 0, 2)
    assert sliding_window_attention(q0, k0, v0, 3).shape == (2, 0, 2)


def test_no_quadratic_buffer():
    """Memory is O(n · w): the largest tensor autograd saves is far below n × n."""
    n, w = 2048, 16
    q, k, v = (torch.randn(1, n, 8, requires_grad=True) for _ in range(3))
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        sliding_window_attention(q, k, v, w).sum().backward()
    assert max(sizes) < n * n / 10, max(sizes)  # n·(block + 2w) = 2048·64, not n² = 4.2M


def test_bad_arguments():
    q = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="expected window"):
        sliding_window_attention(q, q, q, -1)
    with pytest.raises(ValueError, match="expected window"):
        sliding_window_attention(q, q, q, True)
    with pytest.raises(TypeError, match="bool key mask"):
        sliding_window_attention(q, q, q, 1, mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="key mask broadcastable"):
        sliding_window_attention(q, q, q, 1, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="same leading dims"):
        sliding_window_attention(q, torch.randn(3, 5, 4), q, 1)
    with pytest.raises(TypeError, match="one dtype"):
        sliding_window_attention(q, q.double(), q, 1)
    with pytest.raises(TypeError, match="causal"):
        sliding_window_attention(q, q, q, 1, causal=1)


def test_attention_complexity_has_a_banded_row(tmp_path):
    from seqattn.experiments.attention_complexity import Config, run, tables

    cfg = Config(lengths=(512, 2048), batch=1, heads=2, head_dim=16, repeats=1, window=16,
                 methods=("naive", "banded"))  # fmt: skip
    res = run(cfg, tmp_path)
    mem = {(r["method"], r["n"]): r["train_peak_mib"] for r in res["rows"]}
    assert mem[("naive", 2048)] > 3 * mem[("banded", 2048)]  # n × n against n · w
    assert res["structure"]["banded"]["memory"] == "O(n·w)"
    assert [row[0] for row in tables(res)[1].cells()] == ["naive", "banded"]
    with pytest.raises(ValueError, match="expected window"):
        Config(window=-1)

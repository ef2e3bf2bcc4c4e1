"""NTM addressing (seqattn.functional.ntm): gradcheck in float64, invariances, numerical safety."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from seqattn.functional.ntm import (
    address,
    circular_shift,
    content_addressing,
    cosine_similarity,
    interpolate,
    memory_read,
    memory_write,
    sharpen,
)

B, M, W = 3, 7, 5
D64 = torch.float64


def _simplex(*shape, dtype=D64):
    return torch.softmax(torch.randn(*shape, dtype=dtype), -1)


def _inputs():
    g = torch.Generator().manual_seed(1)
    mem = torch.randn(B, M, W, dtype=D64, generator=g)
    w_prev = torch.softmax(torch.randn(B, M, dtype=D64, generator=g), -1)
    key = torch.randn(B, W, dtype=D64, generator=g)
    beta = torch.rand(B, 1, dtype=D64, generator=g) * 5
    gate = torch.rand(B, 1, dtype=D64, generator=g)
    shift = torch.softmax(torch.randn(B, 3, dtype=D64, generator=g), -1)
    gamma = 1 + torch.rand(B, 1, dtype=D64, generator=g) * 3
    return mem, w_prev, key, beta, gate, shift, gamma


def _req(*ts):
    return tuple(t.clone().requires_grad_(True) for t in ts)


@pytest.mark.parametrize(
    "name",
    ["cosine", "content", "interpolate", "shift", "sharpen", "address", "read", "write"],
)
def test_gradcheck_float64(name):
    mem, w_prev, key, beta, gate, shift, gamma = _inputs()
    erase, add = torch.rand(B, W, dtype=D64), torch.randn(B, W, dtype=D64)
    fns = {
        "cosine": (cosine_similarity, (mem, key)),
        "content": (content_addressing, (mem, key, beta)),
        "interpolate": (interpolate, (_simplex(B, M), w_prev, gate)),
        "shift": (circular_shift, (w_prev, shift)),
        "sharpen": (sharpen, (w_prev, gamma)),
        "address": (address, (mem, w_prev, key, beta, gate, shift, gamma)),
        "read": (memory_read, (mem, w_prev)),
        "write": (memory_write, (mem, w_prev, erase, add)),
    }
    fn, args = fns[name]
    assert gradcheck(fn, _req(*args), eps=1e-6, atol=1e-5)


def _explicit_conv(w, s):
    # w~(i) = sum_j w(j) s(i - j mod M), with s indexed by offsets -(K-1)/2..(K-1)/2
    b, m = w.shape
    half = s.shape[-1] // 2
    out = torch.zeros_like(w)
    for n in range(b):
        for i in range(m):
            for j in range(m):
                d = (i - j) % m
                for k in range(s.shape[-1]):
                    if (k - half) % m == d:
                        out[n, i] += w[n, j] * s[n, k]
    return out


@pytest.mark.parametrize("k", [1, 3, 5])
def test_circular_shift_equals_explicit_convolution(k):
    w, s = _simplex(2, 6), _simplex(2, k)
    torch.testing.assert_close(circular_shift(w, s), _explicit_conv(w, s))
    # and a one-hot kernel at offset +1 is a roll by one slot
    one = torch.zeros(2, k, dtype=D64)
    if k > 1:
        one[:, k // 2 + 1] = 1
        torch.testing.assert_close(circular_shift(w, one), torch.roll(w, 1, dims=-1))


def test_weightings_stay_on_the_simplex():
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        mem, w_prev, key, _, gate, shift, _ = _inputs()
        beta = torch.rand(B, 1, dtype=D64, generator=g) * 100
        gamma = 1 + torch.rand(B, 1, dtype=D64, generator=g) * 50
        for w in (
            content_addressing(mem, key, beta),
            interpolate(content_addressing(mem, key, beta), w_prev, gate),
            circular_shift(w_prev, shift),
            sharpen(w_prev, gamma),
            address(mem, w_prev, key, beta, gate, shift, gamma),
        ):
            assert (w >= 0).all()
            torch.testing.assert_close(w.sum(-1), torch.ones(B, dtype=D64))


def test_identity_head_keeps_the_previous_weighting():
    mem, w_prev, key, beta, _, _, _ = _inputs()
    identity = torch.tensor([[0.0, 1.0, 0.0]], dtype=D64).expand(B, 3)
    w = address(mem, w_prev, key, beta, torch.zeros(B, 1, dtype=D64), identity, torch.ones(B, 1))
    torch.testing.assert_close(w, w_prev)


def test_content_addressing_finds_the_matching_row():
    mem = torch.randn(B, M, W, dtype=D64)
    key = mem[:, 4] * 2.5  # cosine similarity ignores scale
    w = content_addressing(mem, key, torch.full((B,), 100.0, dtype=D64))
    assert (w.argmax(-1) == 4).all() and (w[:, 4] > 0.99).all()
    # beta = 0: uniform
    w0 = content_addressing(mem, key, torch.zeros(B, dtype=D64))
    torch.testing.assert_close(w0, torch.full((B, M), 1.0 / M, dtype=D64))


def test_write_then_read_recovers_the_added_vector():
    mem = torch.randn(B, M, W, dtype=D64)
    w = torch.zeros(B, M, dtype=D64)
    w[:, 2] = 1
    add = torch.randn(B, W, dtype=D64)
    new = memory_write(mem, w, torch.ones(B, W, dtype=D64), add)  # full erase, then add
    torch.testing.assert_close(memory_read(new, w), add)
    torch.testing.assert_close(new[:, 3:], mem[:, 3:])  # other rows untouched
    # erase 0 and add 0 leave memory as it was, whatever the weighting
    same = memory_write(mem, _simplex(B, M), torch.zeros(B, W), torch.zeros(B, W, dtype=D64))
    torch.testing.assert_close(same, mem)
    # several read heads in one call equal one call per head
    ws = _simplex(B, 2, M)
    torch.testing.assert_close(
        memory_read(mem, ws), torch.stack([memory_read(mem, ws[:, i]) for i in range(2)], 1)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numerically_safe_at_the_edges(dtype):
    """Zero memory rows and zero keys, huge beta and gamma, exact zeros in the weighting:
    finite values, finite gradients, still on the simplex."""
    mem = torch.randn(B, M, W, dtype=dtype)
    mem[:, :3] = 0  # zero-norm rows
    key = torch.randn(B, W, dtype=dtype)
    key[0] = 0  # zero-norm key
    w_prev = torch.zeros(B, M, dtype=dtype)
    w_prev[:, 0] = 1  # exact zeros: 0 ** gamma and log 0 territory
    beta = torch.tensor([[1e4], [1e8], [0.0]], dtype=dtype)
    gamma = torch.tensor([[1.0], [1e3], [1e7]], dtype=dtype)
    gate = torch.tensor([[0.0], [1.0], [0.5]], dtype=dtype)
    shift = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=dtype)
    args = _req(mem, w_prev, key, beta, gate, shift, gamma)
    w = address(*args)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(B, dtype=dtype))
    r = memory_read(memory_write(args[0], w, torch.sigmoid(args[2]), args[2]), w)
    (w.square().sum() + r.sum()).backward()
    for t in args:
        assert torch.isfinite(t.grad).all()


def test_long_recurrence_stays_finite():
    """Hundreds of steps feeding each weighting and memory back in, with sharp heads."""
    g = torch.Generator().manual_seed(0)
    mem = torch.zeros(2, 16, 4, requires_grad=True)
    w_r = torch.zeros(2, 16)
    w_r[:, 0] = 1
    w_w, m = w_r.clone(), mem
    for t in range(300):
        key = torch.randn(2, 4, generator=g)
        beta = torch.full((2, 1), 50.0)
        gamma = torch.full((2, 1), 20.0)
        gate = torch.full((2, 1), float(t % 2))
        shift = torch.tensor([[0.0, 0.0, 1.0]]).expand(2, 3)
        w_w = address(m, w_w, key, beta, gate, shift, gamma)
        m = memory_write(m, w_w, torch.rand(2, 4, generator=g), torch.randn(2, 4, generator=g))
        w_r = address(m, w_r, key, beta, gate, shift, gamma)
    loss = memory_read(m, w_r).sum()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(mem.grad).all()


def test_bad_shift_kernel():
    with pytest.raises(ValueError, match="odd shift kernel"):
        circular_shift(_simplex(2, 5), _simplex(2, 2))
    with pytest.raises(ValueError, match="no larger than"):
        circular_shift(_simplex(2, 3), _simplex(2, 5))

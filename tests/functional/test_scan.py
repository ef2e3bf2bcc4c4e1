"""The linear recurrence: every mode equals the step-by-step definition, forward and backward."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqattn.functional.scan import (
    default_chunk,
    linear_recurrence,
    linear_recurrence_reference,
)

MODES = ("sequential", "chunked", "scan")


def _inputs(B, T, H, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(B, T, H, generator=g, dtype=dtype)  # decays in (0, 1), as the gates give
    b = torch.randn(B, T, H, generator=g, dtype=dtype)
    h0 = torch.randn(B, H, generator=g, dtype=dtype)
    return a, b, h0


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 70),
    chunk=st.one_of(st.none(), st.integers(1, 20)),
    with_h0=st.booleans(),
    mode=st.sampled_from(MODES),
)
def test_modes_equal_the_definition_float64(T, chunk, with_h0, mode):
    a, b, h0 = _inputs(2, T, 3, seed=T)
    h0 = h0 if with_h0 else None
    ref = linear_recurrence_reference(a, b, h0)
    got = linear_recurrence(a, b, h0, mode=mode, chunk_size=chunk)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_equal_the_definition_float64(mode):
    a, b, h0 = (t.requires_grad_() for t in _inputs(2, 37, 4))
    w = torch.randn(2, 37, 4, dtype=torch.float64)
    (linear_recurrence_reference(a, b, h0) * w).sum().backward()
    ref = [t.grad.clone() for t in (a, b, h0)]
    for t in (a, b, h0):
        t.grad = None
    (linear_recurrence(a, b, h0, mode=mode, chunk_size=5) * w).sum().backward()
    for got, want in zip((a.grad, b.grad, h0.grad), ref, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck(mode):
    a, b, h0 = (t.requires_grad_() for t in _inputs(2, 9, 3))

    def f(a, b, h0):
        return linear_recurrence(a, b, h0, mode=mode, chunk_size=4)

    assert torch.autograd.gradcheck(f, (a, b, h0))


def test_time_major_layout_and_trailing_dims():
    a, b, _ = _inputs(3, 10, 6)
    a, b = a.view(3, 10, 2, 3), b.view(3, 10, 2, 3)
    ref = linear_recurrence_reference(a, b)
    tm = linear_recurrence(a.transpose(0, 1), b.transpose(0, 1), batch_first=False)
    torch.testing.assert_close(tm.transpose(0, 1), ref, rtol=1e-12, atol=1e-12)


def test_float32_gradients_at_T_4096():
    """The issue's bar: float32 gradients within 1e-4 (relative, max-norm) of float64."""
    a64, b64, h064 = _inputs(2, 4096, 16, seed=3)
    a64 = 0.5 + 0.5 * a64  # long memory, as trained gates often are
    w = torch.randn(2, 4096, 16, dtype=torch.float64)
    grads = {}
    for mode in ("chunked", "sequential", "scan", "reference"):
        for dtype in (torch.float64, torch.float32):
            a, b, h0 = (t.detach().to(dtype).clone().requires_grad_() for t in (a64, b64, h064))
            if mode == "reference" and dtype == torch.float64:
                h = linear_recurrence_reference(a, b, h0)
            elif mode == "reference":
                continue
            else:
                h = linear_recurrence(a, b, h0, mode=mode)
            (h * w.to(dtype)).sum().backward()
            grads[mode, dtype] = [t.grad.double() for t in (a, b, h0)]
    ref = grads["reference", torch.float64]
    for mode in ("chunked", "sequential", "scan"):
        for got, want in zip(grads[mode, torch.float32], ref, strict=True):
            rel = float((got - want).abs().max() / want.abs().max())
            assert rel < 1e-4, (mode, rel)


def test_empty_sequence_and_errors():
    a = torch.zeros(2, 0, 3)
    assert linear_recurrence(a, a).shape == (2, 0, 3)
    with pytest.raises(ValueError, match="one shape"):
        linear_recurrence(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="mode"):
        linear_recurrence(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), mode="log")
    with pytest.raises(ValueError, match="h0"):
        linear_recurrence(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="chunk_size"):
        linear_recurrence(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), chunk_size=0)


def test_default_chunk_is_about_sqrt():
    assert default_chunk(4096) == 64 and default_chunk(1) == 1 and default_chunk(0) == 1

"""Mamba-1 (S6 + block): chunked and scan forms equal the sequential definition (float64)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tests.parity.test_modern_recurrent import (
    _assert_grads_equal,
    _assert_ragged_equals_unpadded,
    _assert_streaming_equals_forward,
)

from seqattn.nn.mamba import Mamba, selective_scan

F64 = torch.float64


def _scan_inputs(B=2, T=13, Dm=5, N=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, T, Dm, dtype=F64, generator=g)
    delta = F.softplus(torch.randn(B, T, Dm, dtype=F64, generator=g))
    A = -torch.rand(Dm, N, dtype=F64, generator=g) * 2 - 0.1
    Bm, Cm = torch.randn(2, B, T, N, dtype=F64, generator=g)
    D = torch.randn(Dm, dtype=F64, generator=g)
    h0 = torch.randn(B, Dm, N, dtype=F64, generator=g)
    return [t.requires_grad_() for t in (u, delta, A, Bm, Cm, D, h0)]


def _zoh_reference(u, delta, A, Bm, Cm, D, h0):
    """Per channel d and state n, written out as scalars: the paper's Eq. 2 with Delta B."""
    Bsz, T, Dm = u.shape
    N = A.shape[1]
    y = torch.zeros(Bsz, T, Dm, dtype=u.dtype)
    h = h0.detach().clone()
    for b in range(Bsz):
        for d in range(Dm):
            for n in range(N):
                s = h[b, d, n]
                for t in range(T):
                    s = (
                        torch.exp(delta[b, t, d] * A[d, n]) * s
                        + delta[b, t, d] * Bm[b, t, n] * u[b, t, d]
                    )
                    y[b, t, d] += Cm[b, t, n] * s
                h[b, d, n] = s
    return y + D * u, h


@pytest.mark.parametrize(
    "mode, chunk_size",
    [
        ("chunked", 1),
        ("chunked", 4),
        ("chunked", None),
        ("chunked", 64),
        ("scan", None),
    ],
)
def test_selective_scan_forms_equal_sequential(mode, chunk_size):
    inputs = _scan_inputs()
    y_s, h_s = selective_scan(*inputs, mode="sequential")
    y_c, h_c = selective_scan(*inputs, mode=mode, chunk_size=chunk_size)
    torch.testing.assert_close(y_c, y_s)
    torch.testing.assert_close(h_c, h_s)
    w = torch.randn_like(y_s)
    g_s = torch.autograd.grad((y_s * w).sum() + h_s.sum(), inputs)
    g_c = torch.autograd.grad((y_c * w).sum() + h_c.sum(), inputs)
    for a, b in zip(g_c, g_s, strict=True):
        torch.testing.assert_close(a, b)


def test_selective_scan_sequential_equals_scalar_definition():
    inputs = _scan_inputs(B=1, T=6, Dm=3, N=2)
    with torch.no_grad():
        y, h = selective_scan(*inputs, mode="sequential")
        y_ref, h_ref = _zoh_reference(*inputs)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(h, h_ref)


@pytest.mark.parametrize("mode", ["chunked", "scan"])
def test_selective_scan_gradcheck(mode):
    """The chunked/scan forms run the custom-autograd linear recurrence of functional/scan."""
    inputs = _scan_inputs(B=1, T=5, Dm=2, N=2)
    assert torch.autograd.gradcheck(
        lambda *a: selective_scan(*a, mode=mode, chunk_size=2), inputs, eps=1e-6, atol=1e-6
    )


def _mamba(seed=0, **kw):
    torch.manual_seed(seed)
    return Mamba(6, hidden_size=8, state_size=3, conv_kernel=3, dt_rank=2, **kw).double()


def _block_reference(block, x):
    """The block as the reference forward writes it: padded nn.Conv1d truncated to T."""
    T = x.shape[1]
    xi, z = block.in_proj(x).chunk(2, -1)
    u = F.silu(block.conv1d(xi.transpose(1, 2))[..., :T].transpose(1, 2))
    dt, Bm, Cm = block.x_proj(u).split([block.dt_rank, block.state_size, block.state_size], -1)
    delta = F.softplus(block.dt_proj(dt))
    y, _ = selective_scan(u, delta, -torch.exp(block.A_log), Bm, Cm, block.D, mode="sequential")
    return block.out_proj(y * F.silu(z))


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
def test_mamba_block_chunked_equals_sequential(chunk_size):
    block = _mamba()
    x = torch.randn(2, 17, 6, dtype=F64, requires_grad=True)
    y_s, st_s = block(x, mode="sequential")
    y_c, st_c = block(x, mode="chunked", chunk_size=chunk_size)
    torch.testing.assert_close(y_c, y_s)
    for a, b in zip(st_c, st_s, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(y_s, _block_reference(block, x))
    _assert_grads_equal(block, x, (y_s, st_s), (y_c, st_c))


def test_mamba_ragged_lengths_and_streaming():
    x = torch.randn(3, 9, 6, dtype=F64)
    _assert_ragged_equals_unpadded(_mamba(), x, torch.tensor([9, 4, 0]))
    _assert_ragged_equals_unpadded(_mamba(), x, torch.tensor([1, 2, 9]))  # shorter than K - 1
    _assert_streaming_equals_forward(_mamba(), x)
    block = Mamba(6, hidden_size=8, state_size=3, conv_kernel=1).double()  # no conv state
    _assert_streaming_equals_forward(block, x)


def _assert_ragged_from_state_equals_unpadded(layer, x, lengths, **kw):
    """A ragged batch continuing from a carried state equals each row run alone from its state."""
    _, state = layer(x[:, :3], **kw)
    flat = list(state) if isinstance(state, tuple) else [state]
    y, new = layer(x[:, 3:], state, lengths=lengths, **kw)
    new = list(new) if isinstance(new, tuple) else [new]
    for b, n in enumerate(lengths.tolist()):
        row = [s[b : b + 1] for s in flat]
        y_b, new_b = layer(x[b : b + 1, 3 : 3 + n], tuple(row) if len(row) > 1 else row[0], **kw)
        new_b = list(new_b) if isinstance(new_b, tuple) else [new_b]
        torch.testing.assert_close(y[b, :n], y_b[0])
        assert torch.all(y[b, n:] == 0)
        for s, s_b in zip(new, new_b, strict=True):
            torch.testing.assert_close(s[b], s_b[0])


def test_mamba_ragged_lengths_from_a_carried_state():
    x = torch.randn(3, 12, 6, dtype=F64)
    _assert_ragged_from_state_equals_unpadded(_mamba(), x, torch.tensor([9, 1, 0]))


def test_mamba_defaults_and_init():
    block = Mamba(32)
    assert (block.hidden_size, block.state_size, block.dt_rank) == (64, 16, 2)
    dt = F.softplus(block.dt_proj.bias.detach())
    assert float(dt.min()) >= 1e-4 and float(dt.max()) <= 0.1 + 1e-6
    torch.testing.assert_close(-torch.exp(block.A_log[0]), -torch.arange(1.0, 17.0))


def test_mamba_bad_inputs_raise_value_errors():
    block = _mamba()
    x = torch.randn(2, 5, 6, dtype=F64)
    with pytest.raises(ValueError, match="expected x of shape"):
        block(torch.randn(2, 5, 4, dtype=F64))
    with pytest.raises(ValueError, match="expected lengths"):
        block(x, lengths=torch.tensor([6, 1]))
    with pytest.raises(ValueError, match="expected state"):
        block(x, block.init_state(3, dtype=F64))
    with pytest.raises(ValueError, match="expected mode"):
        block(x, mode="parallel")
    with pytest.raises(ValueError, match="expected chunk_size"):
        block(x, chunk_size=0)
    with pytest.raises(ValueError, match="expected x_t"):
        block.step(x)
    with pytest.raises(ValueError, match="expected state_size to be a positive int"):
        Mamba(6, state_size=0)
    with pytest.raises(ValueError, match="expected 0 < dt_min"):
        Mamba(6, dt_min=0.5, dt_max=0.1)
    u, delta, A, Bm, Cm, D, h0 = _scan_inputs()
    with pytest.raises(ValueError, match="expected B and C"):
        selective_scan(u, delta, A, Bm[:, :3], Cm, D)
    with pytest.raises(ValueError, match="expected delta"):
        selective_scan(u, delta[..., :2], A, Bm, Cm, D)

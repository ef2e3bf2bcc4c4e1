"""Modern recurrent layers: parallel/chunked forms equal their sequential definitions (float64)."""

from __future__ import annotations

import pytest
import torch

from seqattn.nn.linear_attention import CausalLinearAttention
from seqattn.nn.ssd import SSD


def _layer(D=12, H=3, seed=0):
    torch.manual_seed(seed)
    return CausalLinearAttention(D, num_heads=H).double()


def _softmax_free_reference(layer, x):
    """Definition: y_i = sum_{j<=i} a_ij v_j / sum_{j<=i} a_ij; a_ij = phi(q_i).phi(k_j)."""
    q, k, v = layer._qkv(x)
    T = x.shape[1]
    a = (q @ k.transpose(-1, -2)) * torch.ones(T, T, dtype=x.dtype).tril()
    y = (a @ v) / (a.sum(-1, keepdim=True) + layer.eps)
    B, _, D = x.shape
    return layer.out_proj(y.transpose(1, 2).reshape(B, T, D))


def _flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def _assert_ragged_equals_unpadded(layer, x, lengths):
    for mode in ("sequential", "chunked"):
        y, state = layer(x, lengths=lengths, mode=mode, chunk_size=4)
        for b, n in enumerate(lengths.tolist()):
            y_b, state_b = layer(x[b : b + 1, :n], mode="sequential")
            torch.testing.assert_close(y[b, :n], y_b[0])
            assert torch.all(y[b, n:] == 0)
            for s, s_b in zip(_flat(state), _flat(state_b), strict=True):
                torch.testing.assert_close(s[b], s_b[0])


def _assert_streaming_equals_forward(layer, x):
    y, final = layer(x)
    state = layer.init_state(x.shape[0], dtype=torch.float64)
    steps = []
    for t in range(x.shape[1]):
        y_t, state = layer.step(x[:, t], state)
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps, 1), y)
    y1, st = layer(x[:, :5], chunk_size=2)
    y2, st = layer(x[:, 5:], st, chunk_size=3)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y)
    for a, b, c in zip(_flat(state), _flat(st), _flat(final), strict=True):
        torch.testing.assert_close(a, c)
        torch.testing.assert_close(b, c)


def _assert_grads_equal(layer, x, out_a, out_b):
    (y_a, st_a), (y_b, st_b) = out_a, out_b
    w = torch.randn_like(y_a)
    loss_a = (y_a * w).sum() + sum(s.sum() for s in _flat(st_a))
    loss_b = (y_b * w).sum() + sum(s.sum() for s in _flat(st_b))
    params = [x, *layer.parameters()]
    for a, b in zip(
        torch.autograd.grad(loss_a, params), torch.autograd.grad(loss_b, params), strict=True
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
def test_linear_attention_chunked_equals_sequential(chunk_size):
    layer = _layer()
    x = torch.randn(2, 17, 12, dtype=torch.float64, requires_grad=True)
    y_s, (S_s, z_s) = layer(x, mode="sequential")
    y_c, (S_c, z_c) = layer(x, mode="chunked", chunk_size=chunk_size)
    torch.testing.assert_close(y_c, y_s)
    torch.testing.assert_close(S_c, S_s)
    torch.testing.assert_close(z_c, z_s)
    torch.testing.assert_close(y_s, _softmax_free_reference(layer, x))
    _assert_grads_equal(layer, x, (y_s, (S_s, z_s)), (y_c, (S_c, z_c)))


def test_linear_attention_ragged_lengths_equal_unpadded_runs():
    x = torch.randn(3, 9, 12, dtype=torch.float64)
    _assert_ragged_equals_unpadded(_layer(), x, torch.tensor([9, 4, 0]))


def test_linear_attention_step_and_split_forward_equal_one_forward():
    _assert_streaming_equals_forward(_layer(), torch.randn(2, 11, 12, dtype=torch.float64))


def _ssd(seed=0):
    torch.manual_seed(seed)
    return SSD(12, num_heads=3, state_size=5).double()


def _ssd_dense_reference(layer, x):
    """Definition as one matrix: y = M u, M_ij = C_i.B_j prod_{s=j+1..i} a_s (j <= i), + D x."""
    B, T, D = x.shape
    H, N = layer.num_heads, layer.state_size
    xs, Bm, Cm, dt = layer.in_proj(x).split([D, N, N, H], -1)
    dt = torch.nn.functional.softplus(dt)
    L = (dt * -torch.exp(layer.A_log)).transpose(1, 2).cumsum(-1)  # (B, H, T)
    decay = torch.exp(L[..., :, None] - L[..., None, :]) * torch.ones(T, T, dtype=x.dtype).tril()
    M = decay * (Cm @ Bm.transpose(-1, -2))[:, None]
    xh = xs.view(B, T, H, -1).transpose(1, 2)
    y = M @ (xh * dt.transpose(1, 2)[..., None]) + layer.D[:, None, None] * xh
    return layer.out_proj(y.transpose(1, 2).reshape(B, T, D))


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 64])
def test_ssd_chunked_equals_sequential(chunk_size):
    layer = _ssd()
    x = torch.randn(2, 17, 12, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    y_s, h_s = layer(x, h0, mode="sequential")
    y_c, h_c = layer(x, h0, mode="chunked", chunk_size=chunk_size)
    torch.testing.assert_close(y_c, y_s)
    torch.testing.assert_close(h_c, h_s)
    torch.testing.assert_close(layer(x, mode="sequential")[0], _ssd_dense_reference(layer, x))
    _assert_grads_equal(layer, x, (y_s, h_s), (y_c, h_c))


def test_ssd_ragged_lengths_and_streaming():
    x = torch.randn(3, 9, 12, dtype=torch.float64)
    _assert_ragged_equals_unpadded(_ssd(), x, torch.tensor([9, 4, 0]))
    _assert_streaming_equals_forward(_ssd(), x)


@pytest.mark.parametrize("make", [_layer, _ssd], ids=["linear_attention", "ssd"])
def test_bad_inputs_raise_value_errors(make):
    layer = make()
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match="expected x of shape"):
        layer(torch.randn(2, 5, 10, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected lengths"):
        layer(x, lengths=torch.tensor([6, 1]))
    with pytest.raises(ValueError, match="expected state"):
        layer(x, layer.init_state(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected mode"):
        layer(x, mode="parallel")
    with pytest.raises(ValueError, match="expected chunk_size"):
        layer(x, chunk_size=0)
    with pytest.raises(ValueError, match="expected x_t"):
        layer.step(x)
    with pytest.raises(ValueError, match="expected embed_dim divisible"):
        type(layer)(10, num_heads=3)

"""Modern recurrent layers: parallel/chunked forms equal their sequential definitions (float64)."""

from __future__ import annotations

import pytest
import torch

from seqattn.nn.linear_attention import CausalLinearAttention


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
    w = torch.randn_like(y_s)
    g_s = torch.autograd.grad((y_s * w).sum() + S_s.sum() + z_s.sum(), [x, *layer.parameters()])
    g_c = torch.autograd.grad((y_c * w).sum() + S_c.sum() + z_c.sum(), [x, *layer.parameters()])
    for a, b in zip(g_c, g_s, strict=True):
        torch.testing.assert_close(a, b)


def test_linear_attention_ragged_lengths_equal_unpadded_runs():
    layer = _layer()
    x = torch.randn(3, 9, 12, dtype=torch.float64)
    lengths = torch.tensor([9, 4, 0])
    for mode in ("sequential", "chunked"):
        y, (S, z) = layer(x, lengths=lengths, mode=mode, chunk_size=4)
        for b, n in enumerate(lengths.tolist()):
            y_b, (S_b, z_b) = layer(x[b : b + 1, :n], mode="sequential")
            torch.testing.assert_close(y[b, :n], y_b[0])
            assert torch.all(y[b, n:] == 0)
            torch.testing.assert_close(S[b], S_b[0])
            torch.testing.assert_close(z[b], z_b[0])


def test_linear_attention_step_and_split_forward_equal_one_forward():
    layer = _layer()
    x = torch.randn(2, 11, 12, dtype=torch.float64)
    y, (S, z) = layer(x)
    state = layer.init_state(2, dtype=torch.float64)
    steps = []
    for t in range(11):
        y_t, state = layer.step(x[:, t], state)
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps, 1), y)
    torch.testing.assert_close(state[0], S)
    y1, st = layer(x[:, :5], chunk_size=2)
    y2, st = layer(x[:, 5:], st, chunk_size=3)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y)
    torch.testing.assert_close(st[1], z)


def test_linear_attention_bad_inputs_raise_value_errors():
    layer = _layer()
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match="expected x of shape"):
        layer(torch.randn(2, 5, 10, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected lengths"):
        layer(x, lengths=torch.tensor([6, 1]))
    with pytest.raises(ValueError, match="expected state"):
        layer(x, state=layer.init_state(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected mode"):
        layer(x, mode="parallel")
    with pytest.raises(ValueError, match="expected chunk_size"):
        layer(x, chunk_size=0)
    with pytest.raises(ValueError, match="expected x_t"):
        layer.step(x)
    with pytest.raises(ValueError, match="expected embed_dim divisible"):
        CausalLinearAttention(10, num_heads=3)

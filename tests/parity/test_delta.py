"""DeltaNet and GLA: chunked forms (WY/UT transform, log-space decay) equal their recurrences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tests.parity.test_mamba import _assert_ragged_from_state_equals_unpadded
from tests.parity.test_modern_recurrent import (
    _assert_grads_equal,
    _assert_ragged_equals_unpadded,
    _assert_streaming_equals_forward,
)
from tests.parity.test_modern_recurrent import (
    test_bad_inputs_raise_value_errors as _assert_bad_inputs_raise,
)

from seqattn.nn.delta import DeltaNet, GatedLinearAttention

F64 = torch.float64


def _delta(seed=0):
    torch.manual_seed(seed)
    return DeltaNet(12, num_heads=3).double()


def _gla(seed=0):
    torch.manual_seed(seed)
    layer = GatedLinearAttention(12, num_heads=3, gate_rank=4, gate_temperature=2.0).double()
    return layer


def _delta_paper_reference(layer, x):
    """S_t = S_{t-1} (I - beta k k^T) + beta v k^T in the value-by-key convention, o = S q."""
    B, T, D = x.shape
    H, Dh = layer.num_heads, layer.head_dim
    q, k, v = layer.in_proj(x).view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)
    q, k = (F.normalize(F.silu(t), dim=-1) for t in (q, k))
    beta = torch.sigmoid(layer.beta_proj(x)).transpose(1, 2)[..., None, None]  # (B, H, T, 1, 1)
    S, eye, outs = torch.zeros(B, H, Dh, Dh, dtype=x.dtype), torch.eye(Dh, dtype=x.dtype), []
    for t in range(T):
        kt, vt, bt = k[:, :, t, :, None], v[:, :, t, :, None], beta[:, :, t]
        S = S @ (eye - bt * kt @ kt.transpose(-1, -2)) + bt * vt @ kt.transpose(-1, -2)
        outs.append((S @ q[:, :, t, :, None])[..., 0])
    o = torch.stack(outs, 2).transpose(1, 2).reshape(B, T, D)
    return layer.out_proj(o), S.transpose(-1, -2)


def _gla_dense_reference(layer, x):
    """o_i = sum_{j<=i} (q_i * prod_{s=j+1..i} alpha_s) . k_j v_j, the products taken directly."""
    B, T, D = x.shape
    H, Dh = layer.num_heads, layer.head_dim
    q, k, v = layer.in_proj(x).view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)
    alpha = torch.sigmoid(layer.gate_up(layer.gate_down(x))) ** (1 / layer.gate_temperature)
    alpha = alpha.view(B, T, H, Dh).transpose(1, 2)
    o = torch.zeros(B, H, T, Dh, dtype=x.dtype)
    for i in range(T):
        for j in range(i + 1):
            decay = torch.prod(alpha[:, :, j + 1 : i + 1], dim=2)  # empty product = 1
            w = (q[:, :, i] * decay * k[:, :, j]).sum(-1, keepdim=True)
            o[:, :, i] += w * v[:, :, j]
    o = F.layer_norm(o, (Dh,)).transpose(1, 2).reshape(B, T, D)
    return layer.out_proj(o * F.silu(layer.r_proj(x)))


@pytest.mark.parametrize("make", [_delta, _gla], ids=["deltanet", "gla"])
@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
def test_chunked_equals_sequential(make, chunk_size):
    layer = make()
    x = torch.randn(2, 17, 12, dtype=F64, requires_grad=True)
    S0 = 0.5 * torch.randn(2, 3, 4, 4, dtype=F64)
    y_s, S_s = layer(x, S0, mode="sequential")
    y_c, S_c = layer(x, S0, mode="chunked", chunk_size=chunk_size)
    torch.testing.assert_close(y_c, y_s)
    torch.testing.assert_close(S_c, S_s)
    _assert_grads_equal(layer, x, (y_s, S_s), (y_c, S_c))


def test_deltanet_equals_the_papers_recurrence():
    layer = _delta()
    x = torch.randn(2, 9, 12, dtype=F64)
    with torch.no_grad():
        y_ref, S_ref = _delta_paper_reference(layer, x)
        for mode in ("sequential", "chunked"):
            y, S = layer(x, mode=mode, chunk_size=4)
            torch.testing.assert_close(y, y_ref)
            torch.testing.assert_close(S, S_ref)


def test_delta_rule_overwrites_the_value_of_a_repeated_key():
    """beta = 1 and a unit key: writing (k, v1) then (k, v2) stores v2, not v1 + v2."""
    k = F.normalize(torch.randn(1, 1, 1, 4, dtype=F64), dim=-1).expand(1, 1, 2, 4)
    v = torch.randn(1, 1, 2, 4, dtype=F64)
    beta = torch.ones(1, 1, 2, dtype=F64)
    S0 = torch.zeros(1, 1, 4, 4, dtype=F64)
    for run in (DeltaNet._sequential, lambda *a: DeltaNet._chunked(*a, 2)):
        o, S = run(k, k, v, beta, S0)
        torch.testing.assert_close(o[0, 0, 1], v[0, 0, 1])
        torch.testing.assert_close(torch.einsum("bhkv,bhk->bhv", S, k[:, :, 0])[0, 0], v[0, 0, 1])


def test_gla_equals_the_dense_product_definition():
    layer = _gla()
    x = torch.randn(2, 8, 12, dtype=F64)
    with torch.no_grad():
        ref = _gla_dense_reference(layer, x)
        for mode in ("sequential", "chunked"):
            torch.testing.assert_close(layer(x, mode=mode, chunk_size=3)[0], ref)


def test_gla_strong_decay_stays_finite_in_chunks():
    """Per-step log decays of -50 would overflow exp(-b_j) if not masked and paired first."""
    layer = _gla()
    with torch.no_grad():
        layer.gate_up.bias.fill_(-100.0)  # log alpha ~ -100 / tau = -50
        x = torch.randn(1, 40, 12, dtype=F64)
        y_s, S_s = layer(x, mode="sequential")
        y_c, S_c = layer(x, mode="chunked", chunk_size=32)
    assert torch.isfinite(y_c).all()
    torch.testing.assert_close(y_c, y_s)
    torch.testing.assert_close(S_c, S_s)


@pytest.mark.parametrize("make", [_delta, _gla], ids=["deltanet", "gla"])
def test_ragged_lengths_and_streaming(make):
    x = torch.randn(3, 9, 12, dtype=F64)
    _assert_ragged_equals_unpadded(make(), x, torch.tensor([9, 4, 0]))
    _assert_streaming_equals_forward(make(), x)
    x = torch.randn(3, 12, 12, dtype=F64)
    for mode in ("sequential", "chunked"):
        lengths = torch.tensor([9, 1, 0])
        _assert_ragged_from_state_equals_unpadded(make(), x, lengths, mode=mode, chunk_size=4)


@pytest.mark.parametrize("make", [_delta, _gla], ids=["deltanet", "gla"])
def test_bad_inputs_raise_value_errors(make):
    _assert_bad_inputs_raise(make)  # the same checks as linear attention and SSD
    with pytest.raises(ValueError, match="expected gate_rank > 0"):
        GatedLinearAttention(12, gate_rank=0)

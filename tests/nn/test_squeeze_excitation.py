"""SqueezeExcitation: the explicit formula, reduction handling, gate range, shapes, learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqattn.nn import SqueezeExcitation, se_parameter_count


def _formula(se: SqueezeExcitation, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Hu et al. Eqs. 2-4 written out with explicit loops over H, W for the squeeze.
    B, C, H, W = x.shape
    z = torch.zeros(B, C, dtype=x.dtype)
    for i in range(H):
        for j in range(W):
            z += x[:, :, i, j]
    z = z / (H * W)
    w1, b1 = se.fc1.weight, se.fc1.bias
    w2, b2 = se.fc2.weight, se.fc2.bias
    hidden = torch.clamp(z @ w1.T + (b1 if b1 is not None else 0), min=0)
    s = 1 / (1 + torch.exp(-(hidden @ w2.T + (b2 if b2 is not None else 0))))
    return x * s.view(B, C, 1, 1), s


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("channels", "reduction", "hw"), [(8, 2, (5, 7)), (16, 16, (3, 3)),
                                                           (12, 5, (1, 4))])  # fmt: skip
def test_equals_explicit_formula_float64(channels, reduction, hw, bias):
    se = SqueezeExcitation(channels, reduction, bias=bias).double()
    x = torch.randn(3, channels, *hw, dtype=torch.float64)
    y, s = se(x, return_excitation=True)
    y_ref, s_ref = _formula(se, x)
    assert se.squeeze_channels == channels // reduction
    torch.testing.assert_close(s, s_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(se(x), y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(se.excitation(x), s_ref, rtol=1e-12, atol=1e-12)


def test_gradients_match_formula():
    se = SqueezeExcitation(6, 3).double()
    x = torch.randn(2, 6, 4, 4, dtype=torch.float64, requires_grad=True)
    g1 = torch.autograd.grad(se(x).pow(2).sum(), [x, se.fc1.weight])
    g2 = torch.autograd.grad(_formula(se, x)[0].pow(2).sum(), [x, se.fc1.weight])
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_reduction_handling():
    assert SqueezeExcitation(64, 16).squeeze_channels == 4
    assert SqueezeExcitation(20, 16).squeeze_channels == 1  # floor, like the paper's C/r
    with pytest.raises(ValueError, match=r"channels // reduction >= 1, got 16 // 32 = 0"):
        SqueezeExcitation(16, 32)
    with pytest.raises(ValueError, match="reduction >= 1, got 0"):
        SqueezeExcitation(16, 0)
    with pytest.raises(TypeError, match="reduction to be an int"):
        SqueezeExcitation(16, 2.0)
    with pytest.raises(ValueError, match="channels >= 1"):
        SqueezeExcitation(0, 1)
    # an explicit bottleneck width overrides r (how the model keeps narrow layers at r = 32)
    assert SqueezeExcitation(16, 32, squeeze_channels=1).squeeze_channels == 1
    with pytest.raises(ValueError, match="channels >= 1, got 0"):
        SqueezeExcitation(16, squeeze_channels=0)


def test_excitation_in_open_unit_interval_and_input_dependent():
    se = SqueezeExcitation(32, 4)
    x = 3 * torch.randn(64, 32, 6, 6)
    s = se.excitation(x)
    assert s.shape == (64, 32)
    assert bool((s > 0).all() and (s < 1).all())
    assert float(s.detach().std(0).mean()) > 1e-3  # a gate per input, not a fixed scale


def test_parameter_count_formula():
    for c, r, bias in [(64, 16, True), (64, 16, False), (48, 4, True), (7, 7, True)]:
        se = SqueezeExcitation(c, r, bias=bias)
        got = sum(p.numel() for p in se.parameters())
        assert got == se_parameter_count(c, c // r, bias)
        assert got == 2 * c * c // r + ((c // r + c) if bias else 0)


@pytest.mark.parametrize("shape", [(2, 8, 4), (2, 7, 4, 4), (8, 4, 4), (1, 2, 8, 4, 4)])
def test_shape_errors(shape):
    se = SqueezeExcitation(8, 2)
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 8, H, W\), got"):
        se(torch.randn(*shape))


def test_type_error():
    with pytest.raises(TypeError, match="expected a Tensor"):
        SqueezeExcitation(8, 2)([[1.0]])


def _xor_batch(m: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # channel means z0, z1 in {-1, +1}, label z0 == z1 (XOR): no linear function of the pooled
    # channels separates it; two noise channels and pixel noise on top
    signs = torch.randint(0, 2, (m, 2), generator=gen) * 2 - 1
    x = 0.3 * torch.randn(m, 4, 3, 3, generator=gen)
    x[:, :2] += signs[:, :, None, None].float()
    return x, (signs[:, 0] == signs[:, 1]).long()


def _fit(model: nn.Module, x, y, steps: int = 150) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_learns_an_input_dependent_gate():
    # A linear readout of the pooled channels cannot learn XOR; the same readout after SE can:
    # the gate of one channel opens or closes depending on the other (s_0 = σ(k z_1), ...),
    # which makes the classes linearly separable.
    gen = torch.Generator().manual_seed(0)
    x, y = _xor_batch(512, gen)
    x_test, y_test = _xor_batch(1000, gen)
    with_se = nn.Sequential(SqueezeExcitation(4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(4, 2))  # fmt: skip
    without = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    _fit(with_se, x, y)
    _fit(without, x, y)
    with torch.no_grad():
        acc_se = float((with_se(x_test).argmax(1) == y_test).float().mean())
        acc_plain = float((without(x_test).argmax(1) == y_test).float().mean())
    assert acc_se > 0.95
    assert acc_plain < 0.65

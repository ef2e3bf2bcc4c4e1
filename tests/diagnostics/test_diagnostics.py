"""Gradient flow, Jacobian products and the gradient-health monitor, on closed forms and torch."""

from __future__ import annotations

import logging
import math

import pytest
import torch

import seqattn.nn as snn
from seqattn.diagnostics import (
    GradientHealthMonitor,
    NonFiniteGradientError,
    gradient_flow,
    jacobian_products,
    step_jacobian,
)

H = 4


def contracting_relu_rnn(a: float = 0.5, cls=snn.RNN) -> torch.nn.Module:
    """h_t = relu(x_t + 10 + a h_{t-1}): always active, so ∂h_t/∂h_{t-1} = a I exactly."""
    m = cls(H, H, nonlinearity="relu").double()
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.eye(H))
        m.weight_hh_l0.copy_(a * torch.eye(H))
        m.bias_ih_l0.fill_(10.0)
        m.bias_hh_l0.zero_()
    return m


@pytest.mark.parametrize("cls", [snn.RNN, torch.nn.RNN])
def test_gradient_flow_closed_form(cls):
    steps = 12
    flow = gradient_flow(contracting_relu_rnn(0.5, cls), torch.randn(steps, 3, H).double())
    expected = torch.tensor([0.5 ** (steps - 1 - t) * math.sqrt(H) for t in range(steps)])
    torch.testing.assert_close(flow.input_grad_norm, expected.double(), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(flow.hidden_grad_norm, expected.double(), atol=1e-12, rtol=1e-12)
    assert flow.ratio() == pytest.approx(0.5 ** -(steps - 1))


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("loss", ["last", "all"])
def test_gradient_flow_ours_equals_torch(mode, loss):
    ref = getattr(torch.nn, mode)(3, 5, num_layers=2).double()
    ours = getattr(snn, mode)(3, 5, num_layers=2).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(15, 2, 3).double()
    a, b = gradient_flow(ours, x, loss=loss), gradient_flow(ref, x, loss=loss)
    torch.testing.assert_close(a.input_grad_norm, b.input_grad_norm, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(a.hidden_grad_norm, b.hidden_grad_norm, atol=1e-12, rtol=1e-10)
    assert a.loss == pytest.approx(b.loss)


def test_hidden_flow_counts_the_direct_path():
    """With L = Σ_t Σ h_t, ∂L/∂h_{T-1} is all ones and earlier steps get more (a > 0)."""
    flow = gradient_flow(contracting_relu_rnn(0.5), torch.randn(5, 1, H).double(), loss="all")
    expected = [math.sqrt(H) * sum(0.5**k for k in range(5 - t)) for t in range(5)]
    torch.testing.assert_close(flow.hidden_grad_norm, torch.tensor(expected).double())


def test_gradient_flow_batch_first_and_bidirectional():
    m = snn.GRU(3, 4, batch_first=True, bidirectional=True).double()
    flow = gradient_flow(m, torch.randn(2, 7, 3).double(), hidden=False)
    assert flow.input_grad_norm.shape == (7,) and flow.hidden_grad_norm is None
    with pytest.raises(ValueError, match="expected a unidirectional model"):
        gradient_flow(m, torch.randn(2, 7, 3).double())


def test_jacobian_products_closed_form():
    jp = jacobian_products(contracting_relu_rnn(0.5), torch.randn(20, H).double())
    d = torch.arange(1, 21, dtype=torch.double)
    torch.testing.assert_close(jp.log10_spectral, d * math.log10(0.5), atol=1e-10, rtol=0)
    torch.testing.assert_close(
        jp.log10_frobenius, d * math.log10(0.5) + 0.5 * math.log10(H), atol=1e-10, rtol=0
    )
    assert jp.lyapunov == pytest.approx(math.log(0.5), abs=1e-10)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_step_jacobian_equals_autograd_jacobian(mode):
    layer = getattr(snn, mode)(3, 4).double()
    x_t = torch.randn(3).double()
    h = torch.randn(1, 1, 4).double()
    state = (h, torch.randn_like(h)) if mode == "LSTM" else h
    jac, _ = step_jacobian(layer, x_t, state)

    def f(s):
        st = (s[:4].view(1, 1, 4), s[4:].view(1, 1, 4)) if mode == "LSTM" else s.view(1, 1, 4)
        _, new = layer(x_t.view(1, 1, 3), st)
        return torch.cat([t.flatten() for t in new]) if mode == "LSTM" else new.flatten()

    flat = torch.cat([t.flatten() for t in state]) if mode == "LSTM" else h.flatten()
    ref = torch.autograd.functional.jacobian(f, flat)
    torch.testing.assert_close(jac, ref, atol=1e-12, rtol=0)


def test_jacobian_products_ours_equals_torch():
    ref = torch.nn.LSTM(3, 5).double()
    ours = snn.LSTM(3, 5).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(10, 3).double()
    a, b = jacobian_products(ours, x), jacobian_products(ref, x)
    torch.testing.assert_close(a.log10_spectral, b.log10_spectral, atol=1e-10, rtol=0)
    assert a.lyapunov == pytest.approx(b.lyapunov, abs=1e-10)


# -- gradient-health monitor --------------------------------------------------------------------


def _model_with_grads(scale_w: float, scale_b: float) -> torch.nn.Linear:
    m = torch.nn.Linear(3, 2)
    m.weight.grad = torch.full_like(m.weight, scale_w)
    m.bias.grad = torch.full_like(m.bias, scale_b)
    return m


def test_monitor_names_vanishing_and_exploding(caplog):
    m = _model_with_grads(1e-9, 1e4)
    with caplog.at_level(logging.WARNING, logger="seqattn.diagnostics"):
        report = GradientHealthMonitor(m).check()
    assert report.vanishing == ["weight"] and report.exploding == ["bias"]
    assert report.norms["weight"] == pytest.approx(1e-9 * math.sqrt(6))
    assert "vanishing gradients (norm < 1e-07) in: weight" in caplog.text
    assert "exploding gradients (norm > 1000) in: bias" in caplog.text
    assert not report.healthy and report.finite


def test_monitor_detects_nan_and_raises_when_asked(caplog):
    m = _model_with_grads(1.0, 1.0)
    m.bias.grad[0] = float("nan")
    with caplog.at_level(logging.WARNING, logger="seqattn.diagnostics"):
        assert GradientHealthMonitor(m).check().nonfinite == ["bias"]
    assert "non-finite gradient (NaN/Inf) in: bias" in caplog.text
    with pytest.raises(NonFiniteGradientError, match="bias"):
        GradientHealthMonitor(m, on_nonfinite="raise").check()


def test_monitor_clips_by_norm_and_reports_preclip_norm():
    m = _model_with_grads(3.0, 4.0)  # total norm sqrt(6*9 + 2*16) = sqrt(86)
    report = GradientHealthMonitor(m, clip_norm=1.0).on_after_backward()
    assert report.total_norm == pytest.approx(math.sqrt(86))
    assert report.clipped_norm == pytest.approx(1.0)
    total = torch.cat([m.weight.grad.flatten(), m.bias.grad.flatten()]).norm()
    assert float(total) == pytest.approx(1.0, rel=1e-5)


def test_monitor_clips_by_value():
    m = _model_with_grads(3.0, -4.0)
    report = GradientHealthMonitor(m, clip_value=0.5, history=True).check()
    assert m.weight.grad.max() == 0.5 and m.bias.grad.min() == -0.5
    assert report.clipped_norm == pytest.approx(0.5 * math.sqrt(8))
    assert report.total_norm == pytest.approx(math.sqrt(86))


def test_monitor_reports_missing_grads_and_bad_args():
    m = torch.nn.Linear(2, 2)
    assert GradientHealthMonitor(m).check().missing == ["weight", "bias"]
    with pytest.raises(ValueError, match="expected 0 <= low < high"):
        GradientHealthMonitor(m, low=1.0, high=0.5)
    with pytest.raises(ValueError, match="expected clip_norm > 0"):
        GradientHealthMonitor(m, clip_norm=0)

"""Truncated BPTT: full BPTT when k1 = k2 = T, and no gradient beyond k2 steps."""

from __future__ import annotations

import pytest
import torch

import seqattn.nn as snn
from seqattn.diagnostics import GradientHealthMonitor
from seqattn.training import tbptt


def mse(out, tgt):
    return ((out - tgt) ** 2).mean()


@pytest.mark.parametrize("cls", [snn.LSTM, snn.GRU, torch.nn.LSTM])
def test_k1_equals_k2_equals_T_is_full_bptt(cls):
    model = cls(3, 4).double()
    x = torch.randn(9, 2, 3).double()
    y = torch.randn(9, 2, 4).double()
    mse(model(x)[0], y).backward()
    full = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    result = tbptt(model, x, y, mse, k1=9, k2=9)
    assert result.windows == [(0, 9)]
    for a, b in zip(full, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(a, b, atol=1e-14, rtol=0)


def test_chunked_matches_manual_detached_chunks():
    model = snn.GRU(3, 4).double()
    x = torch.randn(12, 2, 3).double()
    y = torch.randn(12, 2, 4).double()
    state = None
    for a in range(0, 12, 4):
        out, state = model(x[a : a + 4], state)
        mse(out, y[a : a + 4]).backward()
        state = state.detach()
    manual = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    res = tbptt(model, x, y, mse, k1=4)
    assert res.windows == [(0, 4), (4, 8), (8, 12)]
    for a, b in zip(manual, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(a, b, atol=1e-14, rtol=0)
    torch.testing.assert_close(res.state, state)
    # A final partial chunk still backpropagates k2 steps from the end (Williams & Peng).
    assert tbptt(model, x[:10], y[:10], mse, k1=4).windows == [(0, 4), (4, 8), (6, 10)]


@pytest.mark.parametrize("k1,k2", [(3, 5), (2, 2), (1, 4), (4, 7)])
def test_no_gradient_beyond_k2(k1, k2):
    steps = 11
    model = snn.LSTM(3, 4).double()
    x = torch.randn(steps, 1, 3).double().requires_grad_(True)
    # Only the last update's steps carry loss, so x.grad shows how far that update reached.
    last_start = (steps - 1) // k1 * k1
    weight = torch.zeros(steps, 1, 4).double()
    weight[last_start:] = 1.0
    res = tbptt(model, x, weight, lambda out, w: (out * w).sum(), k1=k1, k2=k2)
    start, end = res.windows[-1]
    assert end == steps and start == max(0, steps - k2)
    per_step = x.grad.flatten(1).norm(dim=1)
    assert torch.all(per_step[:start] == 0), "gradient reached farther back than k2 steps"
    assert torch.all(per_step[start:] > 0)


def test_with_optimizer_and_monitor_learns():
    torch.manual_seed(0)
    model = snn.GRU(1, 8)
    head = torch.nn.Linear(8, 1)

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = model, head

        def forward(self, x, state):
            out, state = self.rnn(x, state)
            return self.head(out), state

    net = Wrapped()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    monitor = GradientHealthMonitor(net, clip_norm=1.0, history=True)
    t = torch.arange(400, dtype=torch.float32)
    x = torch.sin(0.2 * t).view(-1, 1, 1)
    y = torch.sin(0.2 * (t + 1)).view(-1, 1, 1)  # predict the next value
    first = tbptt(net, x, y, mse, k1=20, k2=40, optimizer=opt, after_backward=monitor.check)
    for _ in range(4):
        last = tbptt(net, x, y, mse, k1=20, k2=40, optimizer=opt, after_backward=monitor.check)
    assert len(monitor.reports) == 5 * 20
    assert sum(last.losses[-5:]) / 5 < 0.1 * sum(first.losses[:5]) / 5


def test_bad_arguments():
    model = snn.RNN(2, 3)
    x = torch.randn(5, 1, 2)
    with pytest.raises(ValueError, match="expected k2 >= k1, got k1=3, k2=2"):
        tbptt(model, x, x, mse, k1=3, k2=2)
    with pytest.raises(ValueError, match="expected k1 to be a positive int, got 0"):
        tbptt(model, x, x, mse, k1=0)
    with pytest.raises(ValueError, match="expected targets with 5 steps"):
        tbptt(model, x, x[:4], mse, k1=2)

"""init_recurrent on our layers and cells and on torch.nn's: the properties each scheme promises."""

from __future__ import annotations

import pytest
import torch

import seqattn.nn as snn
from seqattn.nn.init import init_recurrent

MODULES = [
    ("ours-RNN", lambda: snn.RNN(5, 6, num_layers=2, bidirectional=True)),
    ("torch-RNN", lambda: torch.nn.RNN(5, 6, num_layers=2, bidirectional=True)),
    ("ours-LSTM", lambda: snn.LSTM(5, 6, num_layers=2)),
    ("torch-LSTM", lambda: torch.nn.LSTM(5, 6, num_layers=2)),
    ("ours-GRU", lambda: snn.GRU(5, 6, bidirectional=True)),
    ("torch-GRU", lambda: torch.nn.GRU(5, 6, bidirectional=True)),
    ("ours-LSTMCell", lambda: snn.LSTMCell(5, 6)),
    ("torch-LSTMCell", lambda: torch.nn.LSTMCell(5, 6)),
    ("ours-GRUCell", lambda: snn.GRUCell(5, 6)),
    ("torch-RNNCell", lambda: torch.nn.RNNCell(5, 6)),
]


def blocks(module, prefix):
    for name, p in module.named_parameters():
        if name.startswith(prefix):
            yield name, p.split(module.hidden_size, dim=0)


@pytest.mark.parametrize("name,make", MODULES, ids=[m[0] for m in MODULES])
def test_orthogonal(name, make):
    m = init_recurrent(make(), hidden="orthogonal")
    found = 0
    for _, bs in blocks(m, "weight_hh"):
        for b in bs:
            torch.testing.assert_close(b.T @ b, torch.eye(b.shape[1]), atol=1e-5, rtol=0)
            found += 1
    assert found > 0


@pytest.mark.parametrize("name,make", MODULES, ids=[m[0] for m in MODULES])
def test_identity_zeroes_biases(name, make):
    m = init_recurrent(make(), hidden="identity", gain=0.9)
    for _, bs in blocks(m, "weight_hh"):
        for b in bs:
            assert torch.equal(b, 0.9 * torch.eye(b.shape[0]))
    for n, p in m.named_parameters():
        if n.startswith("bias"):
            assert torch.all(p == 0), n


@pytest.mark.parametrize("name,make", [m for m in MODULES if "LSTM" in m[0]],
                         ids=[m[0] for m in MODULES if "LSTM" in m[0]])  # fmt: skip
def test_forget_bias(name, make):
    m = init_recurrent(make(), hidden="orthogonal", forget_bias=1.0)
    h = m.hidden_size
    for n, p in m.named_parameters():
        if n.startswith("bias_ih"):
            assert torch.all(p[h : 2 * h] == 1.0), n
        if n.startswith("bias_hh"):
            assert torch.all(p[h : 2 * h] == 0.0), n
    # the gate sees b_ih + b_hh: the forget slice sums to exactly 1
    x = torch.zeros(1, 5)
    cell = m if isinstance(m, torch.nn.LSTMCell | snn.LSTMCell) else None
    if cell is not None:
        with torch.no_grad():
            for n, p in cell.named_parameters():
                if n.startswith("weight"):
                    p.zero_()
        _, c = cell(x, (torch.zeros(1, h), torch.ones(1, h)))
        # i = σ(b_i) g = tanh(b_g); c' = σ(1) * 1 + i * g
        i, g = (
            torch.sigmoid(cell.bias_ih[:h] + cell.bias_hh[:h]),
            torch.tanh(cell.bias_ih[2 * h : 3 * h] + cell.bias_hh[2 * h : 3 * h]),
        )
        torch.testing.assert_close(c[0], torch.sigmoid(torch.tensor(1.0)) + i * g)


@pytest.mark.parametrize("name,make", MODULES, ids=[m[0] for m in MODULES])
def test_xavier_input_bounds(name, make):
    m = init_recurrent(make(), input="xavier")
    for n, bs in blocks(m, "weight_ih"):
        for b in bs:
            bound = (6.0 / (b.shape[0] + b.shape[1])) ** 0.5
            assert b.abs().max() <= bound, n
            assert b.std() > 0


def test_default_matches_torch_bound():
    m = init_recurrent(snn.GRU(5, 16), hidden="default")
    assert all(p.abs().max() <= 0.25 for p in m.parameters())


def test_works_inside_a_bigger_model():
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), snn.LSTM(5, 6))
    init_recurrent(model, hidden="orthogonal")
    w = model[1].weight_hh_l0[:6]
    torch.testing.assert_close(w.T @ w, torch.eye(6), atol=1e-5, rtol=0)


def test_errors():
    with pytest.raises(ValueError, match="expected hidden in"):
        init_recurrent(snn.RNN(2, 3), hidden="glorot")
    with pytest.raises(ValueError, match="forget_bias applies to LSTMs"):
        init_recurrent(snn.GRU(2, 3), forget_bias=1.0)
    with pytest.raises(ValueError, match="expected a module containing recurrent"):
        init_recurrent(torch.nn.Linear(2, 3))

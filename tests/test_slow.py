"""Slow checks (`make test-slow`): long sequences and the full-scale experiment."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqattn.nn as snn
from seqattn.experiments.vanishing_gradients import Config, run

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_long_ragged_sequences_match_torch(mode):
    """T = 400, 2 layers, bidirectional, ragged: errors must not accumulate over time."""
    ref = getattr(torch.nn, mode)(16, 32, num_layers=2, bidirectional=True).double()
    ours = getattr(snn, mode)(16, 32, num_layers=2, bidirectional=True).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    lens = [400, 123, 399, 1, 250]
    x = torch.randn(400, 5, 16, dtype=torch.double)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_a, _ = ours(xa, lengths=lens)
    out_b, _ = ref(pack_padded_sequence(xb, lens, enforce_sorted=False))
    out_b, _ = pad_packed_sequence(out_b, total_length=400)
    w = torch.randn_like(out_a)
    (out_a * w).sum().backward()
    (out_b * w).sum().backward()
    torch.testing.assert_close(out_a, out_b, atol=1e-10, rtol=0)
    torch.testing.assert_close(xa.grad, xb.grad, atol=1e-10, rtol=0)
    for (n, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-10, rtol=0, msg=n)


def test_full_vanishing_gradients_experiment(tmp_path):
    results = run(Config(), tmp_path)
    rows = {(r["cell"], r["init"]): r for r in results["table"]}
    assert len(results["seeds"]) == 20
    # geometric decay in the vanilla RNN: below 1e-10 of the last step's gradient at step 0
    assert rows[("rnn", "default")]["input_ratio_geomean_over_seeds"] > 1e10
    # orthogonal/identity init slow the RNN's decay; forget bias 1 slows the LSTM's
    for init in ("orthogonal", "identity"):
        assert rows[("rnn", init)]["lyapunov_mean"] > rows[("rnn", "default")]["lyapunov_mean"]
    for init in ("default", "orthogonal", "identity"):
        assert rows[("lstm_fb1", init)]["lyapunov_mean"] > rows[("lstm", init)]["lyapunov_mean"]
    assert (tmp_path / "gradient_norms.png").exists()

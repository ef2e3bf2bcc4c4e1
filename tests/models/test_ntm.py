"""NTM cell and model: state threading, batch independence, simplex weightings, safety, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqattn.data.synthetic.ntm_copy import ntm_copy_batch
from seqattn.models.ntm import NTM, NTMConfig
from seqattn.nn.memory import NTMCell

SMALL = NTMConfig(input_size=5, output_size=4, controller_size=16, memory_slots=10, memory_width=6)


def test_shapes_and_parameter_count_of_the_paper_machine():
    ntm = NTM()  # 100-unit controller, 128 x 20 memory, one read and one write head
    out = ntm(torch.zeros(7, 3, 9), return_weights=True)
    assert out.logits.shape == (7, 3, 8)
    assert out.read_weights.shape == (7, 3, 1, 128) and out.write_weights.shape == (7, 3, 1, 128)
    assert out.state.memory.shape == (3, 128, 20)
    # LSTM 4*100*(9+20+100) + 800, heads 101*(26+66), output 121*8
    assert sum(p.numel() for p in ntm.parameters()) == 52_400 + 101 * 92 + 121 * 8


def test_weightings_on_the_simplex_and_start_state():
    ntm = NTM(SMALL)
    out = ntm(torch.randn(12, 4, 5), return_weights=True)
    for w in (out.read_weights, out.write_weights):
        assert (w >= 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    s0 = ntm.cell.initial_state(2)
    assert (s0.read_weights[:, :, 0] == 1).all() and (s0.memory == 1e-6).all()


def test_state_threading_equals_one_pass():
    ntm = NTM(SMALL).double()
    x = torch.randn(9, 3, 5, dtype=torch.float64)
    whole = ntm(x).logits
    first = ntm(x[:4])
    second = ntm(x[4:], state=first.state)
    torch.testing.assert_close(torch.cat([first.logits, second.logits]), whole)


def test_batch_rows_are_independent():
    ntm = NTM(SMALL).double()
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    batched = ntm(x).logits
    for b in range(3):
        torch.testing.assert_close(ntm(x[:, b : b + 1]).logits[:, 0], batched[:, b])


def test_multiple_heads_and_gradcheck_of_a_cell_step():
    cell = NTMCell(3, 4, memory_slots=5, memory_width=2, read_heads=2, write_heads=2).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    out, state = cell(x)
    assert out.shape == (2, 4 + 2 * 2) and state.read_weights.shape == (2, 2, 5)

    def two_steps(x):
        out, s = cell(x)
        out2, s = cell(x * 0.5, s)
        return out2, s.memory

    assert torch.autograd.gradcheck(two_steps, (x,), eps=1e-6, atol=1e-5)


def test_no_nan_with_extreme_head_parameters_over_a_long_sequence():
    """Head outputs pushed to huge beta and gamma (and memory rows of zeros): 400 steps,
    finite loss and gradients."""
    ntm = NTM(SMALL)
    with torch.no_grad():
        ntm.cell.heads.bias.fill_(30.0)  # beta, gamma ~ 30; gates 1; e ~ 1; a ~ 1
        ntm.cell.heads.weight.mul_(50.0)
    x = torch.randn(400, 2, 5) * 10
    logits = ntm(x).logits
    loss = F.binary_cross_entropy_with_logits(logits, torch.rand_like(logits))
    loss.backward()
    assert torch.isfinite(loss)
    for p in ntm.parameters():
        assert torch.isfinite(p.grad).all()
    zero = NTM(NTMConfig(**{**SMALL.to_dict(), "memory_init": 0.0}))
    logits = zero(torch.randn(20, 2, 5)).logits  # zero-norm rows everywhere at the start
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in zero.parameters())


@pytest.mark.slow  # 10-20 s on the busy machine; the default suite must stay under 45 s
def test_learns_to_copy_short_sequences():
    """A small NTM learns 4-bit copies of length 1-3 in 150 updates: under half of the
    chance level of 4 wrong bits per sequence (1.4 measured)."""
    torch.manual_seed(0)
    cfg = NTMConfig(input_size=5, output_size=4, controller_size=32, memory_slots=8,
                    memory_width=8)  # fmt: skip
    ntm = NTM(cfg)
    opt = torch.optim.Adam(ntm.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        n = int(torch.randint(1, 4, (), generator=g))
        x, y = ntm_copy_batch(16, n, 4, generator=g)
        loss = F.binary_cross_entropy_with_logits(ntm(x).logits[-n:], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    wrong = 0.0
    with torch.no_grad():
        for n in (1, 2, 3):
            x, y = ntm_copy_batch(64, n, 4, generator=g)
            wrong += float(((ntm(x).logits[-n:] > 0) != (y > 0.5)).sum()) / 64
    assert wrong / 3 < 2.0  # chance: 4 (half of 2 steps x 4 bits on average)


def test_bad_config_and_input():
    with pytest.raises(ValueError, match="memory_slots"):
        NTMConfig(memory_slots=0)
    with pytest.raises(ValueError, match="shift_range"):
        NTMConfig(memory_slots=2, shift_range=1)
    with pytest.raises(TypeError, match="NTMConfig"):
        NTM({"input_size": 3})
    with pytest.raises(ValueError, match=r"expected x of shape \(T, B, 5\)"):
        NTM(SMALL)(torch.zeros(3, 2, 4))
    with pytest.raises(ValueError, match="batch_size"):
        ntm_copy_batch(0, 3)


def test_fits_one_fixed_batch():
    """The cheap learning check of the default suite: 60 Adam steps on one batch of length-2
    copies take the loss from ~0.69 to well below."""
    ntm = NTM(SMALL)
    x, y = ntm_copy_batch(8, 2, 4, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(ntm.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = F.binary_cross_entropy_with_logits(ntm(x).logits[-2:], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 0.6 and losses[-1] < 0.6 * losses[0]

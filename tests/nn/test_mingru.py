"""minGRU / minLSTM: the paper's equations, padding, directions, streaming, learning."""

from __future__ import annotations

import pytest
import torch

from seqattn.nn import MinGRU, MinLSTM


def _sequential_definition(layer, x, h0=None):
    """Feng et al. 2024, Algorithm 1 (sequential mode), one unidirectional layer, float64."""
    W, bias = layer.weight_ih_l0, layer.bias_ih_l0
    H = layer.hidden_size
    h = x.new_zeros(x.shape[0], H) if h0 is None else h0
    out = []
    for t in range(x.shape[1]):
        k = x[:, t] @ W.T + bias
        if isinstance(layer, MinGRU):
            z, h_tilde = torch.sigmoid(k[:, :H]), k[:, H:]
            h = (1 - z) * h + z * h_tilde
        else:
            f, i, h_tilde = torch.sigmoid(k[:, :H]), torch.sigmoid(k[:, H : 2 * H]), k[:, 2 * H :]
            h = f / (f + i) * h + i / (f + i) * h_tilde
        out.append(h)
    return torch.stack(out, 1), h


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
@pytest.mark.parametrize("mode", ["sequential", "chunked", "scan"])
def test_equals_the_sequential_definition(cls, mode):
    layer = cls(5, 7, mode=mode, chunk_size=4).double()
    x = torch.randn(3, 23, 5, dtype=torch.float64)
    h0 = torch.randn(1, 3, 7, dtype=torch.float64)
    out, hn = layer(x, h0)
    ref_out, ref_h = _sequential_definition(layer, x, h0[0])
    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(hn[0], ref_h, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_padded_equals_one_by_one_bidirectional_stacked(cls):
    torch.manual_seed(1)
    layer = cls(4, 6, num_layers=2, bidirectional=True, mode="chunked").double()
    lengths = torch.tensor([9, 4, 1, 7])
    x = torch.randn(4, 9, 4, dtype=torch.float64)
    out, hn = layer(x, lengths=lengths)
    assert out.shape == (4, 9, 12) and hn.shape == (4, 4, 6)
    for i, n in enumerate(lengths.tolist()):
        o1, h1 = layer(x[i : i + 1, :n])
        torch.testing.assert_close(out[i, :n], o1[0], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(hn[:, i], h1[:, 0], rtol=1e-10, atol=1e-10)
        assert bool((out[i, n:] == 0).all())  # padded steps give zeros


def test_reverse_direction_reads_right_to_left():
    layer = MinGRU(3, 5, bidirectional=True).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    out, hn = layer(x)
    # the reverse half at time t equals a forward pass of the reverse weights over x flipped
    fwd = MinGRU(3, 5).double()
    fwd.weight_ih_l0.data.copy_(layer.weight_ih_l0_reverse)
    fwd.bias_ih_l0.data.copy_(layer.bias_ih_l0_reverse)
    rev_out, rev_h = fwd(x.flip(1))
    torch.testing.assert_close(out[..., 5:], rev_out.flip(1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(hn[1], rev_h[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_streaming_with_carried_state(cls):
    layer = cls(4, 6, num_layers=2).double().eval()
    x = torch.randn(2, 15, 4, dtype=torch.float64)
    full, h_full = layer(x)
    # two chunks, state carried
    o1, h1 = layer(x[:, :8])
    o2, h2 = layer(x[:, 8:], h1)
    torch.testing.assert_close(torch.cat([o1, o2], 1), full, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h2, h_full, rtol=1e-10, atol=1e-10)
    # one step at a time
    h = None
    for t in range(15):
        y, h = layer.step(x[:, t], h)
        torch.testing.assert_close(y, full[:, t], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h, h_full, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_gradcheck_through_the_layer(cls):
    layer = cls(3, 4, bidirectional=True, mode="chunked", chunk_size=3).double()
    x = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 5])
    params = list(layer.parameters())

    def f(x, *ps):
        with torch.nn.utils.stateless._reparametrize_module(
            layer, {n: p for (n, _), p in zip(layer.named_parameters(), ps, strict=True)}
        ):
            return layer(x, lengths=lengths)[0]

    assert torch.autograd.gradcheck(f, (x, *[p.detach().requires_grad_() for p in params]))


def test_minlstm_gates_are_stable_for_extreme_preactivations():
    layer = MinLSTM(2, 3)
    with torch.no_grad():
        layer.weight_ih_l0.fill_(-100.0)  # both sigmoids underflow in float32
    out, h = layer(torch.ones(1, 5, 2))
    assert torch.isfinite(out).all() and torch.isfinite(h).all()


def test_memory_bias_shifts_the_keep_gates():
    torch.manual_seed(0)
    plain = MinGRU(2, 4)
    torch.manual_seed(0)
    kept = MinGRU(2, 4, memory_bias=3.0)
    torch.testing.assert_close(kept.bias_ih_l0[:4], plain.bias_ih_l0[:4] - 3)
    torch.testing.assert_close(kept.bias_ih_l0[4:], plain.bias_ih_l0[4:])
    torch.manual_seed(0)
    plain = MinLSTM(2, 4)
    torch.manual_seed(0)
    kept = MinLSTM(2, 4, memory_bias=3.0)
    torch.testing.assert_close(kept.bias_ih_l0[:4], plain.bias_ih_l0[:4] + 1.5)
    torch.testing.assert_close(kept.bias_ih_l0[4:8], plain.bias_ih_l0[4:8] - 1.5)


def test_parameter_names_and_errors():
    layer = MinGRU(4, 8, num_layers=2, bidirectional=True)
    names = {n for n, _ in layer.named_parameters()}
    assert "weight_ih_l1_reverse" in names and layer.weight_ih_l1.shape == (16, 16)
    assert MinLSTM(4, 8).weight_ih_l0.shape == (24, 4)
    with pytest.raises(ValueError, match="input of shape"):
        layer(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="lengths"):
        layer(torch.zeros(2, 3, 4), lengths=torch.tensor([4, 1]))
    with pytest.raises(ValueError, match="h0"):
        layer(torch.zeros(2, 3, 4), torch.zeros(1, 2, 8))
    with pytest.raises(ValueError, match="mode"):
        MinGRU(4, 8, mode="log")
    with pytest.raises(ValueError, match="unidirectional"):
        layer.step(torch.zeros(2, 4))


def _memory_batch(n: int, T: int = 40):
    """Adding-problem style: channel 0 noise with a +-1 at t = 0, channel 1 marks t = 0."""
    y = (torch.rand(n) < 0.5).long()
    x = torch.zeros(n, T, 2)
    x[:, :, 0] = torch.randn(n, T) * 0.1
    x[:, 0, 0] = y.float() * 2 - 1
    x[:, 0, 1] = 1.0
    return x, y


def test_learns_to_remember_the_first_input():
    """The sign of the first input, read 40 steps later: the gate learns to hold memory."""
    torch.manual_seed(0)
    model = MinGRU(2, 16, memory_bias=3.0)
    head = torch.nn.Linear(16, 2)
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=3e-2)
    for _ in range(80):
        x, y = _memory_batch(64)
        loss = torch.nn.functional.cross_entropy(head(model(x)[1][0]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = _memory_batch(512)
    acc = (head(model(x)[1][0]).argmax(-1) == y).float().mean()
    assert acc > 0.95

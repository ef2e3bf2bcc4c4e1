"""TemporalConvNet: causality, the receptive-field formula, and the padding mask."""

from __future__ import annotations

import pytest
import torch

from seqattn.nn import TemporalConvNet


def _tcn(input_size=3, channels=8, layers=3, k=3, **kw) -> TemporalConvNet:
    return TemporalConvNet(input_size, channels, num_layers=layers, kernel_size=k, **kw).double()


def test_shapes_and_channel_list():
    tcn = _tcn(input_size=5, channels=[4, 6, 7], layers=99, k=2)  # num_layers ignored for a list
    out = tcn(torch.randn(2, 9, 5, dtype=torch.float64))
    assert out.shape == (2, 9, 7)
    assert tcn.output_size == 7 and len(tcn.blocks) == 3
    assert [b.conv1.dilation[0] for b in tcn.blocks] == [1, 2, 4]


@pytest.mark.parametrize("t", [0, 7, 18])
def test_causal_output_at_t_ignores_later_inputs(t):
    tcn = _tcn().eval()
    x = torch.randn(2, 20, 3, dtype=torch.float64)
    y = x.clone()
    y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :]) * 5
    out_x, out_y = tcn(x), tcn(y)
    assert torch.equal(out_x[:, : t + 1], out_y[:, : t + 1])
    if t < 19:  # and the future does change the later outputs
        assert not torch.allclose(out_x[:, t + 1 :], out_y[:, t + 1 :])


@pytest.mark.parametrize(("k", "layers"), [(2, 1), (2, 3), (3, 2), (4, 2), (5, 1)])
def test_receptive_field_matches_formula_and_measurement(k, layers):
    tcn = _tcn(channels=16, layers=layers, k=k).eval()
    expected = 1 + 2 * (k - 1) * (2**layers - 1)
    assert tcn.receptive_field == expected
    steps = expected + 6
    t = steps - 1
    x = torch.randn(1, steps, 3, dtype=torch.float64, requires_grad=True)
    tcn(x)[0, t].sum().backward()
    reach = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten()  # input steps output t depends on
    # The earliest input it sees is exactly t - receptive_field + 1, and nothing after t.
    assert int(reach.min()) == t - expected + 1
    assert int(reach.max()) == t


def test_padding_never_leaks_and_padded_steps_are_zero():
    torch.manual_seed(1)
    tcn = _tcn().eval()
    lengths = torch.tensor([12, 5, 1, 9])
    x = torch.randn(4, 12, 3, dtype=torch.float64)
    for b, n in enumerate(lengths.tolist()):
        x[b, n:] = 1e3 * torch.randn_like(x[b, n:])  # garbage padding
    out = tcn(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = tcn(x[b : b + 1, :n])  # unpadded, no lengths
        torch.testing.assert_close(out[b : b + 1, :n], alone, rtol=0, atol=1e-12)
        assert torch.all(out[b, n:] == 0)


def test_time_first_layout_and_zero_length():
    tcn = _tcn().eval()
    x = torch.randn(3, 7, 3, dtype=torch.float64)
    lengths = torch.tensor([7, 0, 3])
    batch_first = tcn(x, lengths=lengths)
    tcn.batch_first = False
    time_first = tcn(x.transpose(0, 1), lengths=lengths)
    torch.testing.assert_close(time_first.transpose(0, 1), batch_first)
    assert torch.all(batch_first[1] == 0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"input_size": 0, "num_channels": 4}, ValueError),
        ({"input_size": 3, "num_channels": []}, TypeError),
        ({"input_size": 3, "num_channels": 4, "kernel_size": 0}, ValueError),
        ({"input_size": 3, "num_channels": 4, "dropout": 1.5}, ValueError),
        ({"input_size": 3, "num_channels": 4.0}, TypeError),
    ],
)
def test_constructor_errors(kwargs, error):
    with pytest.raises(error, match="expected"):
        TemporalConvNet(**kwargs)


def test_forward_errors():
    tcn = TemporalConvNet(3, 4)
    with pytest.raises(ValueError, match="expected input with 3 features"):
        tcn(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="rank 3"):
        tcn(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"expected lengths in \[0, 5\]"):
        tcn(torch.randn(2, 5, 3), lengths=torch.tensor([6, 2]))
    with pytest.raises(TypeError, match="integer lengths"):
        tcn(torch.randn(2, 5, 3), lengths=torch.tensor([1.0, 2.0]))

"""Recurrent layers beyond parity: counts, single bias, dtypes, compile, lengths, bad input."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence as torch_pack

import seqattn.nn as snn
from seqattn.nn.recurrent.packing import as_lengths, pack_padded_sequence, reverse_index

LAYERS = [snn.RNN, snn.LSTM, snn.GRU]


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "cls,ref_cls,count,seed_count",
    [
        (snn.RNN, torch.nn.RNN, 98_816, 98_560),
        (snn.LSTM, torch.nn.LSTM, 395_264, 394_240),
        (snn.GRU, torch.nn.GRU, 296_448, 295_680),
    ],
)
def test_parameter_counts(cls, ref_cls, count, seed_count):
    assert n_params(cls(128, 256)) == n_params(ref_cls(128, 256)) == count
    single = cls(128, 256, single_bias=True)
    assert n_params(single) == seed_count
    assert not any(n.startswith("bias_hh") for n, _ in single.named_parameters())


@pytest.mark.parametrize("cell", [snn.RNNCell, snn.LSTMCell, snn.GRUCell])
def test_single_bias_cell_counts(cell):
    assert (
        n_params(cell(128, 256)) - n_params(cell(128, 256, single_bias=True))
        == (cell(1, 256).weight_hh.shape[0])
    )


@pytest.mark.parametrize("cls", LAYERS)
def test_single_bias_equals_two_biases_summed(cls):
    """b_ih + b_hh act as one bias, so a single-bias layer holding the sum agrees. (For a GRU,
    only with b_hn = 0: torch's b_hn sits inside r ⊙ (W_hn h + b_hn).)"""
    hidden = 4
    two = cls(3, hidden, num_layers=2).double()
    if cls is snn.GRU:
        with torch.no_grad():
            for name, p in two.named_parameters():
                if name.startswith("bias_hh"):
                    p[2 * hidden :].zero_()  # the n block of r, z, n
    state = two.state_dict()
    summed = {
        name: p + state[name.replace("bias_ih", "bias_hh")] if name.startswith("bias_ih") else p
        for name, p in state.items()
        if not name.startswith("bias_hh")
    }
    one = cls(3, hidden, num_layers=2, single_bias=True).double()
    one.load_state_dict(summed, strict=True)
    x = torch.randn(6, 2, 3, dtype=torch.double)
    torch.testing.assert_close(one(x)[0], two(x)[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_runs_close_to_float64(cls, dtype):
    layer = cls(5, 8, num_layers=2, bidirectional=True)
    x = torch.randn(7, 3, 5)
    ref, _ = layer.double()(x.double(), lengths=[7, 4, 2])
    low = layer.to(dtype)
    out, _ = low(x.to(dtype), lengths=[7, 4, 2])
    assert out.dtype == dtype
    out.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in low.parameters())
    tol = 1e-5 if dtype == torch.float32 else 5e-2
    torch.testing.assert_close(out.double(), ref, atol=tol, rtol=tol)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_smoke(backend):
    layer = snn.LSTM(4, 6, num_layers=1)
    compiled = torch.compile(layer, backend=backend)  # inductor builds C++: ~25 s here
    x = torch.randn(3, 2, 4)
    out, (h, c) = compiled(x)
    ref, (rh, rc) = layer(x)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert layer.weight_hh_l0.grad is not None


@pytest.mark.parametrize("cls", LAYERS)
def test_padded_equals_packed_equals_one_by_one(cls):
    layer = cls(3, 5, num_layers=2, bidirectional=True).double()
    lens = [6, 2, 4]
    x = torch.randn(6, 3, 3, dtype=torch.double)
    padded, h_pad = layer(x, lengths=lens)
    packed, h_packed = layer(torch_pack(x, lens, enforce_sorted=False))
    unpacked, _ = torch.nn.utils.rnn.pad_packed_sequence(packed, total_length=6)
    torch.testing.assert_close(padded, unpacked, atol=1e-12, rtol=0)
    for b, n in enumerate(lens):
        alone, h_alone = layer(x[:n, b : b + 1])
        torch.testing.assert_close(padded[:n, b : b + 1], alone, atol=1e-12, rtol=0)
        assert torch.all(padded[n:, b] == 0), "outputs past a sequence's length must be zero"
        states = zip(h_pad, h_alone, strict=True) if cls is snn.LSTM else [(h_pad, h_alone)]
        for full, single in states:
            torch.testing.assert_close(full[:, b : b + 1], single, atol=1e-12, rtol=0)


def test_reverse_index_is_an_involution():
    lens = torch.tensor([5, 2, 3])
    rev = reverse_index(lens, 5)
    assert rev[:, 1].tolist() == [1, 0, 2, 3, 4]
    assert torch.equal(rev.gather(0, rev), torch.arange(5)[:, None].expand(5, 3))


def test_flatten_parameters_and_all_weights():
    layer = snn.LSTM(3, 4, num_layers=2, bidirectional=True)
    layer.flatten_parameters()
    ref = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert [[p.shape for p in ws] for ws in layer.all_weights] == [
        [p.shape for p in ws] for ws in ref.all_weights
    ]


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
def test_wrong_rank(cls):
    with pytest.raises(ValueError, match=r"expected input of rank 3.*got shape \(2, 3, 4, 5\)"):
        cls(5, 4)(torch.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="got shape"):
        cls(5, 4)(torch.randn(5))


@pytest.mark.parametrize("cls", LAYERS)
def test_wrong_feature_size(cls):
    with pytest.raises(ValueError, match=r"expected input with 5 features.*got shape \(7, 2, 3\)"):
        cls(5, 4)(torch.randn(7, 2, 3))


@pytest.mark.parametrize("cls", [snn.RNN, snn.GRU])
def test_wrong_hidden_shape(cls):
    layer = cls(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"expected hx of shape \(2, 5, 4\).*got \(1, 5, 4\)"):
        layer(torch.randn(6, 5, 3), torch.zeros(1, 5, 4))


def test_wrong_lstm_state():
    layer = snn.LSTM(3, 4, bidirectional=True)
    x = torch.randn(6, 5, 3)
    with pytest.raises(ValueError, match=r"expected c_0 of shape \(2, 5, 4\).*got \(2, 5, 3\)"):
        layer(x, (torch.zeros(2, 5, 4), torch.zeros(2, 5, 3)))
    with pytest.raises(TypeError, match="expected hx to be a tuple"):
        layer(x, torch.zeros(2, 5, 4))


@pytest.mark.parametrize("cls", LAYERS)
def test_bad_lengths(cls):
    layer = cls(3, 4)
    x = torch.randn(6, 2, 3)
    with pytest.raises(ValueError, match=r"expected every length <= 6.*got max length 7"):
        layer(x, lengths=[7, 2])
    with pytest.raises(ValueError, match=r"expected every length >= 1, got min length 0"):
        layer(x, lengths=[6, 0])
    with pytest.raises(ValueError, match=r"expected 2 lengths.*got shape \(3,\)"):
        layer(x, lengths=[6, 2, 1])
    with pytest.raises(TypeError, match="expected integer lengths"):
        layer(x, lengths=torch.tensor([6.0, 2.0]))


def test_unsorted_lengths_with_enforce_sorted():
    x = torch.randn(6, 3, 2)
    with pytest.raises(
        ValueError, match=r"expected lengths sorted in decreasing order.*\[2, 6, 3\]"
    ):
        pack_padded_sequence(x, [2, 6, 3], enforce_sorted=True)
    packed = pack_padded_sequence(x, [2, 6, 3], enforce_sorted=False)
    assert packed.batch_sizes.tolist() == [3, 3, 2, 1, 1, 1]
    with pytest.raises(ValueError, match="expected every length <= 6"):
        pack_padded_sequence(x, [7, 6, 3], enforce_sorted=False)


def test_as_lengths_accepts_lists_and_tensors():
    assert as_lengths([3, 1], 2, 3).tolist() == [3, 1]
    assert as_lengths(torch.tensor([3, 1], dtype=torch.int32), 2, 3).dtype == torch.int64


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"hidden_size": 0}, "expected hidden_size to be a positive int, got 0"),
        ({"num_layers": 0}, "expected num_layers to be a positive int, got 0"),
        ({"dropout": 1.5}, r"expected dropout in \[0, 1\], got 1.5"),
        ({"bias": False, "single_bias": True}, "expected single_bias=False when bias=False"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    args = {"input_size": 3, "hidden_size": 4} | kwargs
    with pytest.raises(ValueError, match=match):
        snn.LSTM(**args)


def test_cell_bad_input():
    cell = snn.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"expected input with 3 features.*got shape \(2, 5\)"):
        cell(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"expected hx of shape \(2, 4\), got \(2, 3\)"):
        cell(torch.randn(2, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match="expected input of rank 1"):
        cell(torch.randn(1, 2, 3))
    with pytest.raises(ValueError, match="expected nonlinearity 'tanh' or 'relu'"):
        snn.RNNCell(3, 4, nonlinearity="sigmoid")


def test_fused_kernels_are_not_called(monkeypatch):
    """The from-scratch path must not reach torch's fused RNN ops."""

    def boom(*a, **k):
        raise AssertionError("fused RNN kernel called")

    for name in ("lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell"):
        monkeypatch.setattr(torch, name, boom)
        monkeypatch.setattr(torch._VF, name, boom, raising=False)
    for cls in LAYERS:
        cls(3, 4, bidirectional=True)(torch.randn(5, 2, 3), lengths=[5, 3])
    for cell in (snn.RNNCell, snn.LSTMCell, snn.GRUCell):
        cell(3, 4)(torch.randn(2, 3))

"""Issue 20, item 7: empty and odd shapes behave as torch does or raise a clear error.

Each test is one case of the issue; before the fix each raised an IndexError or a RuntimeError
from deep inside (amax on an empty dim, the fast engine, oneDNN, masked_fill).
"""

import pytest
import torch
import torch.nn.functional as F

import seqattn.functional as sf
from seqattn.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, MultiHeadAttention


def test_sdpa_with_no_keys_returns_zeros_as_torch():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 0, 4), torch.randn(2, 0, 5)
    out, w = sf.scaled_dot_product_attention(q, k, v, need_weights=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    assert out.shape == (2, 3, 5) and w.shape == (2, 3, 0)
    assert not out.any()


def test_attention_and_efficient_attention_with_no_keys():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 0, 4), torch.randn(2, 0, 5)
    ctx, w = sf.attention(q, k, v, score="scaled_dot")
    assert ctx.shape == (2, 3, 5) and not ctx.any() and w.shape == (2, 3, 0)
    torch.testing.assert_close(sf.efficient_attention(q, k, v), torch.zeros(2, 3, 5))


def test_sdpa_with_zero_head_dim_matches_torch():
    q, k, v = torch.randn(1, 3, 0), torch.randn(1, 2, 0), torch.randn(1, 2, 3)
    expected = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(sf.scaled_dot_product_attention(q, k, v), expected)
    torch.testing.assert_close(sf.efficient_attention(q, k, v), expected)


def test_masked_softmax_on_an_empty_key_dim_is_empty_as_torch():
    s = torch.randn(2, 0, requires_grad=True)
    out = sf.masked_softmax(s)
    assert out.shape == (2, 0)
    out.sum().backward()
    assert s.grad.shape == (2, 0)
    assert sf.masked_softmax(torch.randn(2, 0), torch.ones(2, 0, dtype=torch.bool)).shape == (2, 0)


def test_multihead_attention_with_no_keys_matches_torch():
    ours = MultiHeadAttention(4, 2)
    ref = torch.nn.MultiheadAttention(4, 2)
    ref.load_state_dict(ours.state_dict())
    q, kv = torch.randn(3, 2, 4), torch.randn(0, 2, 4)
    out, w = ours(q, kv, kv)
    ref_out, ref_w = ref(q, kv, kv)
    torch.testing.assert_close(out, ref_out)
    assert w.shape == ref_w.shape == (2, 3, 0)


@pytest.mark.parametrize("backend", ["auto", "reference", "fast", "native"])
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recurrent_empty_sequence_is_a_value_error_naming_the_shape(cls, backend):
    with pytest.raises(RuntimeError, match="larger than 0"):
        getattr(torch.nn, cls.__name__)(3, 4)(torch.randn(0, 2, 3))  # torch refuses T = 0 too
    with pytest.raises(ValueError, match=r"T >= 1.*\(0, 2, 3\)"):
        cls(3, 4, backend=backend)(torch.randn(0, 2, 3))
    with pytest.raises(ValueError, match=r"T >= 1.*\(2, 0, 3\)"):
        cls(3, 4, batch_first=True, backend=backend)(torch.randn(2, 0, 3))


@pytest.mark.parametrize("backend", ["auto", "reference", "fast", "native"])
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recurrent_zero_batch_runs_forward_and_backward_as_torch(cls, backend):
    ours = cls(2, 3, bidirectional=True, num_layers=2, backend=backend)
    ref = getattr(torch.nn, cls.__name__)(2, 3, bidirectional=True, num_layers=2)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 0, 2, requires_grad=True)
    out, state = ours(x)
    ref_out, ref_state = ref(x)
    assert out.shape == ref_out.shape == (2, 0, 6)
    h = state[0] if isinstance(state, tuple) else state
    assert h.shape == (ref_state[0] if isinstance(ref_state, tuple) else ref_state).shape
    (out.sum() + h.sum()).backward()  # oneDNN rejected the empty GEMMs here
    assert x.grad.shape == (2, 0, 2)
    assert all(p.grad is not None and not p.grad.any() for p in ours.parameters())


@pytest.mark.parametrize("backend", ["auto", "reference", "fast", "native"])
def test_lstm_float64_input_with_float32_weights_names_both_dtypes(backend):
    with pytest.raises(ValueError, match="weight dtype"):  # torch's own check
        torch.nn.LSTM(3, 4)(torch.randn(5, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"input of dtype torch.float32.*got torch.float64"):
        LSTM(3, 4, backend=backend)(torch.randn(5, 2, 3, dtype=torch.float64))


def test_recurrent_state_and_cell_dtype_mismatch_name_the_argument():
    with pytest.raises(ValueError, match=r"hx of dtype torch.float32.*got torch.float64"):
        GRU(2, 3)(torch.randn(4, 1, 2), torch.zeros(1, 1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"input of dtype torch.float32.*got torch.float64"):
        GRUCell(2, 3)(torch.randn(1, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\bc of dtype torch.float32.*got torch.float64"):
        LSTMCell(2, 3)(torch.randn(1, 2), (torch.zeros(1, 3), torch.zeros(1, 3).double()))


def test_wrongly_shaped_masks_are_value_errors_naming_the_shapes():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    bad = torch.ones(3, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"attn_mask.*\(2, 3, 5\).*\(3, 4\)"):
        sf.scaled_dot_product_attention(q, k, v, attn_mask=bad)
    with pytest.raises(ValueError, match=r"mask.*\(2, 3, 5\).*\(3, 4\)"):
        sf.attention(q, k, v, mask=bad)
    with pytest.raises(ValueError, match=r"attn_mask.*\(3, 4\)"):
        sf.efficient_attention(q, k, v, attn_mask=bad)
    with pytest.raises(ValueError, match=r"mask.*\(2, 3\).*\(3, 4\)"):
        sf.masked_softmax(torch.randn(2, 3), bad)  # reached masked_fill: a broadcast error


def test_qkv_of_mixed_dtypes_or_ranks_are_clear_errors():
    q, k = torch.randn(3, 4), torch.randn(5, 4)
    with pytest.raises(TypeError, match="one dtype"):
        sf.scaled_dot_product_attention(q, k.double(), k.double())
    with pytest.raises(ValueError, match=r"query of rank >= 2"):
        sf.scaled_dot_product_attention(torch.randn(4), k, k)
    with pytest.raises(ValueError, match="leading dims"):
        sf.attention(torch.randn(2, 3, 4), torch.randn(3, 5, 4), torch.randn(3, 5, 4))
    with pytest.raises(ValueError, match="dim in"):
        sf.masked_softmax(torch.randn(2, 3), dim=2)


# -- found by the hypothesis suite (test_fuzz_api.py) ---------------------------------------
def test_a_mask_that_would_grow_the_scores_is_a_value_error():
    q, k, v = torch.randn(0, 2), torch.randn(1, 2), torch.randn(1, 2)
    with pytest.raises(ValueError, match=r"broadcastable to the scores' shape \(0, 1\)"):
        sf.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(1, 3, dtype=torch.bool))


def test_scaled_dot_score_with_zero_features_is_zero():
    assert not sf.scaled_dot_score(torch.randn(2, 3, 0), torch.randn(2, 4, 0)).any()


@pytest.mark.parametrize("cls", ["MinGRU", "MinLSTM"])
def test_min_recurrent_empty_sequence_is_a_value_error(cls):
    import seqattn.nn as snn

    with pytest.raises(ValueError, match=r"T >= 1.*\(2, 0, 3\)"):
        getattr(snn, cls)(3, 4)(torch.randn(2, 0, 3))


def test_gat_on_an_empty_graph_and_tcn_on_no_steps():
    from seqattn.nn import GATConv, TemporalConvNet

    out = GATConv(3, 2, heads=2)(torch.randn(0, 3), torch.zeros(2, 0, dtype=torch.long))
    assert out.shape == (0, 4)
    assert TemporalConvNet(3, [4, 5])(torch.randn(2, 0, 3)).shape == (2, 0, 5)
    assert TemporalConvNet(3, 4, batch_first=False)(torch.randn(0, 2, 3)).shape == (0, 2, 4)

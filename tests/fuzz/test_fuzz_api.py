"""Hypothesis fuzzing of every public layer and functional entry point (issue 20, item 7).

Random shapes (zeros included), dtypes, masks, lengths and flags. The contract of each call:
either it returns what torch returns for the same input (where torch has a counterpart; our
documented differences, such as zeros where torch gives NaN for a fully masked row, are
checked as such) and is finite for finite input, or it raises a ValueError / TypeError whose
message says what was expected and what it got. Anything else (IndexError, a RuntimeError
from deep inside, NaN) fails the test.

The default run draws :data:`EXAMPLES` cases per property (over 2,000 in all); ``make
test-slow`` runs every property again with :data:`SLOW_EXAMPLES`.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqattn.functional as sf
import seqattn.nn as snn

EXAMPLES = 160
SLOW_EXAMPLES = 1500
CLEAR = (ValueError, TypeError)
DTYPES = st.sampled_from([torch.float32, torch.float64])
PROPERTIES = []  # (name, function of a hypothesis ``data`` object)


def prop(fn):
    PROPERTIES.append((fn.__name__, fn))
    return fn


def clear_error(err: BaseException) -> None:
    """A ValueError/TypeError saying what it expected and what it got."""
    msg = str(err)
    assert isinstance(err, CLEAR), f"{type(err).__name__}: {msg}"
    assert "expected" in msg and "got" in msg, f"unclear message: {msg}"


def call(fn, *args, **kwargs):
    """fn(*args, **kwargs), or None after checking a raised error is a clear one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - the contract is about which ones
        clear_error(err)
        return None


def torch_result(fn, *args, **kwargs):
    """torch's result, or None when torch refuses the input too."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError):
        return None


def close(ours, ref, dtype):
    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(ours, ref, **tol)


def finite(*tensors):
    for t in tensors:
        if t is not None and t.numel():
            assert torch.isfinite(t).all(), "non-finite output for finite input"


def small(lo: int = 0, hi: int = 4):
    return st.integers(lo, hi)


# -- attention functionals ------------------------------------------------------------------
def _mask(data, t: int, s: int, lead: tuple[int, ...]):
    kind = data.draw(st.sampled_from(["none", "bool", "float", "bad"]), label="mask")
    if kind == "none":
        return None
    shape = data.draw(st.sampled_from([(t, s), (*lead, t, s), (1, s) if lead else (t, s)]))
    if kind == "bad":
        shape = (t + 1, s + 2)
    if kind == "float":
        return torch.randn(shape).clamp(min=-1.0) * 3
    return torch.rand(shape) > data.draw(st.floats(0.0, 1.0), label="masked share")


@prop
def sdpa_matches_torch(data):
    dtype = data.draw(DTYPES)
    lead = tuple(data.draw(st.lists(small(0, 3), min_size=0, max_size=2), label="lead"))
    t, s, dh, dv = (data.draw(small(0, 5), label=n) for n in ("T", "S", "Dh", "Dv"))
    q, k, v = (torch.randn(*lead, n, d, dtype=dtype) for n, d in ((t, dh), (s, dh), (s, dv)))
    mask = _mask(data, t, s, lead)
    if mask is not None and mask.is_floating_point():
        mask = mask.to(dtype)
    causal = mask is None and data.draw(st.booleans(), label="causal")
    ours = call(sf.scaled_dot_product_attention, q, k, v, attn_mask=mask, is_causal=causal)
    eff = call(sf.efficient_attention, q, k, v, attn_mask=mask, is_causal=causal,
               block_size=data.draw(st.sampled_from([1, 2, 3, 128])))  # fmt: skip
    ref = torch_result(F.scaled_dot_product_attention, q, k, v, attn_mask=mask, is_causal=causal)
    for got in (ours, eff):
        if got is None:
            continue
        finite(got)
        if ref is not None:
            nan_rows = torch.isnan(ref).any(-1, keepdim=True).expand_as(ref)
            close(got[~nan_rows], ref[~nan_rows], dtype)
            assert not got[nan_rows].any()  # a fully masked row: zeros where torch gives NaN
    if ref is not None and mask is not None and mask.shape[-2:] == (t, s):
        assert ours is not None, "torch accepted a mask we refused"


@prop
def masked_softmax_matches_the_formula(data):
    dtype = data.draw(DTYPES)
    shape = tuple(data.draw(st.lists(small(0, 4), min_size=1, max_size=3), label="shape"))
    scores = torch.randn(shape, dtype=dtype, requires_grad=True)
    kind = data.draw(st.sampled_from(["none", "ok", "broadcast", "bad", "float"]))
    mask = None
    if kind == "ok":
        mask = torch.rand(shape) > 0.4
    elif kind == "broadcast":
        mask = torch.rand(shape[-1:]) > 0.4
    elif kind == "bad":
        mask = torch.rand((*shape[:-1], shape[-1] + 2)) > 0.4  # never broadcastable
    elif kind == "float":
        mask = torch.rand(shape)
    out = call(sf.masked_softmax, scores, mask)
    if out is None:
        assert kind in ("bad", "float"), f"refused a valid mask ({kind})"
        return
    assert kind not in ("bad",), "accepted a mask of the wrong shape"
    finite(out)
    full = torch.ones(shape, dtype=torch.bool) if mask is None else mask.expand(shape)
    ref = torch.softmax(scores.detach().masked_fill(~full, float("-inf")), -1).nan_to_num(0.0)
    close(out.detach(), ref, dtype)
    if out.numel():
        out.square().sum().backward()
        finite(scores.grad)


@prop
def attention_scores_match_sdpa(data):
    dtype = data.draw(DTYPES)
    b, t, s, d = (data.draw(small(0, 4), label=n) for n in ("B", "T", "S", "D"))
    q, k, v = (torch.randn(b, n, d, dtype=dtype) for n in (t, s, s))
    score = data.draw(st.sampled_from(["dot", "scaled_dot"]))
    mask = torch.rand(b, t, s) > 0.3 if data.draw(st.booleans(), label="masked") else None
    got = call(sf.attention, q, k, v, mask=mask, score=score)
    if got is None:
        return
    ctx, w = got
    finite(ctx, w)
    scale = 1.0 if score == "dot" else None
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale).nan_to_num(0.0)
    close(ctx, ref, dtype)


@prop
def masks_match_their_definition(data):
    lengths = data.draw(st.lists(small(0, 6), min_size=0, max_size=4), label="lengths")
    max_len = data.draw(st.one_of(st.none(), small(0, 7)), label="max_len")
    m = call(sf.padding_mask, torch.tensor(lengths, dtype=torch.long), max_len)
    if m is not None:
        width = max_len if max_len is not None else max(lengths, default=0)
        assert m.shape == (len(lengths), width)
        for row, n in zip(m.tolist(), lengths, strict=True):
            assert row == [j < n for j in range(width)]
    else:
        assert max_len is not None and lengths and max(lengths) > max_len
    t, s, off = data.draw(small(0, 5)), data.draw(small(0, 5)), data.draw(small(0, 3))
    c = call(sf.causal_mask, t, s, offset=off)
    if c is not None:
        assert c.tolist() == [[j <= i + off for j in range(s)] for i in range(t)]
        back = call(sf.additive_to_bool, sf.bool_to_additive(c))
        assert back is not None and torch.equal(back, c)


# -- recurrent layers and cells -------------------------------------------------------------
RECURRENT = {"RNN": (snn.RNN, torch.nn.RNN), "LSTM": (snn.LSTM, torch.nn.LSTM),
             "GRU": (snn.GRU, torch.nn.GRU)}  # fmt: skip


@prop
def recurrent_layers_match_torch(data):
    name = data.draw(st.sampled_from(sorted(RECURRENT)))
    ours_cls, ref_cls = RECURRENT[name]
    dtype = data.draw(DTYPES)
    x_dtype = data.draw(st.sampled_from([dtype, dtype, torch.float64, torch.float32]))
    d, hid = data.draw(small(1, 4), label="input_size"), data.draw(small(1, 4), label="hidden")
    kw = {"num_layers": data.draw(small(1, 2)), "bidirectional": data.draw(st.booleans()),
          "batch_first": data.draw(st.booleans())}  # fmt: skip
    backend = data.draw(st.sampled_from(["auto", "reference", "fast", "native"]))
    ours = ours_cls(d, hid, backend=backend, dtype=dtype, **kw)
    ref = ref_cls(d, hid, dtype=dtype, **kw)
    ref.load_state_dict(ours.state_dict())
    t, b = data.draw(small(0, 4), label="T"), data.draw(small(0, 3), label="B")
    shape = (b, t, d) if kw["batch_first"] else (t, b, d)
    if data.draw(st.booleans(), label="wrong feature size"):
        shape = (*shape[:2], d + 1)
    x = torch.randn(shape, dtype=x_dtype)
    got = call(ours, x)
    want = torch_result(ref, x)
    if got is None:
        return  # refused clearly (T = 0, a dtype or size mismatch: torch refuses these too)
    assert want is not None, "we accepted what torch refuses"
    out, state = got
    finite(out)
    close(out, want[0], dtype)
    for a, b_ in zip(state if name == "LSTM" else (state,),
                     want[1] if name == "LSTM" else (want[1],), strict=True):  # fmt: skip
        close(a, b_, dtype)


@prop
def packed_sequences_match_padded(data):
    b = data.draw(small(1, 4), label="B")
    lengths = data.draw(st.lists(small(0, 5), min_size=b, max_size=b), label="lengths")
    t = max(max(lengths), 1)
    x = torch.randn(t, b, 3, dtype=torch.float64)
    enforce = data.draw(st.booleans(), label="enforce_sorted")
    packed = call(snn.pack_padded_sequence, x, lengths, enforce_sorted=enforce)
    if packed is None:
        return  # a zero length, or unsorted lengths with enforce_sorted
    assert min(lengths) > 0
    gru = snn.GRU(3, 2, dtype=torch.float64)
    ref = torch.nn.GRU(3, 2, dtype=torch.float64)
    ref.load_state_dict(gru.state_dict())
    got = call(gru, packed)
    assert got is not None
    want = ref(torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=enforce))
    close(got[1], want[1], torch.float64)


CELLS = {"RNNCell": (snn.RNNCell, torch.nn.RNNCell), "LSTMCell": (snn.LSTMCell, torch.nn.LSTMCell),
         "GRUCell": (snn.GRUCell, torch.nn.GRUCell)}  # fmt: skip


@prop
def cells_match_torch(data):
    name = data.draw(st.sampled_from(sorted(CELLS)))
    ours_cls, ref_cls = CELLS[name]
    dtype = data.draw(DTYPES)
    d, hid, b = data.draw(small(1, 4)), data.draw(small(1, 4)), data.draw(small(0, 3))
    ours, ref = ours_cls(d, hid, dtype=dtype), ref_cls(d, hid, dtype=dtype)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(b, d + data.draw(st.sampled_from([0, 0, 0, 1])), dtype=dtype)
    state = None
    if data.draw(st.booleans(), label="state"):
        width = hid + data.draw(st.sampled_from([0, 0, 1]))
        h = torch.randn(b, width, dtype=dtype)
        state = (h, torch.randn(b, width, dtype=dtype)) if name == "LSTMCell" else h
    got = call(ours, x, state)
    want = torch_result(ref, x, state)
    if got is None:
        return
    assert want is not None, "we accepted what torch refuses"
    for a, b_ in zip(got if name == "LSTMCell" else (got,),
                     want if name == "LSTMCell" else (want,), strict=True):  # fmt: skip
        finite(a)
        close(a, b_, dtype)


@prop
def min_recurrent_modes_agree(data):
    cls = data.draw(st.sampled_from([snn.MinGRU, snn.MinLSTM]))
    d, hid = data.draw(small(1, 4)), data.draw(small(1, 4))
    b, t = data.draw(small(0, 3)), data.draw(small(0, 6))
    layer = cls(d, hid, dtype=torch.float64, bidirectional=data.draw(st.booleans()))
    x = torch.randn(b, t, d + data.draw(st.sampled_from([0, 0, 0, 1])), dtype=torch.float64)
    outs = []
    for mode in ("sequential", "scan", "chunked"):
        layer.mode = mode
        got = call(layer, x)
        outs.append(None if got is None else got[0])
    if outs[0] is None:
        assert all(o is None for o in outs), "modes disagree on what is valid"
        return
    for o in outs[1:]:
        assert o is not None
        finite(o)
        close(o, outs[0], torch.float64)


@prop
def linear_recurrence_matches_the_loop(data):
    b, t, d = data.draw(small(0, 3)), data.draw(small(0, 7)), data.draw(small(0, 3))
    a = torch.rand(b, t, d, dtype=torch.float64)
    x = torch.randn(b, t, d, dtype=torch.float64)
    h0 = torch.randn(b, d, dtype=torch.float64) if data.draw(st.booleans()) else None
    mode = data.draw(st.sampled_from(["auto", "sequential", "parallel", "chunked", "bogus"]))
    got = call(sf.linear_recurrence, a, x, h0, mode=mode)
    if got is None:
        return
    assert mode != "bogus", "an unknown mode was accepted"
    h = torch.zeros(b, d, dtype=torch.float64) if h0 is None else h0
    want = []
    for i in range(t):
        h = a[:, i] * h + x[:, i]
        want.append(h)
    close(got, torch.stack(want, 1) if want else torch.zeros(b, 0, d, dtype=torch.float64),
          torch.float64)  # fmt: skip


# -- attention modules ----------------------------------------------------------------------
@prop
def multihead_attention_matches_torch(data):
    heads, per_head = data.draw(small(1, 3)), data.draw(small(1, 3))
    e = heads * per_head
    batch_first = data.draw(st.booleans())
    ours = snn.MultiHeadAttention(e, heads, batch_first=batch_first, dtype=torch.float64)
    ref = torch.nn.MultiheadAttention(e, heads, batch_first=batch_first, dtype=torch.float64)
    ref.load_state_dict(ours.state_dict())
    b, t, s = data.draw(small(0, 3)), data.draw(small(0, 4)), data.draw(small(0, 4))
    q = torch.randn((b, t, e) if batch_first else (t, b, e), dtype=torch.float64)
    kv = torch.randn((b, s, e) if batch_first else (s, b, e), dtype=torch.float64)
    kpm = None
    if data.draw(st.booleans(), label="key padding"):
        kpm = torch.rand(b, s + data.draw(st.sampled_from([0, 0, 1]))) > 0.7
    got = call(ours, q, kv, kv, key_padding_mask=kpm)
    want = torch_result(ref, q, kv, kv, key_padding_mask=kpm)
    if got is None:
        return
    out, w = got
    finite(out)
    if want is not None and not torch.isnan(want[0]).any():
        close(out, want[0], torch.float64)
        close(w, want[1], torch.float64)


@prop
def recurrent_attention_modules_are_total(data):
    kind = data.draw(st.sampled_from(["additive", "dot", "general", "concat", "local-m",
                                      "local-p", "location"]))  # fmt: skip
    dq, dk = data.draw(small(1, 4)), data.draw(small(1, 4))
    if kind == "dot":
        dk = dq
    if kind == "additive":
        layer = snn.AdditiveAttention(dq, dk, 3, dtype=torch.float64)
    elif kind.startswith("local"):
        layer = snn.LocalAttention(dq, dk, window=data.draw(small(0, 3)), mode=kind,
                                   dtype=torch.float64)  # fmt: skip
    elif kind == "location":
        layer = snn.LocationAttention(dq, dk, max_source_len=6, dtype=torch.float64)
    else:
        layer = snn.LuongAttention(kind, dq, dk, attn_dim=3, dtype=torch.float64)
    b, s = data.draw(small(0, 3)), data.draw(small(0, 5))
    query = torch.randn(b, dq, dtype=torch.float64)
    keys = torch.randn(b, s, dk + data.draw(st.sampled_from([0, 0, 0, 1])), dtype=torch.float64)
    mask = torch.rand(b, s) > 0.3 if data.draw(st.booleans(), label="masked") else None
    extra = {}
    if kind == "local-m":  # the aligned position p_t = t: here a step of the source
        extra["position"] = torch.randint(0, max(s, 1), (b,))
    got = call(layer, query, keys, mask=mask, **extra)
    if got is None:
        return
    ctx, w = got[0], got[1]
    finite(ctx, w)
    assert w.shape[-1] == s
    if w.numel():
        sums = w.sum(-1)
        valid = torch.ones(b, s, dtype=torch.bool) if mask is None else mask
        empty = ~valid.any(-1)
        assert torch.all((sums - 1).abs()[~empty] < 1e-9) or kind.startswith("local")
        assert not w[empty].any()


@prop
def gat_conv_is_total(data):
    n, f, heads = data.draw(small(0, 5)), data.draw(small(1, 3)), data.draw(small(1, 2))
    layer = snn.GATConv(f, 2, heads=heads).double()
    x = torch.randn(n, f, dtype=torch.float64)
    e = data.draw(small(0, 6), label="E")
    hi = max(n, 1) + data.draw(st.sampled_from([0, 0, 0, 1]))  # out-of-range node ids
    edge_index = torch.randint(0, hi, (2, e)) if n or e else torch.zeros(2, 0, dtype=torch.long)
    got = call(layer, x, edge_index)
    if got is not None:
        out = got[0] if isinstance(got, tuple) else got
        assert out.shape[0] == n
        finite(out)


@prop
def squeeze_excitation_and_tcn_are_total(data):
    c, b = data.draw(small(1, 6)), data.draw(small(0, 3))
    se = snn.SqueezeExcitation(c, squeeze_channels=data.draw(small(1, 3))).double()
    x = torch.randn(b, c + data.draw(st.sampled_from([0, 0, 1])), 3, 3, dtype=torch.float64)
    got = call(se, x)
    if got is not None:
        finite(got)
        assert got.shape == x.shape
    tcn = snn.TemporalConvNet(c, [2, 3], kernel_size=data.draw(small(1, 3))).double()
    seq = torch.randn(b, data.draw(small(0, 5)), c, dtype=torch.float64)
    got = call(tcn, seq)
    if got is not None:
        finite(got if isinstance(got, torch.Tensor) else got[0])


# -- the tests: every property, EXAMPLES cases by default, SLOW_EXAMPLES under `slow` -------
def _run(fn, examples: int):
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(st.data())
    def run(data):
        torch.manual_seed(0)
        fn(data)

    run()


@pytest.mark.parametrize("name", [n for n, _ in PROPERTIES])
def test_fuzz(name):
    _run(dict(PROPERTIES)[name], EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, _ in PROPERTIES])
def test_fuzz_more(name):
    _run(dict(PROPERTIES)[name], SLOW_EXAMPLES)


def test_the_default_run_draws_over_2000_cases():
    assert len(PROPERTIES) * EXAMPLES >= 2000

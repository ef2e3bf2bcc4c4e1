"""One streaming state API across every sequence model (issue 24, section 2).

``init_state(batch)``, ``step(x_t, state) -> (y_t, state)`` and the chunked form (``forward(x,
state)``, for multi-head attention ``stream(x, state)``): feeding a sequence step by step, or in
chunks with the carried state, equals one forward call in float64, and the state of a bounded
stream (the LSTM, the sink + window KV cache) keeps its size.
"""

from __future__ import annotations

import itertools
import resource

import pytest
import torch

from seqattn.nn import (
    GRU,
    LSTM,
    MLSTM,
    RNN,
    SLSTM,
    SSD,
    CausalLinearAttention,
    DeltaNet,
    GatedLinearAttention,
    KVCache,
    Mamba,
    MinGRU,
    MinLSTM,
    MultiHeadAttention,
)

F64 = torch.float64
B, T, I, HIDDEN = 3, 11, 5, 6
CUTS = (0, 4, 5, 11)  # chunks of 4, 1 and 6 steps


def _as_tuple(state) -> tuple[torch.Tensor, ...]:
    return tuple(state) if isinstance(state, tuple | list) else (state,)


def _close(a, b, atol=1e-12):
    for x, y in zip(_as_tuple(a), _as_tuple(b), strict=True):
        torch.testing.assert_close(x, y, atol=atol, rtol=0)


def _steps(layer, x, time_dim, state):
    """Feed x one step at a time along time_dim; returns (outputs stacked, final state)."""
    ys = []
    for x_t in x.unbind(time_dim):
        y_t, state = layer.step(x_t, state)
        ys.append(y_t)
    return torch.stack(ys, time_dim), state


def _chunks(call, x, time_dim, state):
    """Feed x in the chunks CUTS along time_dim through call(piece, state)."""
    ys = []
    for a, b in itertools.pairwise(CUTS):
        y, state = call(x.narrow(time_dim, a, b - a), state)
        ys.append(y)
    return torch.cat(ys, time_dim), state


# -- the classic layers ----------------------------------------------------------------------
CLASSIC = [
    (RNN, {}),
    (RNN, {"nonlinearity": "relu"}),
    (LSTM, {}),
    (LSTM, {"proj_size": 3}),
    (GRU, {}),
]


@pytest.mark.parametrize("backend", ["auto", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize(("cls", "kwargs"), CLASSIC, ids=lambda v: getattr(v, "__name__", str(v)))
def test_classic_step_and_chunks_equal_one_forward(cls, kwargs, num_layers, batch_first, backend):
    torch.manual_seed(0)
    layer = cls(I, HIDDEN, num_layers=num_layers, batch_first=batch_first, dropout=0.3,
                backend=backend, dtype=F64, **kwargs).eval()  # fmt: skip
    x = torch.randn(B, T, I, dtype=F64)
    x_in = x if batch_first else x.transpose(0, 1)
    time_dim = 1 if batch_first else 0
    h0 = _as_tuple(layer.init_state(B))
    h0 = tuple(torch.randn_like(s) for s in h0)  # a non-zero start: the state really carries
    h0 = h0 if cls is LSTM else h0[0]
    y, state = layer(x_in, h0)
    y_step, state_step = _steps(layer, x, 1, h0)
    _close(y_step.transpose(0, 1) if not batch_first else y_step, y)
    _close(state_step, state)
    y_chunk, state_chunk = _chunks(layer, x_in, time_dim, h0)
    _close(y_chunk, y)
    _close(state_chunk, state)


def test_classic_init_state_shapes_and_zero_default():
    lstm = LSTM(I, HIDDEN, num_layers=2, proj_size=3, dtype=F64)
    h, c = lstm.init_state(B)
    assert h.shape == (2, B, 3) and c.shape == (2, B, HIDDEN) and h.dtype == F64
    assert not h.any() and not c.any()
    gru = GRU(I, HIDDEN)
    x_t = torch.randn(B, I)
    _close(gru.step(x_t)[0], gru.step(x_t, gru.init_state(B))[0])


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_classic_bidirectional_refuses_to_stream(cls):
    layer = cls(I, HIDDEN, bidirectional=True)
    with pytest.raises(ValueError, match="unidirectional"):
        layer.init_state(B)
    with pytest.raises(ValueError, match="unidirectional"):
        layer.step(torch.randn(B, I))


def test_classic_step_checks_its_arguments():
    lstm = LSTM(I, HIDDEN)
    with pytest.raises(ValueError, match=r"x_t of shape \(B, 5\)"):
        lstm.step(torch.randn(B, 1, I))
    with pytest.raises(ValueError, match="h_0 of shape"):
        lstm.step(torch.randn(B, I), (torch.zeros(1, B + 1, HIDDEN), torch.zeros(1, B, HIDDEN)))
    with pytest.raises(TypeError, match="tuple"):
        lstm.step(torch.randn(B, I), torch.zeros(1, B, HIDDEN))
    with pytest.raises(ValueError, match="dtype"):
        lstm.step(torch.randn(B, I, dtype=F64))


def test_classic_step_has_gradients():
    """step is differentiable (truncated BPTT over a stream), unlike an inference-only path."""
    lstm = LSTM(I, HIDDEN, dtype=F64)
    x = torch.randn(B, 4, I, dtype=F64, requires_grad=True)
    y_step, _ = _steps(lstm, x, 1, None)
    y, _ = lstm(x.transpose(0, 1))
    g_step = torch.autograd.grad(y_step.square().sum(), x)[0]
    g = torch.autograd.grad(y.square().sum(), x)[0]
    _close(g_step, g)


# -- minGRU / minLSTM and the modern layers -------------------------------------------------
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_min_rnn_step_and_chunks_equal_one_forward(cls, num_layers, batch_first):
    torch.manual_seed(1)
    layer = cls(I, HIDDEN, num_layers=num_layers, batch_first=batch_first).double().eval()
    x = torch.randn(B, T, I, dtype=F64)
    x_in = x if batch_first else x.transpose(0, 1)
    h0 = torch.randn_like(layer.init_state(B))
    y, state = layer(x_in, h0)
    y_step, state_step = _steps(layer, x, 1, h0)
    _close(y_step if batch_first else y_step.transpose(0, 1), y)
    _close(state_step, state)
    y_chunk, state_chunk = _chunks(layer, x_in, 1 if batch_first else 0, h0)
    _close(y_chunk, y)
    _close(state_chunk, state)


D = 8
MODERN = {
    "Mamba": lambda: Mamba(D, state_size=4),
    "SSD": lambda: SSD(D, num_heads=2, state_size=4),
    "CausalLinearAttention": lambda: CausalLinearAttention(D, num_heads=2),
    "MLSTM": lambda: MLSTM(D, num_heads=2),
    "SLSTM": lambda: SLSTM(D, D, num_heads=2),
    "DeltaNet": lambda: DeltaNet(D, num_heads=2),
    "GatedLinearAttention": lambda: GatedLinearAttention(D, num_heads=2, gate_rank=4),
}


@pytest.mark.parametrize("name", sorted(MODERN))
def test_modern_step_and_chunks_equal_one_forward(name):
    torch.manual_seed(2)
    layer = MODERN[name]().double().eval()
    x = torch.randn(B, T, D, dtype=F64)
    state0 = layer.init_state(B)
    y, state = layer(x, state0)
    y_step, state_step = _steps(layer, x, 1, layer.init_state(B))
    _close(y_step, y, atol=1e-10)
    _close(state_step, state, atol=1e-10)
    y_chunk, state_chunk = _chunks(layer, x, 1, layer.init_state(B))
    _close(y_chunk, y, atol=1e-10)
    _close(state_chunk, state, atol=1e-10)


# -- multi-head attention with a KV cache ----------------------------------------------------
def _reference_allowed(steps: int, sink: int, window: int | None) -> torch.Tensor:
    """The mask, written out: query t may see key j <= t if j < sink or t - j < window."""
    allowed = torch.zeros(steps, steps, dtype=torch.bool)
    for t in range(steps):
        for j in range(t + 1):
            allowed[t, j] = window is None or j < sink or t - j < window
    return allowed


CACHES = [(0, None), (2, 4), (0, 3), (3, 1), (1, 20)]


@pytest.mark.parametrize("extras", ["plain", "bias_kv", "zero_attn"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(("sink", "window"), CACHES)
def test_mha_step_and_chunks_equal_masked_full_attention(sink, window, batch_first, extras):
    torch.manual_seed(3)
    mha = MultiHeadAttention(D, 2, batch_first=batch_first, add_bias_kv=extras == "bias_kv",
                             add_zero_attn=extras == "zero_attn", dtype=F64).eval()  # fmt: skip
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    x = torch.randn(B, T, D, dtype=F64)
    x_in = x if batch_first else x.transpose(0, 1)
    allowed = _reference_allowed(T, sink, window)
    y, _ = mha(x_in, x_in, x_in, attn_mask=~allowed, need_weights=False)
    if window is None:  # the full cache is plain causal attention
        y_causal, _ = mha(x_in, x_in, x_in, is_causal=True, need_weights=False)
        _close(y_causal, y)
    y_step, cache = _steps(mha, x, 1, mha.init_state(B, sink=sink, window=window))
    _close(y_step if batch_first else y_step.transpose(0, 1), y)
    kept = T if window is None else min(T, sink + window)
    assert isinstance(cache, KVCache) and cache.seen == T
    assert cache.key.shape == cache.value.shape == (B, 2, kept, D // 2)
    y_chunk, cache = _chunks(mha.stream, x_in, 1 if batch_first else 0,
                             mha.init_state(B, sink=sink, window=window))  # fmt: skip
    _close(y_chunk, y)
    assert cache.key.shape[2] == kept


def test_mha_stream_checks_its_arguments():
    mha = MultiHeadAttention(D, 2)
    with pytest.raises(ValueError, match="window"):
        mha.init_state(B, sink=4)
    with pytest.raises(ValueError, match="window"):
        mha.init_state(B, sink=0, window=0)
    with pytest.raises(ValueError, match="x_t of shape"):
        mha.step(torch.randn(B, 1, D))
    with pytest.raises(TypeError, match="KVCache"):
        mha.step(torch.randn(B, D), (torch.zeros(1),))
    with pytest.raises(ValueError, match="cached key/value"):
        mha.step(torch.randn(B, D), mha.init_state(B + 1))
    with pytest.raises(ValueError, match="kdim"):
        MultiHeadAttention(D, 2, kdim=4).init_state(B)


# -- bounded state over a stream --------------------------------------------------------------
def _stream_shapes(layer, state, steps, width, chunk):
    """Shapes of the state after each chunk of a random stream (float32, no grad)."""
    shapes = set()
    call = layer.stream if isinstance(layer, MultiHeadAttention) else layer
    with torch.no_grad():
        for _ in range(steps // chunk):
            x = torch.randn(chunk, 1, width)
            if chunk == 1 and not isinstance(layer, MultiHeadAttention):
                _, state = layer.step(x[0], state)
            else:
                _, state = call(x, state)
            shapes.add(tuple(tuple(s.shape) for s in _as_tuple(state)[:2]))
    return shapes, state


def test_state_size_is_constant_over_a_stream():
    torch.manual_seed(4)
    lstm = LSTM(16, 32, num_layers=2)
    shapes, _ = _stream_shapes(lstm, lstm.init_state(1), 2000, 16, 1)
    assert shapes == {((2, 1, 32), (2, 1, 32))}
    mha = MultiHeadAttention(16, 4)
    shapes, cache = _stream_shapes(mha, mha.init_state(1, sink=4, window=60), 2000, 16, 1)
    assert shapes - {((1, 4, n, 4),) * 2 for n in range(1, 64)} == {((1, 4, 64, 4),) * 2}
    assert cache.seen == 2000 and cache.positions[:4].tolist() == [0, 1, 2, 3]
    assert cache.positions[4:].tolist() == list(range(1940, 2000))


@pytest.mark.slow
def test_a_million_tokens_stream_in_constant_memory():
    """1,000,000 tokens through an LSTM and a sink + window attention: the state keeps its size
    and the peak RSS does not grow past what 10,000 tokens took (a full cache would add ~0.5 GB).
    """
    torch.manual_seed(5)
    lstm, mha = LSTM(16, 32), MultiHeadAttention(16, 4)
    states = [lstm.init_state(1), mha.init_state(1, sink=4, window=252)]
    peaks = []
    for steps in (10_000, 990_000):
        for i, layer in enumerate((lstm, mha)):
            shapes, states[i] = _stream_shapes(layer, states[i], steps, 16, 1000)
            assert len(shapes) == 1
        peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
    assert states[1].seen == 1_000_000 and states[1].key.shape == (1, 4, 256, 4)
    assert peaks[1] - peaks[0] < 64 * 1024, f"peak RSS grew by {(peaks[1] - peaks[0]) / 1024} MiB"

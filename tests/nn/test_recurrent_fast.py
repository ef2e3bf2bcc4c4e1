"""The fast recurrent path: gradcheck of the custom autograd, engines, backends, fallback.

The compiled engine is tested where it builds (skipped with the reason otherwise); the
pure-Python engine runs the same algorithm and is tested everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import seqattn.nn as snn
from seqattn.nn.recurrent import _extension, fast

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
EXT = _extension.load()
ENGINES = [
    pytest.param(fast.PythonEngine, id="python"),
    pytest.param(
        EXT,
        id="compiled",
        marks=pytest.mark.skipif(
            EXT is None, reason=f"extension unavailable: {_extension.unavailable_reason()}"
        ),
    ),
]
LAYERS = {"RNN_TANH": snn.RNN, "RNN_RELU": snn.RNN, "LSTM": snn.LSTM, "GRU": snn.GRU}


def _layer(mode: str, backend: str, **kw):
    if mode.startswith("RNN"):
        kw["nonlinearity"] = "relu" if mode == "RNN_RELU" else "tanh"
    return LAYERS[mode](3, 4, backend=backend, **kw)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("ragged", [False, True], ids=["equal", "lengths"])
def test_gradcheck_recurrence(engine, mode, reverse, ragged):
    """Hand-written backward through time == finite differences, float64, every input:
    projections, h0, c0, W_hh and (GRU) b_hh; with padding and the reverse direction."""
    torch.manual_seed(3)
    steps, batch, hidden = 4, 3, 3
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1) * hidden

    def rand(*shape):
        return torch.randn(*shape, dtype=torch.double, requires_grad=True)

    xp, h0, w = rand(steps, batch, gates), rand(batch, hidden), rand(gates, hidden)
    c0 = rand(batch, hidden) if mode == "LSTM" else None
    b = rand(gates) if mode == "GRU" else None
    if mode == "RNN_RELU":  # keep pre-activations off the kink at 0
        with torch.no_grad():
            xp.add_(torch.sign(xp) * 0.1)
    lengths = torch.tensor([4, 1, 3]) if ragged else None

    def f(xp, h0, c0, w, b):
        return fast.recurrence(mode, xp, h0, c0, w, b, reverse=reverse, lengths=lengths,
                               engine=engine)  # fmt: skip

    assert torch.autograd.gradcheck(f, (xp, h0, c0, w, b), atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_gradcheck_merged_projection(engine, mode, reverse):
    """RNN/LSTM with the input projected inside the per-step GEMM: gradients for x, W_ih
    and the bias too."""
    torch.manual_seed(4)
    gates = (4 if mode == "LSTM" else 1) * 3

    def rand(*shape):
        return torch.randn(*shape, dtype=torch.double, requires_grad=True)

    x, w_ih, b = rand(4, 3, 2), rand(gates, 2), rand(gates)
    h0, w_hh = rand(3, 3), rand(gates, 3)
    c0 = rand(3, 3) if mode == "LSTM" else None
    lengths = torch.tensor([4, 2, 3])

    def f(x, w_ih, b, h0, c0, w_hh):
        return fast.recurrence(mode, None, h0, c0, w_hh, input=x, weight_ih=w_ih, bias=b,
                               reverse=reverse, lengths=lengths, engine=engine)  # fmt: skip

    assert torch.autograd.gradcheck(f, (x, w_ih, b, h0, c0, w_hh), atol=1e-7, rtol=1e-5)


def test_recurrence_checks_its_arguments():
    h0, w = torch.zeros(2, 3), torch.zeros(9, 3)
    with pytest.raises(ValueError, match="expected either xp, or input with weight_ih"):
        fast.recurrence("GRU", None, h0, None, w)
    with pytest.raises(ValueError, match="expected xp for a GRU"):
        fast.recurrence("GRU", None, h0, None, w, input=torch.zeros(4, 2, 1),
                        weight_ih=torch.zeros(9, 1))  # fmt: skip
    with pytest.raises(ValueError, match="expected mode in"):
        fast.recurrence("LSTMP", torch.zeros(4, 2, 9), h0, None, w)


@pytest.mark.parametrize("engine", ENGINES)
def test_recurrence_some_outputs_unused(engine):
    """Only h_n in the loss (dout is None), or only the output (dh_n is None)."""
    xp = torch.randn(5, 2, 8, dtype=torch.double, requires_grad=True)
    h0 = torch.randn(2, 2, dtype=torch.double, requires_grad=True)
    c0 = torch.randn(2, 2, dtype=torch.double, requires_grad=True)
    w = torch.randn(8, 2, dtype=torch.double, requires_grad=True)
    inputs = (xp, h0, c0, w)
    for pick in (1, 0, 2):
        torch.autograd.gradcheck(
            lambda *a, k=pick: fast.recurrence("LSTM", *a, engine=engine)[k], inputs
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ["python", "compiled"])
def test_layers_backends_agree_float64(mode, engine, monkeypatch):
    """reference, fast (both engines) and native agree on a 2-layer bidirectional stack with
    lengths, h0/c0 and batch_first: outputs, states and every gradient within 1e-10."""
    if engine == "compiled" and EXT is None:
        pytest.skip(f"extension unavailable: {_extension.unavailable_reason()}")
    if engine == "python":
        monkeypatch.setattr(fast, "engine_for", lambda x, force_python=False: fast.PythonEngine)
    torch.manual_seed(1)
    ref = _layer(mode, "reference", num_layers=2, bidirectional=True, batch_first=True)
    ref = ref.double()
    x = torch.randn(3, 6, 3, dtype=torch.double)
    h0 = torch.randn(4, 3, 4, dtype=torch.double)
    state = (h0, torch.randn_like(h0)) if mode == "LSTM" else h0
    lens = [6, 2, 5]
    results = {}
    for backend in ("reference", "fast", "native"):
        layer = _layer(mode, backend, num_layers=2, bidirectional=True, batch_first=True)
        layer = layer.double()
        layer.load_state_dict(ref.state_dict())
        xi = x.clone().requires_grad_(True)
        si = [s.clone().requires_grad_(True) for s in (state if mode == "LSTM" else [state])]
        out, hn = layer(xi, tuple(si) if mode == "LSTM" else si[0], lengths=lens)
        finals = list(hn) if mode == "LSTM" else [hn]
        g = torch.Generator().manual_seed(7)
        loss = sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum()
                   for t in [out, *finals])  # fmt: skip
        grads = torch.autograd.grad(loss, [xi, *si, *layer.parameters()])
        results[backend] = [out, *finals, *grads]
    for backend in ("fast", "native"):
        for a, b in zip(results[backend], results["reference"], strict=True):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.skipif(EXT is None, reason=f"extension unavailable: {_extension.unavailable_reason()}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_compiled_engine_with_two_threads(mode, dtype):
    """The suite runs torch on one thread; with two, the compiled engine's per-step GEMMs and
    gate kernels split rows across threads: a bidirectional layer with ragged lengths (19
    rows) still gives the reference's outputs and gradients (float64 within 1e-10), and the
    same as with one thread."""
    torch.manual_seed(3)
    ref = _layer(mode, "reference", bidirectional=True).to(dtype)
    ours = _layer(mode, "fast", bidirectional=True).to(dtype)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(7, 19, 3, dtype=dtype)
    lens = torch.randint(1, 8, (19,)).tolist()
    results = {}
    old = torch.get_num_threads()
    try:
        for name, layer, threads in (("ref", ref, 1), ("one", ours, 1), ("two", ours, 2)):
            torch.set_num_threads(threads)
            xi = x.clone().requires_grad_(True)
            out, hn = layer(xi, lengths=lens)
            finals = list(hn) if mode == "LSTM" else [hn]
            g = torch.Generator().manual_seed(7)
            loss = sum((t * torch.randn(t.shape, generator=g, dtype=dtype)).sum()
                       for t in [out, *finals])  # fmt: skip
            results[name] = [out, *finals, *torch.autograd.grad(loss, [xi, *layer.parameters()])]
    finally:
        torch.set_num_threads(old)
    tol = {"atol": 1e-10, "rtol": 0} if dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-4}
    for a, b, c in zip(results["two"], results["one"], results["ref"], strict=True):
        torch.testing.assert_close(a, c, **tol)
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_fast_float32_close_to_reference(mode):
    """float32 (the oneDNN GEMMs and the exp-based tanh of the compiled engine)."""
    ref = _layer(mode, "reference", num_layers=2)
    ours = _layer(mode, "fast", num_layers=2)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(9, 5, 3)
    o1, _ = ref(x)
    o2, _ = ours(x)
    torch.testing.assert_close(o2, o1, atol=1e-5, rtol=1e-5)
    o1.square().sum().backward()
    o2.square().sum().backward()
    for p1, p2 in zip(ref.parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(p2.grad, p1.grad, atol=1e-4, rtol=1e-4)


def test_projection_matches_linear():
    x = torch.randn(7, 3, 5, requires_grad=True)
    w = torch.randn(8, 5, requires_grad=True)
    b = torch.randn(8, requires_grad=True)
    y = fast.projection(x, w, b)
    ref = torch.nn.functional.linear(x, w, b)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, w, b], g)
    want = torch.autograd.grad(ref, [x, w, b], g)
    for a, c in zip(got, want, strict=True):
        torch.testing.assert_close(a, c, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_dropout_between_layers_same_rng_as_reference(mode):
    """Dropout is the same F.dropout call between the same layers: same seed, same masks."""
    ref = _layer(mode, "reference", num_layers=3, dropout=0.5).double().train()
    ours = _layer(mode, "fast", num_layers=3, dropout=0.5).double().train()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.double)
    torch.manual_seed(11)
    a, _ = ref(x)
    torch.manual_seed(11)
    b, _ = ours(x)
    torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    assert not torch.equal(a, ours(x)[0]), "dropout had no effect"


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_proj_size_on_fast_errors_and_auto_falls_back():
    layer = snn.LSTM(3, 4, proj_size=2, backend="fast")
    with pytest.raises(ValueError, match="backend='fast' does not support proj_size=2"):
        layer(torch.randn(5, 2, 3))
    auto = snn.LSTM(3, 4, proj_size=2)
    assert auto._resolve_backend(torch.randn(5, 2, 3)) == "reference"
    native = snn.LSTM(3, 4, proj_size=2, backend="native")
    native.load_state_dict(auto.state_dict())
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(native(x)[0], auto(x)[0], atol=1e-5, rtol=1e-5)


def test_backend_argument_checked_and_shown():
    with pytest.raises(ValueError, match="expected backend in"):
        snn.GRU(3, 4, backend="cudnn")
    layer = snn.GRU(3, 4, backend="native")
    assert "backend=native" in repr(layer)
    layer.backend = "bogus"
    with pytest.raises(ValueError, match="expected backend in"):
        layer(torch.randn(2, 1, 3))


def test_auto_resolution():
    layer = snn.LSTM(3, 4)
    x = torch.randn(5, 2, 3)
    expected = "fast" if EXT is not None else "reference"
    assert layer._resolve_backend(x) == expected
    assert layer._resolve_backend(x.bfloat16()) == "reference"


def test_fast_bfloat16_runs_python_engine():
    layer = snn.GRU(3, 4, backend="fast").bfloat16()
    out, h = layer(torch.randn(5, 2, 3).bfloat16(), lengths=[5, 3])
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and layer.weight_hh_l0.grad is not None


def test_fast_backend_does_not_call_fused_kernels(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("fused RNN kernel called")

    for name in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        monkeypatch.setattr(torch._VF, name, boom, raising=False)
    for cls in (snn.RNN, snn.LSTM, snn.GRU):
        out, _ = cls(3, 4, bidirectional=True, backend="fast")(torch.randn(5, 2, 3), lengths=[5, 3])
        out.sum().backward()


def test_fallback_without_extension():
    """SEQATTN_NO_EXT=1: no build is attempted, the reason is logged, "auto" runs the
    reference and "fast" the Python engine, with the same results."""
    code = (
        "import logging, torch\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "import seqattn.nn as snn\n"
        "from seqattn.nn.recurrent import _extension, fast\n"
        "assert _extension.load() is None\n"
        "assert 'SEQATTN_NO_EXT' in _extension.unavailable_reason()\n"
        "x = torch.randn(5, 2, 3, dtype=torch.double)\n"
        "assert fast.engine_for(x) is fast.PythonEngine\n"
        "a = snn.LSTM(3, 4).double()\n"
        "assert a._resolve_backend(x) == 'reference'\n"
        "b = snn.LSTM(3, 4, backend='fast').double()\n"
        "b.load_state_dict(a.state_dict())\n"
        "torch.testing.assert_close(a(x, lengths=[5, 2])[0], b(x, lengths=[5, 2])[0],\n"
        "                           atol=1e-12, rtol=0)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "SEQATTN_NO_EXT": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
    assert "disabled by SEQATTN_NO_EXT" in res.stderr  # the logged reason


def test_missing_compiler_is_a_reason_not_an_error(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-seqattn")
    monkeypatch.delenv("SEQATTN_NO_EXT", raising=False)
    assert "no C++ compiler" in _extension._why_not()


@pytest.mark.skipif(EXT is None, reason=f"extension unavailable: {_extension.unavailable_reason()}")
@pytest.mark.parametrize("hidden", [8, 16], ids=["onednn-or-panels", "panels"])
def test_inference_reuses_the_packed_weight_until_the_weights_change(hidden):
    """float32 inference packs [W_ih, W_hh] once (oneDNN's reordered weight, or the fused
    kernel's panels where the hidden size fits the vector width) and reuses it; an in-place
    update (an optimiser step), load_state_dict or new parameters must never see a stale
    packing, and training packs per call and leaves the cache alone."""
    panels = EXT.pack_lstm(torch.randn(4 * hidden, 5), torch.randn(4 * hidden, hidden))
    if hidden == 16 and panels is None:
        pytest.skip("the fused LSTM kernel is not built for this CPU (needs AVX2 or AVX-512)")
    torch.manual_seed(0)
    ours = snn.LSTM(5, hidden, backend="fast").eval()
    ref = torch.nn.LSTM(5, hidden).eval()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(6, 3, 5)
    fast._PACKED.clear()
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)
        ((kind, *_),) = fast._PACKED.keys()
        assert kind == ("lstm" if panels is not None else "onednn")
        (entry,) = fast._PACKED.values()
        if kind == "lstm":
            assert entry[3].dim() == 4  # panels, not oneDNN's 2-d weight
        ours(x)
        assert fast._PACKED[next(iter(fast._PACKED))][3] is entry[3]  # reused, not repacked
        for p, q in zip(ours.parameters(), ref.parameters(), strict=True):  # in place
            p.mul_(-0.7)
            q.mul_(-0.7)
        torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)
        other = torch.nn.LSTM(5, hidden)
        ours.load_state_dict(other.state_dict())
        torch.testing.assert_close(ours(x)[0], other(x)[0], atol=1e-5, rtol=1e-5)
    # training packs per call and leaves the cache alone
    n = len(fast._PACKED)
    ours.train()
    ours(x)[0].sum().backward()
    assert len(fast._PACKED) == n


def _fused_panels_or_skip(hidden: int):
    if EXT is None:
        pytest.skip(f"extension unavailable: {_extension.unavailable_reason()}")
    panels = EXT.pack_lstm(torch.randn(4 * hidden, 5), torch.randn(4 * hidden, hidden))
    if panels is None:
        pytest.skip("the fused LSTM kernel is not built for this CPU (needs AVX2 or AVX-512)")
    return panels


def test_pack_lstm_lays_out_gate_panels():
    """Panel p, row k holds the i, f, g, o weights of units p*W .. p*W+W-1 at column k of
    [W_ih, W_hh]; hidden sizes that are not a multiple of W, and float64, get None."""
    lanes = 16 if torch.backends.cpu.get_cpu_capability() == "AVX512" else 8
    hidden = 2 * lanes
    _fused_panels_or_skip(hidden)
    w_ih, w_hh = torch.randn(4 * hidden, 5), torch.randn(4 * hidden, hidden)
    panels = EXT.pack_lstm(w_ih, w_hh)
    assert panels.shape == (2, 5 + hidden, 4, lanes)
    cat = torch.cat([w_ih, w_hh], 1)
    for p, k, g, v in [(0, 0, 0, 0), (1, 3, 2, lanes - 1), (1, 5 + hidden - 1, 3, 2)]:
        assert panels[p, k, g, v] == cat[g * hidden + p * lanes + v, k]
    assert (
        EXT.pack_lstm(torch.randn(4 * (hidden + 1), 5), torch.randn(4 * (hidden + 1), hidden + 1))
        is None
    )
    assert EXT.pack_lstm(w_ih.double(), w_hh.double()) is None


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("inputs", "hidden"), [(7, 32), (70, 48)])
def test_fused_lstm_matches_the_reference_and_the_generic_loop(threads, inputs, hidden):
    """float32 LSTM through the fused kernels (forward with the GEMM in registers, backward
    likewise, weight gradients accumulated inside the backward loop): a two-layer
    bidirectional layer with ragged lengths (19 rows: three tiles of six and a remainder; 48
    units: panels split unevenly over two threads; 70 inputs: a 64-column tile, then a tail)
    agrees with the float64 reference within float32 rounding, in outputs, final states and
    every gradient, and with the generic per-step-GEMM loop (FUSED_LSTM off)."""
    _fused_panels_or_skip(hidden)
    torch.manual_seed(5)
    kw = {"num_layers": 2, "bidirectional": True}
    ref = snn.LSTM(inputs, hidden, backend="reference", **kw).double()
    ours = snn.LSTM(inputs, hidden, backend="fast", **kw)
    ours.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    x = torch.randn(9, 19, inputs, dtype=torch.float64)
    h0 = torch.randn(4, 19, hidden, dtype=torch.float64)
    c0 = torch.randn(4, 19, hidden, dtype=torch.float64)
    lens = torch.randint(1, 10, (19,)).tolist()

    def run(layer, dtype):
        xi = x.to(dtype).requires_grad_(True)
        h, c = h0.to(dtype).requires_grad_(True), c0.to(dtype).requires_grad_(True)
        out, (hn, cn) = layer(xi, (h, c), lengths=lens)
        g = torch.Generator().manual_seed(7)
        loss = sum((t * torch.randn(t.shape, generator=g, dtype=torch.float64).to(dtype)).sum()
                   for t in (out, hn, cn))  # fmt: skip
        grads = torch.autograd.grad(loss, [xi, h, c, *layer.parameters()])
        return [t.double() for t in (out, hn, cn, *grads)]

    old, fused = torch.get_num_threads(), fast.FUSED_LSTM
    try:
        torch.set_num_threads(threads)
        expected = run(ref, torch.float64)
        fast.FUSED_LSTM = True
        got = run(ours, torch.float32)
        fast.FUSED_LSTM = False
        generic = run(ours, torch.float32)
    finally:
        torch.set_num_threads(old)
        fast.FUSED_LSTM = fused
    for a, b, c in zip(got, expected, generic, strict=True):
        torch.testing.assert_close(a, b, atol=5e-5, rtol=1e-4)
        torch.testing.assert_close(a, c, atol=5e-5, rtol=1e-4)
    assert any(not torch.equal(a, c) for a, c in zip(got, generic, strict=True))  # two kernels


def test_fused_lstm_rejects_panels_of_the_wrong_shape():
    """A packed weight that does not fit the layer is an error naming both shapes, never a
    read past the buffer."""
    _fused_panels_or_skip(32)
    x, h0, c0 = torch.randn(3, 2, 5), torch.zeros(2, 32), torch.zeros(2, 32)
    w_ih, w_hh = torch.randn(128, 5), torch.randn(128, 32)
    wrong = EXT.pack_lstm(torch.randn(128, 6), w_hh)
    with pytest.raises(RuntimeError, match=r"expected float32 panels of shape"):
        EXT.forward(2, False, None, h0, c0, w_hh, None, None, False, True, x, w_ih, None, wrong)


def test_workspace_pool_reuses_freed_buffers_without_aliasing_live_ones():
    """Large buffers (>= 1 MB) freed by the engine go back to a bounded pool and serve the next
    call; a tensor still alive (an output the caller kept) is never handed out again, and
    clear_workspace() returns the cached memory."""
    if EXT is None:
        pytest.skip(f"extension unavailable: {_extension.unavailable_reason()}")
    torch.manual_seed(0)
    layer = snn.LSTM(16, 64, backend="fast")
    x = torch.randn(300, 16, 16)  # hs, cs: 300 * 16 * 64 floats = 1.2 MB each
    fast.clear_workspace()
    assert fast.workspace_info()["cached_bytes"] == 0
    with torch.no_grad():
        kept = layer(x)[0]
        snapshot = kept.clone()
        assert fast.workspace_info()["cached_bytes"] > 0  # cs went back (hs is `kept`)
        for _ in range(3):
            other = layer(torch.randn_like(x))[0]
            assert other.data_ptr() != kept.data_ptr()
        del other
    torch.testing.assert_close(kept, snapshot, rtol=0, atol=0)  # untouched by later calls
    out = layer(x)[0]
    out.sum().backward()  # training buffers (gates, their gradients) go through the pool too
    info = fast.workspace_info()
    assert 0 < info["cached_bytes"] <= info["cap_bytes"]
    assert fast.clear_workspace() == info["cached_bytes"]
    assert fast.workspace_info()["cached_bytes"] == 0


def test_workspace_pool_can_be_turned_off():
    """SEQATTN_WORKSPACE_MB=0: every buffer comes from torch's allocator (nothing is cached)."""
    if EXT is None:
        pytest.skip(f"extension unavailable: {_extension.unavailable_reason()}")
    code = (
        "import torch, seqattn.nn as snn\n"
        "from seqattn.nn.recurrent import fast\n"
        "layer = snn.LSTM(16, 64, backend='fast')\n"
        "layer(torch.randn(300, 16, 16))[0].sum().backward()\n"
        "print(fast.workspace_info())\n"
    )
    env = dict(os.environ, SEQATTN_WORKSPACE_MB="0")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "'cached_bytes': 0, 'cap_bytes': 0" in done.stdout


@pytest.mark.slow
def test_fused_lstm_avx2_build_passes_the_fused_tests():
    """On an AVX-512 machine the default build never runs the AVX2 variant of the fused
    kernels (8 lanes, 2-row tiles, 16 registers): build it (ATEN_CPU_CAPABILITY=avx2 picks
    that level; about 40 s of compiling the first time) and run the fused-kernel tests on it
    in a subprocess."""
    if EXT is None:
        pytest.skip(f"extension unavailable: {_extension.unavailable_reason()}")
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        pytest.skip("the default build already is the AVX2 (or no) variant on this CPU")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "-k", "(fused or workspace) and not avx2"],
        env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " skipped" not in done.stdout, done.stdout[-1000:]

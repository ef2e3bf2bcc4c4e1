"""The fused C++ path of MinGRU / MinLSTM (csrc/mingru.cpp) against the Python reference path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from seqattn.nn import MinGRU, MinLSTM, _mingru_fused

needs_ext = pytest.mark.skipif(
    _mingru_fused.load() is None,
    reason=f"minGRU extension unavailable: {_mingru_fused.unavailable_reason()}",
)


def _pair(cls, dtype=torch.float64, **kw):
    ref = cls(**kw, mode="sequential").to(dtype)
    fused = cls(**kw, mode="fused").to(dtype)
    fused.load_state_dict(ref.state_dict())
    return ref, fused


def _run(layer, x, h0, lengths, w_out, w_h):
    """Outputs and the gradients of a random projection of both outputs w.r.t. everything."""
    out, hn = layer(x, h0, lengths=lengths)
    loss = (out * w_out).sum() + (hn * w_h).sum()
    inputs = [x, *([h0] if h0 is not None else []), *layer.parameters()]
    return [out, hn, *torch.autograd.grad(loss, inputs)]


@needs_ext
@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
def test_float64_parity_with_the_reference_path(cls, bidirectional, with_h0):
    ref, fused = _pair(cls, input_size=5, hidden_size=7, num_layers=2,
                       bidirectional=bidirectional)  # fmt: skip
    D = 2 if bidirectional else 1
    x = torch.randn(4, 11, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2 * D, 4, 7, dtype=torch.float64, requires_grad=True) if with_h0 else None
    lengths = torch.tensor([11, 4, 0, 1])  # full, partial, empty and one-step rows
    w_out = torch.randn(4, 11, 7 * D, dtype=torch.float64)
    w_h = torch.randn(2 * D, 4, 7, dtype=torch.float64)
    got = _run(fused, x, h0, lengths, w_out, w_h)
    want = _run(ref, x, h0, lengths, w_out, w_h)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)
    assert fused._fused(x) and not ref._fused(x)


@needs_ext
@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_parity_without_bias_lengths_or_batch_first(cls):
    ref, fused = _pair(cls, input_size=3, hidden_size=21, bias=False, batch_first=False)
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)  # (T, B, I)
    w_out, w_h = torch.randn(6, 2, 21, dtype=torch.float64), torch.randn(1, 2, 21).double()
    for g, w in zip(_run(fused, x, None, None, w_out, w_h), _run(ref, x, None, None, w_out, w_h),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


@needs_ext
@pytest.mark.parametrize("kind", [_mingru_fused.MINGRU, _mingru_fused.MINLSTM])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_of_the_fused_function(kind, reverse):
    G = 2 if kind == _mingru_fused.MINGRU else 3
    x = torch.randn(3, 5, 2, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(G * 4, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(G * 4, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 2, 0])

    def f(x, w, b, h):
        return _mingru_fused.fused_minrnn(x, w, b, h, lengths, kind, reverse)

    assert torch.autograd.gradcheck(f, (x, weight, bias, h0))


@needs_ext
@pytest.mark.parametrize("threads", [1, 2])
def test_splitting_the_features_across_threads_changes_nothing(threads):
    """B = 1 < threads splits H into blocks; the result must not depend on the split."""
    ref, fused = _pair(MinGRU, input_size=3, hidden_size=37)
    x = torch.randn(1, 9, 3, dtype=torch.float64, requires_grad=True)
    w_out, w_h = torch.randn(1, 9, 37, dtype=torch.float64), torch.randn(1, 1, 37).double()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = _run(fused, x, None, None, w_out, w_h)
    finally:
        torch.set_num_threads(before)
    for g, w in zip(got, _run(ref, x, None, None, w_out, w_h), strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


@needs_ext
def test_unused_outputs_and_no_grad():
    """Only h_n used (grad of the output is None), and inference without autograd."""
    ref, fused = _pair(MinLSTM, input_size=4, hidden_size=6)
    x = torch.randn(2, 7, 4, dtype=torch.float64)
    g_f = torch.autograd.grad(fused(x)[1].sum(), list(fused.parameters()))
    g_r = torch.autograd.grad(ref(x)[1].sum(), list(ref.parameters()))
    for a, b in zip(g_f, g_r, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        torch.testing.assert_close(fused(x)[0], ref(x)[0], rtol=1e-10, atol=1e-10)


@needs_ext
def test_auto_is_fused_on_cpu_only_for_float32_and_float64():
    layer = MinGRU(3, 4)
    assert layer._fused(torch.zeros(1, 2, 3))
    assert layer._fused(torch.zeros(1, 2, 3, dtype=torch.float64))
    assert not layer._fused(torch.zeros(1, 2, 3, dtype=torch.bfloat16))
    assert not MinGRU(3, 4, mode="chunked")._fused(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="mode='fused'"):
        MinGRU(3, 4, mode="fused")._fused(torch.zeros(1, 2, 3, dtype=torch.bfloat16))


@needs_ext
@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_float32_gradients_at_long_t(cls):
    """T = 4096, float32: outputs and gradients agree with the reference path within 1e-4
    (relative norm of the difference: the exp routines and summation orders differ)."""
    ref, fused = _pair(cls, torch.float32, input_size=16, hidden_size=32, memory_bias=3.0)
    x = torch.randn(2, 4096, 16, requires_grad=True)
    lengths = torch.tensor([4096, 3000])
    w_out, w_h = torch.randn(2, 4096, 32), torch.randn(1, 2, 32)
    got = _run(fused, x, None, lengths, w_out, w_h)
    want = _run(ref, x, None, lengths, w_out, w_h)
    for g, w in zip(got, want, strict=True):
        err = float((g - w).detach().norm() / w.detach().norm().clamp_min(1e-30))
        assert err < 1e-4, err


_FALLBACK = """
import logging, os, torch
from seqattn.nn import MinGRU, _mingru_fused
records = []
handler = logging.Handler(); handler.emit = records.append
logging.getLogger("seqattn.nn._mingru_fused").addHandler(handler)
layer = MinGRU(3, 5, mode="fused").double()
ref = MinGRU(3, 5, mode="sequential").double(); ref.load_state_dict(layer.state_dict())
x = torch.randn(2, 6, 3, dtype=torch.float64)
for _ in range(2):
    out = layer(x, lengths=torch.tensor([6, 3]))[0]
torch.testing.assert_close(out, ref(x, lengths=torch.tensor([6, 3]))[0], rtol=0, atol=0)
assert not layer._fused(x) and _mingru_fused.load() is None
assert "SEQATTN_NO_EXT" in _mingru_fused.unavailable_reason()
assert len(records) == 1, records
print("ok")
"""


def test_fallback_to_python_when_the_extension_is_disabled():
    """SEQATTN_NO_EXT=1: mode 'fused' and 'auto' run the Python path, the reason logged once,
    nothing printed. A fresh process: the loader decides once per process."""
    env = {"SEQATTN_NO_EXT": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", _FALLBACK], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n" and done.stderr == ""


_HUGEPAGES = """
import torch
from seqattn.nn import MinGRU, _mingru_fused
assert _mingru_fused.load() is not None
layer = MinGRU(8, 256, mode="fused").double()
ref = MinGRU(8, 256, mode="sequential").double(); ref.load_state_dict(layer.state_dict())
x = torch.randn(4, 2048, 8, dtype=torch.float64)  # 33 MB buffers: over the 8 MB threshold
outs = [m(x)[0] for m in (layer, ref)]
grads = [torch.autograd.grad(o.square().sum(), list(m.parameters())) for o, m in
         zip(outs, (layer, ref))]
torch.testing.assert_close(outs[0], outs[1], rtol=1e-10, atol=1e-10)
for a, b in zip(*grads):
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
print("ok")
"""


@needs_ext
def test_huge_page_buffers_change_nothing():
    """SEQATTN_HUGEPAGES=1 (opt-in madvise of the large buffers): the same numbers."""
    env = {"SEQATTN_HUGEPAGES": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    # the same extension cache as this process (else a second build, which a loaded machine
    # can take minutes over: a killed build once left a lock behind)
    env.update({k: os.environ[k] for k in ("HOME", "TORCH_EXTENSIONS_DIR") if k in os.environ})
    done = subprocess.run([sys.executable, "-c", _HUGEPAGES], capture_output=True, text=True,
                          env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"

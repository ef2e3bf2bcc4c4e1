"""LocalAttention's window backend (only the 2D + 1 window is computed) against the full-row
reference (scores for every source position, masked outside the window): same outputs, weights
and gradients in float64, windows clipped at both ends, ragged sources, D > S, mixed centres."""

import pytest
import torch

import seqattn.functional as sf
import seqattn.nn as snn
from seqattn.nn.attention.local import LocalAttention

DQ, DK, DV = 5, 4, 3


def _pair(mode, window, score="general", renormalize=False, seed=0):
    torch.manual_seed(seed)
    ref = LocalAttention(DQ, DK, window, mode, score, backend="reference", renormalize=renormalize)
    ref = ref.double()
    win = LocalAttention(DQ, DK, window, mode, score, renormalize=renormalize).double()
    win.load_state_dict(ref.state_dict())
    assert win.backend == "window"
    return ref, win


def _inputs(b, t, s, seed=1, one_step=False):
    g = torch.Generator().manual_seed(seed)
    shape = (b, DQ) if one_step else (b, t, DQ)
    q = torch.randn(*shape, generator=g, dtype=torch.double) * 2
    k = torch.randn(b, s, DK, generator=g, dtype=torch.double)
    v = torch.randn(b, s, DV, generator=g, dtype=torch.double)
    return q, k, v


def _compare(ref, win, args, kwargs):
    """Outputs, full-row weights and the gradients of every input and parameter agree."""
    outs = []
    for layer in (ref, win):
        layer.zero_grad()
        leaves = [a.detach().clone().requires_grad_(True) for a in args]
        ctx, w = layer(*leaves, **kwargs)
        g = torch.Generator().manual_seed(7)
        loss = (ctx * torch.randn(ctx.shape, generator=g, dtype=ctx.dtype)).sum()
        loss = loss + (w * torch.randn(w.shape, generator=g, dtype=w.dtype)).sum()
        loss.backward()
        grads = [a.grad for a in leaves] + [p.grad for p in layer.parameters()]
        outs.append((ctx, w, grads))
    (c0, w0, g0), (c1, w1, g1) = outs
    torch.testing.assert_close(c1, c0, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(w1, w0, rtol=1e-12, atol=1e-13)
    assert torch.equal(w1 == 0, w0 == 0)  # the same support (window, mask, source ends)
    for a, b in zip(g1, g0, strict=True):
        if b is None:
            assert a is None or torch.all(a == 0)
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    return w0


CASES = [  # (mode, window D, score, B, T, S)
    ("local-m", 1, "general", 2, 6, 9),
    ("local-m", 2, "dot", 3, 11, 7),  # steps past the source's end: empty windows
    ("local-m", 0, "concat", 2, 4, 5),
    ("local-m", 7, "general", 2, 5, 6),  # D > S: the window covers everything
    ("local-p", 2, "general", 3, 4, 12),
    ("local-p", 3, "concat", 2, 5, 8),
    ("local-p", 1, "dot", 2, 3, 4),
    ("local-p", 0, "general", 2, 3, 6),  # σ = 0: a one-position window
    ("local-p", 9, "concat", 2, 3, 5),  # D > S
]


@pytest.mark.parametrize("mode, window, score, b, t, s", CASES)
def test_window_matches_full_row(mode, window, score, b, t, s):
    ref, win = _pair(mode, window, score) if score != "dot" else _dot_pair(mode, window)
    q, k, v = _inputs(b, t, s)
    if score == "dot":  # the dot score needs Dk = Dq
        k = torch.randn(b, s, DQ, generator=torch.Generator().manual_seed(2), dtype=torch.double)
    lengths = [s] + [max(1, s - 3 * i) for i in range(1, b)]  # ragged sources
    kwargs = {"mask": sf.padding_mask(lengths)}
    if mode == "local-m":  # different centres per row, some outside the source
        kwargs["position"] = torch.arange(t).double().unsqueeze(0) + torch.arange(b).unsqueeze(1)
    w = _compare(ref, win, (q, k, v), kwargs)
    assert torch.all(w.sum(-1) <= 1 + 1e-12)


def _dot_pair(mode, window):
    torch.manual_seed(0)
    ref = LocalAttention(DQ, DQ, window, mode, "dot", backend="reference").double()
    win = LocalAttention(DQ, DQ, window, mode, "dot").double()
    win.load_state_dict(ref.state_dict())
    return ref, win


@pytest.mark.parametrize("mode", ["local-m", "local-p"])
def test_one_step_default_positions_and_no_mask(mode):
    ref, win = _pair(mode, 2, renormalize=mode == "local-p")
    q, k, v = _inputs(4, 1, 10, one_step=True)
    kwargs = {"position": torch.tensor([0.0, 1.0, 8.0, 9.0])} if mode == "local-m" else {}
    _compare(ref, win, (q, k, v), kwargs)  # windows clipped at the start and at the end
    q, k, v = _inputs(2, 6, 10)
    _compare(ref, win, (q, k, v), {})  # local-m: positions 0..T-1 by default


def test_clipped_both_ends_and_fractional_centres():
    ref, win = _pair("local-m", 3)
    q, k, v = _inputs(3, 4, 5)
    pos = torch.tensor([[-2.5, 0.5, 2.2, 4.9], [1.5, -4.0, 8.0, 2.0], [2.0, 2.0, 2.0, 2.0]])
    w = _compare(ref, win, (q, k, v), {"position": pos.double()})
    assert torch.all(w[1, 1] == 0)  # the window [-7, -1] misses the source
    mask = torch.tensor([[1, 1, 0, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    w = _compare(ref, win, (q, k, v), {"position": pos.double(), "mask": mask.unsqueeze(1)})
    assert torch.all(w[2] == 0)  # a fully masked source: zero weights, finite gradients


def test_local_p_predicted_centres_differ_and_gradient_reaches_predictor():
    ref, win = _pair("local-p", 2)
    q, k, v = _inputs(3, 5, 20, seed=3)
    mask = sf.padding_mask([20, 13, 6])
    _compare(ref, win, (q, k, v), {"mask": mask})
    p = win.predict_position(q, mask.sum(-1))
    assert p.max() - p.min() > 2  # the batch really has different centres
    _, w = win(q, k, v, mask=mask)
    w.sum().backward()
    assert win.position_proj.weight.grad.abs().sum() > 0


def test_attend_window_weights_scatter_to_the_full_row():
    win = snn.LocalAttention(DQ, DK, window=2, mode="local-p").double()
    q, k, v = _inputs(2, 3, 30)
    out = win.attend_window(q, k, v)
    assert out.weights.shape == (2, 3, 5) and out.index.shape == (2, 3, 5)
    full = torch.zeros(2, 3, 30, dtype=torch.double).scatter_add(-1, out.index, out.weights)
    ctx, w = win(q, k, v)
    torch.testing.assert_close(w, full)
    torch.testing.assert_close(ctx, out.context)


def test_window_float32_close_and_bad_backend():
    torch.manual_seed(0)
    ref = LocalAttention(DQ, DK, 3, "local-p", backend="reference")
    win = LocalAttention(DQ, DK, 3, "local-p")
    win.load_state_dict(ref.state_dict())
    q, k, v = (x.float() for x in _inputs(2, 7, 40))
    for a, b in zip(win(q, k, v), ref(q, k, v), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="expected backend in"):
        LocalAttention(DQ, DK, 3, "local-p", backend="fast")


@pytest.mark.parametrize(
    "extra",
    [
        {"luong_attention": "local-m", "local_window": 1},
        {"luong_attention": "local-p", "local_window": 2, "input_feeding": False},
        {"luong_attention": "local-p", "local_window": 1, "luong_score": "concat"},
    ],
)
def test_seq2seq_decoder_same_numbers_with_either_backend(extra):
    """The Luong decoder's logits, attention and gradients do not depend on the backend."""
    from seqattn.models.seq2seq import Seq2Seq, Seq2SeqConfig

    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed_dim=8, hidden_size=8, dropout=0.0,
                        decoder="luong", **extra)  # fmt: skip
    model = Seq2Seq(cfg).double()
    g = torch.Generator().manual_seed(1)
    src, tgt = torch.randint(3, 13, (3, 9), generator=g), torch.randint(3, 11, (3, 7), generator=g)
    lengths = torch.tensor([9, 5, 2])
    src[1, 5:], src[2, 2:] = 0, 0
    results = []
    for backend in ("reference", "window"):
        model.decoder.attention.backend = backend
        model.zero_grad()
        out = model(src, lengths, tgt)
        out.logits.square().sum().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((out.logits.detach(), out.attention.detach(), grads))
    (l0, a0, g0), (l1, a1, g1) = results
    torch.testing.assert_close(l1, l0, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(a1, a0, rtol=1e-12, atol=1e-13)
    assert len(g0) == len(g1)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)

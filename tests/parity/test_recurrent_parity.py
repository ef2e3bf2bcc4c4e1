"""Our RNN/LSTM/GRU layers and cells against torch.nn in float64, over a randomised grid.

Outputs, final states and the gradients with respect to the input, the initial states and
every parameter must agree within 1e-10 after copying torch's weights with strict=True.
The grid runs for every backend: the reference Python loop, the fast path (compiled engine
where the extension builds, else its Python engine; no proj_size) and torch's own kernels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import seqattn.nn as snn

TOL = 1e-10
MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


@dataclass(frozen=True)
class Config:
    mode: str
    num_layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    lengths: str  # "equal" | "ragged" (lengths=) | "packed" | "packed_sorted"
    init_state: bool
    proj_size: int
    input_size: int
    hidden_size: int
    steps: int
    batch: int
    seed: int

    def __str__(self) -> str:
        return (
            f"{self.mode}-L{self.num_layers}-{'bi' if self.bidirectional else 'uni'}-"
            f"{'bf' if self.batch_first else 'tf'}-{'b' if self.bias else 'nob'}-"
            f"{self.lengths}-{'h0' if self.init_state else 'noh0'}-p{self.proj_size}-"
            f"I{self.input_size}H{self.hidden_size}T{self.steps}B{self.batch}-s{self.seed}"
        )


def _grid(n: int = 240) -> list[Config]:
    rng = random.Random(20261121)
    configs = []
    for i in range(n):
        mode = MODES[i % 4]  # every mode equally often
        hidden = rng.randint(2, 6)
        proj = rng.choice([0, 0, 1]) * rng.randint(1, hidden - 1) if mode == "LSTM" else 0
        configs.append(
            Config(
                mode=mode,
                num_layers=rng.randint(1, 3),
                bidirectional=rng.random() < 0.5,
                batch_first=rng.random() < 0.5,
                bias=rng.random() < 0.75,
                lengths=rng.choice(["equal", "ragged", "packed", "packed_sorted"]),
                init_state=rng.random() < 0.5,
                proj_size=proj,
                input_size=rng.randint(1, 5),
                hidden_size=hidden,
                steps=rng.randint(1, 7),
                batch=rng.randint(1, 4),
                seed=i,
            )
        )
    return configs


GRID = _grid()


def _make_pair(cfg: Config, backend: str = "reference"):
    kwargs = dict(
        num_layers=cfg.num_layers,
        bias=cfg.bias,
        batch_first=cfg.batch_first,
        bidirectional=cfg.bidirectional,
    )
    ours_kw = {"backend": backend}
    if cfg.mode.startswith("RNN"):
        nl = "tanh" if cfg.mode == "RNN_TANH" else "relu"
        ref = torch.nn.RNN(cfg.input_size, cfg.hidden_size, nonlinearity=nl, **kwargs)
        ours = snn.RNN(cfg.input_size, cfg.hidden_size, nonlinearity=nl, **kwargs, **ours_kw)
    elif cfg.mode == "LSTM":
        ref = torch.nn.LSTM(cfg.input_size, cfg.hidden_size, proj_size=cfg.proj_size, **kwargs)
        ours = snn.LSTM(
            cfg.input_size, cfg.hidden_size, proj_size=cfg.proj_size, **kwargs, **ours_kw
        )
    else:
        ref = torch.nn.GRU(cfg.input_size, cfg.hidden_size, **kwargs)
        ours = snn.GRU(cfg.input_size, cfg.hidden_size, **kwargs, **ours_kw)
    ref, ours = ref.double(), ours.double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    return ours, ref


def _lengths(cfg: Config, gen: torch.Generator) -> list[int]:
    if cfg.lengths == "equal":
        return [cfg.steps] * cfg.batch
    lens = torch.randint(1, cfg.steps + 1, (cfg.batch,), generator=gen).tolist()
    lens[int(torch.randint(cfg.batch, (1,), generator=gen))] = cfg.steps  # T is attained
    if cfg.lengths == "packed_sorted":
        lens.sort(reverse=True)
    return lens


def _run(module, cfg: Config, x, lens, state, ours: bool):
    """Forward in the config's input form; returns padded time-major output and state."""
    if cfg.lengths in ("packed", "packed_sorted"):
        packed = pack_padded_sequence(
            x, lens, batch_first=cfg.batch_first, enforce_sorted=cfg.lengths == "packed_sorted"
        )
        out, hn = module(packed, state)
        assert isinstance(out, PackedSequence)
        out, _ = pad_packed_sequence(out, batch_first=cfg.batch_first, total_length=cfg.steps)
    elif cfg.lengths == "ragged":
        if ours:
            out, hn = module(x, state, lengths=lens)
        else:
            packed = pack_padded_sequence(
                x, lens, batch_first=cfg.batch_first, enforce_sorted=False
            )
            out, hn = module(packed, state)
            out, _ = pad_packed_sequence(out, batch_first=cfg.batch_first, total_length=cfg.steps)
    else:
        out, hn = module(x, state)
    return out, hn


@pytest.mark.parametrize("cfg", GRID, ids=str)
def test_layer_matches_torch(cfg: Config):
    assert len(GRID) >= 200
    _check_layer(cfg, "reference")


FAST_GRID = [c for c in GRID if not c.proj_size]


@pytest.mark.parametrize("cfg", FAST_GRID, ids=str)
def test_fast_backend_matches_torch(cfg: Config):
    assert len(FAST_GRID) >= 180
    _check_layer(cfg, "fast")


@pytest.mark.parametrize("cfg", GRID[::3], ids=str)
def test_native_backend_matches_torch(cfg: Config):
    _check_layer(cfg, "native")


def _check_layer(cfg: Config, backend: str) -> None:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    ours, ref = _make_pair(cfg, backend)
    shape = (cfg.batch, cfg.steps) if cfg.batch_first else (cfg.steps, cfg.batch)
    x = torch.randn(*shape, cfg.input_size, dtype=torch.double, generator=gen)
    lens = _lengths(cfg, gen)
    d = 2 if cfg.bidirectional else 1
    out_h = cfg.proj_size or cfg.hidden_size
    states = None
    if cfg.init_state:
        h0 = torch.randn(cfg.num_layers * d, cfg.batch, out_h, dtype=torch.double, generator=gen)
        states = [h0]
        if cfg.mode == "LSTM":
            states.append(
                torch.randn(
                    cfg.num_layers * d,
                    cfg.batch,
                    cfg.hidden_size,
                    dtype=torch.double,
                    generator=gen,
                )  # fmt: skip
            )

    results = []
    for module, is_ours in ((ours, True), (ref, False)):
        xi = x.clone().requires_grad_(True)
        si = [s.clone().requires_grad_(True) for s in states] if states else []
        state = None if not si else (tuple(si) if cfg.mode == "LSTM" else si[0])
        out, hn = _run(module, cfg, xi, lens, state, is_ours)
        finals = list(hn) if isinstance(hn, tuple) else [hn]
        # A random linear functional of everything, so every output reaches the loss.
        g = torch.Generator().manual_seed(cfg.seed + 1)
        loss = (out * torch.randn(out.shape, dtype=torch.double, generator=g)).sum()
        for f in finals:
            loss = loss + (f * torch.randn(f.shape, dtype=torch.double, generator=g)).sum()
        params = list(module.parameters())
        grads = torch.autograd.grad(loss, [xi, *si, *params], allow_unused=False)
        results.append((out, finals, grads))

    (o1, f1, g1), (o2, f2, g2) = results
    torch.testing.assert_close(o1, o2, atol=TOL, rtol=0)
    assert len(f1) == len(f2)
    for a, b in zip(f1, f2, strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)
    assert len(g1) == len(g2)
    names = ["input", *[f"state{i}" for i in range(len(states or []))]]
    names += [n for n, _ in ours.named_parameters()]
    for name, a, b in zip(names, g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unbatched_layer_matches_torch(mode, bidirectional):
    cfg = Config(mode, 2, bidirectional, False, True, "equal", True, 0, 3, 4, 5, 1, 0)
    ours, ref = _make_pair(cfg)
    x = torch.randn(5, 3, dtype=torch.double)
    d = 2 if bidirectional else 1
    h0 = torch.randn(2 * d, 4, dtype=torch.double)
    state = (h0, torch.randn_like(h0)) if mode == "LSTM" else h0
    o1, s1 = ours(x, state)
    o2, s2 = ref(x, state)
    torch.testing.assert_close(o1, o2, atol=TOL, rtol=0)
    for a, b in zip(s1 if mode == "LSTM" else [s1], s2 if mode == "LSTM" else [s2], strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)


CELLS = [
    ("RNN_TANH", snn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    ("RNN_RELU", snn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    ("LSTM", snn.LSTMCell, torch.nn.LSTMCell, {}),
    ("GRU", snn.GRUCell, torch.nn.GRUCell, {}),
]


@pytest.mark.parametrize("mode,ours_cls,ref_cls,kw", CELLS, ids=[c[0] for c in CELLS])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cell_matches_torch(mode, ours_cls, ref_cls, kw, bias, batched, with_state):
    ref = ref_cls(3, 4, bias=bias, **kw).double()
    ours = ours_cls(3, 4, bias=bias, **kw).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    lead = (5,) if batched else ()
    x = torch.randn(*lead, 3, dtype=torch.double)
    states = [torch.randn(*lead, 4, dtype=torch.double) for _ in range(2 if mode == "LSTM" else 1)]
    results = []
    for module in (ours, ref):
        xi = x.clone().requires_grad_(True)
        si = [s.clone().requires_grad_(True) for s in states] if with_state else []
        hx = None if not si else (tuple(si) if mode == "LSTM" else si[0])
        out = module(xi, hx)
        outs = list(out) if isinstance(out, tuple) else [out]
        loss = sum((o * (i + 1.5) * torch.linspace(-1, 1, o.shape[-1])).sum()
                   for i, o in enumerate(outs))  # fmt: skip
        grads = torch.autograd.grad(loss, [xi, *si, *module.parameters()])
        results.append((outs, grads))
    for a, b in zip(results[0][0] + list(results[0][1]), results[1][0] + list(results[1][1]),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)


@pytest.mark.parametrize("ours_cls,ref_cls", [(snn.RNN, torch.nn.RNN), (snn.LSTM, torch.nn.LSTM),
                                              (snn.GRU, torch.nn.GRU)])  # fmt: skip
def test_state_dict_loads_both_ways(ours_cls, ref_cls):
    ours = ours_cls(5, 7, num_layers=2, bidirectional=True)
    ref = ref_cls(5, 7, num_layers=2, bidirectional=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)
    x = torch.randn(6, 2, 5)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_dropout_between_layers_only_in_training(mode):
    layer = getattr(snn, mode)(3, 8, num_layers=3, dropout=0.5)
    ref = getattr(torch.nn, mode)(3, 8, num_layers=3, dropout=0.5)
    layer.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3)
    layer.eval()
    ref.eval()
    torch.testing.assert_close(layer(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)
    layer.train()
    a, b = layer(x)[0], layer(x)[0]
    assert not torch.equal(a, b), "dropout had no effect in training mode"
    single = getattr(snn, mode)(3, 8, num_layers=1, dropout=0.5).train()
    torch.testing.assert_close(single(x)[0], single(x)[0])  # no dropout after the last layer

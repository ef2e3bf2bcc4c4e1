"""GATConv against PyTorch Geometric's GATConv in float64: outputs, attention, gradients."""

from __future__ import annotations

import random

import pytest
import torch

pyg_nn = pytest.importorskip("torch_geometric.nn", reason="torch_geometric (test-only) absent")

from seqattn.nn.graph import GATConv  # noqa: E402


def _graph(rng: random.Random, n_src: int, n_dst: int, gen: torch.Generator) -> torch.Tensor:
    """Random edges with duplicates, self-loops and (usually) some isolated destinations."""
    e = rng.randint(0, 4 * max(n_src, n_dst))
    src = torch.randint(0, n_src, (e,), generator=gen)
    dst = torch.randint(0, max(1, n_dst - 2), (e,), generator=gen)  # the last 2 get no edges
    edge_index = torch.stack([src, dst])
    if e and rng.random() < 0.7:  # duplicate some edges
        edge_index = torch.cat([edge_index, edge_index[:, : rng.randint(1, e)]], dim=1)
    if rng.random() < 0.5:  # explicit self-loops (removed and re-added by add_self_loops)
        k = min(n_src, n_dst, 3)
        edge_index = torch.cat([edge_index, torch.arange(k).expand(2, -1)], dim=1)
    return edge_index


def _case(trial: int):
    rng = random.Random(trial)
    gen = torch.Generator().manual_seed(trial)
    bipartite = trial % 4 == 3
    shared_lin = bipartite and rng.random() < 0.5  # int in_channels, (x_src, x_dst) input
    kwargs = dict(
        heads=rng.choice([1, 2, 3, 4]),
        concat=rng.random() < 0.5,
        negative_slope=rng.choice([0.2, 0.01, 0.5]),
        add_self_loops=rng.random() < 0.6,
        bias=rng.random() < 0.8,
    )
    out_channels = rng.choice([1, 3, 5])
    if bipartite:
        n_src, n_dst = rng.randint(2, 9), rng.randint(3, 9)
        f_src = rng.randint(1, 6)
        f_dst = f_src if shared_lin else rng.randint(1, 6)
        in_channels = f_src if shared_lin else (f_src, f_dst)
        x = (
            torch.randn(n_src, f_src, generator=gen, dtype=torch.float64),
            torch.randn(n_dst, f_dst, generator=gen, dtype=torch.float64),
        )
    else:
        n_src = n_dst = rng.randint(3, 12)
        in_channels = rng.randint(1, 7)
        x = torch.randn(n_src, in_channels, generator=gen, dtype=torch.float64)
    return in_channels, out_channels, kwargs, x, _graph(rng, n_src, n_dst, gen)


def _leaves(x):
    xs = x if isinstance(x, tuple) else (x,)
    return tuple(t.clone().requires_grad_(True) for t in xs)


@pytest.mark.parametrize("trial", range(40))
def test_gatconv_matches_pyg(trial):
    in_channels, out_channels, kwargs, x, edge_index = _case(trial)
    ref = pyg_nn.GATConv(in_channels, out_channels, **kwargs).double()
    with torch.no_grad():  # PyG initialises the bias to zero; make it count
        if ref.bias is not None:
            ref.bias.normal_()
    ours = GATConv(in_channels, out_channels, **kwargs).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert set(ours.state_dict()) == set(ref.state_dict())

    xr, xo = _leaves(x), _leaves(x)
    arg_r = xr if isinstance(x, tuple) else xr[0]
    arg_o = xo if isinstance(x, tuple) else xo[0]
    out_r, (ei_r, a_r) = ref(arg_r, edge_index, return_attention_weights=True)
    out_o, (ei_o, a_o) = ours(arg_o, edge_index, return_attention_weights=True)

    torch.testing.assert_close(out_o, out_r, rtol=1e-10, atol=1e-12)
    assert torch.equal(ei_o, ei_r)
    torch.testing.assert_close(a_o, a_r, rtol=1e-10, atol=1e-12)

    gen = torch.Generator().manual_seed(1000 + trial)
    g_out = torch.randn(out_r.shape, generator=gen, dtype=torch.float64)
    g_att = torch.randn(a_r.shape, generator=gen, dtype=torch.float64)
    # gradients through the outputs and through the attention coefficients themselves
    grads_r = torch.autograd.grad(
        (out_r * g_out).sum() + (a_r * g_att).sum(), [*xr, *ref.parameters()], allow_unused=True
    )
    grads_o = torch.autograd.grad(
        (out_o * g_out).sum() + (a_o * g_att).sum(), [*xo, *ours.parameters()], allow_unused=True
    )
    for gr, go in zip(grads_r, grads_o, strict=True):
        if gr is None:
            assert go is None or not go.any()
        else:
            torch.testing.assert_close(go, gr, rtol=1e-9, atol=1e-11)


def test_isolated_nodes_and_no_edges_match_pyg():
    torch.manual_seed(0)
    ref = pyg_nn.GATConv(4, 3, heads=2, add_self_loops=False).double()
    ours = GATConv(4, 3, heads=2, add_self_loops=False).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(5, 4, dtype=torch.float64)
    for edge_index in (torch.tensor([[0, 1], [1, 1]]), torch.zeros(2, 0, dtype=torch.int64)):
        torch.testing.assert_close(ours(x, edge_index), ref(x, edge_index))
        # a node with no incoming edge gets exactly the bias (zero here), never NaN
        assert (ours(x, edge_index)[2:] == 0).all()


def test_state_dict_loads_both_ways_and_eval_dropout_is_off():
    ref = pyg_nn.GATConv((3, 5), 4, heads=2, dropout=0.6).double()
    ours = GATConv((3, 5), 4, heads=2, dropout=0.6).double()
    ref.load_state_dict(ours.state_dict(), strict=True)
    ref.eval(), ours.eval()
    x = (torch.randn(6, 3, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64))
    edge_index = torch.tensor([[0, 5, 2, 2], [0, 1, 3, 3]])
    torch.testing.assert_close(ours(x, edge_index), ref(x, edge_index))

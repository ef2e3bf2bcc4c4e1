"""GATv2Conv against PyTorch Geometric's GATv2Conv in float64: outputs, attention, gradients."""

from __future__ import annotations

import random

import pytest
import torch

pyg_nn = pytest.importorskip("torch_geometric.nn", reason="torch_geometric (test-only) absent")

from tests.parity.test_gat_parity import _graph, _leaves  # noqa: E402

from seqattn.nn.graph import GATv2Conv  # noqa: E402


def _case(trial: int):
    rng = random.Random(trial)
    gen = torch.Generator().manual_seed(trial)
    bipartite = trial % 4 == 3
    share = rng.random() < 0.4
    kwargs = dict(
        heads=rng.choice([1, 2, 3, 4]),
        concat=rng.random() < 0.5,
        negative_slope=rng.choice([0.2, 0.01, 0.5]),
        add_self_loops=rng.random() < 0.6,
        bias=rng.random() < 0.8,
        share_weights=share,
        residual=rng.random() < 0.4,
    )
    out_channels = rng.choice([1, 3, 5])
    if bipartite:
        n_src, n_dst = rng.randint(2, 9), rng.randint(3, 9)
        f_src = rng.randint(1, 6)
        f_dst = f_src if share else rng.randint(1, 6)
        in_channels = (f_src, f_dst)
        x = (
            torch.randn(n_src, f_src, generator=gen, dtype=torch.float64),
            torch.randn(n_dst, f_dst, generator=gen, dtype=torch.float64),
        )
    else:
        n_src = n_dst = rng.randint(3, 12)
        in_channels = rng.randint(1, 7)
        x = torch.randn(n_src, in_channels, generator=gen, dtype=torch.float64)
    return in_channels, out_channels, kwargs, x, _graph(rng, n_src, n_dst, gen)


@pytest.mark.parametrize("trial", range(40))
def test_gatv2conv_matches_pyg(trial):
    in_channels, out_channels, kwargs, x, edge_index = _case(trial)
    ref = pyg_nn.GATv2Conv(in_channels, out_channels, **kwargs).double()
    with torch.no_grad():  # PyG initialises the biases to zero; make them count
        for name, p in ref.named_parameters():
            if "bias" in name:
                p.normal_()
    ours = GATv2Conv(in_channels, out_channels, **kwargs).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert set(ours.state_dict()) == set(ref.state_dict())
    if kwargs["share_weights"]:
        assert ours.lin_r is ours.lin_l

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


def test_eval_dropout_is_off_and_state_dict_loads_back():
    ref = pyg_nn.GATv2Conv((3, 5), 4, heads=2, dropout=0.6).double()
    ours = GATv2Conv((3, 5), 4, heads=2, dropout=0.6).double()
    ref.load_state_dict(ours.state_dict(), strict=True)
    ref.eval(), ours.eval()
    x = (torch.randn(6, 3, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64))
    edge_index = torch.tensor([[0, 5, 2, 2], [0, 1, 3, 3]])
    torch.testing.assert_close(ours(x, edge_index), ref(x, edge_index))


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="share_weights"):
        GATv2Conv((3, 4), 2, share_weights=True)
    with pytest.raises(ValueError, match="dropout"):
        GATv2Conv(3, 2, dropout=1.0)

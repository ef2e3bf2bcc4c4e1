"""models/gat.py: the default GAT draws and computes as before; layer=gatv2, residual, norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqattn.models.gat import GAT, GATConfig
from seqattn.nn.graph import GATConv, GATv2Conv

EDGES = torch.tensor([[0, 1, 2, 3, 4, 0, 2, 5], [1, 2, 3, 4, 5, 3, 0, 1]])


def _graph(dtype=torch.float64, n=6, f=7):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(n, f, generator=g, dtype=dtype)
    x[x < 0.6] = 0  # bag-of-words-like: mostly zeros
    return x, EDGES


@pytest.mark.parametrize("style", ["pyg", "authors"])
def test_default_gat_draws_and_computes_as_the_stack_of_gatconvs_it_was(style):
    """The model before the layer/residual/norm options: GATConv layers built in order, then
    re-initialised; the same parameters from the same seed and the same training output."""
    authors = style == "authors"
    cfg = GATConfig(in_channels=7, num_classes=3, heads=2, hidden_channels=4, dropout_style=style,
                    attention_bias=authors, init=style)  # fmt: skip
    common = dict(dropout=0.6, input_dropout=0.6, dropout_style=style, attention_bias=authors)
    torch.manual_seed(0)
    old = torch.nn.ModuleList([GATConv(7, 4, heads=2, concat=True, **common),
                               GATConv(8, 3, heads=1, concat=False, **common)])  # fmt: skip
    if authors:
        for layer in old:
            layer.reset_parameters(init="authors")
    torch.manual_seed(0)
    model = GAT(cfg)
    assert model.residuals is None and model.norms is None
    new_state = model.state_dict()
    assert list(new_state) == [f"layers.{k}" for k in old.state_dict()]
    for k, v in old.state_dict().items():
        assert torch.equal(new_state[f"layers.{k}"], v)
    x, ei = _graph(torch.float32)
    for sparse in (False, True):
        xi = x.to_sparse() if sparse else x
        torch.manual_seed(1)
        h = F.elu(old[0](xi, ei))
        expected = old[1](h, ei)
        torch.manual_seed(1)
        assert torch.equal(model.train()(xi, ei), expected)


def test_gatv2_stacks_gatv2convs_dropping_inputs_and_takes_sparse_features():
    cfg = GATConfig(in_channels=7, num_classes=3, heads=2, hidden_channels=4, layer="gatv2")
    model = GAT(cfg).double().eval()
    assert all(isinstance(m, GATv2Conv) for m in model.layers)
    x, ei = _graph()
    l1, l2 = model.layers
    expected = l2(F.elu(l1(x, ei)), ei)
    torch.testing.assert_close(model(x, ei), expected, rtol=0, atol=0)
    torch.testing.assert_close(model(x.to_sparse(), ei), expected)  # float64 defaults
    out = model.train()(x.to_sparse(), ei)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_gatv2_sparse_input_dropout_drops_the_non_zeros_then_each_layer_input():
    cfg = GATConfig(in_channels=7, num_classes=3, heads=2, hidden_channels=4, layer="gatv2",
                    attention_dropout=0.0)  # fmt: skip
    model = GAT(cfg).double().train()
    x, ei = _graph()
    torch.manual_seed(2)
    out = model(x.to_sparse(), ei)
    torch.manual_seed(2)
    nz = x != 0
    x_drop = torch.zeros_like(x)
    x_drop[nz] = F.dropout(x[nz], 0.6)  # the stored values only, in COO (row-major) order
    l1, l2 = model.layers
    h = F.dropout(F.elu(l1(x_drop, ei)), 0.6)
    torch.testing.assert_close(out, l2(h, ei))


def test_residual_and_layer_norm_follow_their_definition():
    cfg = GATConfig(in_channels=7, num_classes=3, heads=2, hidden_channels=4, num_layers=3,
                    residual=True, norm="layer")  # fmt: skip
    model = GAT(cfg).double().eval()
    r = model.residuals
    assert [m.lin is None for m in r] == [False, True, False]  # 7->8 projected, 8->8 identity
    assert all(m.lin.bias is None for m in (r[0], r[2]))
    x, ei = _graph()
    l1, l2, l3 = model.layers
    n1, n2 = model.norms
    h = F.elu(n1(l1(x, ei) + x @ r[0].lin.weight.T))
    h = F.elu(n2(l2(h, ei) + h))
    expected = l3(h, ei) + h @ r[2].lin.weight.T
    torch.testing.assert_close(model(x, ei), expected)
    torch.testing.assert_close(model(x.to_sparse(), ei), expected)
    v2 = GAT(GATConfig(in_channels=7, num_classes=3, layer="gatv2", residual=True,
                       norm="batch")).double()  # fmt: skip
    out = v2.train()(x.to_sparse(), ei)
    out.sum().backward()
    assert isinstance(v2.norms[0], torch.nn.BatchNorm1d)
    assert v2.residuals[0].lin.weight.grad is not None


def test_config_errors():
    base = dict(in_channels=4, num_classes=2)
    with pytest.raises(ValueError, match=r"expected layer in \('gat', 'gatv2'\), got 'gcn'"):
        GATConfig(**base, layer="gcn")
    with pytest.raises(ValueError, match=r"expected norm in \(.*\), got 'group'"):
        GATConfig(**base, norm="group")
    with pytest.raises(TypeError, match="expected residual to be a bool, got 1"):
        GATConfig(**base, residual=1)
    with pytest.raises(ValueError, match="expected dropout_style='pyg'.*with layer='gatv2'"):
        GATConfig(**base, layer="gatv2", dropout_style="authors")

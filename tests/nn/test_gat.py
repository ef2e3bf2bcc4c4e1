"""GATConv and the GAT model: a dense reference, invariances, sparse input, dropout, errors,
learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqattn.functional.graph import scatter_sum
from seqattn.models.gat import GAT, GATConfig
from seqattn.nn.graph import GATConv


def _graph(n: int, e: int, seed: int = 0) -> torch.Tensor:
    """Random edges without duplicates or self-loops (so a dense adjacency is the same graph)."""
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randperm(n * n, generator=g)
    pairs = pairs[pairs // n != pairs % n][:e]
    return torch.stack([pairs // n, pairs % n])


def _dense_gat(conv: GATConv, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    """The paper's equations with a dense N x N mask (eq. 1-6), independent of the layer's code."""
    n, h, c = x.shape[0], conv.heads, conv.out_channels
    wh = (x @ conv.lin.weight.T).view(n, h, c)
    adj = torch.zeros(n, n, dtype=torch.bool)  # adj[i, j]: i attends to j (edge j -> i)
    adj[edge_index[1], edge_index[0]] = True
    if conv.add_self_loops:
        adj |= torch.eye(n, dtype=torch.bool)
    out = []
    for k in range(h):
        a = torch.cat([conv.att_dst[0, k], conv.att_src[0, k]])  # a^T [W h_i || W h_j]
        e = torch.stack(
            [torch.stack([a @ torch.cat([wh[i, k], wh[j, k]]) for j in range(n)]) for i in range(n)]
        )
        e = F.leaky_relu(e, conv.negative_slope).masked_fill(~adj, float("-inf"))
        alpha = torch.softmax(e, dim=1).nan_to_num(0.0)  # a node without neighbours: zeros
        out.append(alpha @ wh[:, k])
    out = torch.stack(out, dim=1)  # (N, H, C)
    out = out.reshape(n, -1) if conv.concat else out.mean(1)
    return out + conv.bias


@pytest.mark.parametrize(
    ("heads", "concat", "loops"), [(1, True, True), (3, True, False), (2, False, True)]
)
def test_matches_dense_equations(heads, concat, loops):
    conv = GATConv(4, 3, heads=heads, concat=concat, add_self_loops=loops).double()
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(6, 4, dtype=torch.float64)
    edge_index = _graph(6, 12)
    torch.testing.assert_close(conv(x, edge_index), _dense_gat(conv, x, edge_index))


def test_attention_sums_to_one_per_node_and_head():
    conv = GATConv(5, 2, heads=4)
    x, edge_index = torch.randn(9, 5), _graph(9, 20, seed=1)
    _, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    assert ei.shape == (2, 20 + 9) and alpha.shape == (29, 4)
    torch.testing.assert_close(scatter_sum(alpha, ei[1], 9), torch.ones(9, 4))


def test_permutation_equivariance_and_edge_order_invariance():
    conv = GATConv(5, 3, heads=2).double()
    x, edge_index = torch.randn(8, 5, dtype=torch.float64), _graph(8, 18, seed=2)
    out = conv(x, edge_index)
    perm = torch.randperm(8)
    inv = torch.argsort(perm)  # node k of the permuted graph is node perm[k]
    torch.testing.assert_close(conv(x[perm], inv[edge_index]), out[perm])
    shuffle = torch.randperm(edge_index.shape[1])
    torch.testing.assert_close(conv(x, edge_index[:, shuffle]), out)


def test_sparse_features_equal_dense():
    conv = GATConv(30, 4, heads=2).double()
    x = torch.rand(10, 30, dtype=torch.float64) * (torch.rand(10, 30) < 0.1)
    edge_index = _graph(10, 25, seed=3)
    xd = x.clone().requires_grad_(True)
    out_d = conv(xd, edge_index)
    grads_d = torch.autograd.grad(out_d.square().sum(), list(conv.parameters()))
    out_s = conv(x.to_sparse(), edge_index)
    grads_s = torch.autograd.grad(out_s.square().sum(), list(conv.parameters()))
    torch.testing.assert_close(out_s, out_d)
    for a, b in zip(grads_s, grads_d, strict=True):
        torch.testing.assert_close(a, b)


def test_sparse_input_dropout_only_touches_nonzeros():
    torch.manual_seed(0)
    conv = GATConv(200, 1, heads=1, add_self_loops=False, bias=False, input_dropout=0.5)
    with torch.no_grad():
        conv.lin.weight.fill_(1.0)
    x = torch.zeros(1, 200)
    x[0, :100] = 1.0
    edge_index = torch.tensor([[0], [0]])
    with torch.no_grad():
        kept = [conv(x.to_sparse(), edge_index).item() for _ in range(200)]
    # 100 non-zeros each kept with p = 0.5 and scaled by 2: mean 100, std 10
    assert 95 < sum(kept) / len(kept) < 105
    assert len(set(kept)) > 5
    conv.eval()
    assert conv(x.to_sparse(), edge_index).item() == 100.0


def test_dropout_in_training_only():
    conv = GATConv(4, 3, heads=2, dropout=0.5, input_dropout=0.5)
    x, edge_index = torch.randn(7, 4), _graph(7, 14, seed=4)
    conv.train()
    a, b = conv(x, edge_index), conv(x, edge_index)
    assert not torch.equal(a, b)
    conv.eval()
    torch.testing.assert_close(conv(x, edge_index), conv(x, edge_index), rtol=0, atol=0)


def test_zero_in_degree_node_gets_bias_and_finite_grads():
    conv = GATConv(3, 2, heads=2, add_self_loops=False)
    with torch.no_grad():
        conv.bias.fill_(0.25)
    x = torch.randn(4, 3, requires_grad=True)
    out = conv(x, torch.tensor([[0, 1, 2], [1, 2, 1]]))  # nodes 0 and 3 receive nothing
    assert (out[[0, 3]] == 0.25).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and all(
        torch.isfinite(p.grad).all() for p in conv.parameters()
    )


def test_bipartite_shapes():
    conv = GATConv((3, 5), 4, heads=2)
    x_src, x_dst = torch.randn(6, 3), torch.randn(2, 5)
    out, (ei, alpha) = conv((x_src, x_dst), torch.tensor([[0, 5, 3], [0, 1, 1]]),
                            return_attention_weights=True)  # fmt: skip
    # the loop 0 -> 0 is removed, then one loop per node of min(N_src, N_dst) = 2 is appended
    assert out.shape == (2, 8) and alpha.shape == (4, 2)
    assert ei.tolist() == [[5, 3, 0, 1], [1, 1, 0, 1]]
    assert sorted(conv.state_dict()) == ["att_dst", "att_src", "bias", "lin_dst.weight",
                                         "lin_src.weight"]  # fmt: skip


def test_parameter_names_are_pygs():
    assert sorted(GATConv(3, 4, heads=2).state_dict()) == [
        "att_dst", "att_src", "bias", "lin.weight",
    ]  # fmt: skip
    assert GATConv(3, 4, heads=2).att_src.shape == (1, 2, 4)


@pytest.mark.parametrize(
    ("x", "edge_index", "error", "message"),
    [
        (torch.randn(4, 3), torch.tensor([[0, 1], [1, 4]]), ValueError,
         r"expected destination node ids of edge_index in \[0, 3\] \(4 nodes\), got ids from 1 "
         r"to 4"),
        (torch.randn(4, 3), torch.tensor([[0, 1], [1, 2]]).float(), TypeError,
         "expected edge_index of dtype torch.int64, got torch.float32"),
        (torch.randn(4, 3), torch.tensor([[0, 1, 2]]), ValueError,
         r"expected edge_index of shape \(2, E\), got \(1, 3\)"),
        (torch.randn(4, 3), torch.zeros(2, 3, 1, dtype=torch.int64), ValueError,
         r"expected edge_index of shape \(2, E\), got \(2, 3, 1\)"),
        (torch.randn(4, 5), torch.tensor([[0], [1]]), ValueError,
         r"expected x of shape \(N, 3\), got \(4, 5\)"),
        (torch.arange(12).view(4, 3), torch.tensor([[0], [1]]), TypeError,
         "expected x of a floating dtype, got torch.int64"),
        ([[1.0, 2.0, 3.0]], torch.tensor([[0], [0]]), TypeError,
         "expected x as a torch.Tensor, got list"),
    ],
)  # fmt: skip
def test_bad_input_messages(x, edge_index, error, message):
    with pytest.raises(error, match=message):
        GATConv(3, 2)(x, edge_index)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="expected heads to be a positive int, got 0"):
        GATConv(3, 2, heads=0)
    with pytest.raises(ValueError, match=r"expected dropout in \[0, 1\), got 1.0"):
        GATConv(3, 2, dropout=1.0)
    with pytest.raises(ValueError, match="expected in_channels as a positive int or a pair"):
        GATConv((3, 4, 5), 2)
    with pytest.raises(ValueError, match="expected a pair"):
        GATConv((3, 4), 2)(torch.randn(2, 3), torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="expected num_layers to be a positive int, got 0"):
        GATConfig(in_channels=3, num_classes=2, num_layers=0)


def test_model_shapes_and_attention():
    model = GAT(GATConfig(in_channels=6, num_classes=3, num_layers=3)).eval()
    x, edge_index = torch.randn(10, 6), _graph(10, 30, seed=5)
    logits, att = model(x, edge_index, return_attention_weights=True)
    assert logits.shape == (10, 3)
    assert [a.shape for _, a in att] == [(40, 8), (40, 8), (40, 1)]
    assert [type(m).__name__ for m in model.layers] == ["GATConv"] * 3
    assert model.layers[0].input_dropout == 0.6 and model.layers[-1].concat is False


def test_model_learns_a_block_graph():
    """Two communities whose features are noise: only the graph tells the classes apart."""
    torch.manual_seed(0)
    n = 80
    y = (torch.arange(n) >= n // 2).long()
    same = y[:, None] == y[None, :]
    adj = (torch.rand(n, n) < torch.where(same, 0.15, 0.01)).triu(1)
    edge_index = (adj | adj.T).nonzero().T.contiguous()
    x = torch.randn(n, 8) + 0.3 * y[:, None].float()
    train = torch.zeros(n, dtype=torch.bool)
    train[torch.cat([torch.arange(6), torch.arange(n // 2, n // 2 + 6)])] = True
    model = GAT(GATConfig(in_channels=8, num_classes=2, dropout=0.2, attention_dropout=0.2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(40):
        model.train()
        loss = F.cross_entropy(model(x, edge_index)[train], y[train])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x, edge_index).argmax(-1)[~train] == y[~train]).float().mean()
    assert acc > 0.9

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


# -- the authors' dataflow (dropout_style="authors", attention_bias, init="authors") -----------


def _pair(heads: int = 3, **kw) -> tuple[GATConv, GATConv]:
    """A PyG-style and an authors-style layer with the same weights (float64)."""
    pyg = GATConv(6, 4, heads=heads, **kw).double()
    authors = GATConv(6, 4, heads=heads, dropout_style="authors", **kw).double()
    authors.load_state_dict(pyg.state_dict())
    return pyg, authors


@pytest.mark.parametrize("sparse", [False, True])
def test_authors_style_equals_pyg_style_in_eval(sparse):
    pyg, authors = _pair(dropout=0.6, input_dropout=0.6)
    x = torch.rand(9, 6, dtype=torch.float64) * (torch.rand(9, 6) < 0.5)
    x = x.to_sparse() if sparse else x
    edge_index = _graph(9, 20, seed=6)
    pyg.eval(), authors.eval()
    torch.testing.assert_close(authors(x, edge_index), pyg(x, edge_index), rtol=0, atol=0)


@pytest.mark.parametrize("sparse", [False, True])
def test_authors_style_draws_one_input_mask_per_head(sparse):
    """Heads with identical weights give identical outputs under one shared input mask (PyG
    style) and different ones under per-head masks (authors' style)."""
    torch.manual_seed(0)
    pyg, authors = _pair(heads=4, input_dropout=0.5)
    with torch.no_grad():
        for conv in (pyg, authors):
            conv.lin.weight.copy_(conv.lin.weight[:4].repeat(4, 1))  # every head = head 0
            conv.att_src.copy_(conv.att_src[:, :1].expand(1, 4, 4))
            conv.att_dst.copy_(conv.att_dst[:, :1].expand(1, 4, 4))
            conv.bias.zero_()
    x = torch.rand(9, 6, dtype=torch.float64) + 0.1
    x = x.to_sparse() if sparse else x
    edge_index = _graph(9, 20, seed=7)
    pyg.train(), authors.train()
    out_pyg = pyg(x, edge_index).view(9, 4, 4)
    for k in range(1, 4):
        torch.testing.assert_close(out_pyg[:, k], out_pyg[:, 0])
    out = authors(x, edge_index).view(9, 4, 4)
    for k in range(1, 4):
        assert (out[:, k] - out[:, 0]).abs().max() > 1e-3


def _reference_authors(conv, x, edge_index, masks, p_in, p_att):
    """The authors' attn_head, head by head, dense N x N (PetarV-/GAT utils/layers.py): drop the
    inputs, project, score from the undropped projection (+ the two score biases), softmax over
    the neighbours, drop the coefficients, drop the projection again, aggregate, add the bias."""
    n, h, c = x.shape[0], conv.heads, conv.out_channels
    x = x.to_dense()
    m_in, m_att, m_val = masks  # (H, N, F), (H, N, N) dense over (i, j), (N, H, C)
    adj = torch.zeros(n, n, dtype=torch.bool)
    adj[edge_index[1], edge_index[0]] = True
    adj |= torch.eye(n, dtype=torch.bool)
    w = conv.lin.weight.view(h, c, -1)
    heads = []
    for k in range(h):
        seq_fts = (x * m_in[k] / (1 - p_in)) @ w[k].T  # (N, C)
        f_dst = seq_fts @ conv.att_dst[0, k] + conv.att_dst_bias[k]  # (N,): row term f_1
        f_src = seq_fts @ conv.att_src[0, k] + conv.att_src_bias[k]  # (N,): column term f_2
        logits = F.leaky_relu(f_dst[:, None] + f_src[None, :], conv.negative_slope)
        coefs = torch.softmax(logits.masked_fill(~adj, float("-inf")), dim=1)
        coefs = coefs * m_att[k] / (1 - p_att)
        vals = coefs @ (seq_fts * m_val[:, k] / (1 - p_in))
        heads.append(vals)
    out = torch.stack(heads, dim=1)  # (N, H, C)
    return (out.reshape(n, -1) if conv.concat else out.mean(1)) + conv.bias


@pytest.mark.parametrize(("sparse", "concat"), [(False, True), (True, True), (False, False)])
def test_authors_dataflow_with_injected_masks_float64(monkeypatch, sparse, concat):
    """Every dropout call is replaced by a recorded mask from a fixed generator; the layer's
    output and gradients must equal the dense per-head reference built from the same masks."""
    import seqattn.nn.graph.gat as gat_module

    p_in, p_att, n, heads = 0.4, 0.3, 7, 3
    gen = torch.Generator().manual_seed(11)
    recorded: list[torch.Tensor] = []

    def fake_dropout(t, p):
        if not p:
            return t
        keep = (torch.rand(t.shape, generator=gen, dtype=t.dtype) >= p).to(t.dtype)
        recorded.append(keep)
        return t * keep / (1 - p)

    monkeypatch.setattr(gat_module, "_dropout", fake_dropout)
    conv = GATConv(6, 4, heads=heads, concat=concat, dropout=p_att, input_dropout=p_in,
                   dropout_style="authors", attention_bias=True).double()  # fmt: skip
    with torch.no_grad():
        conv.att_src_bias.normal_()
        conv.att_dst_bias.normal_()
        conv.bias.normal_()
    x = torch.rand(n, 6, dtype=torch.float64) * (torch.rand(n, 6) < 0.6)
    x = x.to_sparse() if sparse else x
    edge_index = _graph(n, 15, seed=8)
    conv.train()
    out, (ei, _) = conv(x, edge_index, return_attention_weights=True)
    grads = torch.autograd.grad(out.square().sum(), list(conv.parameters()))
    assert len(recorded) == 3  # inputs (all heads at once), coefficients, projected features
    m_in, m_edge, m_val = recorded
    if sparse:  # masks of the stored values only, (H, nnz): scatter them to (H, N, F)
        idx = x.indices()
        dense = torch.zeros(heads, n, 6, dtype=torch.float64)
        dense[:, idx[0], idx[1]] = m_in
        m_in = dense
    assert m_in.shape == (heads, n, 6) and m_val.shape == (n, heads, 4)
    m_att = torch.zeros(heads, n, n, dtype=torch.float64)  # edge j -> i at [k, i, j]
    m_att[:, ei[1], ei[0]] = m_edge.T
    ref = _reference_authors(conv, x, edge_index, (m_in, m_att, m_val), p_in, p_att)
    torch.testing.assert_close(out, ref)
    ref_grads = torch.autograd.grad(ref.square().sum(), list(conv.parameters()))
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_attention_bias_shifts_scores_inside_leaky_relu():
    """Equal biases on all scores would cancel in a softmax; inside the LeakyReLU they do not."""
    conv = GATConv(5, 3, heads=2, attention_bias=True).double().eval()
    x, edge_index = torch.randn(8, 5, dtype=torch.float64), _graph(8, 20, seed=9)
    _, (_, alpha0) = conv(x, edge_index, return_attention_weights=True)
    with torch.no_grad():
        conv.att_src_bias.fill_(3.0)
    _, (_, alpha1) = conv(x, edge_index, return_attention_weights=True)
    assert (alpha1 - alpha0).abs().max() > 1e-3
    assert sorted(conv.state_dict()) == ["att_dst", "att_dst_bias", "att_src", "att_src_bias",
                                         "bias", "lin.weight"]  # fmt: skip


def test_authors_init_is_glorot_per_head():
    torch.manual_seed(0)
    conv = GATConv(300, 8, heads=8, attention_bias=True)
    conv.reset_parameters(init="authors")
    a_w, a_att = (6 / (300 + 8)) ** 0.5, (6 / (8 + 1)) ** 0.5
    assert a_w * 0.98 < conv.lin.weight.abs().max() <= a_w
    assert a_att * 0.8 < conv.att_src.abs().max() <= a_att
    assert (conv.att_src_bias == 0).all() and (conv.bias == 0).all()
    conv.reset_parameters()  # PyG: fans of the whole (64, 300) weight and of (H, C)
    assert conv.lin.weight.abs().max() <= (6 / (300 + 64)) ** 0.5 < a_w * 0.98
    assert conv.att_src.abs().max() <= (6 / 16) ** 0.5
    with pytest.raises(ValueError, match=r"expected init in \('pyg', 'authors'\), got 'tf'"):
        conv.reset_parameters(init="tf")
    with pytest.raises(ValueError, match="expected dropout_style in"):
        GATConv(3, 2, dropout_style="tf")


def test_model_passes_the_authors_options_to_every_layer():
    cfg = GATConfig(in_channels=6, num_classes=3, dropout_style="authors", attention_bias=True,
                    init="authors")  # fmt: skip
    torch.manual_seed(0)
    model = GAT(cfg)
    assert all(m.dropout_style == "authors" and m.att_src_bias is not None for m in model.layers)
    # hidden layer, 8 heads x 8: bound sqrt(6 / (C + 1)) per head, PyG's sqrt(6 / (H + C)) = 0.61
    assert (6 / 16) ** 0.5 < model.layers[0].att_src.abs().max() <= (6 / 9) ** 0.5
    with pytest.raises(ValueError, match="expected init in"):
        GATConfig(in_channels=6, num_classes=3, init="xavier")

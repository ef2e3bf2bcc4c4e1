"""ShowAttendTell: the paper's equations step by step in float64, invariances, a learning test."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqattn.models.show_attend_tell import (
    ShowAttendTell,
    ShowAttendTellConfig,
    caption_loss,
    doubly_stochastic_penalty,
)


def _model(**kw) -> ShowAttendTell:
    cfg = dict(vocab_size=9, channels=(4, 6), num_pools=2, embed_dim=5, hidden_size=7,
               attn_dim=6, dropout=0.0)  # fmt: skip
    cfg.update(kw)
    return ShowAttendTell(ShowAttendTellConfig(**cfg)).double().eval()


def test_step_matches_the_equations_in_float64():
    m = _model()
    images = torch.rand(3, 1, 8, 12, dtype=torch.float64)
    feats, grid = m.encode(images)
    assert grid == (2, 3) and feats.shape == (3, 6, 6 + 2)
    # position features: (row, col) centres in [-1, 1], reading order
    assert torch.allclose(feats[0, :, -2:], torch.tensor(
        [[-1, -1], [-1, 0], [-1, 1], [1, -1], [1, 0], [1, 1]], dtype=torch.float64))  # fmt: skip
    # f_init,h / f_init,c of the mean annotation vector
    h, c = m.init_state(feats)
    mean = feats.mean(1)
    assert torch.allclose(h, torch.tanh(mean @ m.init_h.weight.T + m.init_h.bias))
    assert torch.allclose(c, torch.tanh(mean @ m.init_c.weight.T + m.init_c.bias))
    y = torch.tensor([2, 4, 5])
    logits, (h1, c1), alpha, beta = m.step(y, (h, c), m.memory(feats))
    att = m.attention
    # e_ti = v^T tanh(W h_{t-1} + U a_i + b), alpha = softmax_i(e)
    e = (
        torch.tanh(
            (h @ att.query_proj.weight.T)[:, None]
            + feats @ att.key_proj.weight.T
            + att.key_proj.bias
        )
        @ att.v
    )
    a_ref = torch.softmax(e, -1)
    b_ref = torch.sigmoid(h @ m.f_beta.weight.T + m.f_beta.bias).squeeze(-1)
    z = b_ref[:, None] * (a_ref[:, :, None] * feats).sum(1)
    emb = m.embedding.weight[y]
    ref_cell = torch.nn.LSTMCell(5 + 8, 7).double()
    ref_cell.load_state_dict(m.cell.state_dict())
    h_ref, c_ref = ref_cell(torch.cat([emb, z], -1), (h, c))
    out_ref = (emb + h_ref @ m.L_h.weight.T + z @ m.L_z.weight.T) @ m.L_o.weight.T + m.L_o.bias
    for got, want in ((alpha, a_ref), (beta, b_ref), (h1, h_ref), (c1, c_ref), (logits, out_ref)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.allclose(alpha.sum(-1), torch.ones(3, dtype=torch.float64))
    assert ((beta > 0) & (beta < 1)).all()


def test_variants_without_gate_and_deep_output():
    m = _model(gate=False, deep_output=False, position_features=False)
    out = m(torch.rand(2, 1, 8, 8, dtype=torch.float64), torch.tensor([[2, 4], [2, 5]]))
    assert out.logits.shape == (2, 2, 9) and out.alphas.shape == (2, 2, 4)
    assert torch.equal(out.betas, torch.ones(2, 2, dtype=torch.float64))
    assert not hasattr(m, "L_h") and m.L_o.in_features == 7


def test_doubly_stochastic_penalty():
    a = torch.softmax(torch.randn(2, 3, 5, dtype=torch.float64), -1)
    want = ((1 - a.sum(1)) ** 2).sum(-1).mean()
    torch.testing.assert_close(doubly_stochastic_penalty(a), want)
    # masked steps do not count: equal to the penalty of the truncated attention
    mask = torch.tensor([[True, True, False], [True, True, True]])
    got = doubly_stochastic_penalty(a, mask)
    want = torch.stack([((1 - a[0, :2].sum(0)) ** 2).sum(), ((1 - a[1].sum(0)) ** 2).sum()]).mean()
    torch.testing.assert_close(got, want)
    # zero exactly when every region is attended once in total (T = L, a permutation)
    perm = torch.eye(4, dtype=torch.float64)[torch.tensor([2, 0, 3, 1])][None]
    assert float(doubly_stochastic_penalty(perm)) == 0.0
    with pytest.raises(ValueError, match=r"expected alphas of shape \(B, T, L\)"):
        doubly_stochastic_penalty(a[0])


def test_loss_ignores_padding():
    m = _model()
    images = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    inp = torch.tensor([[2, 4, 5], [2, 6, 0]])
    tgt = torch.tensor([[4, 5, 3], [6, 3, 0]])
    out = m(images, inp)
    total, nll, pen = caption_loss(out, tgt, pad_id=0, alpha_c=0.5)
    ref = F.cross_entropy(
        torch.cat([out.logits[0], out.logits[1, :2]]), torch.tensor([4, 5, 3, 6, 3])
    )
    torch.testing.assert_close(nll, ref)
    torch.testing.assert_close(total, nll + 0.5 * pen)
    # the second caption's padded step changes neither term
    out2 = m(images, torch.tensor([[2, 4, 5], [2, 6, 7]]))
    torch.testing.assert_close(caption_loss(out2, tgt, 0, 0.5)[0], total)


def test_greedy_is_consistent_with_teacher_forcing_and_batch_free():
    torch.manual_seed(1)
    m = _model()
    images = torch.rand(4, 1, 8, 12, dtype=torch.float64)
    g = m.generate(images, max_len=6)
    assert g.tokens.shape[0] == 4 and g.alphas.shape[:2] == g.tokens.shape
    for i in range(4):
        one = m.generate(images[i : i + 1], max_len=6)
        n = int(g.lengths[i])
        assert torch.equal(one.tokens[0, :n], g.tokens[i, :n])
        torch.testing.assert_close(one.alphas[0, :n], g.alphas[i, :n])
        # feeding the greedy words back, teacher forcing picks the same words
        inp = torch.cat([torch.tensor([2]), g.tokens[i, : n - 1]])[None]
        tf = m(images[i : i + 1], inp)
        assert torch.equal(tf.logits[0].argmax(-1), g.tokens[i, :n])
        torch.testing.assert_close(tf.alphas[0], g.alphas[i, :n])
        assert (g.tokens[i, n:] == 0).all() and (g.alphas[i, n:] == 0).all()


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="num_pools"):
        ShowAttendTellConfig(vocab_size=5, channels=(4,), num_pools=2)
    with pytest.raises(ValueError, match="eos_id"):
        ShowAttendTellConfig(vocab_size=3)
    with pytest.raises(ValueError, match="unknown"):
        ShowAttendTellConfig.from_dict({"vocab_size": 9, "colour": 1})
    cfg = ShowAttendTellConfig(vocab_size=9, channels=(4, 6), num_pools=2)
    assert ShowAttendTellConfig.from_dict(cfg.to_dict()) == cfg
    m = _model()
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, H, W\)"):
        m.encode(torch.rand(1, 3, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="divisible by 4"):
        m.encode(torch.rand(1, 1, 10, 8, dtype=torch.float64))


# -- learning ------------------------------------------------------------------------------------

_PATTERNS = [
    torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]] * 2, dtype=torch.float32),  # horizontal stripes
    torch.tensor([[1, 0, 1, 0]] * 4, dtype=torch.float32),  # vertical stripes
    torch.tensor([[1, 0, 1, 0], [0, 1, 0, 1]] * 2, dtype=torch.float32),  # checker
    torch.ones(4, 4),  # solid
]


def _toy(n: int, seed: int):
    """2-3 of 4 patterns in the 4x4 cells of a 1x5 strip, named left to right."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, 4, 20)
    caps, boxes = [], []
    for i in range(n):
        k = int(torch.randint(2, 4, (1,), generator=g))
        cells = sorted(torch.randperm(5, generator=g)[:k].tolist())
        kinds = torch.randint(0, 4, (k,), generator=g).tolist()
        for c, p in zip(cells, kinds, strict=True):
            images[i, 0, :, 4 * c : 4 * c + 4] = _PATTERNS[p]
        caps.append([4 + p for p in kinds])
        boxes.append([(0, 4 * c, 4, 4 * c + 4) for c in cells])
    return images, caps, boxes


def _pad(caps):
    t = max(len(c) for c in caps) + 1
    inp = torch.zeros(len(caps), t, dtype=torch.long)
    tgt = torch.zeros(len(caps), t, dtype=torch.long)
    for i, c in enumerate(caps):
        inp[i, : len(c) + 1] = torch.tensor([2, *c])
        tgt[i, : len(c) + 1] = torch.tensor([*c, 3])
    return inp, tgt


def test_learns_to_name_patterns_in_order_and_looks_at_them():
    torch.manual_seed(0)
    cfg = ShowAttendTellConfig(vocab_size=8, channels=(16, 16), num_pools=2, embed_dim=16,
                               hidden_size=48, attn_dim=32, dropout=0.0)  # fmt: skip
    m = ShowAttendTell(cfg)
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    for step in range(180):
        images, caps, _ = _toy(24, step)
        inp, tgt = _pad(caps)
        loss = caption_loss(m(images, inp), tgt, alpha_c=0.01)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    images, caps, boxes = _toy(200, 10_000)
    g = m.generate(images, max_len=5)
    exact = sum(g.tokens[i, : len(c) + 1].tolist() == [*c, 3] for i, c in enumerate(caps))
    assert exact / 200 > 0.9
    # attention mass on the named pattern's cell (regions are the 4x4 cells here; uniform
    # attention would give 0.2; the convolutions' receptive fields also see the neighbours)
    mass = [float(g.alphas[i, t].reshape(1, 5)[0, boxes[i][t][1] // 4])
            for i, c in enumerate(caps) for t in range(len(c))]  # fmt: skip
    assert sum(mass) / len(mass) > 0.45

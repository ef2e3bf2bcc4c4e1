"""MemN2N layers: the PE formula, sentence bags, temporal encoding, adjacent tying, masking."""

from __future__ import annotations

import pytest
import torch

from seqattn.nn.memory import EndToEndMemory, position_encoding, sentence_bags


def test_position_encoding_matches_the_papers_formula():
    j_len, d = 7, 5
    pe = position_encoding(j_len, d, dtype=torch.float64)
    for j in range(1, j_len + 1):
        for k in range(1, d + 1):
            expected = (1 - j / j_len) - (k / d) * (1 - 2 * j / j_len)
            assert pe[j - 1, k - 1].item() == pytest.approx(expected, abs=1e-12)
    # a one-word sentence: l = 1 - 1 - (k/d)(1 - 2) = k/d
    assert torch.allclose(position_encoding(1, 4), torch.tensor([[0.25, 0.5, 0.75, 1.0]]))
    with pytest.raises(ValueError, match="length >= 1"):
        position_encoding(0, 3)


@pytest.mark.parametrize("encoding", ["pe", "bow"])
def test_sentence_bags_equal_the_direct_weighted_sum(encoding):
    torch.manual_seed(1)
    vocab, d = 11, 6
    tokens = torch.tensor([[3, 5, 3, 0, 0], [7, 1, 2, 9, 4], [0, 0, 0, 0, 0]])
    emb = torch.randn(vocab, d, dtype=torch.float64)
    xa, xb = sentence_bags(tokens, vocab, encoding)
    k = torch.arange(1, d + 1, dtype=torch.float64) / d
    fast = xa.double() @ emb + k * (xb.double() @ emb)
    for i, row in enumerate(tokens):
        words = [int(w) for w in row if w != 0]
        if not words:
            assert fast[i].abs().max() == 0  # an empty sentence is the zero vector
            continue
        w = position_encoding(len(words), d, torch.float64) if encoding == "pe" else 1.0
        direct = (w * emb[words]).sum(0)
        assert torch.allclose(fast[i], direct, atol=1e-6)  # bags are float32


def test_sentence_bags_reject_bad_ids():
    with pytest.raises(ValueError, match=r"expected token ids in \[0, 4\)"):
        sentence_bags(torch.tensor([[1, 4]]), 4)
    with pytest.raises(TypeError, match="int64"):
        sentence_bags(torch.tensor([[1.0]]), 4)
    with pytest.raises(ValueError, match="encoding"):
        sentence_bags(torch.tensor([[1]]), 4, "lstm")


def _batch():
    # B=2 stories in M=5 slots of J=3 words; story 0 has 3 sentences, story 1 has 1
    stories = torch.tensor([
        [[1, 2, 0], [3, 4, 5], [2, 6, 0], [0, 0, 0], [0, 0, 0]],
        [[4, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
    ])  # fmt: skip
    return stories, torch.tensor([[7, 8], [8, 0]]), stories[..., 0] != 0


def test_shapes_and_temporal_encoding():
    stories, query, mask = _batch()
    mem = EndToEndMemory(vocab_size=9, embed_dim=4, hops=3, memory_size=5, num_models=2)
    assert mem.temporal.shape == (2, 4, 5, 4)  # (R, K+1, M, d): T_A^1, T_C^1 = T_A^2, ...
    logits, att = mem(stories, query, mask)
    assert logits.shape == (2, 2, 9) and att.shape == (2, 2, 3, 5)
    # the default time index counts back from the newest memory: a story's memories differ
    # only in time -> the temporal encoding changes the attention; a shift of time changes it
    same = torch.tensor([[[1, 2, 0]] * 3 + [[0, 0, 0]] * 2])
    m1 = same[..., 0] != 0
    _, a = mem(same, torch.tensor([[7, 8]]), m1)
    assert not torch.allclose(a[:, :, 0, 0], a[:, :, 0, 1])
    t = torch.tensor([[4, 3, 2, 0, 0]])
    _, a2 = mem(same, torch.tensor([[7, 8]]), m1, time=t)
    assert not torch.allclose(a, a2)
    # without temporal encoding identical sentences get identical attention
    plain = EndToEndMemory(vocab_size=9, embed_dim=4, hops=2, memory_size=5, temporal=False)
    _, a3 = plain(same, torch.tensor([[7, 8]]), m1)
    assert torch.allclose(a3[0, 0, :, 0], a3[0, 0, :, 2])
    with pytest.raises(ValueError, match="time indices"):
        mem(same, torch.tensor([[7, 8]]), m1, time=torch.tensor([[5, 0, 0, 0, 0]]))


def test_adjacent_weight_tying_shares_parameters():
    k_hops = 3
    mem = EndToEndMemory(vocab_size=9, embed_dim=4, hops=k_hops, memory_size=5)
    # one tensor per kind: K+1 embedding matrices (not 2K+2), K+1 temporal tables
    params = dict(mem.named_parameters())
    assert set(params) == {"embed", "temporal"}
    assert sum(p.numel() for p in params.values()) == (k_hops + 1) * (9 + 5) * 4
    for k in range(1, k_hops):
        assert mem.A(k + 1).data_ptr() == mem.C(k).data_ptr()  # A^{k+1} = C^k
    assert mem.B().data_ptr() == mem.A(1).data_ptr()  # B = A^1
    assert mem.W().data_ptr() == mem.C(k_hops).data_ptr()  # W^T = C^K
    # the tie is real: a word that only appears in the question trains A^1 (shared with B),
    # and the answer gradient reaches C^K through W
    stories, query, mask = _batch()
    logits, _ = mem(stories, query, mask)
    logits[0, :, 5].sum().backward()
    g = mem.embed.grad[0]
    assert g[0, 7].abs().sum() > 0 and g[0, 8].abs().sum() > 0  # question words in B = A^1
    assert g[k_hops, 5].abs().sum() > 0  # W row of the answer = C^K row


def test_masked_slots_get_zero_attention_and_no_nan():
    stories, query, mask = _batch()
    mem = EndToEndMemory(vocab_size=9, embed_dim=4, hops=2, memory_size=5, num_models=3)
    for linear in (False, True, torch.tensor([True, False, True])):
        mem.zero_grad()
        logits, att = mem(stories, query, mask, linear=linear)
        assert (att[:, 0, :, 3:] == 0).all() and (att[:, 1, :, 1:] == 0).all()
        soft = att[1] if isinstance(linear, torch.Tensor) else att
        if linear is False or isinstance(linear, torch.Tensor):
            assert torch.allclose(soft[..., 0, :].sum(-1), torch.ones(()))  # rows sum to 1
        logits.sum().backward()
        assert torch.isfinite(mem.embed.grad).all() and torch.isfinite(mem.temporal.grad).all()
    # padding in empty slots changes nothing: garbage words behind a False mask are ignored
    garbage = stories.clone()
    garbage[1, 3] = torch.tensor([5, 6, 7])
    time = torch.tensor([[2, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    a = mem(stories, query, mask, time)[0]
    b = mem(garbage, query, mask, time)[0]
    assert torch.equal(a, b)
    # a story with no memory at all: o = 0, finite logits and gradients
    empty = torch.zeros_like(mask)
    mem.zero_grad()
    logits, att = mem(stories, query, empty)
    assert (att == 0).all() and torch.isfinite(logits).all()
    logits.sum().backward()
    assert torch.isfinite(mem.embed.grad).all()


def test_per_model_batches_equal_separate_calls():
    torch.manual_seed(3)
    stories, query, mask = _batch()
    mem = EndToEndMemory(vocab_size=9, embed_dim=4, hops=2, memory_size=5, num_models=2)
    swapped = torch.stack([stories, stories.flip(0)])  # model 1 sees the batch reversed
    logits, att = mem(swapped, torch.stack([query, query.flip(0)]),
                      torch.stack([mask, mask.flip(0)]))  # fmt: skip
    ref, ref_att = mem(stories, query, mask)
    assert torch.allclose(logits[0], ref[0], atol=1e-6)
    assert torch.allclose(logits[1], ref[1].flip(0), atol=1e-6)
    assert torch.allclose(att[1], ref_att[1].flip(0), atol=1e-6)
    # a batch trimmed to its longest story gives the same answers as the padded one
    short, _ = mem(stories[:, :3], query, mask[:, :3])
    assert torch.allclose(short, ref, atol=1e-6)


def test_bad_inputs():
    stories, query, mask = _batch()
    mem = EndToEndMemory(vocab_size=9, embed_dim=4, hops=2, memory_size=5)
    with pytest.raises(ValueError, match="memory_mask"):
        mem(stories, query, mask.long())
    with pytest.raises(ValueError, match="stories"):
        mem(torch.zeros(2, 6, 3, dtype=torch.long), query, torch.ones(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="query"):
        mem(stories, query[:1], mask)
    with pytest.raises(ValueError, match="hops"):
        EndToEndMemory(vocab_size=9, hops=0)


def test_authors_position_encoding_is_their_formula_and_twice_the_papers():
    j_len, d = 8, 20
    pe = position_encoding(j_len, d, torch.float64, form="authors")
    for j in range(1, j_len + 1):
        for k in range(1, d + 1):
            expected = 1 + 4 * (k - (d + 1) / 2) * (j - (j_len + 1) / 2) / (d * j_len)
            assert pe[j - 1, k - 1].item() == pytest.approx(expected, abs=1e-12)
    # the same shape as the paper's weights at about twice the scale (centring terms aside)
    paper = position_encoding(j_len, d, torch.float64)
    assert (pe - 2 * paper).abs().max() < 2 * (1 / d + 1 / j_len)
    with pytest.raises(ValueError, match="form"):
        position_encoding(3, 3, form="matlab")


def test_authors_bags_weigh_position_j_alike_in_every_sentence():
    torch.manual_seed(2)
    vocab, d, width = 11, 6, 7
    tokens = torch.tensor([[3, 5, 3, 0, 0], [7, 1, 2, 9, 4], [0, 0, 0, 0, 0]])
    emb = torch.randn(vocab, d, dtype=torch.float64)
    xa, xb = sentence_bags(tokens, vocab, "pe-authors", width=width, dim=d)
    k = torch.arange(1, d + 1, dtype=torch.float64) / d
    fast = xa.double() @ emb + k * (xb.double() @ emb)
    w = position_encoding(width, d, torch.float64, form="authors")  # one table for all
    for i, row in enumerate(tokens):
        direct = sum((w[j] * emb[int(x)] for j, x in enumerate(row) if x != 0), torch.zeros(d))
        assert torch.allclose(fast[i], direct.double(), atol=1e-6)
    with pytest.raises(ValueError, match="width >= 5"):
        sentence_bags(tokens, vocab, "pe-authors", width=4, dim=d)


def test_authors_time_word_takes_the_last_positions_weight():
    torch.manual_seed(4)
    d, width, m = 4, 4, 3
    mem = EndToEndMemory(vocab_size=9, embed_dim=d, hops=1, memory_size=m,
                         encoding="pe-authors", pe_width=width)  # fmt: skip
    tokens = torch.tensor([[2, 5, 0], [7, 0, 0]])  # <= width - 1 words: J is the time word
    time = torch.tensor([1, 0])
    got = mem._encode(tokens, time)[0]  # (K+1, N, d)
    w = position_encoding(width, d, form="authors")
    for h in range(2):
        for i, row in enumerate(tokens):
            direct = sum(w[j] * mem.embed[0, h, int(x)] for j, x in enumerate(row) if x != 0)
            direct = direct + w[width - 1] * mem.temporal[0, h, int(time[i])]
            assert torch.allclose(got[h, i], direct, atol=1e-6)
    with pytest.raises(ValueError, match="at most 3 words"):
        mem._encode(torch.tensor([[1, 2, 3, 4]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="pe_width >= 2"):
        EndToEndMemory(vocab_size=9, encoding="pe-authors", pe_width=1)


def test_attend_empty_equals_a_full_softmax_over_zero_vector_slots():
    """The authors' memory: M slots, the M - n empty ones zero vectors with score 0."""
    torch.manual_seed(5)
    stories, query, mask = _batch()  # n = 3 and 1 of M = 5 slots
    mem = EndToEndMemory(vocab_size=9, embed_dim=4, hops=2, memory_size=5, attend_empty=True)
    logits, att = mem(stories, query, mask)
    # by hand, in float64: every slot, empty ones as zero vectors taking part in the softmax
    time = (mask.sum(-1, keepdim=True) - 1 - torch.arange(5)).clamp(min=0)
    enc = mem._encode(stories.reshape(10, 3), time.reshape(10))[0].double().reshape(3, 2, 5, 4)
    enc = enc * mask.unsqueeze(-1)  # empty slots: the zero vector
    u = mem._encode(query)[0, 0].double()
    for k in range(2):
        p = torch.softmax(torch.einsum("bmd,bd->bm", enc[k], u), -1)
        assert torch.allclose(att[0, :, k].double(), p * mask, atol=1e-6)
        assert p[1, 1:].sum() > 0.5  # the story of one sentence: most weight on nothing
        u = u + torch.einsum("bm,bmd->bd", p, enc[k + 1])
    assert torch.allclose(logits[0].double(), u @ mem.embed[0, 2].double().T, atol=1e-5)
    # a trimmed batch (fewer slots than M) keeps the M - n sink: same answers
    short, _ = mem(stories[:, :3], query, mask[:, :3])
    assert torch.allclose(short, logits, atol=1e-6)
    # a full memory has no sink; an empty story gives o = 0, finite gradients
    full = torch.ones_like(mask)
    masked = EndToEndMemory(vocab_size=9, embed_dim=4, hops=2, memory_size=5)
    masked.load_state_dict(mem.state_dict())
    assert torch.allclose(mem(stories, query, full)[0], masked(stories, query, full)[0])
    logits, att = mem(stories, query, torch.zeros_like(mask))
    assert (att == 0).all()
    logits.sum().backward()
    assert torch.isfinite(mem.embed.grad).all() and torch.isfinite(mem.temporal.grad).all()

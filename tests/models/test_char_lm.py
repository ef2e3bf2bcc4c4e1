"""Character LMs: exact causality (float64), shapes, the decoding step contract, learning."""

from __future__ import annotations

import pytest
import torch

from seqattn.decoding import beam_search, greedy_search, sample
from seqattn.models.char_lm import (
    CharLSTM,
    CharLSTMConfig,
    CharTransformer,
    CharTransformerConfig,
    CharVocab,
    cross_entropy_bits,
)

V = 11


def _transformer(positions="learned", dropout=0.0, context=16):
    cfg = CharTransformerConfig(
        V, context=context, d_model=16, nhead=4, num_layers=2, dim_feedforward=32,
        dropout=dropout, positions=positions,
    )  # fmt: skip
    return CharTransformer(cfg)


def _lstm():
    return CharLSTM(CharLSTMConfig(V, embed_dim=8, hidden_size=12, num_layers=2))


@pytest.mark.parametrize(
    "make", [lambda: _transformer("learned"), lambda: _transformer("sinusoidal"), _lstm]
)
def test_future_tokens_never_change_earlier_outputs(make):
    model = make().double().eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, V, (3, 16), generator=gen)
    out = model(x)
    logits = out[0] if isinstance(out, tuple) else out
    for t in range(16):
        y = x.clone()
        y[:, t:] = torch.randint(0, V, (3, 16 - t), generator=gen)  # change every token from t on
        y[:, t] = (x[:, t] + 1) % V  # ... and surely token t
        out2 = model(y)
        logits2 = out2[0] if isinstance(out2, tuple) else out2
        assert torch.equal(logits[:, :t], logits2[:, :t])  # exact, not close
        assert not torch.allclose(logits[:, t], logits2[:, t])  # the change does reach position t


def test_causal_attention_weights_are_lower_triangular():
    model = _transformer().eval()
    _, weights = model(torch.randint(0, V, (2, 9)), need_weights=True)
    assert len(weights) == 2 and weights[0].shape == (2, 4, 9, 9)
    upper = torch.triu(torch.ones(9, 9, dtype=torch.bool), diagonal=1)
    for w in weights:
        assert torch.all(w[..., upper] == 0)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 9))


@pytest.mark.parametrize("make", [_transformer, _lstm])
def test_step_equals_full_forward(make):
    """Feeding characters one at a time through ``step`` gives the full forward's log-probs."""
    model = make().double().eval()
    x = torch.randint(0, V, (4, 10))
    out = model(x)
    full = torch.log_softmax(out[0] if isinstance(out, tuple) else out, -1)
    state = model.initial_state(4)
    for t in range(10):
        lp, state, attn = model.step(x[:, t], state)
        assert attn is None
        torch.testing.assert_close(lp, full[:, t], rtol=1e-10, atol=1e-10)


def test_transformer_step_crops_to_context():
    model = _transformer(context=6).double().eval()
    x = torch.randint(0, V, (2, 9))
    state = model.initial_state(2)
    for t in range(9):
        lp, state, _ = model.step(x[:, t], state)
    assert state["prefix"].shape == (2, 6)
    ref = torch.log_softmax(model(x[:, -6:]), -1)[:, -1]
    torch.testing.assert_close(lp, ref)


@pytest.mark.parametrize("make", [_transformer, _lstm])
def test_models_decode_through_seqattn_decoding(make):
    model = make().eval()
    g = greedy_search(model.step, model.initial_state(3), bos=1, eos=0, max_len=12)
    b = beam_search(model.step, model.initial_state(3), bos=1, eos=0, beam_size=1, max_len=12)
    s = sample(model.step, model.initial_state(3), bos=1, eos=0, max_len=12, temperature=0)
    assert g.tokens == b.tokens == s.tokens and torch.equal(g.scores, b.scores)
    b3 = beam_search(model.step, model.initial_state(3), bos=1, eos=0, beam_size=3, max_len=12)
    assert torch.all(b3.scores >= g.scores - 1e-6)  # a wider beam never finds a worse sequence


def test_both_models_learn_a_periodic_text():
    """A period-4 text is deterministic after 3 characters: both models get far below uniform."""
    text = "abcd" * 200
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    tf_cfg = CharTransformerConfig(len(vocab), 16, 16, 2, 1, 32, 0.0)
    lstm_cfg = CharLSTMConfig(len(vocab), 8, 24, 1)
    for model, lr in ((CharLSTM(lstm_cfg), 2e-2), (CharTransformer(tf_cfg), 1e-2)):
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(0)
        for _ in range(60):
            s = torch.randint(0, ids.numel() - 17, (8, 1), generator=gen) + torch.arange(17)
            out = model(ids[s[:, :-1]])
            loss = cross_entropy_bits(out[0] if isinstance(out, tuple) else out, ids[s[:, 1:]])
            opt.zero_grad()
            loss.backward()
            opt.step()
        bits = float(loss.detach())
        assert bits < 0.5, (type(model).__name__, bits)  # uniform: log2(5) = 2.3 bits


def test_vocab_and_config_errors():
    v = CharVocab.from_text("ba\n")
    assert v.itos == ["\ufffd", "\n", "a", "b"] and v.encode("abz").tolist() == [2, 3, 0]
    assert CharVocab.from_json(v.to_json()).itos == v.itos
    with pytest.raises(ValueError, match="divisible"):
        CharTransformerConfig(V, d_model=10, nhead=4)
    with pytest.raises(ValueError, match="positions"):
        CharTransformerConfig(V, positions="rotary")
    with pytest.raises(ValueError, match="hidden_size"):
        CharLSTMConfig(V, hidden_size=0)
    with pytest.raises(ValueError, match="at most context=16"):
        _transformer()(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ids in \[0, 11\)"):
        _lstm()(torch.full((1, 3), 11))

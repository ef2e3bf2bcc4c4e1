"""SequenceClassifier: every encoder x head, padding invariance, parameter counts, attention
weights, pretrained embeddings, config errors, and the position-probe learning test."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqattn.data import Vocab, pretrained_embedding
from seqattn.data.synthetic import ProbeVocab, position_probe
from seqattn.models import (
    ENCODERS,
    HEADS,
    ClassifierConfig,
    ClassifierOutput,
    SequenceClassifier,
)

GRID = [(e, h) for e in ENCODERS for h in HEADS]
V = 23


def _model(encoder: str, head: str, **kw) -> SequenceClassifier:
    base = {"vocab_size": V, "embed_dim": 6, "hidden_size": 8, "num_heads": 2, "ffn_size": 12,
            "max_length": 6, "num_layers": 2, "num_classes": 3}  # fmt: skip
    return SequenceClassifier(ClassifierConfig(encoder=encoder, head=head, **{**base, **kw}))


def _ragged_batch(lengths: list[int], steps: int | None = None, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    steps = steps or max(lengths)
    tokens = torch.randint(1, V, (len(lengths), steps), generator=g)
    for b, n in enumerate(lengths):
        tokens[b, n:] = 0
    return tokens, torch.tensor(lengths)


def test_exports():
    assert ENCODERS == (
        "rnn", "lstm", "gru", "bilstm", "bigru", "transformer", "tcn", "mingru", "minlstm",
        "bimingru",
    )  # fmt: skip
    assert HEADS == ("last", "concat", "mean", "max", "attention")
    with pytest.raises(ValueError, match=r"expected head in \('last', 'concat'"):
        ClassifierConfig(vocab_size=V, head="median")


def test_state_dict_keys_of_the_heads():
    """Heads are registry entries now; the saved names did not move (pool.* for attention)."""
    keys = set(_model("gru", "attention").state_dict())
    assert {k for k in keys if k.startswith("pool.")} == {"pool.proj.weight", "pool.proj.bias",
                                                          "pool.v.weight"}  # fmt: skip
    assert not any(k.startswith("pool.") for k in _model("gru", "mean").state_dict())


def test_a_registered_head_needs_no_other_change():
    from seqattn.models.classifier import ClassifierHead

    @HEADS.register("first")
    class First(ClassifierHead):
        def forward(self, states, last, lengths, mask):
            return states[:, 0], None

    try:
        model = _model("lstm", "first").eval()
        tokens, lengths = _ragged_batch([5, 3])
        out = model(tokens, lengths)
        assert out.logits.shape == (2, 3) and out.attention is None
        assert torch.equal(out.pooled, model.pool(*_encoded(model, tokens, lengths))[0])
    finally:
        HEADS.unregister("first")
    assert "first" not in HEADS


def _encoded(model, tokens, lengths):
    mask = torch.arange(tokens.shape[1])[None] < lengths[:, None]
    states, last = model.encoder(model.embedding(tokens), lengths, mask)
    return states, last, lengths, mask


@pytest.mark.parametrize(("encoder", "head"), GRID)
def test_every_encoder_and_head_runs_and_backpropagates(encoder, head):
    model = _model(encoder, head)
    tokens, lengths = _ragged_batch([5, 3, 0, 1], steps=7)  # an empty row too
    out = model(tokens, lengths)
    assert isinstance(out, ClassifierOutput)
    assert out.logits.shape == (4, 3)
    d = 16 if encoder.startswith("bi") else 8
    assert out.pooled.shape == (4, 6 * d if head == "concat" else d)
    assert (out.attention is not None) == (head == "attention")
    F.cross_entropy(out.logits, torch.tensor([0, 1, 2, 0])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # An empty sequence pools to zeros, so its logits are the classifier's bias.
    assert torch.all(out.pooled[2] == 0)
    torch.testing.assert_close(out.logits[2], model.classifier.bias)


# Padding invariance holds for every encoder x head: the recurrent layers stop at each length
# (the reverse direction starts at each sequence's own end), the transformer masks padded keys,
# the tcn is causal and zeroes padding between blocks, and every head reads only real steps.
# "concat" is defined too: its fixed-length input is zero past each length whether the zeros
# come from the batch's padding or from padding the sequence alone to max_length (lengths above
# and below max_length=6 are both in the batch). Not defined: an empty sequence run alone (a
# model input needs T >= 1), covered by the test above instead.
@pytest.mark.parametrize(("encoder", "head"), GRID)
def test_padding_never_changes_the_output(encoder, head):
    model = _model(encoder, head).double().eval()
    lengths = [9, 4, 1, 7, 2]
    tokens, lens = _ragged_batch(lengths, steps=11, seed=1)
    tokens[tokens == 0] = 5  # the padding's content must not matter either
    batched = model(tokens, lens)
    for b, n in enumerate(lengths):
        alone = model(tokens[b : b + 1, :n])  # unpadded, lengths=None
        torch.testing.assert_close(batched.logits[b : b + 1], alone.logits, rtol=0, atol=1e-10)
        torch.testing.assert_close(batched.pooled[b : b + 1], alone.pooled, rtol=0, atol=1e-10)
        if head == "attention":
            torch.testing.assert_close(
                batched.attention[b : b + 1, :n], alone.attention, rtol=0, atol=1e-10
            )


@pytest.mark.parametrize("encoder", ENCODERS)
def test_last_head_reads_final_states(encoder):
    model = _model(encoder, "last", num_layers=1).double().eval()
    tokens, lengths = _ragged_batch([6, 3, 5], seed=2)
    out = model(tokens, lengths)
    x = model.embedding(tokens)
    mask = torch.arange(6)[None, :] < lengths[:, None]
    states, _ = model.encoder(x, lengths, mask)  # (B, T, D)
    rows = torch.arange(3)
    at_end = states[rows, lengths - 1]  # (B, D)
    if encoder.startswith("bi"):
        # forward direction at the last real step, backward direction at step 0 (h_n)
        expected = torch.cat([at_end[:, :8], states[:, 0, 8:]], dim=-1)
    else:
        expected = at_end
    torch.testing.assert_close(out.pooled, expected, rtol=0, atol=1e-12)


def test_only_concat_parameter_count_grows_with_max_length():
    for head in HEADS:
        counts = [_model("gru", head, max_length=n).num_parameters() for n in (10, 20, 30)]
        if head == "concat":
            # Linear(N * D, C): every extra step of max length adds D * C weights.
            assert counts[1] - counts[0] == counts[2] - counts[1] == 10 * 8 * 3
        else:
            assert counts[0] == counts[1] == counts[2], head


def test_concat_truncates_long_and_pads_short_inputs():
    model = _model("lstm", "concat").double().eval()  # max_length = 6
    long_tokens, _ = _ragged_batch([9], seed=3)
    pooled = model(long_tokens).pooled.view(1, 6, 8)
    full = model.encoder(
        model.embedding(long_tokens), torch.tensor([9]), torch.ones(1, 9, dtype=torch.bool)
    )
    torch.testing.assert_close(pooled, full[0][:, :6])  # the first 6 steps; steps 7..9 are lost
    short = model(long_tokens[:, :4]).pooled.view(1, 6, 8)
    assert torch.all(short[:, 4:] == 0) and torch.all(short[:, :4] != 0)


@pytest.mark.parametrize("encoder", ["lstm", "bigru", "transformer", "tcn"])
def test_attention_weights_sum_to_one_over_real_tokens(encoder):
    model = _model(encoder, "attention")
    tokens, lengths = _ragged_batch([7, 2, 0, 5], seed=4)
    out = model(tokens, lengths)
    mask = torch.arange(7)[None, :] < lengths[:, None]
    assert torch.all(out.attention[~mask] == 0)
    torch.testing.assert_close(out.attention.sum(-1), torch.tensor([1.0, 1.0, 0.0, 1.0]))
    assert torch.all(out.attention[mask] > 0)
    assert torch.isfinite(out.logits).all()


def test_mean_and_max_heads_pool_real_steps_only():
    mean_model = _model("tcn", "mean").double().eval()
    tokens, lengths = _ragged_batch([5, 2], seed=5)
    states, _ = mean_model.encoder(
        mean_model.embedding(tokens), lengths, torch.arange(5)[None, :] < lengths[:, None]
    )
    pooled = mean_model(tokens, lengths).pooled
    torch.testing.assert_close(pooled[1], states[1, :2].mean(0))
    max_model = _model("tcn", "max").double().eval()
    max_model.load_state_dict(mean_model.state_dict())
    torch.testing.assert_close(max_model(tokens, lengths).pooled[1], states[1, :2].amax(0))


def test_binary_is_two_logits_and_default_full_length():
    model = _model("gru", "mean", num_classes=2).eval()
    tokens, _ = _ragged_batch([4, 4])
    out = model(tokens)
    assert out.logits.shape == (2, 2)
    torch.testing.assert_close(out.logits, model(tokens, torch.tensor([4, 4])).logits)


def test_dropout_is_active_in_training_only():
    model = _model("lstm", "attention", dropout=0.5)
    tokens, lengths = _ragged_batch([6, 4], seed=6)
    model.train()
    assert not torch.equal(model(tokens, lengths).logits, model(tokens, lengths).logits)
    model.eval()
    assert torch.equal(model(tokens, lengths).logits, model(tokens, lengths).logits)


def _train_step(model, tokens, lengths):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    F.cross_entropy(model(tokens, lengths).logits, torch.tensor([0, 1])).backward()
    opt.step()


@pytest.mark.parametrize("freeze", [True, False])
def test_pretrained_embedding_frozen_or_fine_tuned(freeze):
    matrix = torch.randn(V, 5)
    embedding = nn.Embedding.from_pretrained(matrix.clone(), freeze=False, padding_idx=0)
    cfg = ClassifierConfig(vocab_size=V, embed_dim=5, hidden_size=4, encoder="gru",
                           head="mean", freeze_embeddings=freeze)  # fmt: skip
    model = SequenceClassifier(cfg, embedding=embedding)
    assert model.embedding is embedding
    total = model.num_parameters()
    assert model.num_parameters(trainable_only=True) == total - (V * 5 if freeze else 0)
    before = model.classifier.weight.detach().clone()
    _train_step(model, *_ragged_batch([5, 3]))
    assert torch.equal(model.embedding.weight, matrix) == freeze
    assert not torch.equal(model.classifier.weight, before)


def test_data_pretrained_embedding_keeps_its_freeze(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("good 0.1 0.2 0.3\nbad -0.1 0.2 -0.3\n")
    vocab = Vocab.build([["good", "bad", "film"]])
    embedding, _ = pretrained_embedding(vocab, path, freeze=True)
    cfg = ClassifierConfig(vocab_size=len(vocab), embed_dim=3, hidden_size=4, head="max")
    model = SequenceClassifier(cfg, embedding=embedding)
    assert not model.embedding.weight.requires_grad  # freeze_embeddings=False does not unfreeze
    out = model(torch.tensor([[vocab.stoi["good"], vocab.stoi["film"]]]))
    assert out.logits.shape == (1, 2)


def test_embedding_mismatch_errors():
    cfg = ClassifierConfig(vocab_size=V, embed_dim=6)
    with pytest.raises(ValueError, match="expected an embedding with vocab_size=23 rows, got 30"):
        SequenceClassifier(cfg, embedding=nn.Embedding(30, 6))
    with pytest.raises(ValueError, match=r"set embed_dim=7\), got 6"):
        SequenceClassifier(cfg, embedding=nn.Embedding(V, 7))
    with pytest.raises(TypeError, match="expected an nn.Embedding"):
        SequenceClassifier(cfg, embedding=nn.Linear(V, 6))
    with pytest.raises(TypeError, match="expected a ClassifierConfig"):
        SequenceClassifier({"vocab_size": V})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"encoder": "mamba"}, ValueError, "expected encoder in"),
        ({"head": "sum"}, ValueError, "expected head in"),
        ({"num_classes": 1}, ValueError, "expected num_classes >= 2"),
        ({"hidden_size": 0}, ValueError, "expected hidden_size >= 1"),
        ({"max_length": 2.5}, TypeError, "expected max_length to be an int"),
        ({"num_layers": True}, TypeError, "expected num_layers to be an int"),
        ({"dropout": 1.0}, ValueError, r"expected dropout in \[0, 1\)"),
        ({"dropout": "0.1"}, TypeError, "expected dropout to be a float"),
        ({"pad_id": 23}, ValueError, "expected 0 <= pad_id < vocab_size"),
        ({"encoder": "transformer", "hidden_size": 10, "num_heads": 4}, ValueError,
         "divisible by num_heads"),
        ({"freeze_embeddings": 1}, TypeError, "expected freeze_embeddings to be a bool"),
    ],
)  # fmt: skip
def test_config_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        ClassifierConfig(vocab_size=V, **kwargs)


def test_config_json_round_trip_and_unknown_keys():
    cfg = ClassifierConfig(vocab_size=V, encoder="tcn", head="concat", kernel_size=5)
    assert ClassifierConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['hiden_size'\]"):
        ClassifierConfig.from_dict({"vocab_size": V, "hiden_size": 3})
    with pytest.raises(ValueError, match="expected a 'vocab_size' key"):
        ClassifierConfig.from_dict({"encoder": "gru"})
    with pytest.raises(TypeError, match="expected a mapping"):
        ClassifierConfig.from_dict([("vocab_size", V)])


def test_forward_input_errors():
    model = _model("gru", "mean")
    tokens, lengths = _ragged_batch([4, 2])
    with pytest.raises(TypeError, match="expected integer token ids"):
        model(tokens.float(), lengths)
    with pytest.raises(ValueError, match=r"expected tokens of shape \(B, T\)"):
        model(tokens[0], lengths)
    with pytest.raises(ValueError, match=r"expected token ids in \[0, 23\)"):
        model(tokens + V, lengths)
    with pytest.raises(ValueError, match=r"expected lengths in \[0, 4\]"):
        model(tokens, torch.tensor([5, 2]))
    with pytest.raises(ValueError, match=r"expected lengths of shape \(2,\)"):
        model(tokens, torch.tensor([4]))
    with pytest.raises(TypeError, match="expected integer lengths"):
        model(tokens, torch.tensor([4.0, 2.0]))


def _probe_accuracy(head: str, steps: int) -> float:
    """Train lstm + head on the position probe (T=30, decisive word at position 2)."""
    torch.manual_seed(0)
    x_train, y_train, _ = position_probe(2000, 30, position=2, seed=1)
    x_test, y_test, _ = position_probe(500, 30, position=2, seed=2)
    cfg = ClassifierConfig(vocab_size=ProbeVocab().size, embed_dim=16, hidden_size=32,
                           encoder="lstm", head=head, dropout=0.0)  # fmt: skip
    model = SequenceClassifier(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    acc = 0.0
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x_train), (64,), generator=g)
        loss = F.cross_entropy(model(x_train[idx]).logits, y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            model.eval()
            with torch.no_grad():
                acc = (model(x_test).logits.argmax(-1) == y_test).double().mean().item()
            model.train()
            if acc >= 0.95:
                break
    return acc


def test_attention_head_finds_the_early_decisive_word():
    # lstm + attention reaches >= 95% test accuracy after 40-60 Adam steps over seeds 0-4 (2-5 s
    # on 2 CPU cores). Recorded, not asserted: with this same function and budget, lstm + "last"
    # stays at chance (0.486 after 150 steps; 0.46-0.51 over seeds): the word at position 2 of
    # 30 is forgotten. lstm + "mean" (Fix 2) also solves this one-word probe (0.998).
    assert _probe_accuracy("attention", steps=150) >= 0.95

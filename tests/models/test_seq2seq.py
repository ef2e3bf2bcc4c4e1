"""Seq2Seq: shapes and masks of every decoder, step = forward (float64), packed = padded,
tied embeddings, label smoothing, a learning test on the reverse task."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqattn.data.synthetic import reverse_task
from seqattn.decoding import repeat_rows, select_rows
from seqattn.models.seq2seq import DECODERS, Seq2Seq, Seq2SeqConfig, sequence_loss
from seqattn.nn import pack_padded_sequence

PAD, BOS, EOS = 0, 1, 2

# (decoder, extra config): every decoder, both cells, every Luong variant
VARIANTS = [
    ("plain", {"cell": "lstm"}),
    ("plain", {"cell": "gru", "encoder_layers": 2, "decoder_layers": 2}),
    ("context", {}),
    ("bahdanau", {}),
    ("bahdanau", {"cell": "lstm", "decoder_layers": 2}),
    ("luong", {"luong_score": "general"}),
    ("luong", {"luong_score": "dot", "bidirectional": False, "cell": "lstm"}),
    ("luong", {"luong_score": "concat", "input_feeding": False}),
    ("luong", {"luong_attention": "local-m", "local_window": 1}),
    ("luong", {"luong_attention": "local-p", "local_window": 2, "input_feeding": False}),
    ("luong", {"luong_attention": "local-m", "local_window": 1, "input_feeding": False}),
    ("transformer", {"decoder_layers": 2}),
    ("location", {}),
    ("location", {"cell": "lstm", "input_feeding": False, "decoder_layers": 2}),
]
IDS = [f"{d}-{'-'.join(f'{k}={v}' for k, v in e.items())}" for d, e in VARIANTS]
ATTENTIVE = ("bahdanau", "luong", "transformer", "location")


def _model(decoder, extra, dtype=torch.float64, **kw):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab=13, tgt_vocab=11, embed_dim=8, hidden_size=8, dropout=0.0,
                        decoder=decoder, num_heads=2, **{**extra, **kw})  # fmt: skip
    return Seq2Seq(cfg).to(dtype).eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(3, 13, (3, 6), generator=g)
    lengths = torch.tensor([6, 4, 2])
    src[1, 4:] = PAD
    src[2, 2:] = PAD
    tgt = torch.randint(3, 11, (3, 5), generator=g)
    tgt[:, 0] = BOS
    return src, lengths, tgt


@pytest.mark.parametrize(("decoder", "extra"), VARIANTS, ids=IDS)
def test_shapes_and_padding(decoder, extra):
    model = _model(decoder, extra)
    src, lengths, tgt = _batch()
    with torch.no_grad():
        out = model(src, lengths, tgt)
    assert out.logits.shape == (3, 5, 11)
    if decoder in ATTENTIVE:
        assert out.attention.shape == (3, 5, 6)
        # source padding gets exactly zero attention
        assert float(out.attention[1, :, 4:].abs().max()) == 0.0
        assert float(out.attention[2, :, 2:].abs().max()) == 0.0
    else:
        assert out.attention is None
    # whatever sits in the padded source positions changes nothing
    src2 = src.clone()
    src2[1, 4:] = 7
    src2[2, 2:] = 5
    with torch.no_grad():
        out2 = model(src2, lengths, tgt)
    torch.testing.assert_close(out2.logits, out.logits, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("decoder", "extra"), VARIANTS, ids=IDS)
def test_step_equals_forward(decoder, extra):
    """Decoding step by step gives the teacher-forced log-probs of the same prefix."""
    model = _model(decoder, extra)
    src, lengths, tgt = _batch()
    want = F.log_softmax(model(src, lengths, tgt).logits, -1)
    state = model.decode_state(src, lengths)
    for t in range(tgt.shape[1]):
        logp, state, attn = model.step(tgt[:, t], state)
        torch.testing.assert_close(logp, want[:, t], rtol=1e-10, atol=1e-10)
        if decoder in ATTENTIVE:
            assert attn.shape == (3, 6)
            sums = attn.sum(-1)
            if extra.get("luong_attention") == "local-p":  # Gaussian-weighted: sums to <= 1
                assert bool((sums <= 1 + 1e-12).all())
            elif extra.get("luong_attention") == "local-m":  # window past a short source: 0
                assert all(abs(v - 1) < 1e-10 or v == 0 for v in sums.tolist())
            else:
                torch.testing.assert_close(sums, torch.ones(3, dtype=attn.dtype))


@pytest.mark.parametrize(("decoder", "extra"), VARIANTS[:4], ids=IDS[:4])
def test_state_rows_reorder(decoder, extra):
    """Every state leaf is batch-first: selecting rows of the state = decoding those rows."""
    model = _model(decoder, extra)
    src, lengths, tgt = _batch()
    state = model.decode_state(src, lengths)
    idx = torch.tensor([2, 0])
    picked = select_rows(state, idx)
    alone = model.decode_state(src[idx], lengths[idx])
    a, _, _ = model.step(tgt[idx, 0], picked)
    b, _, _ = model.step(tgt[idx, 0], alone)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("decoder", "extra"), VARIANTS, ids=IDS)
def test_shared_source_rows_equal_copied_rows(decoder, extra):
    """k hypotheses per sentence over one shared row of encoder memory decode exactly like k
    full copies of the sentence (what beam search relies on), for three steps."""
    model = _model(decoder, extra)
    src, lengths, tgt = _batch()
    k = 3
    state = model.decode_state(src, lengths)
    grouped = repeat_rows(state, k)  # Shared leaves keep one row per sentence
    copied = select_rows(state, torch.arange(3).repeat_interleave(k))  # every leaf copied
    if "source" in state:
        assert grouped["source"]["memory"].shape[0] == 3
        assert copied["source"]["memory"].shape[0] == 3 * k
    for t in range(3):
        tokens = tgt[:, t].repeat_interleave(k)
        a, grouped, wa = model.step(tokens, grouped)
        b, copied, wb = model.step(tokens, copied)
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
        if wa is not None:
            torch.testing.assert_close(wa, wb, rtol=1e-10, atol=1e-10)


def test_one_by_one_equals_batched():
    model = _model("bahdanau", {})
    src, lengths, tgt = _batch()
    out = model(src, lengths, tgt).logits
    for i in range(3):
        n = int(lengths[i])
        one = model(src[i : i + 1, :n], lengths[i : i + 1], tgt[i : i + 1]).logits
        torch.testing.assert_close(one[0], out[i], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_packed_equals_padded_encoder(cell):
    model = _model("bahdanau", {"cell": cell, "encoder_layers": 2})
    src, lengths, _ = _batch()
    enc = model.encode(src, lengths)
    emb = model.src_embedding(src)
    packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
    out, final = model.encoder(packed)
    padded, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    torch.testing.assert_close(enc["memory"], padded, rtol=0, atol=1e-12)
    h = final[0] if cell == "lstm" else final
    # the bridge input is the top layer's final state of each direction
    top = torch.cat([h[-2], h[-1]], -1)
    torch.testing.assert_close(enc["summary"], top, rtol=0, atol=1e-12)


def test_bridge_projects_bidirectional_state():
    model = _model("plain", {"cell": "gru", "encoder_layers": 2, "decoder_layers": 2})
    src, lengths, _ = _batch()
    enc = model.encode(src, lengths)
    assert enc["hidden"].shape == (3, 2, 8)  # (B, L_dec, H)
    want = torch.tanh(model.bridge(enc["summary"]))
    torch.testing.assert_close(enc["hidden"][:, -1], want)
    uni = _model("plain", {"bidirectional": False})
    assert uni.bridge is None  # a unidirectional encoder of the decoder's size needs none


def test_tied_embeddings_share_storage():
    model = _model("luong", {}, tie_embeddings=True)
    assert model.output_weight is model.tgt_embedding.weight
    assert model.output_weight.data_ptr() == model.tgt_embedding.weight.data_ptr()
    assert not any(n.startswith("output.") for n, _ in model.named_parameters())  # stored once
    with torch.no_grad():  # the logits move with the embedding matrix
        src, lengths, tgt = _batch()
        before = model(src, lengths, tgt).logits
        model.tgt_embedding.weight[5] += 1.0
        after = model(src, lengths, tgt).logits
    assert not torch.allclose(before[..., 5], after[..., 5])
    # safetensors refuses aliased tensors: the tied model's state dict must save as is
    import safetensors.torch

    safetensors.torch.save(model.state_dict())
    bahdanau = _model("bahdanau", {}, tie_embeddings=True)  # features 8+16+8 -> projection
    assert bahdanau.pre_output.out_features == 8
    src, lengths, tgt = _batch()
    bahdanau(src, lengths, tgt).logits.sum().backward()
    assert bahdanau.tgt_embedding.weight.grad is not None


def test_label_smoothing_value():
    torch.manual_seed(3)
    logits = torch.randn(2, 3, 5, dtype=torch.float64)
    targets = torch.tensor([[1, 4, 0], [2, 0, 0]])  # 0 = pad
    eps = 0.1
    loss, n = sequence_loss(logits, targets, pad_id=0, label_smoothing=eps)
    assert n == 3
    logp = F.log_softmax(logits, -1)
    manual = []
    for b, t in [(0, 0), (0, 1), (1, 0)]:
        y = int(targets[b, t])
        manual.append((1 - eps) * -logp[b, t, y] - eps * logp[b, t].mean())
    torch.testing.assert_close(loss, torch.stack(manual).mean())
    plain, _ = sequence_loss(logits, targets, pad_id=0)
    assert float(loss) != pytest.approx(float(plain))


def test_teacher_forcing_ratio():
    model = _model("bahdanau", {})
    src, lengths, tgt = _batch()
    full = model(src, lengths, tgt).logits
    looped = model(src, lengths, tgt, teacher_forcing=0.999999999,
                   generator=torch.Generator().manual_seed(0)).logits  # fmt: skip
    torch.testing.assert_close(looped, full, rtol=1e-10, atol=1e-10)
    free = model(src, lengths, tgt, teacher_forcing=0.0).logits
    assert not torch.allclose(free[:, 1:], full[:, 1:])
    torch.testing.assert_close(free[:, 0], full[:, 0])


def test_bad_input_messages():
    model = _model("bahdanau", {})
    src, lengths, tgt = _batch()
    with pytest.raises(ValueError, match="expected src_lengths in"):
        model(src, torch.tensor([6, 0, 2]), tgt)
    with pytest.raises(ValueError, match="expected decoder in"):
        Seq2SeqConfig(src_vocab=5, tgt_vocab=5, decoder="nope")
    with pytest.raises(ValueError, match="unidirectional"):
        Seq2SeqConfig(src_vocab=5, tgt_vocab=5, decoder="luong", luong_score="dot")
    assert set(DECODERS) == {"plain", "context", "bahdanau", "luong", "transformer", "location"}
    with pytest.raises(ValueError, match="expected max_source_len"):
        Seq2SeqConfig(src_vocab=5, tgt_vocab=5, decoder="location", max_source_len=0)
    short = _model("location", {}, max_source_len=4)
    with pytest.raises(ValueError, match="at most max_source_len=4 positions, got 6"):
        short(src, lengths, tgt)


def test_a_registered_decoder_needs_no_other_change():
    """One class with a registration: the config accepts the name, the model builds it,
    forward and step run, and every other decoder is untouched."""
    from seqattn.models.seq2seq_decoders import PlainDecoder

    @DECODERS.register("plain-twice")
    class Twice(PlainDecoder):
        @classmethod
        def check_config(cls, cfg):
            if cfg.decoder_layers != 1:
                raise ValueError(f"expected decoder_layers 1, got {cfg.decoder_layers}")

    try:
        assert "plain-twice" in DECODERS and DECODERS.names()[-1] == "plain-twice"
        model = _model("plain-twice", {})
        assert type(model.decoder) is Twice
        src, lengths, tgt = _batch()
        assert model(src, lengths, tgt).logits.shape == (3, 5, 11)
        with pytest.raises(ValueError, match="expected decoder_layers 1, got 2"):
            Seq2SeqConfig(src_vocab=5, tgt_vocab=5, decoder="plain-twice", decoder_layers=2)
    finally:
        DECODERS.unregister("plain-twice")
    with pytest.raises(ValueError, match="expected decoder in"):
        Seq2SeqConfig(src_vocab=5, tgt_vocab=5, decoder="plain-twice")


def _reverse_batch(n, g, vocab=8, lo=3, hi=8):
    """Reverse task with ids shifted past pad/bos/eos; lengths lo..hi-1."""
    lengths = torch.randint(lo, hi, (n,), generator=g)
    src = torch.zeros(n, hi - 1, dtype=torch.long)
    tgt_in = torch.zeros(n, hi, dtype=torch.long)
    tgt_out = torch.zeros(n, hi, dtype=torch.long)
    for i, n_i in enumerate(lengths.tolist()):
        s, t = reverse_task(1, n_i, vocab, seed=g)
        src[i, :n_i] = s[0] + 3
        tgt_in[i, 0], tgt_in[i, 1 : n_i + 1] = BOS, t[0] + 3
        tgt_out[i, :n_i], tgt_out[i, n_i] = t[0] + 3, EOS
    return src, lengths, tgt_in, tgt_out


@pytest.mark.slow
def test_bahdanau_learns_reverse():
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab=11, tgt_vocab=11, embed_dim=16, hidden_size=32, dropout=0.0,
                        decoder="bahdanau")  # fmt: skip
    model = Seq2Seq(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        src, lengths, tgt_in, tgt_out = _reverse_batch(32, g)
        loss, _ = sequence_loss(model(src, lengths, tgt_in).logits, tgt_out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src, lengths, tgt_in, tgt_out = _reverse_batch(200, torch.Generator().manual_seed(99))
    with torch.no_grad():
        pred = model(src, lengths, tgt_in).logits.argmax(-1)
    mask = tgt_out != PAD
    token_acc = float((pred == tgt_out)[mask].float().mean())
    assert token_acc > 0.9, token_acc
    assert math.isfinite(float(loss.detach()))


def test_transformer_decoder_embeddings_start_at_scale_one_over_sqrt_e():
    """The Transformer decoder scales its input embeddings by sqrt(E); they are initialised at
    std E^-1/2 so that the scaled input has unit scale (the RNN decoders keep N(0, 1))."""
    torch.manual_seed(0)
    kw = dict(src_vocab=7, tgt_vocab=4000, embed_dim=64, hidden_size=64, pad_id=0)
    tr = Seq2Seq(Seq2SeqConfig(decoder="transformer", **kw)).tgt_embedding.weight
    rnn = Seq2Seq(Seq2SeqConfig(decoder="bahdanau", **kw)).tgt_embedding.weight
    assert tr[1:].std().item() == pytest.approx(64**-0.5, rel=0.05)
    assert rnn[1:].std().item() == pytest.approx(1.0, rel=0.05)
    assert tr[0].abs().sum().item() == 0.0  # the padding row stays zero

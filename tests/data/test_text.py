"""Tokenisers, vocabulary, padding/bucketing, pretrained embeddings (on files the tests write)."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqattn.data.batching import BucketBatchSampler, PadCollate, pad_sequences, padding_fraction
from seqattn.data.pretrained import build_embedding_matrix, load_vectors, pretrained_embedding
from seqattn.data.tokenize import BPETokenizer, WordTokenizer, load_tokenizer
from seqattn.data.vocab import Vocab

# -- tokenisers ------------------------------------------------------------------------------


def test_word_tokenizer_options():
    text = "He said &quot;Don't&quot;<br /><br/>It's GREAT :-)"
    assert WordTokenizer()(text) == [
        "he", "said", '"', "don't", '"', "it's", "great", ":", "-", ")",
    ]  # fmt: skip
    raw = WordTokenizer(lowercase=False, unescape_html=False, html_breaks=False)(text)
    assert "&" in raw and "quot" in raw and "<" in raw and "He" in raw


def test_word_tokenizer_unicode_and_errors():
    assert WordTokenizer()("Ça coûte 3,50 €") == ["ça", "coûte", "3", ",", "50", "€"]
    with pytest.raises(TypeError, match="expected a str"):
        WordTokenizer()(b"bytes")
    with pytest.raises(ValueError, match="regular expression"):
        WordTokenizer(pattern="(")


def test_word_tokenizer_save_load(tmp_path):
    tok = WordTokenizer(lowercase=False)
    loaded = load_tokenizer(tok.save(tmp_path / "tok.json"))
    assert isinstance(loaded, WordTokenizer) and loaded.to_dict() == tok.to_dict()


CORPUS = [
    "the lowest price is lower than the low price",
    "newer models are the newest and the widest",
    "a wider road is a wide road",
] * 30


def test_bpe_learns_merges_and_round_trips(tmp_path):
    bpe = BPETokenizer.train(CORPUS, vocab_size=120, min_frequency=2)
    assert bpe.vocab_size <= 120
    assert bpe.tokens()[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    # a frequent word becomes one token, an unseen one splits into known pieces
    assert bpe.encode("the") == ["▁the"]
    pieces = bpe.encode("lowerest")
    assert len(pieces) > 1 and "".join(pieces).replace("▁", "") == "lowerest"
    text = "the newest road is wider"
    assert bpe.decode(bpe.encode_ids(text)) == text
    loaded = load_tokenizer(bpe.save(tmp_path / "bpe.json"))
    assert isinstance(loaded, BPETokenizer)
    assert loaded.encode_ids(text) == bpe.encode_ids(text)
    # its subwords build a vocabulary with the same ids
    vocab = Vocab(bpe.tokens())
    assert vocab.encode(bpe.encode(text)) == bpe.encode_ids(text)


def test_bpe_lowercase_and_errors(tmp_path):
    bpe = BPETokenizer.train(CORPUS, vocab_size=100, lowercase=True)
    assert bpe.encode("THE") == bpe.encode("the")
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train(CORPUS, vocab_size=0)
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "sentencepiece"}')
    with pytest.raises(ValueError, match="'word' or 'bpe'"):
        load_tokenizer(bad)


# -- vocabulary ------------------------------------------------------------------------------


def test_vocab_build_min_freq_max_size_ties():
    corpus = [["b", "a", "c", "a", "b", "d"], ["a", "e"]]
    v = Vocab.build(corpus)
    assert v.itos[4:] == ["a", "b", "c", "d", "e"]  # by count, ties alphabetical
    assert Vocab.build(corpus, min_freq=2).itos[4:] == ["a", "b"]
    assert Vocab.build(corpus, max_size=6).itos == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b"]
    assert (v.pad_id, v.unk_id, v.bos_id, v.eos_id) == (0, 1, 2, 3)
    assert v.counts["a"] == 3


def test_vocab_without_unk_raises_and_custom_specials():
    v = Vocab.build([["x", "y"]], specials=["<pad>", "<mask>"])
    assert v.itos == ["<pad>", "<mask>", "x", "y"] and v.unk is None
    with pytest.raises(KeyError, match="has no <unk>"):
        v.encode(["z"])
    with pytest.raises(ValueError, match="bos token"):
        v.encode(["x"], add_bos=True)


def test_vocab_errors():
    with pytest.raises(ValueError, match="unique tokens"):
        Vocab(["<pad>", "<unk>", "<bos>", "<eos>", "a", "a"])
    with pytest.raises(ValueError, match="unk token"):
        Vocab(["<pad>", "a"], bos=None, eos=None)
    with pytest.raises(TypeError, match="tokenise first"):
        Vocab.build(["a sentence", "another"])
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build([["a"]], max_size=2)
    v = Vocab.build([["a"]])
    with pytest.raises(ValueError, match=r"ids in \[0, 5\)"):
        v.decode([7])


def test_vocab_save_load(tmp_path):
    v = Vocab.build([["héllo", "wörld", "héllo"]])
    path = v.save(tmp_path / "vocab.json")
    assert Vocab.load(path) == v
    assert json.loads(path.read_text())["tokens"][4] == "héllo"
    path.write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="seqattn.vocab/1"):
        Vocab.load(path)


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=8), min_size=1, max_size=20))
@settings(max_examples=50, deadline=None)
def test_vocab_encode_decode_round_trip(corpus):
    v = Vocab.build(corpus)
    for tokens in corpus:
        assert v.decode(v.encode(tokens, add_bos=True, add_eos=True)) == tokens
    assert v.coverage(corpus) == 1.0


# -- padding and bucketing -------------------------------------------------------------------


@given(st.lists(st.lists(st.integers(1, 50), min_size=1, max_size=12), min_size=1, max_size=10))
@settings(max_examples=50, deadline=None)
def test_pad_sequences_round_trip(seqs):
    padded, lengths = pad_sequences(seqs, pad_value=0)
    assert padded.shape == (len(seqs), max(map(len, seqs)))
    for row, n, s in zip(padded.tolist(), lengths.tolist(), seqs, strict=True):
        assert row[:n] == s and all(x == 0 for x in row[n:])
    time_major, _ = pad_sequences(seqs, batch_first=False)
    assert torch.equal(time_major, padded.T)


def test_pad_sequences_features_and_errors():
    padded, lengths = pad_sequences([torch.ones(3, 2), torch.ones(1, 2)], pad_value=-1.0)
    assert padded.shape == (2, 3, 2) and padded[1, 1:].eq(-1).all() and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="trailing shape"):
        pad_sequences([torch.ones(3, 2), torch.ones(1, 3)])
    with pytest.raises(ValueError, match="empty batch"):
        pad_sequences([])


def test_collate_with_model_lengths():
    """Collate output feeds our LSTM's lengths= and equals running each sequence alone."""
    from seqattn.nn import LSTM

    torch.manual_seed(0)
    data = [([1, 2, 3, 4], 1), ([5, 6], 0), ([7], 1)]
    (tokens, lengths), labels = PadCollate(pad_value=0)(data)
    emb = torch.nn.Embedding(8, 4, padding_idx=0)
    lstm = LSTM(4, 5, batch_first=True)
    _, (h, _) = lstm(emb(tokens), lengths=lengths)
    for i, (seq, _) in enumerate(data):
        _, (h_i, _) = lstm(emb(torch.tensor([seq])))
        torch.testing.assert_close(h[:, i], h_i[:, 0])
    assert labels.tolist() == [1, 0, 1]


def test_bucket_sampler_covers_every_index_once_and_cuts_padding():
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 200, (1000,), generator=gen).tolist()
    sampler = BucketBatchSampler(lengths, batch_size=16, pool_batches=20, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    random_batches = [list(range(i, min(i + 16, 1000))) for i in range(0, 1000, 16)]
    bucketed, rand = padding_fraction(lengths, batches), padding_fraction(lengths, random_batches)
    assert bucketed < 0.1 < 0.4 < rand
    # deterministic per (seed, epoch); a new epoch gives a new order
    assert sampler.batches(0) == BucketBatchSampler(lengths, 16, 20, seed=3).batches(0)
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_bucket_sampler_drop_last_and_from_dataset():
    ds = [([0] * n, 0) for n in [3, 1, 2, 5, 4]]
    s = BucketBatchSampler.from_dataset(ds, batch_size=2, pool_batches=10, drop_last=True)
    assert all(len(b) == 2 for b in s) and len(s) == 2
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1, 2], batch_size=0)


# -- pretrained vectors ----------------------------------------------------------------------

WORDS = {"the": [0.1, 0.2, 0.3], "cat": [1.0, -1.0, 0.5], "Paris": [0.0, 2.0, -2.0]}


def _write_glove(path, gz=False):
    text = "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in WORDS.items())
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _write_w2v_text(path):
    lines = [f"{len(WORDS)} 3"] + [f"{w} {' '.join(map(str, v))} " for w, v in WORDS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_w2v_binary(path, newline=True):
    with open(path, "wb") as f:
        f.write(f"{len(WORDS)} 3\n".encode())
        for w, v in WORDS.items():
            f.write(w.encode() + b" " + struct.pack("<3f", *v) + (b"\n" if newline else b""))
    return path


@pytest.mark.parametrize(
    "writer,name,fmt",
    [
        (_write_glove, "glove.6B.3d.txt", "glove"),
        (lambda p: _write_glove(p, gz=True), "glove.txt.gz", "glove"),
        (_write_w2v_text, "vectors.txt", "word2vec"),
        (_write_w2v_text, "wiki.en.vec", "fasttext"),
        (_write_w2v_binary, "GoogleNews.bin", "word2vec-binary"),
        (lambda p: _write_w2v_binary(p, newline=False), "vectors.bin", "word2vec-binary"),
    ],
)
def test_load_vectors_formats(tmp_path, writer, name, fmt):
    vec = load_vectors(writer(tmp_path / name))
    assert vec.format == fmt and vec.dim == 3 and vec.words == list(WORDS)
    np.testing.assert_allclose(vec.matrix, np.array(list(WORDS.values()), np.float32), rtol=1e-6)
    assert load_vectors(tmp_path / name, words={"cat"}).words == ["cat"]
    assert load_vectors(tmp_path / name, max_vectors=2).words == ["the", "cat"]


def test_load_vectors_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a word-vector file"):
        load_vectors(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("the 0.1 0.2\ncat 0.3\n")
    with pytest.raises(ValueError, match=r"expected 2 values at .*bad.txt:2"):
        load_vectors(bad)
    with pytest.raises(ValueError, match="format in"):
        load_vectors(bad, format="elmo")
    trunc = _write_w2v_binary(tmp_path / "t.bin")
    trunc.write_bytes(trunc.read_bytes()[:-8])
    with pytest.raises(ValueError, match="float32 values"):
        load_vectors(trunc)


def test_embedding_matrix_coverage_and_oov(tmp_path):
    vocab = Vocab.build([["the", "cat", "paris", "dog", "the", "the", "dog"]])
    vec = load_vectors(_write_glove(tmp_path / "g.txt"))
    matrix, report = build_embedding_matrix(vocab, vec, oov_init="zeros")
    assert report.found == 2 and report.found_lowercase == 0 and report.oov == 2
    assert report.top_oov == [("dog", 2), ("paris", 1)]
    assert report.token_coverage == pytest.approx(4 / 7)
    torch.testing.assert_close(matrix[vocab["cat"]], torch.tensor(WORDS["cat"]))
    assert matrix[vocab.pad_id].eq(0).all()
    # a cased vocabulary finds lowercased vectors; here "Paris" in the file, "paris" wanted:
    # no match lowercase->cased, but a cased token finds a lowercase vector
    cased = Vocab.build([["The", "Cat"]])
    _, rep = build_embedding_matrix(cased, vec)
    assert rep.found_lowercase == 2 and rep.oov == 0
    # random OOV rows have the pretrained vectors' scale, seeded
    m1, _ = build_embedding_matrix(vocab, vec, oov_init="normal", seed=1)
    m2, _ = build_embedding_matrix(vocab, vec, oov_init="normal", seed=1)
    torch.testing.assert_close(m1, m2)
    assert not m1[vocab["dog"]].eq(0).all()
    mean, _ = build_embedding_matrix(vocab, vec, oov_init="mean")
    torch.testing.assert_close(mean[vocab["dog"]], torch.tensor(vec.matrix.mean(0)))
    assert "2/4 vocabulary entries" in report.summary()


def test_pretrained_embedding_freeze_and_finetune(tmp_path):
    vocab = Vocab.build([["the", "cat", "dog"]])
    path = _write_glove(tmp_path / "g.txt")
    frozen, _ = pretrained_embedding(vocab, path, freeze=True)
    assert not frozen.weight.requires_grad and frozen.padding_idx == vocab.pad_id
    tuned, _ = pretrained_embedding(vocab, path, freeze=False)
    opt = torch.optim.SGD(tuned.parameters(), lr=1.0)
    before = tuned.weight.detach().clone()
    tuned(torch.tensor([vocab["cat"], vocab["dog"]])).sum().backward()
    opt.step()
    assert not torch.equal(tuned.weight[vocab["cat"]], before[vocab["cat"]])
    # freeze the pretrained rows, train only the OOV ones
    part, _ = pretrained_embedding(vocab, path, freeze=True, train_oov=True)
    opt = torch.optim.SGD(part.parameters(), lr=1.0)
    before = part.weight.detach().clone()
    part(torch.tensor([vocab["cat"], vocab["dog"]])).sum().backward()
    opt.step()
    assert torch.equal(part.weight[vocab["cat"]], before[vocab["cat"]])
    assert not torch.equal(part.weight[vocab["dog"]], before[vocab["dog"]])

"""Tagging pipeline on files the tests write: the synthetic entity language learnt to entity F1
>= 0.95 with the CRF head and without, save/load round trip, POS-style tags scored by accuracy,
resume, and the data checks."""

from __future__ import annotations

import json

import pytest
import torch

from seqattn.data.datasets import TaggedSentence, read_conll, write_conll
from seqattn.data.synthetic import synthetic_tagging, synthetic_tags
from seqattn.models import TaggerConfig
from seqattn.pipelines import TaggerBundle, TaggerTrainConfig, fit_tagger
from seqattn.pipelines.model_dir import MANIFEST


def _config(crf: bool, epochs: int = 5, **kw) -> TaggerTrainConfig:
    model = TaggerConfig(vocab_size=1, embed_dim=24, hidden_size=24, dropout=0.1, crf=crf)
    return TaggerTrainConfig(model=model, epochs=epochs, lr=0.01, **kw)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """train / valid / test CoNLL files of the synthetic language, read back."""
    folder = tmp_path_factory.mktemp("synthetic")
    out = {}
    for split, n, seed in (("train", 400, 0), ("valid", 100, 1), ("test", 200, 2)):
        rows = [[[w, t] for w, t in zip(s.tokens, s.tags, strict=True)]
                for s in synthetic_tagging(n, seed=seed)]  # fmt: skip
        out[split] = read_conll(write_conll(folder / f"{split}.txt", rows))
    return out


def test_synthetic_rule_is_deterministic_and_uses_both_sides():
    assert synthetic_tags(["w1", "n1", "n2", "corp"]) == ["O", "B-ORG", "I-ORG", "O"]
    assert synthetic_tags(["w1", "n1", "n2", "w2"]) == ["O", "O", "O", "O"]
    assert synthetic_tags(["dr", "n1", "n2", "corp"])[1:3] == ["B-PER", "I-PER"]
    data = synthetic_tagging(50, seed=3)
    assert data == synthetic_tagging(50, seed=3) and data != synthetic_tagging(50, seed=4)
    assert all(s.tags == synthetic_tags(s.tokens) for s in data)
    with pytest.raises(ValueError, match="max_segments"):
        synthetic_tagging(3, max_segments=1)


@pytest.mark.parametrize("crf", [True, False])
def test_learns_the_synthetic_language(corpus, tmp_path, crf):
    torch.set_num_threads(1)
    bundle = fit_tagger(corpus["train"], corpus["valid"], _config(crf), tmp_path / "m")
    scores = bundle.evaluate(corpus["test"])
    assert scores["entity"]["f1"] >= 0.95, scores["entity"]
    assert set(scores["entity"]["per_type"]) == {"PER", "LOC", "ORG"}
    assert (bundle.model.crf is not None) == crf
    summary = json.loads((tmp_path / "m" / "train_summary.json").read_text())
    assert summary["metric"] == "val_f1" and summary["crf"] == crf
    assert summary["valid"]["entity"]["f1"] == pytest.approx(summary["best"])
    # the saved directory predicts what the bundle predicts
    loaded = TaggerBundle.load(tmp_path / "m")
    sentences = [s.tokens for s in corpus["test"][:20]]
    assert loaded.predict(sentences) == bundle.predict(sentences)
    assert loaded.tags == bundle.tags and loaded.info["train_config"]["model"]["crf"] == crf
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    assert manifest["kind"] == "sequence-tagger" and "vocab.json" in manifest["files"]


def test_pos_tags_are_scored_by_accuracy_and_unknown_words(tmp_path):
    """Tags without B-/I- prefixes: token accuracy picks the weights, no entity scores;
    words never seen in training read as <unk> (here a determiner-noun pattern)."""
    rng = torch.Generator().manual_seed(0)
    nouns, dets = [f"noun{i}" for i in range(12)], ["the", "a"]

    def sentence(k: int) -> TaggedSentence:
        idx = torch.randint(0, 12, (3,), generator=rng).tolist()
        tokens = [dets[k % 2], nouns[idx[0]], "sees", dets[(k + 1) % 2], nouns[idx[1]]]
        return TaggedSentence(tokens, ["DET", "NOUN", "VERB", "DET", "NOUN"], f"s{k}")

    train = [sentence(k) for k in range(60)]
    bundle = fit_tagger(train, train[:10], _config(False, epochs=4), tmp_path / "pos")
    summary = json.loads((tmp_path / "pos" / "train_summary.json").read_text())
    assert summary["metric"] == "val_acc" and summary["valid"]["entity"] is None
    assert bundle.predict([["the", "zebra", "sees", "a", "noun3"]]) == [
        ["DET", "NOUN", "VERB", "DET", "NOUN"]]  # fmt: skip
    assert bundle.evaluate(train[:10])["token_accuracy"] == 1.0


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_word_dropout_trains_the_unk_embedding(corpus, tmp_path, rate):
    """Every training word is in the vocabulary (min_freq 1): only word dropout makes the
    <unk> row, which every unseen word reads, learn anything."""
    from seqattn.models import SequenceTagger
    from seqattn.training import seed_everything

    cfg = _config(True, epochs=2, word_dropout=rate)
    bundle = fit_tagger(corpus["train"][:60], None, cfg, tmp_path / "wd")
    seed_everything(cfg.seed)
    start = SequenceTagger(bundle.model.config).embedding.weight[bundle.vocab.unk_id]
    moved = not torch.equal(bundle.model.embedding.weight[bundle.vocab.unk_id], start)
    assert moved == (rate > 0)


def test_resume_continues_to_more_epochs(corpus, tmp_path):
    train, valid = corpus["train"][:80], corpus["valid"][:20]
    fit_tagger(train, valid, _config(True, epochs=1, patience=None), tmp_path / "r")
    fit_tagger(train, valid, _config(True, epochs=2, patience=None), tmp_path / "r", resume=True)
    summary = json.loads((tmp_path / "r" / "train_summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["resume"]["used"] == "new"
    with pytest.raises(ValueError, match="lr"):
        changed = TaggerTrainConfig(model=_config(True).model, epochs=3, lr=0.02, patience=None)
        fit_tagger(train, valid, changed, tmp_path / "r", resume=True)


def test_data_checks_before_any_write(tmp_path):
    good = [TaggedSentence(["a", "b"], ["O", "B-X"], "t.txt:1")]
    out = tmp_path / "never"
    cases = [
        ([TaggedSentence(["a"], None, "t.txt:4")], None, ValueError, "gold tags at t.txt:4"),
        ([TaggedSentence([], [], "t.txt:9")], None, ValueError, "at least one token at t.txt:9"),
        (good, [TaggedSentence(["a"], ["B-Y"], "v.txt:2")], ValueError, "at v.txt:2, got 'B-Y'"),
        ([], None, ValueError, "at least one training sentence"),
        ("a b", None, TypeError, "list of TaggedSentence"),
        ([["a", "b"]], None, TypeError, "TaggedSentence items"),
    ]
    for train, valid, error, match in cases:
        with pytest.raises(error, match=match):
            fit_tagger(train, valid, _config(True, epochs=1), out)
    assert not out.exists()
    with pytest.raises(TypeError, match="TaggerTrainConfig"):
        fit_tagger(good, None, {"epochs": 1}, out)


def test_bundle_checks(corpus, tmp_path):
    bundle = fit_tagger(corpus["train"][:30], None, _config(True, epochs=1), tmp_path / "b")
    with pytest.raises(TypeError, match="got a str"):
        bundle.predict(["EU rejects"])
    with pytest.raises(ValueError, match="empty sentence"):
        bundle.predict([["a"], []], ids=["x:1", "x:2"])
    with pytest.raises(ValueError, match="at x:2"):
        bundle.predict([["a"], []], ids=["x:1", "x:2"])
    with pytest.raises(ValueError, match=r"tags the model knows .* at s:1, got 'B-MISC'"):
        bundle.evaluate([TaggedSentence(["a"], ["B-MISC"], "s:1")])
    with pytest.raises(ValueError, match="batch_size"):
        bundle.predict([["a"]], batch_size=0)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        TaggerBundle.load(tmp_path / "none")
    bundle = fit_tagger([TaggedSentence(["a", "b"], ["O", "B-X"])], None,
                        _config(True, epochs=1), tmp_path / "m")  # fmt: skip
    (tmp_path / "m" / "vocab.json").write_text("{}")
    with pytest.raises(ValueError, match="sha256"):
        TaggerBundle.load(tmp_path / "m")
    bundle.save(tmp_path / "m")  # a good save again
    assert TaggerBundle.load(tmp_path / "m").tags == ["B-X", "O"]


def test_config_checks():
    with pytest.raises(ValueError, match="metric in"):
        TaggerTrainConfig(metric="f1")
    with pytest.raises(ValueError, match="scheme None or one of"):
        TaggerTrainConfig(scheme="BIO")
    with pytest.raises(ValueError, match="word_dropout in"):
        TaggerTrainConfig(word_dropout=1.0)
    with pytest.raises(ValueError, match="model.num_tags to stay 2"):
        TaggerTrainConfig(model=TaggerConfig(vocab_size=1, num_tags=5))
    cfg = TaggerTrainConfig.from_dict({"model": {"crf": False}, "epochs": 3})
    assert cfg.model.crf is False and cfg.model.vocab_size == 1 and cfg.epochs == 3

"""seqattn.pipelines: reading tables strictly, training, the model directory, predict, explain."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from pathlib import Path

import pytest
import torch

from seqattn.config import ConfigError, replace_config
from seqattn.data.datasets.text_classification import TextExample
from seqattn.pipelines import (
    ClassifierBundle,
    TextClassifierConfig,
    fit_text_classifier,
    read_table,
    read_text_examples,
    write_csv,
)
from seqattn.pipelines.classification import default_model

FILLER = [
    "the", "a", "movie", "film", "plot", "actor", "story", "was", "is", "it", "and", "this",
    "that", "very", "quite", "rather", "scene",
]  # fmt: skip
CUES = {"pos": "good", "neg": "bad"}


def small(encoder: str = "bilstm", head: str = "attention", **train) -> TextClassifierConfig:
    """A small model (E = H = 16, no dropout), lr 0.01, batches of 32; ``train`` on top."""
    model = dataclasses.replace(default_model(), embed_dim=16, hidden_size=16, dropout=0.0,
                                encoder=encoder, head=head)  # fmt: skip
    return TextClassifierConfig(model=model, lr=0.01, batch_size=32, **train)


def make_rows(n: int, seed: int, lo: int = 3, hi: int = 12) -> list[tuple[str, str]]:
    """Sentences of filler words with one decisive word (good/bad) at a random position."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = [rng.choice(FILLER) for _ in range(rng.randint(lo, hi))]
        words.insert(rng.randint(0, len(words)), CUES[label])
        rows.append((" ".join(words), label))
    return rows


def examples(rows, name="data.csv") -> list[TextExample]:
    return [TextExample(t, y, id=f"{name}:{i + 2}") for i, (t, y) in enumerate(rows)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    cfg = small("lstm", "attention", epochs=6, patience=2)
    bundle = fit_text_classifier(examples(make_rows(300, 0)), examples(make_rows(100, 1)), cfg, out)
    return bundle, out


# -- training and the model directory ---------------------------------------------------------
def test_training_reaches_high_accuracy_on_fresh_texts(trained):
    bundle, out = trained
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["valid"]["acc"] >= 0.95 and summary["labels"] == ["neg", "pos"]
    fresh = make_rows(200, 7)
    preds = bundle.predict([t for t, _ in fresh])
    acc = sum(p.label == y for p, (_, y) in zip(preds, fresh, strict=True)) / len(fresh)
    assert acc >= 0.95
    for p in preds:
        assert abs(sum(p.probs.values()) - 1) < 1e-9 and p.label == max(p.probs, key=p.probs.get)


def test_model_directory_layout_and_metrics(trained):
    _, out = trained
    for name in ("config.json", "model.safetensors", "vocab.json", "tokenizer.json",
                 "metrics.jsonl", "train_summary.json"):  # fmt: skip
        assert (out / name).is_file(), name
    assert (out / "checkpoints").is_dir()
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == ["neg", "pos"] and config["model"]["encoder"] == "lstm"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("val_acc" in r for r in records) and any("loss" in r for r in records)
    assert not list(out.glob(".*tmp*")), "a temporary file was left behind"


def test_round_trip_gives_identical_predictions(trained):
    bundle, out = trained
    loaded = ClassifierBundle.load(out)
    texts = [t for t, _ in make_rows(40, 3)] + ["an unseen word: splendid", "GOOD!!!"]
    for a, b in zip(bundle.predict(texts), loaded.predict(texts), strict=True):
        assert a.label == b.label and a.probs == b.probs and a.attention == b.attention
    assert loaded.labels == bundle.labels and loaded.vocab == bundle.vocab
    # another batching (other padding) changes only float rounding
    for a, b in zip(bundle.predict(texts), loaded.predict(texts, batch_size=7), strict=True):
        assert a.label == b.label and a.probs == pytest.approx(b.probs, abs=1e-6)


def test_attention_weighs_the_decisive_word(trained):
    bundle, _ = trained
    preds = bundle.predict([t for t, _ in make_rows(100, 11)])
    on_cue = from_cue = 0.0
    for p in preds:
        assert len(p.attention) == len(p.tokens) and abs(sum(p.attention) - 1) < 1e-5
        cue = next(i for i, t in enumerate(p.tokens) if t in CUES.values())
        on_cue += p.attention[cue] / len(preds)
        from_cue += sum(p.attention[cue:]) / len(preds)  # an LSTM state carries the cue on
    assert on_cue >= 0.3  # uniform attention would give about 1/9
    assert from_cue >= 0.75  # uniform: about 1/2


def test_best_weights_are_kept_and_early_stopping_stops(tmp_path):
    cfg = small("gru", "mean", epochs=30, patience=1)
    fit_text_classifier(examples(make_rows(120, 0)), examples(make_rows(40, 1)), cfg, tmp_path)
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["epochs_run"] < 30  # stopped early
    assert summary["valid"]["acc"] == pytest.approx(summary["best_val_acc"])


def test_resume_continues_to_the_same_weights(tmp_path):
    train = examples(make_rows(60, 0))
    cfg = small("gru", "max", epochs=3, patience=None)
    full = fit_text_classifier(train, None, cfg, tmp_path / "full")
    fit_text_classifier(train, None, dataclasses.replace(cfg, epochs=1),
                        tmp_path / "part")  # fmt: skip
    resumed = fit_text_classifier(train, None, cfg, tmp_path / "part", resume=True)
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="vocabulary saved in"):
        fit_text_classifier(examples(make_rows(60, 5)), None, cfg, tmp_path / "part", resume=True)


def test_integer_labels_sort_numerically(tmp_path):
    rows = [(t, {"pos": 10, "neg": 9}[y]) for t, y in make_rows(40, 0)]
    cfg = small("tcn", "last", epochs=1)
    bundle = fit_text_classifier(examples(rows), None, cfg, tmp_path)
    assert bundle.labels == ["9", "10"]
    assert bundle.check_labels(["10", "9"]) == [1, 0]


# -- bad input --------------------------------------------------------------------------------
def test_empty_text_at_training_names_the_row_and_writes_nothing(tmp_path):
    data = examples(make_rows(10, 0))
    data[4] = TextExample("  ", "pos", id="data.csv:6")
    with pytest.raises(ValueError, match=r"non-empty text at data\.csv:6"):
        fit_text_classifier(data, None, small(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_label_problems_at_training(tmp_path):
    cfg = small()
    one_label = [TextExample("good film", "pos", id="a.csv:2")] * 3
    with pytest.raises(ValueError, match=r"at least 2 distinct labels .*\['pos'\]"):
        fit_text_classifier(one_label, None, cfg, tmp_path / "m")
    valid = [TextExample("so so", "neutral", id="v.csv:9")]
    with pytest.raises(ValueError, match=r"labels \['neg', 'pos'\] at v\.csv:9, got 'neutral'"):
        fit_text_classifier(examples(make_rows(10, 0)), valid, cfg, tmp_path / "m")
    with pytest.raises(ValueError, match="expected a label at train example 1"):
        fit_text_classifier([TextExample("x", None)], None, cfg, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_predict_errors_name_the_input(trained):
    bundle, _ = trained
    with pytest.raises(ValueError, match=r"non-empty text at text 2, got ' '"):
        bundle.predict(["good", " "])
    with pytest.raises(ValueError, match=r"at in\.csv:3"):
        bundle.predict(["good", ""], ids=["in.csv:2", "in.csv:3"])
    with pytest.raises(ValueError, match=r"knows \(\['neg', 'pos'\]\) at text 2, got 'meh'"):
        bundle.evaluate(["good", "bad"], ["pos", "meh"])
    scores = bundle.evaluate(["good film", "a bad plot"], ["pos", "neg"])
    assert scores["accuracy"] == 1.0 and set(scores["per_label"]) == {"neg", "pos"}


def test_load_names_the_missing_or_corrupt_file(trained, tmp_path):
    bundle, _ = trained
    bundle.save(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="no directory"):
        ClassifierBundle.load(tmp_path / "nothing")
    (tmp_path / "m" / "vocab.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"expected vocab\.json in the model directory"):
        ClassifierBundle.load(tmp_path / "m")
    bundle.save(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])  # truncated
    with pytest.raises(ValueError, match=r"model\.safetensors to match the sha256"):
        ClassifierBundle.load(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"valid JSON in .*config\.json"):
        ClassifierBundle.load(tmp_path / "m")


# -- explain ----------------------------------------------------------------------------------
def test_explain_writes_heat_maps_through_viz(trained, tmp_path):
    bundle, _ = trained
    result = bundle.explain(["a good film", "the plot was bad"], tmp_path / "ex", ids=["a", "b"])
    assert result["method"] == "attention"
    page = result["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and "good" in page and "a: pos" in page
    assert [p.name for p in result["figures"]] == ["0001.png", "0002.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in result["figures"])
    assert sorted(p.name for p in (tmp_path / "ex").iterdir()) == ["0001.png", "0002.png",
                                                                    "explain.html"]  # fmt: skip


def test_saliency_for_heads_without_attention(tmp_path):
    cfg = small("gru", "max", epochs=6)
    bundle = fit_text_classifier(examples(make_rows(200, 0)), None, cfg, tmp_path / "m")
    preds = bundle.saliency([t for t, _ in make_rows(50, 3)])
    hits = 0
    for p in preds:
        assert abs(sum(p.attention) - 1) < 1e-9 and min(p.attention) >= 0
        hits += p.tokens[max(range(len(p.tokens)), key=p.attention.__getitem__)] in CUES.values()
    assert hits >= 40
    result = bundle.explain(["good"], tmp_path / "ex", formats=())
    assert result["method"] == "gradient x input" and result["figures"] == []


# -- tables -----------------------------------------------------------------------------------
def test_read_table_line_numbers_bom_blank_lines_and_quoted_newlines(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes('\ufefftext,label\r\n"two\r\nlines",pos\r\n\r\nok,neg\r\n'.encode())
    t = read_table(p)
    assert t.columns == ["text", "label"] and t.rows == [["two\r\nlines", "pos"], ["ok", "neg"]]
    assert t.lines == [2, 5]
    gz = tmp_path / "d.tsv.gz"
    gz.write_bytes(gzip.compress(b'text\tlabel\n"quoted\tpos\n'))
    assert read_table(gz).rows == [['"quoted', "pos"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"text,label\nfine,pos\nragged,pos,extra\n", r"expected 2 fields .* at .*d\.csv:3, got 3"),
        (b"text,label\nfine,pos\nno label\n", r"d\.csv:3, got 1"),
        (
            b"text,label\ngood,pos\ncaf\xe9,neg\n",
            r"UTF-8 text in .*d\.csv, got the byte 0xe9 at "
            r"line 3, column 4 \(byte offset 23\)",
        ),  # fmt: skip
        (b"", r"header row in .*d\.csv, got an empty file"),
        (b"text,text\nx,y\n", r"unique column names .*\['text'\]"),
        (b'text,label\n"open,pos\n', r"well-formed CSV at .*d\.csv:2"),
    ],
)
def test_read_table_rejects_bad_files_naming_file_and_line(tmp_path, content, message):
    p = tmp_path / "d.csv"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_table(p)


def test_read_text_examples_columns_and_labels(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("id,review,stars\n1, nice film ,pos\n2,dull,\n")
    with pytest.raises(ValueError, match=r"column 'text' in .*d\.csv, got columns \['id', "):
        read_text_examples(p)
    with pytest.raises(ValueError, match=r"label in column 'stars' at .*d\.csv:3"):
        read_text_examples(p, "review", "stars")
    ex = read_text_examples(p, "review", None)
    assert [(e.text, e.label) for e in ex] == [("nice film", None), ("dull", None)]
    assert ex[1].id.endswith("d.csv:3")
    with pytest.raises(FileNotFoundError, match="no file at"):
        read_table(tmp_path / "none.csv")


def test_write_csv_is_atomic_and_round_trips(tmp_path):
    path = write_csv(tmp_path / "o.csv", ["a", "b"], [["x,1", 'say "hi"'], ["é", ""]])
    assert read_table(path).rows == [["x,1", 'say "hi"'], ["é", ""]]
    assert [p.name for p in tmp_path.iterdir()] == ["o.csv"]


def test_config_validation():
    with pytest.raises(ValueError, match=r"model: expected encoder in \("):
        replace_config(TextClassifierConfig(), {"model.encoder": "cnn"})
    with pytest.raises(ValueError, match="expected epochs to be an int >= 1, got 0"):
        TextClassifierConfig(epochs=0)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        replace_config(TextClassifierConfig(), {"model.encoder": "transformer",
                                                "model.hidden_size": 10})  # fmt: skip
    with pytest.raises(ConfigError, match=r"unknown config key 'epochz'; did you mean 'epochs'"):
        TextClassifierConfig.from_dict({"epochz": 3})
    with pytest.raises(ConfigError, match=r"unknown config key model\.'hiden_size'.*valid keys"):
        TextClassifierConfig.from_dict({"model": {"hiden_size": 3}})
    with pytest.raises(ValueError, match=r"model\.vocab_size to stay 1 \(training fills it in"):
        replace_config(TextClassifierConfig(), {"model.vocab_size": 5000})
    with pytest.raises(TypeError, match="expected model to be a ClassifierConfig"):
        TextClassifierConfig(model="bilstm")


# -- the nested config and the flat configs of older versions ---------------------------------
FIXTURES = Path(__file__).parents[1] / "fixtures" / "flat_configs"


def test_the_nested_config_keeps_every_default():
    """Nesting moved the model options, it did not change a value (the flat defaults)."""
    flat = json.loads((FIXTURES / "text_classifier_default.json").read_text())
    cfg = TextClassifierConfig()
    assert TextClassifierConfig.from_dict(flat) == cfg
    nested = cfg.to_dict()
    for key, value in flat.items():
        assert (nested[key] if key in nested else nested["model"][key]) == value, key
    assert TextClassifierConfig.from_dict(nested) == cfg
    assert cfg.classifier_config(50, 3) == dataclasses.replace(
        cfg.model, vocab_size=50, num_classes=3)  # fmt: skip


def test_flat_configs_and_constructor_of_older_versions(caplog):
    with caplog.at_level("WARNING", logger="seqattn.config"):
        cfg = TextClassifierConfig.from_dict({"encoder": "gru", "hidden_size": 8, "epochs": 2})
    assert (cfg.model.encoder, cfg.model.hidden_size, cfg.epochs) == ("gru", 8, 2)
    assert "'encoder' -> 'model.encoder'" in caplog.text
    with pytest.warns(DeprecationWarning, match=r"pass model=\.\.\. instead"):
        old = TextClassifierConfig(encoder="gru", hidden_size=8, epochs=2)
    assert old == cfg
    with pytest.warns(DeprecationWarning, match=r"read \.model\.encoder"):
        assert old.encoder == "gru"
    assert TextClassifierConfig(**cfg.to_dict()) == cfg  # a nested mapping for model
    with pytest.raises(ConfigError, match=r"'hidden_size' .* or 'model\.hidden_size', got both"):
        TextClassifierConfig.from_dict({"hidden_size": 8, "model": {"hidden_size": 9}})


def test_a_model_directory_of_an_older_version_still_loads():
    """tests/fixtures/flat_configs/classifier: written before the nesting (flat train_config)."""
    expected = json.loads((FIXTURES / "expected.json").read_text())
    bundle = ClassifierBundle.load(FIXTURES / "classifier")
    preds = bundle.predict(["good film", "bad film 3"])
    assert [p.probs for p in preds] == expected["classifier_probs"]
    assert [p.attention for p in preds] == expected["classifier_attention"]
    train_config = TextClassifierConfig.from_dict(bundle.info["train_config"])
    assert train_config.model == dataclasses.replace(
        default_model(), encoder="gru", embed_dim=4, hidden_size=4, dropout=0.0, max_length=50
    )
    assert (train_config.seed, train_config.lr, train_config.epochs) == (3, 0.01, 1)
    assert train_config.classifier_config(11, 2) == bundle.model.config


def test_the_trained_directory_records_the_nested_config(trained):
    bundle, out = trained
    saved = json.loads((out / "config.json").read_text())["train_config"]
    assert TextClassifierConfig.from_dict(saved) == small("lstm", "attention", epochs=6,
                                                          patience=2)  # fmt: skip
    assert saved["model"]["encoder"] == "lstm" and "encoder" not in saved

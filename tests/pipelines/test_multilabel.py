"""Multi-label classification: label sets, F1 and thresholds, a learning test on a synthetic
topic task, the model directory round trip, export and the CLI."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest

from seqattn.cli.main import main
from seqattn.data.datasets.text_classification import TextExample
from seqattn.models import ClassifierConfig
from seqattn.pipelines import ClassifierBundle, TextClassifierConfig, fit_text_classifier
from seqattn.pipelines import multilabel as ml

TOPICS = {"sport": ["goal", "match", "team"], "money": ["bank", "price", "stock"],
          "food": ["bread", "cheese", "soup"]}  # fmt: skip
FILLER = ["the", "a", "today", "we", "saw", "very", "some", "and", "it", "was", "of", "in"]


def _example(rng: random.Random) -> tuple[str, str]:
    chosen = [t for t in TOPICS if rng.random() < 0.4]
    words = [rng.choice(FILLER) for _ in range(rng.randint(4, 10))]
    for t in chosen:
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(TOPICS[t]))
    rng.shuffle(chosen)  # the field's order is not the label order
    return " ".join(words), "|".join(chosen)


def _examples(n: int, seed: int) -> list[TextExample]:
    rng = random.Random(seed)
    return [TextExample(*_example(rng), id=f"ex{i}") for i in range(n)]


def _config(**kw) -> TextClassifierConfig:
    model = ClassifierConfig(vocab_size=1, encoder="gru", head="max", embed_dim=16,
                             hidden_size=16, dropout=0.0)  # fmt: skip
    return TextClassifierConfig(**{"model": model, "epochs": 6, "lr": 0.02, "multi_label": True,
                                   **kw})  # fmt: skip


def test_scores_match_a_hand_count():
    probs = np.array([[0.9, 0.2, 0.6], [0.4, 0.7, 0.1], [0.8, 0.6, 0.3]])
    y = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0]])
    s = ml.scores(probs, y, ["a", "b", "c"])
    # decisions at 0.5: [1,0,1], [0,1,0], [1,1,0]: tp 4, fp 1, fn 1
    assert s["f1_micro"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 1))
    per = {k: v["f1"] for k, v in s["per_label"].items()}
    assert per == pytest.approx({"a": 0.5, "b": 1.0, "c": 1.0})
    assert s["f1_macro"] == pytest.approx(2.5 / 3)
    assert s["subset_accuracy"] == pytest.approx(1 / 3)  # only the first row entirely right
    assert s["hamming_loss"] == pytest.approx(2 / 9)
    lower = ml.scores(probs, y, ["a", "b", "c"], thresholds=[0.35, 0.5, 0.5])
    assert lower["per_label"]["a"]["recall"] == 1.0  # 0.4 now counts


def test_thresholds_maximise_each_labels_f1():
    rng = np.random.default_rng(0)
    y = rng.random((200, 2)) < 0.3
    probs = np.where(y, 0.25 + 0.1 * rng.random(y.shape), 0.1 * rng.random(y.shape))
    thr = ml.tune_thresholds(probs, y)
    assert all(0.1 < t <= 0.25 for t in thr)  # separates 0..0.1 from 0.25..0.35
    assert ml.scores(probs, y, ["a", "b"], thr)["f1_micro"] == 1.0
    assert ml.scores(probs, y, ["a", "b"])["f1_micro"] == 0.0  # 0.5 predicts nothing


def test_learns_topics_and_round_trips(tmp_path):
    train, valid, test = _examples(600, 0), _examples(150, 1), _examples(200, 2)
    bundle = fit_text_classifier(train, valid, _config(), tmp_path / "m")
    assert bundle.labels == ["food", "money", "sport"] and bundle.multi_label
    texts, gold = [e.text for e in test], [e.label for e in test]
    s = bundle.evaluate(texts, gold)
    assert s["f1_micro"] >= 0.95 and s["f1_macro"] >= 0.95, s
    assert all(t in ml.GRID for t in bundle.thresholds)
    same = ClassifierBundle.load(tmp_path / "m")
    assert same.multi_label and same.thresholds == bundle.thresholds
    assert same.predict(texts[:20]) == bundle.predict(texts[:20])
    pred = same.predict(["the goal of the team and the bank price"])[0]
    assert pred.labels == ["money", "sport"] and pred.label == "money|sport"
    assert pred.describe().startswith("money (") and bundle.canonical(" sport |money") == pred.label
    assert same.predict(["we saw it today"])[0].label == ""  # no topic word: the empty set


def test_checks_and_errors(tmp_path):
    train = [TextExample("goal", "sport"), TextExample("bank", "money|sport"),
             TextExample("soup", "")]  # fmt: skip
    bad_valid = [TextExample("goal", "sport|weather")]
    with pytest.raises(ValueError, match="among the training labels .* got 'weather'"):
        fit_text_classifier(train, bad_valid, _config(), tmp_path / "m")
    with pytest.raises(ValueError, match="label_sep"):
        _config(label_sep=" ")
    bundle = fit_text_classifier(train, None, _config(epochs=1), tmp_path / "m")
    assert bundle.thresholds == [0.5, 0.5]  # no validation set: nothing to tune on
    with pytest.raises(ValueError, match="a label the model knows .* got 'food'"):
        bundle.check_labels(["sport|food"])


def test_export_gives_sigmoids(tmp_path):
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (the export extra)")
    from seqattn.pipelines import export_classifier

    fit_text_classifier(_examples(100, 0), None, _config(epochs=1), tmp_path / "m")
    path = export_classifier(tmp_path / "m", "onnx")  # checked against PyTorch's sigmoids
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert "thresholds" in meta["multi_label"] and "sigmoid" in meta["outputs"]


def _write(path, examples):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "topics"])
        w.writerows([e.text, e.label] for e in examples)
    return str(path)


def test_cli_train_predict_explain(tmp_path, capsys):
    train = _write(tmp_path / "t.csv", _examples(500, 0))
    valid = _write(tmp_path / "v.csv", _examples(120, 1))
    test = _write(tmp_path / "test.csv", _examples(100, 2))
    model = str(tmp_path / "model")
    assert main(["train", "classify", "--train", train, "--valid", valid, "--label-col", "topics",
                 "--multi-label", "--encoder", "gru", "--head", "max", "--embed-dim", "16",
                 "--hidden-size", "16", "--epochs", "6", "--lr", "0.02", "--dropout", "0",
                 "--out", model, "--no-progress"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "valid micro-F1" in out and "thresholds: food" in out
    assert main(["predict", "--model", model, "the match and the soup"]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert line[0] == "food|sport" and len(line[1].split("|")) == 2
    assert main(["predict", "--model", model, "--input", test, "--label-col", "topics",
                 "--output", str(tmp_path / "p.csv"),
                 "--explain", str(tmp_path / "x")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    f1 = float(out.split("micro-F1 ")[1].split(",")[0])
    assert f1 >= 0.9, out
    with open(tmp_path / "p.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {"pred_label", "prob_food", "prob_money", "prob_sport"} <= set(rows[0])
    assert (tmp_path / "x" / "explain.html").is_file()

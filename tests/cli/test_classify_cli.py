"""``seqattn train classify``, ``seqattn predict``, ``seqattn export``, run in-process.

Every bad input ends with exit code 2, one line ``seqattn <cmd>: <message>`` naming the file and
line, no traceback, and no output file.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from seqattn.cli.classify import ENCODER_CHOICES, FORMAT_CHOICES, HEAD_CHOICES
from seqattn.cli.main import main

FILLER = [
    "the", "a", "movie", "film", "plot", "actor", "story", "was", "is", "it", "and", "this",
    "that", "very", "quite", "rather", "scene",
]  # fmt: skip
FAST = ["--encoder", "gru", "--head", "attention", "--embed-dim", "12", "--hidden-size", "12",
        "--epochs", "5", "--lr", "0.02", "--dropout", "0"]  # fmt: skip


def write_rows(path, n, seed, header=("id", "text", "label")):
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(n):
            label = rng.choice(["pos", "neg"])
            words = [rng.choice(FILLER) for _ in range(rng.randint(3, 10))]
            words.insert(rng.randint(0, len(words)), "good" if label == "pos" else "bad")
            w.writerow([i, " ".join(words), label])
    return path


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one intra-op thread is faster and steadier on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train, valid = write_rows(root / "train.csv", 200, 0), write_rows(root / "valid.csv", 60, 1)
    code = main(["train", "classify", "--train", str(train), "--valid", str(valid),
                 "--out", str(root / "model"), "--progress", *FAST])  # fmt: skip
    assert code == 0
    return root


def fails(capsys, argv, *needles):
    """Run argv, expect exit code 2 and one message naming every needle."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"seqattn {argv[0]}"), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def test_choices_match_the_models():
    from seqattn.models import ENCODERS, HEADS
    from seqattn.pipelines import EXPORT_FORMATS

    assert ENCODER_CHOICES == ENCODERS and HEAD_CHOICES == HEADS
    assert FORMAT_CHOICES == EXPORT_FORMATS


def test_train_writes_a_model_directory(model, capsys):
    summary = json.loads((model / "model" / "train_summary.json").read_text())
    assert summary["valid"]["acc"] >= 0.9 and summary["num_train"] == 200
    for name in ("model.safetensors", "config.json", "vocab.json", "tokenizer.json",
                 "metrics.jsonl"):  # fmt: skip
        assert (model / "model" / name).is_file()
    # the flags land in the nested config: model options under model, the rest on top
    train_config = json.loads((model / "model" / "config.json").read_text())["train_config"]
    assert train_config["model"]["encoder"] == "gru" and train_config["model"]["dropout"] == 0.0
    assert train_config["model"]["hidden_size"] == 12 and train_config["epochs"] == 5
    assert train_config == summary["config"] and "hidden_size" not in train_config


def test_predict_texts_prints_label_and_probability(model, capsys):
    code = main(["predict", "--model", str(model / "model"), "a good film", "the plot was bad"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    labels = [line.split("\t")[0] for line in lines]
    probs = [float(line.split("\t")[1]) for line in lines]
    assert labels == ["pos", "neg"] and all(0.5 < p <= 1 for p in probs)


def test_predict_file_writes_csv_with_predictions_and_accuracy(model, capsys):
    out = model / "preds.csv"
    argv = ["predict", "--model", str(model / "model"), "--input", str(model / "valid.csv"),
            "--label-col", "label", "--output", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "wrote 60 predictions" in printed and "accuracy" in printed
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "text", "label", "pred_label", "prob_neg", "prob_pos"]
    assert sum(r["pred_label"] == r["label"] for r in rows) >= 54
    assert all(abs(float(r["prob_neg"]) + float(r["prob_pos"]) - 1) < 1e-5 for r in rows)
    # without --output the CSV goes to stdout, the accuracy to stderr
    assert main(argv[:-2]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "id,text,label,pred_label,prob_neg,prob_pos"
    assert len(captured.out.splitlines()) == 61 and "accuracy" in captured.err


def test_predict_explain_writes_heat_maps(model, capsys):
    ex = model / "explain"
    assert (
        main(["predict", "--model", str(model / "model"), "good", "bad", "--explain", str(ex)]) == 0
    )
    assert "explanations (attention)" in capsys.readouterr().out
    assert sorted(p.name for p in ex.iterdir()) == ["explain.html"]  # one page, no PNG per row
    argv = ["predict", "--model", str(model / "model"), "good", "bad", "--explain", str(ex)]
    assert main([*argv, "--explain-figures", "png,svg"]) == 0
    assert sorted(p.name for p in ex.iterdir()) == ["0001.png", "0001.svg", "0002.png",
                                                    "0002.svg", "explain.html"]  # fmt: skip


def test_predict_echoes_the_text(model, capsys):
    assert main(["predict", "--model", str(model / "model"), "a good film"]) == 0
    label, prob, text = capsys.readouterr().out.strip().split("\t")
    assert text == "a good film" and label in ("pos", "neg") and 0 < float(prob) <= 1


def test_explain_is_capped_and_shows_gold_labels_wrong_ones_first(model, tmp_path, capsys):
    import csv as _csv

    rows = [("a good film", "pos"), ("the plot was bad", "neg")] * 40 + [("a good film", "neg")]
    inp = tmp_path / "gold.csv"
    with open(inp, "w", newline="", encoding="utf-8") as f:
        _csv.writer(f).writerows([("text", "label"), *rows])
    ex = tmp_path / "ex"
    argv = ["predict", "--model", str(model / "model"), "--input", str(inp), "--label-col",
            "label", "--output", str(tmp_path / "p.csv"), "--explain", str(ex)]  # fmt: skip
    assert main([*argv, "--explain-limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "(5 of 81 texts: --explain-limit)" in out
    page = (ex / "explain.html").read_text()
    assert page.count("gold ") == 5 and "4 of 5 right, 1 marked WRONG" in page
    assert f"{inp}:82: pos (" in page and "gold neg - WRONG" in page  # the wrong one is shown
    assert main([*argv, "--explain-limit", "0"]) == 2
    assert "expected --explain-limit >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", FORMAT_CHOICES)
def test_export_command(model, capsys, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="pip install 'seqattn[export]'")
    out = model / f"exported-{fmt}"
    assert (
        main(["export", "--model", str(model / "model"), "--format", fmt, "--output", str(out)])
        == 0
    )
    assert out.is_file() and str(out) in capsys.readouterr().out


# -- bad input: exit code 2, a message naming file and line, no output ------------------------
def test_train_bad_files(tmp_path, capsys):
    out = tmp_path / "m"
    train = ["train", "classify", "--out", str(out), *FAST, "--train"]
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,label\ngood film,pos\nbad, film,neg\n")
    fails(capsys, [*train, str(ragged)], f"{ragged}:3", "expected 2 fields", "got 3")
    binary = tmp_path / "latin1.csv"
    binary.write_bytes(b"text,label\ngood,pos\nna\xefve bad,neg\n")
    fails(capsys, [*train, str(binary)], str(binary), "line 3", "column 3", "byte offset 22")
    no_label = write_rows(tmp_path / "nolabel.csv", 5, 0, header=("id", "text", "sentiment"))
    fails(capsys, [*train, str(no_label)], "'label'", "['id', 'text', 'sentiment']")
    empty = tmp_path / "empty.csv"
    empty.write_text('text,label\ngood film,pos\n"  ",neg\n')
    fails(capsys, [*train, str(empty)], f"{empty}:3", "non-empty text")
    fails(capsys, [*train, str(tmp_path / "absent.csv")], "no file at")
    fails(capsys, [*train, str(empty), "--head", "pool"], "expected head in")
    assert not out.exists()


def test_predict_bad_input_leaves_no_output(model, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    base = ["predict", "--model", str(model / "model"), "--output", str(out), "--input"]
    unseen = tmp_path / "unseen.csv"
    unseen.write_text("text,label\ngood film,pos\nmeh,neutral\n")
    fails(capsys, [*base, str(unseen), "--label-col", "label"], f"{unseen}:3", "['neg', 'pos']",
          "'neutral'")  # fmt: skip
    fails(capsys, [*base, str(unseen), "--label-col", "gold"], "'gold'", "['text', 'label']")
    empty = tmp_path / "empty.csv"
    empty.write_text('text\ngood film\n\n""\n')
    fails(capsys, [*base, str(empty)], f"{empty}:4", "non-empty text")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text\ngood film\nbad,film\n")
    fails(capsys, [*base, str(ragged)], f"{ragged}:3", "expected 1 fields")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"text\n\xff\xfe\n")
    fails(capsys, [*base, str(binary)], str(binary), "line 2", "0xff")
    assert not out.exists() and not list(tmp_path.glob(".*"))
    fails(capsys, ["predict", "--model", str(model / "model"), "good", " "],
          "text argument 2", "non-empty text")  # fmt: skip
    fails(capsys, ["predict", "--model", str(model / "model")], "got neither")
    fails(capsys, ["predict", "--model", str(tmp_path / "nomodel"), "good"], "no directory")


def test_export_bad_model(tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    fails(capsys, ["export", "--model", str(broken), "--format", "onnx"], "config.json")
    assert list(broken.iterdir()) == [broken / "config.json"]


def test_train_without_task_prints_help(capsys):
    assert main(["train"]) == 0
    assert "classify" in capsys.readouterr().out


def test_predict_on_another_kind_names_the_command(tmp_path, capsys):
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs" / "current"
    model = str(fixtures / "translator" / "model")
    assert main(["predict", "--model", model, "a text"]) == 2
    err = capsys.readouterr().err
    assert "got a translation model: use seqattn translate --model" in err

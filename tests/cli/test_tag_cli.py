"""``seqattn train tag`` and ``seqattn tag``, run in-process on files the tests write: CoNLL and
CoNLL-U, --crf / --no-crf, sentence arguments, CoNLL output with --evaluate, and bad input as
one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from seqattn.cli.main import main
from seqattn.data.datasets import write_conll
from seqattn.data.synthetic import synthetic_tagging

FAST = ["--embed-dim", "16", "--hidden-size", "16", "--epochs", "8", "--lr", "0.02",
        "--dropout", "0"]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _conll(path, n, seed, pos=False):
    """Four columns as CoNLL-2003 (token POS chunk NER); POS = the token's kind."""
    rows = [[[w, "NAME" if w.startswith("n") and w[1:].isdigit() else "OTHER", "_", t]
             for w, t in zip(s.tokens, s.tags, strict=True)]
            for s in synthetic_tagging(n, seed=seed)]  # fmt: skip
    return write_conll(path, rows)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tag")
    return {"train": _conll(d / "train.txt", 300, 0), "valid": _conll(d / "valid.txt", 60, 1),
            "test": _conll(d / "test.txt", 80, 2)}  # fmt: skip


@pytest.mark.parametrize("crf", ["--crf", "--no-crf"])
def test_train_then_tag(files, tmp_path, capsys, crf):
    out = tmp_path / "model"
    code = main(["train", "tag", "--train", str(files["train"]), "--valid", str(files["valid"]),
                 "--out", str(out), crf, *FAST])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert ("bilstm+crf" if crf == "--crf" else "bilstm+softmax") in printed
    assert "valid (60 sentences): entity F1" in printed and f"model: {out}" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["crf"] is (crf == "--crf") and "B-PER" in config["tags"]
    assert main(["tag", "--model", str(out), "mr n1 n2 w3", "w4 n7 corp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["mr/O n1/B-PER n2/I-PER w3/O", "w4/O n7/B-ORG corp/O"]
    written = tmp_path / "pred.txt"
    code = main(["tag", "--model", str(out), "--input", str(files["test"]), "--evaluate",
                 "--output", str(written)])  # fmt: skip
    assert code == 0
    report = capsys.readouterr().out
    f1 = float(report.split("entity F1 ")[1].split()[0])
    assert f1 >= 0.95, report
    first = written.read_text().splitlines()[0].split("\t")
    assert len(first) == 3  # token, gold, predicted


def test_pos_column_and_conllu(files, tmp_path, capsys):
    out = tmp_path / "pos"
    assert main(["train", "tag", "--train", str(files["train"]), "--tag-col", "1",
                 "--out", str(out), *FAST]) == 0  # fmt: skip
    assert "token accuracy" in capsys.readouterr().out
    # the same sentences as CoNLL-U, tagged by UPOS
    conllu = tmp_path / "t.conllu"
    rows = ["# sent_id = a", "1\tmr\tmr\tOTHER\t_\t_\t0\troot\t_\t_",
            "2\tn3\tn3\tNAME\t_\t_\t1\tdep\t_\t_", ""]  # fmt: skip
    conllu.write_text("\n".join(rows), encoding="utf-8")
    assert main(["tag", "--model", str(out), "--input", str(conllu), "--format", "conllu",
                 "--evaluate"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert captured.out == "mr\tOTHER\tOTHER\nn3\tNAME\tNAME\n\n"
    assert "token accuracy 1.0000 (2 tokens)" in captured.err
    out2 = tmp_path / "upos"
    assert main(["train", "tag", "--train", str(conllu), "--format", "conllu", "--out",
                 str(out2), *FAST]) == 0  # fmt: skip


def test_bad_input_is_one_line(files, tmp_path, one_line):
    bad = tmp_path / "bad.txt"
    bad.write_text("EU B-ORG\nrejects\n", encoding="utf-8")
    out = tmp_path / "never"
    assert main(["train", "tag", "--train", str(bad), "--out", str(out), *FAST]) == 2
    line = one_line()
    assert line.startswith("seqattn train tag: expected 2 columns") and "bad.txt:2" in line
    assert not out.exists()
    assert main(["train", "tag", "--train", str(files["train"]), "--out", str(out),
                 "--metric", "f1", *FAST]) == 2  # fmt: skip
    assert "expected metric in" in one_line()
    assert main(["tag", "--model", str(tmp_path / "none"), "a b"]) == 2
    assert one_line().startswith("seqattn tag: expected a sequence-tagger model directory")
    assert main(["tag", "--model", str(out), "a", "--evaluate"]) == 2
    assert "--evaluate only with --input" in one_line()

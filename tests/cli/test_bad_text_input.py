"""Text the CLI accepted silently before (issue 20, item 6): a NUL byte became a vocabulary
token, a label seen once became a class with no word, a CSV field over 131,072 characters was
blamed on the quotes, and ``train vectors`` refused the JSONL its docs promise."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from seqattn.cli.main import main

CURRENT = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs" / "current"
TINY = ["--encoder", "gru", "--embed-dim", "8", "--hidden-size", "8", "--dropout", "0",
        "--epochs", "1"]  # fmt: skip


def _csv(path: Path, rows: list[tuple[str, str]]) -> str:
    body = "".join(f"{text},{label}\n" for text, label in rows)
    path.write_bytes(("text,label\n" + body).encode())
    return str(path)


GOOD = [("a good film", "pos"), ("a bad film", "neg")] * 10


def test_train_classify_refuses_a_nul_byte_naming_file_line_column(tmp_path, capsys, one_line):
    train = _csv(tmp_path / "t.csv", [*GOOD[:5], ("a go\0od film", "pos"), *GOOD[5:]])
    assert main(["train", "classify", "--train", train, "--out", str(tmp_path / "m"), *TINY]) == 2
    line = one_line()
    assert f"{train}" in line and "NUL" in line and "line 7, column 5" in line
    assert not (tmp_path / "m").exists()


def test_predict_refuses_a_nul_byte(tmp_path, capsys, one_line):
    model = tmp_path / "model"
    shutil.copytree(CURRENT / "classifier" / "model", model)
    assert main(["predict", "--model", str(model), "fine text", "bad\0text"]) == 2
    line = one_line()
    assert "NUL" in line and "character 4" in line
    inp = tmp_path / "in.csv"
    inp.write_bytes(b"text\nfine\nbro\0ken\n")
    assert main(["predict", "--model", str(model), "--input", str(inp),
                 "--output", str(tmp_path / "p.csv")]) == 2  # fmt: skip
    line = one_line()
    assert str(inp) in line and "line 3, column 4" in line
    assert not (tmp_path / "p.csv").exists()


def test_translate_refuses_a_nul_byte(tmp_path, capsys, one_line):
    model = tmp_path / "model"
    shutil.copytree(CURRENT / "translator" / "model", model)
    assert main(["translate", "--model", str(model), "ein\0hund"]) == 2
    assert "NUL" in one_line()
    src, tgt = tmp_path / "train.de", tmp_path / "train.en"
    src.write_text("ein hund .\nein m\0ann .\n")
    tgt.write_text("a dog .\na man .\n")
    code = main(["train", "translate", "--src-train", str(src), "--tgt-train", str(tgt),
                 "--out", str(tmp_path / "m"), "--subword", "word"])  # fmt: skip
    assert code == 2
    line = one_line()
    assert f"{src}:2" in line and "NUL" in line


def test_a_label_seen_once_is_named_in_a_warning(tmp_path, caplog):
    train = _csv(tmp_path / "t.csv", [*GOOD, ("a fine film", "postive")])
    with caplog.at_level(logging.WARNING, logger="seqattn"):
        code = main(["train", "classify", "--train", train, "--out", str(tmp_path / "m"), *TINY])
    assert code == 0
    warned = [r.getMessage() for r in caplog.records if "seen only once" in r.getMessage()]
    assert len(warned) == 1 and "'postive'" in warned[0] and f"{train}:22" in warned[0]


def test_a_long_csv_field_names_the_limit_not_the_quotes(tmp_path, capsys, one_line):
    from seqattn.pipelines.tables import MAX_FIELD

    long_ok = "word " * 40_000  # 200,000 characters: over csv's default limit of 131,072
    train = _csv(tmp_path / "ok.csv", [*GOOD, (long_ok.strip(), "pos")])
    assert main(["train", "classify", "--train", train, "--out", str(tmp_path / "m"), *TINY]) == 0
    capsys.readouterr()
    unclosed = tmp_path / "bad.csv"
    unclosed.write_text('text,label\n"a good film,pos\n' + "more words,neg\n" * (MAX_FIELD // 10))
    assert main(["train", "classify", "--train", str(unclosed), "--out", str(tmp_path / "m2"),
                 *TINY]) == 2  # fmt: skip
    line = one_line()
    assert f"at most {MAX_FIELD:,} characters" in line and "line 2" in line
    assert "never closed" in line


def test_train_vectors_reads_jsonl(tmp_path, capsys, one_line):
    pytest.importorskip("gensim", reason="gensim (the 'vectors' extra) is not installed")
    rows = [{"review": f"the film was {w} and the plot was {w}", "stars": 1}
            for w in ("good", "bad", "fine", "dull") * 30]  # fmt: skip
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "v.txt"
    code = main(["train", "vectors", "--input", str(jsonl), "--text-col", "review", "--dim", "8",
                 "--min-count", "1", "--epochs", "1", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "120 texts" in capsys.readouterr().out
    jsonl.write_text(json.dumps(rows[0]) + "\n" + '{"text": "no review field"}\n')
    assert main(["train", "vectors", "--input", str(jsonl), "--text-col", "review",
                 "--out", str(out)]) == 2  # fmt: skip
    line = one_line()
    assert f"{jsonl}:2" in line and "'review'" in line


def _damage(model, how: str) -> None:
    from seqattn.io import sha256_file

    weights = model / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    if how == "truncated":
        raw = raw[: len(raw) // 2]
    else:  # a flipped header byte
        raw[10] ^= 0xFF
    weights.write_bytes(bytes(raw))
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["files"]["model.safetensors"] = sha256_file(weights)  # a tool that "fixed" it
    (model / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("how", ["truncated", "flipped header"])
@pytest.mark.parametrize(
    "kind, argv",
    [("classifier", ["predict", "good film"]), ("translator", ["translate", "ein hund ."]),
     ("captioner", ["caption", "scene.png"])],
)  # fmt: skip
def test_a_damaged_model_folder_is_one_line_exit_2(tmp_path, monkeypatch, one_line, kind, argv,
                                                   how):  # fmt: skip
    import matplotlib.image
    import numpy as np

    model = tmp_path / "model"
    shutil.copytree(CURRENT / kind / "model", model)
    _damage(model, how)
    monkeypatch.chdir(tmp_path)
    matplotlib.image.imsave(tmp_path / "scene.png", np.zeros((8, 16, 3)))
    assert main([argv[0], "--model", str(model), *argv[1:]]) == 2
    line = one_line()
    assert f"{model / 'model.safetensors'}" in line and "expected safetensors weights" in line

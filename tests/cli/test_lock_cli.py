"""Two trainings into one ``--out`` cannot both succeed: the second exits 2 naming the first."""

from __future__ import annotations

import os

from seqattn.cli.main import main
from seqattn.lock import LOCK_NAME, folder_lock

FAST = ["--encoder", "gru", "--head", "attention", "--embed-dim", "8", "--hidden-size", "8",
        "--epochs", "2", "--dropout", "0"]  # fmt: skip


def write_rows(path, n):
    rows = [f"{i},{'good film' if i % 2 else 'bad film'},{'pos' if i % 2 else 'neg'}"
            for i in range(n)]  # fmt: skip
    path.write_text("id,text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_train_classify_into_a_locked_folder_exits_2_naming_the_holder(tmp_path, capsys):
    train = write_rows(tmp_path / "train.csv", 40)
    out = tmp_path / "conc"
    argv = ["train", "classify", "--train", str(train), "--out", str(out), *FAST]
    with folder_lock(out):  # another training holds the folder
        code = main([*argv, "--seed", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"pid {os.getpid()}" in err and "Traceback" not in err
    assert not (out / "manifest.json").exists()
    assert main([*argv, "--epochs", "1"]) == 0  # released: the next run may write
    assert not (out / LOCK_NAME).exists()


def test_train_vectors_into_a_locked_file_exits_2(tmp_path, capsys):
    import pytest

    pytest.importorskip("gensim", reason="gensim (the 'vectors' extra) is not installed")
    from seqattn.lock import file_lock

    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"the film was {w}\n" for w in ("good", "bad", "fine") * 20))
    out = tmp_path / "vec" / "v.txt"
    argv = ["train", "vectors", "--input", str(texts), "--dim", "4", "--min-count", "1",
            "--epochs", "1", "--out", str(out)]  # fmt: skip
    with file_lock(out):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and str(out) in err and not out.exists()
    with file_lock(tmp_path / "vec" / "other.txt"):  # another file of the folder stays free
        assert main(argv) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["v.txt"]

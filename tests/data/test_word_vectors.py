"""word2vec vectors from unlabelled text: training, the file format, ``seqattn train vectors``."""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("gensim", reason="gensim (the 'vectors' extra) is not installed")

from seqattn.cli.main import main  # noqa: E402
from seqattn.data import Vocab, load_vectors, pretrained_embedding  # noqa: E402
from seqattn.data.pretrained import Vectors  # noqa: E402
from seqattn.data.word_vectors import save_vectors, train_word_vectors  # noqa: E402


def _corpus(n: int = 400, seed: int = 0) -> list[list[str]]:
    """Texts where 'good'/'great' and 'bad'/'awful' fill the same slots: distributional twins."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            word, ctx = rng.choice(["good", "great"]), ["fun", "lovely", "enjoyed", "smile"]
        else:
            word, ctx = rng.choice(["bad", "awful"]), ["boring", "dull", "hated", "yawn"]
        text = [rng.choice(ctx) for _ in range(3)] + [word] + [rng.choice(ctx) for _ in range(3)]
        out.append(text)
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_words_in_the_same_contexts_get_similar_vectors():
    vectors = train_word_vectors(_corpus(), dim=16, min_count=1, epochs=20, window=3, seed=0)
    assert vectors.dim == 16 and vectors.matrix.dtype == np.float32
    assert {"good", "great", "bad", "awful"} <= set(vectors.words)
    twins = _cos(vectors["good"], vectors["great"])
    opposite = _cos(vectors["good"], vectors["awful"])
    assert twins > opposite + 0.2, (twins, opposite)


def test_one_worker_is_reproducible():
    a = train_word_vectors(_corpus(100), dim=8, min_count=1, epochs=2, seed=3)
    b = train_word_vectors(_corpus(100), dim=8, min_count=1, epochs=2, seed=3)
    assert a.words == b.words and np.array_equal(a.matrix, b.matrix)


@pytest.mark.parametrize("name", ["v.txt", "v.txt.gz"])
def test_saved_vectors_load_back_exactly(tmp_path, name):
    rng = np.random.default_rng(0)
    vectors = Vectors(["the", "film", "n't", "é"], rng.standard_normal((4, 5)).astype(np.float32),
                      "word2vec")  # fmt: skip
    path = save_vectors(vectors, tmp_path / name)
    back = load_vectors(path)
    assert back.words == vectors.words and np.array_equal(back.matrix, vectors.matrix)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temporary left behind
    emb, report = pretrained_embedding(Vocab.build([["the", "film", "plot"]]), path)
    assert report.oov == 1 and emb.weight.shape[1] == 5


def test_bad_settings_and_words_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected dim to be a positive int, got 0"):
        train_word_vectors([["a"]], dim=0)
    with pytest.raises(ValueError, match="expected method in"):
        train_word_vectors([["a"]], method="glove")
    with pytest.raises(ValueError, match="non-empty text, got none"):
        train_word_vectors([[], []])
    with pytest.raises(ValueError, match="min_count=5 times, got none in 2 tokens"):
        train_word_vectors([["a", "b"]], min_count=5)
    with pytest.raises(ValueError, match="without whitespace, got 'a b'"):
        save_vectors(Vectors(["a b"], np.zeros((1, 2), np.float32), "word2vec"), tmp_path / "v")
    assert not (tmp_path / "v").exists()


def test_cli_trains_vectors_from_files(tmp_path, capsys):
    table = tmp_path / "reviews.csv"
    table.write_text("review,stars\n" + "".join(f'"{" ".join(t)}",1\n' for t in _corpus(200)))
    lines = tmp_path / "more.txt"
    lines.write_text("\n".join(" ".join(t) for t in _corpus(200, seed=1)) + "\n\n")
    out = tmp_path / "vec" / "imdb.txt"
    code = main(["train", "vectors", "--input", str(table), str(lines), "--text-col", "review",
                 "--dim", "12", "--min-count", "2", "--epochs", "2",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    assert "400 texts -> 12 words x 12" in capsys.readouterr().out
    assert load_vectors(out).dim == 12


def test_cli_errors(tmp_path, capsys):
    assert main(["train", "vectors", "--out", str(tmp_path / "v.txt")]) == 2
    assert "expected --dataset NAME or --input FILE..., got neither" in capsys.readouterr().err
    assert main(["train", "vectors", "--dataset", "mnist"]) == 2
    assert "expected --dataset in" in capsys.readouterr().err
    assert main(["train", "vectors", "--dataset", "imdb", "--splits", "train,unsup"]) == 2
    assert "expected --splits from ('train', 'test') for imdb, got unsup" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff\xfe broken\n")
    assert main(["train", "vectors", "--input", str(bad), "--out", str(tmp_path / "v.txt")]) == 2
    err = capsys.readouterr().err
    assert f"expected UTF-8 text in {bad}" in err and "line 2, column 1" in err
    missing = tmp_path / "t.csv"
    missing.write_text("body\nhello\n")
    out = str(tmp_path / "v.txt")
    assert main(["train", "vectors", "--input", str(missing), "--out", out]) == 2
    assert "text" in capsys.readouterr().err
    assert not (tmp_path / "v.txt").exists()


def test_cli_warns_when_a_dataset_split_held_out_for_testing_is_used(tmp_path, capsys, monkeypatch):
    import seqattn.cli.vectors as cli

    texts = [" ".join(t) for t in _corpus(100)]
    monkeypatch.setattr(cli, "_dataset_texts", lambda name, splits: texts)
    out = str(tmp_path / "v.txt")
    args = ["train", "vectors", "--dataset", "imdb", "--dim", "4", "--epochs", "1", "--out", out]
    assert main([*args, "--splits", "train"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main([*args, "--splits", "train,test"]) == 0
    assert "have seen the imdb test texts; do not use them" in capsys.readouterr().err

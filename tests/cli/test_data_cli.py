"""``seqattn data list | info | download | verify``, run in-process."""

from __future__ import annotations

import hashlib
import os
import urllib.error

import pytest

from seqattn.cli.main import main
from seqattn.data import datasets as ds
from seqattn.data.datasets import _download, _registry


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A throw-away dataset with one file served from a local file:// URL."""
    upstream = tmp_path / "upstream.txt"
    upstream.write_bytes(b"hello\n")
    info = ds.DatasetInfo(
        "toy-set", "toy_set", "A toy dataset.", "MIT", "Nobody (2024)", "https://example.org",
        (ds.FileSpec("hello.txt", upstream.as_uri(), hashlib.sha256(b"hello\n").hexdigest(), 6),
         ds.FileSpec("LICENSE", "https://example.org/LICENSE", None, optional=True)),
        counts={"all": 1},
    )  # fmt: skip
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))
    ds.register(info)
    return tmp_path / "data"


def test_list_shows_every_dataset_and_its_state(toy, capsys):
    (toy / "toy_set").mkdir(parents=True)
    (toy / "toy_set/hello.txt").write_bytes(b"hello\n")
    assert main(["data", "list", "--root", str(toy)]) == 0
    out = capsys.readouterr().out
    assert f"data dir: {toy}" in out
    for name in ("vader", "sst2", "imdb", "rt-polarity", "multi30k", "fra-eng", "babi",
                 "planetoid", "fashion-mnist"):  # fmt: skip
        assert f"\n{name} " in out
    assert "fashion_mnist/" in out and "absent" in out
    assert [line.split()[2] for line in out.splitlines() if line.startswith("toy-set")] == [
        "present"
    ]


def test_info(capsys):
    assert main(["data", "info", "sst2"]) == 0
    out = capsys.readouterr().out
    assert "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip  member SST-2/train.tsv" in out
    assert "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1" in out
    assert "train 67,349, dev 872, test 1,821" in out and "Socher" in out
    assert main(["data", "info", "imdb"]) == 0
    assert "none known: content check" in capsys.readouterr().out


def test_verify_exit_codes(toy, capsys):
    assert main(["data", "verify", "toy-set", "--root", str(toy)]) == 1
    captured = capsys.readouterr()
    assert "hello.txt  missing" in captured.out and "LICENSE" in captured.out
    assert "missing or corrupt" in captured.err
    (toy / "toy_set").mkdir(parents=True)
    (toy / "toy_set/hello.txt").write_bytes(b"HELLO\n")
    assert main(["data", "verify", "toy_set", "--root", str(toy)]) == 1
    assert "mismatch" in capsys.readouterr().out
    (toy / "toy_set/hello.txt").write_bytes(b"hello\n")
    assert main(["data", "verify", "toy-set", "--root", str(toy)]) == 0
    out = capsys.readouterr().out
    assert "sha256 matches" in out and "missing (optional)" in out and "toy-set: ok" in out


def test_download_then_nothing_to_do(toy, capsys):
    assert main(["data", "download", "toy-set", "--root", str(toy)]) == 0
    assert f"wrote {toy / 'toy_set/hello.txt'}" in capsys.readouterr().out
    assert (toy / "toy_set/hello.txt").read_bytes() == b"hello\n"
    assert main(["data", "download", "toy-set", "--root", str(toy)]) == 0
    assert "nothing to download" in capsys.readouterr().out


def test_download_offline_prints_instructions_and_exits_2(toy, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(_download, "_urlopen", offline)
    assert main(["data", "download", "sst2", "--root", str(toy)]) == 2
    err = capsys.readouterr().err
    assert "dataset 'sst2' not found" in err and "Name or service not known" in err
    assert f"{toy / 'sst2'}/" in err and "SEQATTN_DATA_DIR" in err
    assert "member SST-2/dev.tsv of https://dl.fbaipublicfiles.com/glue/data/SST-2.zip" in err


def test_unknown_dataset_and_bare_command(capsys):
    assert main(["data", "verify", "no-such-set"]) == 2
    assert "expected a dataset from ['babi'," in capsys.readouterr().err
    assert main(["data"]) == 0
    assert "verify" in capsys.readouterr().out


@pytest.mark.data
def test_verify_real_copy(capsys):
    root = os.environ.get("SEQATTN_DATA_DIR")
    if not root or ds.missing_files("babi", root):
        pytest.skip(f"SEQATTN_DATA_DIR not set / dataset babi not found under {root}")
    assert main(["data", "verify", "babi"]) == 0
    out = capsys.readouterr().out
    assert "qa3_three-supporting-facts_train.txt" in out  # reported, yet not a failure
    assert out.count("sha256 matches") == 81

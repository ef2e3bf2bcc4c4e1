"""Dataset loaders, registry and downloads on tiny generated files: format quirks, no network."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import pickle
import tarfile
import urllib.error
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from seqattn.data import datasets as ds
from seqattn.data.datasets import _download, _registry


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gz(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(text.encode(encoding))
    return path


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# --------------------------------------------------------------------------- registry


def test_names_folders_and_data_dir_precedence(tmp_path, monkeypatch):
    assert ds.get_info("fashion_mnist") is ds.get_info("Fashion-MNIST")
    assert ds.get_info("rt-polarity").folder == "rt_polarity"
    assert {d.name for d in ds.list_datasets()} >= {
        "vader", "sst2", "imdb", "rt-polarity", "multi30k", "fra-eng", "babi", "planetoid",
        "fashion-mnist",
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"expected a dataset from \[.*'sst2'.*\], got 'nope'"):
        ds.get_info("nope")
    monkeypatch.delenv("SEQATTN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ds.data_dir() == tmp_path / "xdg" / "seqattn" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ds.data_dir() == tmp_path / "home" / ".cache" / "seqattn" / "data"
    monkeypatch.setenv("SEQATTN_DATA_DIR", str(tmp_path / "env"))
    assert ds.dataset_dir("fra-eng") == tmp_path / "env" / "fra_eng"
    assert ds.dataset_dir("fra-eng", tmp_path / "arg") == tmp_path / "arg" / "fra_eng"


def test_every_registered_file_has_a_source_and_a_digest_or_a_reason():
    for info in ds.list_datasets():
        assert info.required_files, info.name
        for f in info.files:
            assert f.url.startswith(("http://", "https://")), (info.name, f.path)
            if f.sha256 is not None:
                assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0
            else:  # no digest: accepted by content, or optional (known to be absent)
                assert f.validate is not None or f.optional, (info.name, f.path)


LOADERS = {
    "sst2": lambda root: ds.load_sst2("train", root),
    "imdb": lambda root: ds.load_imdb("test", root),
    "rt-polarity": lambda root: ds.load_rt_polarity(root),
    "vader": lambda root: ds.load_vader("nyt", root),
    "multi30k": lambda root: ds.load_multi30k("val", root),
    "fra-eng": lambda root: ds.load_fra_eng(root),
    "babi": lambda root: ds.load_babi(2, "test", "10k", root),
    "planetoid": lambda root: ds.load_planetoid("citeseer", root),
    "fashion-mnist": lambda root: ds.load_fashion_mnist("test", root),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_absent_dataset_error_says_where_to_put_what(name, tmp_path):
    with pytest.raises(ds.DatasetNotFoundError) as exc:
        LOADERS[name](tmp_path)
    msg, info = str(exc.value), ds.get_info(name)
    assert f"dataset {info.name!r} not found" in msg
    assert f"{tmp_path / info.folder}/" in msg  # the exact folder
    assert "SEQATTN_DATA_DIR" in msg and f"seqattn data download {info.name}" in msg
    for spec in exc.value.missing:  # every missing file, with where to get it
        assert spec.path in msg and spec.url in msg
    assert exc.value.missing
    assert isinstance(exc.value, FileNotFoundError)


# --------------------------------------------------------------------------- text classification


def test_sst2_tsv_quirks(tmp_path):
    _write(tmp_path / "sst2/train.tsv", "sentence\tlabel\nit 's good \t1\nbad \"movie \t0\n")
    _write(tmp_path / "sst2/test.tsv", "index\tsentence\n0\tunlabelled one\n")
    train = ds.load_sst2("train", tmp_path)
    assert train == [
        ds.TextExample("it 's good", 1, id="0"),
        ds.TextExample('bad "movie', 0, id="1"),
    ]
    assert ds.load_sst2("test", tmp_path) == [ds.TextExample("unlabelled one", None, id="0")]
    _write(tmp_path / "sst2/dev.tsv", "index\tsentence\n0\tx\n")
    with pytest.raises(ValueError, match=r"expected header \['sentence', 'label'\]"):
        ds.load_sst2("validation", tmp_path)
    with pytest.raises(ValueError, match="expected split in"):
        ds.load_sst2("unsup", tmp_path)


def test_vader_crlf_unterminated_last_line_and_threshold(tmp_path):
    _write(
        tmp_path / "vader/tweets_GroundTruth.txt",
        b"1\t2.5\tSo lucky.\r\n2\t-0.3\tmeh &amp; sad\r\n3\t0\tneutral\r\n4\t0.4\tok-ish",
    )
    tweets = ds.load_vader("tweets", tmp_path)
    assert [(e.id, e.label, e.score) for e in tweets] == [
        ("1", 1, 2.5), ("2", 0, -0.3), ("4", 1, 0.4),
    ]  # fmt: skip
    assert tweets[1].text == "meh &amp; sad" and tweets[2].text == "ok-ish"  # no stray \r
    banded = ds.load_vader("tweets", tmp_path, threshold=0.5, keep_neutral=True)
    assert [e.label for e in banded] == [1, None, None, None]
    with pytest.raises(ValueError, match="expected threshold >= 0"):
        ds.load_vader("tweets", tmp_path, threshold=-1)
    with pytest.raises(ValueError, match="expected corpus in"):
        ds.load_vader("reddit", tmp_path)


def test_rt_polarity_is_cp1252(tmp_path):
    _write(tmp_path / "rt_polarity/rt-polarity.pos", b"\x85a caf\xe9 \x96 gem . \nfine . \n")
    _write(tmp_path / "rt_polarity/rt-polarity.neg", b"dull \x93film\x94 . \n")
    data = ds.load_rt_polarity(tmp_path)
    assert [(e.text, e.label, e.id) for e in data] == [
        ("dull \u201cfilm\u201d .", 0, "neg/0"),
        ("\u2026a caf\u00e9 \u2013 gem .", 1, "pos/0"),
        ("fine .", 1, "pos/1"),
    ]


def _imdb_reviews() -> dict[str, str]:
    return {
        "aclImdb/train/pos/0_9.txt": "Great.<br /><br />Loved it.",
        "aclImdb/train/pos/1_7.txt": "Fine caf\u00e9 scene.",
        "aclImdb/train/neg/10_2.txt": "Bad.<br/>Really <BR> bad.",
        "aclImdb/train/neg/2_1.txt": "Awful.",
        "aclImdb/test/pos/0_10.txt": "Superb.",
        "aclImdb/test/neg/0_4.txt": "Meh.",
    }


def _imdb_tar(path: Path, reviews: dict[str, str], prefix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for name, text in sorted(reviews.items()):
            data = text.encode()
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_imdb_from_tarball_equals_extracted_folder(tmp_path):
    reviews = _imdb_reviews()
    _imdb_tar(tmp_path / "a/imdb/aclImdb_v1.tar.gz", reviews)
    for name, text in reviews.items():
        _write(tmp_path / "b/imdb" / name, text)
    _imdb_tar(tmp_path / "c/imdb/aclImdb_v1.tar.gz", reviews, prefix="./")
    from_tar = ds.load_imdb("train", tmp_path / "a")
    assert from_tar == ds.load_imdb("train", tmp_path / "b")
    assert from_tar == ds.load_imdb("train", tmp_path / "c")
    assert [(e.id, e.label, e.score) for e in from_tar] == [
        ("train/neg/2_1", 0, 1.0), ("train/neg/10_2", 0, 2.0),
        ("train/pos/0_9", 1, 9.0), ("train/pos/1_7", 1, 7.0),
    ]  # fmt: skip
    assert from_tar[1].text == "Bad. Really bad." and from_tar[2].text == "Great. Loved it."
    raw = ds.load_imdb("train", tmp_path / "a", strip_html=False)
    assert raw[2].text == "Great.<br /><br />Loved it."
    assert len(ds.load_imdb("test", tmp_path / "a")) == 2
    # accepted by content, whatever the archive's hash: the layout and per-folder counts
    ds.check_imdb(tmp_path / "a/imdb/aclImdb_v1.tar.gz", expected_per_class=None)
    ds.check_imdb(tmp_path / "b/imdb/aclImdb", expected_per_class=None)
    with pytest.raises(ValueError, match=r"12,500 per folder.*'train/pos': 2"):
        ds.check_imdb(tmp_path / "a/imdb/aclImdb_v1.tar.gz")
    statuses = ds.verify("imdb", tmp_path / "a")
    assert statuses[0].status == "invalid" and statuses[0].failed


def test_imdb_archive_without_a_split_or_with_bad_layout_is_rejected(tmp_path):
    reviews = {k: v for k, v in _imdb_reviews().items() if "/test/pos/" not in k}
    _imdb_tar(tmp_path / "imdb/aclImdb_v1.tar.gz", reviews)
    with pytest.raises(ValueError, match=r"expected reviews in aclImdb/test/pos/.*got 0 pos"):
        ds.load_imdb("test", tmp_path)
    with pytest.raises(ValueError, match="expected IMDB reviews"):
        ds.check_imdb(tmp_path / "imdb/aclImdb_v1.tar.gz", expected_per_class=None)
    _imdb_tar(tmp_path / "x/imdb/aclImdb_v1.tar.gz", {"aclImdb/train/pos/3_2.txt": "mislabelled"})
    with pytest.raises(ValueError, match="expected stars >= 7 for pos"):
        ds.check_imdb(tmp_path / "x/imdb/aclImdb_v1.tar.gz", expected_per_class=None)


def test_generic_csv_tsv_jsonl(tmp_path):
    csv_path = _write(
        tmp_path / "a.csv", '\ufefftext,label\r\n"good, really",1\r\n"say ""hi""",0\r\n'
    )
    assert [(e.text, e.label, e.id) for e in ds.load_classification_file(csv_path)] == [
        ("good, really", 1, "2"), ('say "hi"', 0, "3"),
    ]  # fmt: skip
    tsv_path = _write(tmp_path / "b.tsv", 'sentence\tpolarity\n"quoted start\tpos\nplain\tneg\n')
    got = ds.load_classification_file(
        tsv_path, text_field="sentence", label_field="polarity", label_map={"neg": 0, "pos": 1}
    )
    assert [(e.text, e.label) for e in got] == [('"quoted start', 1), ("plain", 0)]
    jl = tmp_path / "c.jsonl.gz"
    _gz(jl, json.dumps({"text": "x", "label": True}) + "\n\n" + json.dumps({"text": "y"}) + "\n")
    assert [e.label for e in ds.load_classification_file(jl, label_field=None)] == [None, None]
    with pytest.raises(
        ValueError, match=r"expected a 'label' field .*line 3.*got fields \['text'\]"
    ):
        ds.load_classification_file(jl)
    with pytest.raises(
        ValueError, match=r"expected a 'review' field .*got fields \['text', 'label'\]"
    ):
        ds.load_classification_file(csv_path, text_field="review")
    with pytest.raises(ValueError, match=r"expected integer labels .*got 'pos'"):
        ds.load_classification_file(tsv_path, text_field="sentence", label_field="polarity")
    with pytest.raises(ValueError, match=r"expected a label in \['pos'\].*got 'neg'"):
        ds.load_classification_file(
            tsv_path, text_field="sentence", label_field="polarity", label_map={"pos": 1}
        )
    with pytest.raises(ValueError, match=r"expected a file ending in"):
        ds.load_classification_file(_write(tmp_path / "d.txt", "x"))
    cp = _write(tmp_path / "e.csv", "text,label\nna\xefve,1\n".encode("cp1252"))
    assert ds.load_classification_file(cp, encoding="cp1252")[0].text == "na\u00efve"
    ragged = _write(tmp_path / "f.csv", "text,label\na,1,extra\n")
    with pytest.raises(ValueError, match=r"expected 2 fields .*got 3"):
        ds.load_classification_file(ragged)


# --------------------------------------------------------------------------- parallel


def test_parallel_files_alignment_gz_crlf_and_tabs(tmp_path):
    en = _gz(tmp_path / "x.en.gz", "A dog .\r\nTwo cats .  \r\n")
    de = _write(tmp_path / "x.de", "Ein Hund .\nZwei\tKatzen .\n")
    pairs = ds.load_parallel_files(en, de)
    assert pairs == [ds.SentencePair("A dog .", "Ein Hund ."),
                     ds.SentencePair("Two cats .", "Zwei\tKatzen .")]  # fmt: skip
    short = _write(tmp_path / "short.de", "Ein Hund .\n")
    with pytest.raises(ValueError, match=r"same number of lines .*got 2 and 1"):
        ds.load_parallel_files(en, short)
    with pytest.raises(ValueError, match=r"got 1 and 2"):
        ds.load_parallel_files(short, en)
    with pytest.raises(FileNotFoundError, match="expected a text file"):
        ds.load_parallel_files(en, tmp_path / "nope")


def test_multi30k_splits_and_direction(tmp_path):
    for stem in ("val", "test_2016_flickr"):
        _gz(tmp_path / f"multi30k/{stem}.en.gz", f"{stem} one\n{stem} two\n")
        _gz(tmp_path / f"multi30k/{stem}.de.gz", f"{stem} eins\n{stem} zwei\n")
    assert ds.load_multi30k("valid", tmp_path)[1] == ds.SentencePair("val two", "val zwei")
    assert ds.load_multi30k("test", tmp_path, src="de", tgt="en")[0] == ds.SentencePair(
        "test_2016_flickr eins", "test_2016_flickr one"
    )
    with pytest.raises(ValueError, match="expected split in"):
        ds.load_multi30k("test_2017", tmp_path)
    with pytest.raises(ValueError, match="expected src/tgt"):
        ds.load_multi30k("val", tmp_path, src="en", tgt="fr")


def test_fra_eng_no_break_spaces(tmp_path):
    _write(
        tmp_path / "fra_eng/fra.txt",
        "Go.\tVa !\nRun!\tCours\u202f!\nWho?\t\u00abQui\u00a0?\u00bb\tCC-BY\n",
    )
    assert ds.load_fra_eng(tmp_path) == [
        ds.SentencePair("Go.", "Va !"),
        ds.SentencePair("Run!", "Cours !"),
        ds.SentencePair("Who?", "\u00abQui ?\u00bb"),
    ]
    assert ds.load_fra_eng(tmp_path, normalize=False, limit=2)[1].tgt == "Cours\u202f!"
    with pytest.raises(ValueError, match="expected limit"):
        ds.load_fra_eng(tmp_path, limit=-1)


# --------------------------------------------------------------------------- bAbI

BABI_TEXT = (
    "1 Mary moved to the bathroom.\n"
    "2 John went to the hallway.\n"
    "3 Where is Mary? \tbathroom\t1\n"
    "4 Daniel went back to the hallway.\n"
    "5 Where is Daniel?\thallway\t4\n"
    "1 Sandra took the apple.\n"
    "2 Sandra took the milk.\n"
    "3 What is Sandra carrying?\tapple,milk\t1 2\n"
)


def test_babi_stories_questions_and_supporting_facts(tmp_path):
    examples = ds.parse_babi(io.StringIO(BABI_TEXT), task=8)
    assert len(examples) == 3
    first, second, third = examples
    assert first.story == ("Mary moved to the bathroom.", "John went to the hallway.")
    assert (first.question, first.answer, first.supporting) == ("Where is Mary?", "bathroom", (0,))
    # the question line is not part of the story; ids map to indices of statements
    assert second.story[second.supporting[0]] == "Daniel went back to the hallway."
    assert len(second.story) == 3
    assert third.story == ("Sandra took the apple.", "Sandra took the milk.")
    assert (third.answer, third.supporting, third.task) == ("apple,milk", (0, 1), 8)
    with pytest.raises(ValueError, match="expected supporting ids of earlier statements"):
        ds.parse_babi(["1 A.", "2 Q?\tx\t2"])
    with pytest.raises(ValueError, match="expected '<line id> <text>'"):
        ds.parse_babi(["Mary moved."])
    with pytest.raises(ValueError, match=r"with a question and an answer at .*:2"):
        ds.parse_babi(["1 A.", "2 Where is A?\t\t1"])  # a tab, but no answer


def test_babi_missing_file_warns_and_missing_folder_raises(tmp_path, caplog):
    _write(tmp_path / "babi" / ds.babi_file(1, "train", "10k"), BABI_TEXT)
    assert len(ds.load_babi(1, "train", "10k", tmp_path)) == 3
    with caplog.at_level(logging.WARNING, logger="seqattn.data"):
        assert ds.load_babi(3, "train", "10k", tmp_path) == []
    assert "task 3 train file is missing" in caplog.text
    with pytest.raises(ds.DatasetNotFoundError, match=r"tasks_1-20_v1-2/en/qa1_"):
        ds.load_babi(1, "train", "1k", tmp_path)
    with pytest.raises(ValueError, match="expected task in 1..20"):
        ds.babi_file(21)
    with pytest.raises(ValueError, match="expected size in"):
        ds.babi_file(1, size="100k")


# --------------------------------------------------------------------------- Planetoid


def _dump(path: Path, obj) -> None:
    _write(path, pickle.dumps(obj, protocol=2))


def test_planetoid_assembly_gap_padding_and_edges(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "planetoid"
    allx = rng.random((4, 3)).astype(np.float32)
    tx = rng.random((2, 3)).astype(np.float32)
    eye = np.eye(2, dtype=np.int32)
    ally, ty = eye[[0, 1, 1, 0]], eye[[1, 0]]
    test_ids = [6, 4]  # unsorted, with a gap at node 5 (the CiteSeer quirk)
    parts = {
        "x": sp.csr_matrix(allx[:2]), "y": ally[:2], "allx": sp.csr_matrix(allx),
        "ally": ally, "tx": sp.csr_matrix(tx), "ty": ty,
        "graph": defaultdict(list, {0: [1, 1, 0], 1: [2], 6: [4, 6], 3: []}),
    }  # fmt: skip
    for part, obj in parts.items():
        _dump(folder / f"ind.cora.{part}", obj)
    _write(folder / "ind.cora.test.index", "6\n4\n")
    g = ds.load_planetoid("cora", tmp_path)
    assert g.num_nodes == 7 and g.num_classes == 2
    torch.testing.assert_close(g.x[:4], torch.from_numpy(allx))
    torch.testing.assert_close(g.x[6], torch.from_numpy(tx[0]))  # tx row i -> node test_ids[i]
    torch.testing.assert_close(g.x[4], torch.from_numpy(tx[1]))
    assert g.x[5].abs().sum() == 0 and g.y.tolist() == [0, 1, 1, 0, 0, -1, 1]
    assert g.train_mask.tolist() == [True, True] + [False] * 5
    assert g.val_mask.tolist() == [False, False, True, True, False, False, False]
    assert g.test_mask.nonzero().flatten().tolist() == test_ids[::-1]
    assert g.edge_index.tolist() == [[0, 1, 1, 2, 4, 6], [1, 0, 2, 1, 6, 4]]
    loops = ds.load_planetoid("cora", tmp_path, self_loops=True).edge_index
    assert loops.shape[1] == 8 and [0, 0] in loops.T.tolist() and [6, 6] in loops.T.tolist()


class _Evil:
    def __reduce__(self):
        import os

        return os.system, ("touch pwned",)


def test_planetoid_unpickler_refuses_arbitrary_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "evil", pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        ds.read_planetoid_pickle(path)
    assert not (tmp_path / "pwned").exists()


# --------------------------------------------------------------------------- Fashion-MNIST


def _idx(dtype_code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    head = bytes([0, 0, dtype_code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
    return head + payload


def test_idx_reader_checks_magic_dims_and_size(tmp_path):
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    folder = tmp_path / "fashion_mnist"
    with gzip.open(_write(folder / "t10k-images-idx3-ubyte.gz", b""), "wb") as f:
        f.write(_idx(0x08, (3, 2, 2), images.tobytes()))
    with gzip.open(_write(folder / "t10k-labels-idx1-ubyte.gz", b""), "wb") as f:
        f.write(_idx(0x08, (3,), bytes([9, 0, 4])))
    x, y = ds.load_fashion_mnist("test", tmp_path)
    assert x.dtype == torch.uint8 and torch.equal(x, torch.from_numpy(images))
    assert y.dtype == torch.int64 and y.tolist() == [9, 0, 4]
    ints = _write(tmp_path / "i32", _idx(0x0C, (2,), np.array([1, -2], ">i4").tobytes()))
    assert ds.read_idx(ints).tolist() == [1, -2]
    with pytest.raises(ValueError, match="expected an IDX magic number"):
        ds.read_idx(_write(tmp_path / "bad", b"\x1f\x8b\x08\x00junk"))
    with pytest.raises(ValueError, match="expected 3 dimension"):
        ds.read_idx(ints, expected_ndim=3)
    with pytest.raises(ValueError, match=r"expected 16 bytes for shape \(2,\)"):
        ds.read_idx(_write(tmp_path / "short", _idx(0x0C, (2,), b"\x00" * 5)))


# --------------------------------------------------------------------------- download / verify


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """Register a throw-away dataset whose canonical sources are local file:// URLs."""
    src = tmp_path / "upstream"
    a, b, readme = b"alpha\n", b"beta\n", b"read me\n"
    _write(src / "a.txt", a)
    with tarfile.open(_write(src / "bundle.tar.gz", b""), "w:gz") as tf:
        for name, data in (("bundle/b.txt", b), ("bundle/README", readme)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(src / "bundle.zip", "w") as zf:
        zf.writestr("z/b.txt", b)

    def make(**overrides):
        files = {
            "a": ds.FileSpec("a.txt", (src / "a.txt").as_uri(), _sha(a), len(a)),
            "b": ds.FileSpec("sub/b.txt", (src / "bundle.tar.gz").as_uri(), _sha(b),
                             member="bundle/b.txt"),
            "readme": ds.FileSpec("README", (src / "bundle.tar.gz").as_uri(), _sha(readme),
                                  member="bundle/README", optional=True),
        }  # fmt: skip
        files.update(overrides)
        info = ds.DatasetInfo("toy-set", "toy_set", "A toy.", "MIT", "", "", tuple(files.values()))
        ds.register(info, replace=True)
        return info

    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))
    make.src = src
    make.root = tmp_path / "data"
    return make


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith("."))


def test_download_checks_and_installs_direct_and_archive_members(toy):
    toy()
    root = toy.root
    written = ds.download("toy_set", root)
    assert sorted(p.relative_to(root).as_posix() for p in written) == [
        "toy_set/a.txt", "toy_set/sub/b.txt",
    ]  # fmt: skip
    assert (root / "toy_set/sub/b.txt").read_bytes() == b"beta\n"
    assert not (root / "toy_set/README").exists()  # optional: only with include_optional
    assert ds.download("toy-set", root, include_optional=True) == [root / "toy_set/README"]
    assert ds.download("toy-set", root) == []
    assert _leftovers(root) == []
    assert {s.status for s in ds.verify("toy-set", root)} == {"ok"}


def test_zip_member_and_progress(toy):
    toy(
        b=ds.FileSpec("b.txt", (toy.src / "bundle.zip").as_uri(), _sha(b"beta\n"), member="z/b.txt")
    )
    seen = []
    ds.download("toy-set", toy.root, progress=lambda url, done, total: seen.append((url, done)))
    assert (toy.root / "toy_set/b.txt").read_bytes() == b"beta\n"
    assert seen and seen[-1][1] == (toy.src / "bundle.zip").stat().st_size


def test_checksum_mismatch_keeps_nothing(toy):
    toy(a=ds.FileSpec("a.txt", (toy.src / "a.txt").as_uri(), "0" * 64))
    with pytest.raises(ds.ChecksumError, match=r"expected sha256 0{64} .*got [0-9a-f]{64}"):
        ds.download("toy-set", toy.root)
    assert not (toy.root / "toy_set/a.txt").exists() and _leftovers(toy.root) == []
    bad_member = ds.FileSpec("sub/b.txt", (toy.src / "bundle.tar.gz").as_uri(), "1" * 64,
                             member="bundle/b.txt")  # fmt: skip
    toy(b=bad_member, a=ds.FileSpec("a.txt", (toy.src / "a.txt").as_uri(), None))
    with pytest.raises(ds.ChecksumError, match="member bundle/b.txt"):
        ds.download("toy-set", toy.root)
    assert not (toy.root / "toy_set/sub/b.txt").exists() and _leftovers(toy.root) == []


def test_content_check_and_missing_member(toy):
    def reject(path):
        raise ValueError("expected a proper file, got junk")

    toy(a=ds.FileSpec("a.txt", (toy.src / "a.txt").as_uri(), None, validate=reject))
    with pytest.raises(ds.ChecksumError, match="content check, got: expected a proper file"):
        ds.download("toy-set", toy.root)
    assert not (toy.root / "toy_set/a.txt").exists()
    toy(b=ds.FileSpec("c.txt", (toy.src / "bundle.tar.gz").as_uri(), None, member="bundle/c"))
    with pytest.raises(ds.DatasetNotFoundError, match="has no member bundle/c"):
        ds.download("toy-set", toy.root)


def test_offline_gives_instructions_not_a_traceback(toy, monkeypatch, caplog):
    toy()

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_download, "_urlopen", offline)
    monkeypatch.setenv("SEQATTN_DATA_DIR", str(toy.root))
    with pytest.raises(ds.DatasetNotFoundError) as exc:
        ds.download("toy-set")
    msg = str(exc.value)
    assert "could not download" in msg and "Temporary failure" in msg
    assert f"{toy.root / 'toy_set'}/" in msg and "$SEQATTN_DATA_DIR" in msg
    assert "a.txt" in msg and "member bundle/b.txt of file://" in msg
    assert not (toy.root / "toy_set").exists()  # no empty folder left behind
    # a failing optional file is only a warning
    _write(toy.root / "toy_set/a.txt", b"alpha\n")
    _write(toy.root / "toy_set/sub/b.txt", b"beta\n")
    with caplog.at_level(logging.WARNING, logger="seqattn.data"):
        assert ds.download("toy-set", include_optional=True) == []
    assert "could not download optional" in caplog.text


def test_verify_reports_each_state(toy):
    toy(extra=ds.FileSpec("extra.bin", "https://example.invalid/x", None))
    folder = toy.root / "toy_set"
    _write(folder / "a.txt", b"tampered\n")
    _write(folder / "extra.bin", b"?")
    got = {s.path: (s.status, s.failed) for s in ds.verify("toy-set", toy.root)}
    assert got == {
        "a.txt": ("mismatch", True),
        "sub/b.txt": ("missing", True),
        "README": ("missing", False),
        "extra.bin": ("unverified", False),
    }


def test_auto_label_map_numbers_string_labels_as_train_classify(tmp_path):
    """One label handling for both classifier paths: `run sentiment --set dataset=FILE` takes
    pos/neg labels, numbered as `train classify` numbers them; integer labels are kept."""
    from seqattn.data.datasets.text_classification import label_names, load_classification_file

    p = tmp_path / "r.csv"
    p.write_text("text,label\ngood film,pos\nbad film,neg\nok film,pos\n")
    got = load_classification_file(p, label_map="auto")
    assert [e.label for e in got] == [1, 0, 1] and label_names(["pos", "neg"]) == ["neg", "pos"]
    q = tmp_path / "i.csv"
    q.write_text("text,label\na,3\nb,1\n")
    assert [e.label for e in load_classification_file(q, label_map="auto")] == [3, 1]
    with pytest.raises(ValueError, match="expected a 'stars' field"):
        load_classification_file(q, label_field="stars", label_map="auto")
    with pytest.raises(ValueError, match="expected label_map as a mapping, 'auto' or None"):
        load_classification_file(p, label_map="guess")

"""Loaders on the real datasets (SEQATTN_DATA_DIR): record counts, label balance, quirks handled.

The expected numbers come from each dataset's canonical statistics (and the counts verified
in the data's SOURCE.md notes). Every test skips, naming the dataset and the folder, when the
data is absent.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import pytest
import torch

from seqattn.data import datasets as ds

pytestmark = pytest.mark.data


def _root(name: str) -> Path:
    env = os.environ.get("SEQATTN_DATA_DIR")
    if not env:
        pytest.skip(f"SEQATTN_DATA_DIR not set: dataset {name} not available")
    missing = ds.missing_files(name, env)
    if missing:
        folder = ds.dataset_dir(name, env)
        pytest.skip(f"dataset {name} not found at {folder} (missing {missing[0].path})")
    return Path(env)


def test_every_present_file_matches_its_sha256():
    root = os.environ.get("SEQATTN_DATA_DIR")
    if not root:
        pytest.skip("SEQATTN_DATA_DIR not set: real datasets absent")
    for info in ds.list_datasets():
        if ds.missing_files(info.name, root):
            continue
        failed = [s for s in ds.verify(info.name, root) if s.failed]
        assert not failed, (info.name, failed)


def test_sst2():
    root = _root("sst2")
    train, dev, test = (ds.load_sst2(s, root) for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (67_349, 872, 1_821)
    assert Counter(e.label for e in train) == {0: 29_780, 1: 37_569}
    assert Counter(e.label for e in dev) == {0: 428, 1: 444}
    assert {e.label for e in test} == {None} and test[-1].id == "1820"
    assert not any(e.text != e.text.strip() for e in train)  # the space before the tab is gone


def test_imdb_from_the_repacked_tarball():
    root = _root("imdb")
    ds.check_imdb(ds.dataset_dir("imdb", root) / "aclImdb_v1.tar.gz")  # accepted by content
    train = ds.load_imdb("train", root)
    assert len(train) == 25_000
    assert Counter(e.label for e in train) == {0: 12_500, 1: 12_500}
    assert not any("<br" in e.text.lower() for e in train)
    assert {e.score for e in train if e.label == 1} == {7.0, 8.0, 9.0, 10.0}
    assert Counter(e.score for e in train)[10.0] == 4_732


def test_rt_polarity_decodes_cp1252():
    data = ds.load_rt_polarity(_root("rt-polarity"))
    assert Counter(e.label for e in data) == {0: 5_331, 1: 5_331}
    assert any("\u2026" in e.text for e in data)  # 0x85 in cp1252, not a C1 control
    assert not any(c in e.text for e in data for c in "\x85\x91\x96\x97\ufffd")


@pytest.mark.parametrize(
    ("corpus", "total", "pos", "neg"),
    [("tweets", 4_200, 2_897, 1_299), ("movie", 10_605, 5_242, 5_326),
     ("amazon", 3_708, 2_128, 1_482), ("nyt", 5_190, 2_204, 2_742)],
)  # fmt: skip
def test_vader_counts_and_threshold(corpus, total, pos, neg):
    root = _root("vader")
    everything = ds.load_vader(corpus, root, keep_neutral=True)
    assert len(everything) == total and len({e.id for e in everything}) == total
    assert not any("\r" in e.text for e in everything)
    labelled = ds.load_vader(corpus, root)
    assert Counter(e.label for e in labelled) == {1: pos, 0: neg}
    banded = ds.load_vader(corpus, root, threshold=0.5)
    assert all(abs(e.score) > 0.5 for e in banded) and len(banded) < len(labelled)


def test_multi30k():
    root = _root("multi30k")
    sizes = {s: len(ds.load_multi30k(s, root)) for s in ("train", "val", "test")}
    assert sizes == {"train": 29_000, "val": 1_014, "test": 1_000}
    train = ds.load_multi30k("train", root)
    assert sum("\t" in p.tgt for p in train) == 1  # kept inside the sentence, not a column
    assert train[0].src == "Two young, White males are outside near many bushes."


def test_fra_eng():
    root = _root("fra-eng")
    pairs = ds.load_fra_eng(root)
    assert len(pairs) == 167_130
    assert pairs[:3] == [ds.SentencePair("Go.", "Va !"), ds.SentencePair("Hi.", "Salut !"),
                         ds.SentencePair("Run!", "Cours !")]  # fmt: skip
    assert not any("\u202f" in p.tgt or "\u00a0" in p.tgt for p in pairs)
    raw = ds.load_fra_eng(root, normalize=False)
    assert sum(p.tgt.count("\u202f") for p in raw) == 6_286


def test_babi_1k_all_tasks():
    root = _root("babi")
    for task in ds.BABI_TASKS:
        for split in ("train", "test"):
            examples = ds.load_babi(task, split, "1k", root)
            assert len(examples) == 1_000, (task, split)
            assert all(all(0 <= i < len(e.story) for i in e.supporting) for e in examples)
    first = ds.load_babi(1, "train", "1k", root)[0]
    assert first == ds.BabiExample(
        ("Mary moved to the bathroom.", "John went to the hallway."),
        "Where is Mary?", "bathroom", (0,), 1,
    )  # fmt: skip
    assert any("," in e.answer for e in ds.load_babi(8, "test", "1k", root))  # several answers
    assert {len(e.answer.split(",")) for e in ds.load_babi(19, "test", "1k", root)} == {2}


def test_babi_10k_tolerates_the_missing_task3_train(caplog):
    root = _root("babi")
    assert len(ds.load_babi(1, "train", "10k", root)) == 10_000
    assert len(ds.load_babi(3, "test", "10k", root)) == 1_000
    qa3 = ds.dataset_dir("babi", root) / ds.babi_file(3, "train", "10k")
    with caplog.at_level(logging.WARNING, logger="seqattn.data"):
        got = ds.load_babi(3, "train", "10k", root)
    if qa3.exists():
        assert len(got) == 10_000
    else:
        assert got == [] and "missing" in caplog.text


def test_planetoid_cora():
    g = ds.load_planetoid("cora", _root("planetoid"))
    assert (g.num_nodes, g.x.shape[1], g.num_classes) == (2_708, 1_433, 7)
    assert g.edge_index.shape == (2, 2 * 5_278)
    edges = set(map(tuple, g.edge_index.T.tolist()))
    assert all((v, u) in edges for u, v in edges) and not any(u == v for u, v in edges)
    assert (int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())) == (
        140,
        500,
        1_000,
    )
    assert not (g.train_mask & g.test_mask).any() and not (g.val_mask & g.test_mask).any()
    assert g.y.bincount().tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert g.y[g.train_mask].bincount().tolist() == [20] * 7
    assert g.y[g.test_mask].bincount().tolist() == [130, 91, 144, 319, 149, 103, 64]
    assert g.x.dtype == torch.float32 and set(g.x.unique().tolist()) <= {0.0, 1.0}


def test_planetoid_citeseer_pads_isolated_test_nodes():
    root = _root("planetoid")
    g = ds.load_planetoid("citeseer", root)
    assert (g.num_nodes, g.x.shape[1], g.num_classes) == (3_327, 3_703, 6)
    assert g.edge_index.shape == (2, 2 * 4_552)
    assert ds.load_planetoid("citeseer", root, self_loops=True).edge_index.shape == (
        2, 2 * 4_552 + 124,
    )  # fmt: skip
    (unlabelled,) = torch.nonzero(g.y < 0, as_tuple=True)
    assert len(unlabelled) == 15 and g.x[unlabelled].abs().sum() == 0
    assert (int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())) == (
        120,
        500,
        1_000,
    )
    assert g.y[g.test_mask].bincount().tolist() == [77, 182, 181, 231, 169, 160]


def test_planetoid_pubmed_when_present():
    root = _root("planetoid")
    folder = ds.dataset_dir("planetoid", root)
    if not (folder / "ind.pubmed.allx").exists():
        pytest.skip(f"dataset planetoid/pubmed not found at {folder} (ind.pubmed.allx)")
    g = ds.load_planetoid("pubmed", root)
    assert (g.num_nodes, g.num_classes, int(g.train_mask.sum())) == (19_717, 3, 60)


def test_fashion_mnist():
    root = _root("fashion-mnist")
    for split, n in (("train", 60_000), ("test", 10_000)):
        images, labels = ds.load_fashion_mnist(split, root)
        assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
        assert labels.bincount().tolist() == [n // 10] * 10
        assert abs(images.float().mean().item() - (72.9 if split == "train" else 73.1)) < 0.1

"""The show-attend-tell experiment: its measurements, beam 1 == greedy, and a tiny real run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from seqattn.data.datasets import DIGIT_WORDS
from seqattn.experiments import get
from seqattn.experiments import show_attend_tell as sat
from seqattn.models.show_attend_tell import ShowAttendTell


def test_region_box_overlap_and_localisation():
    # a 2x3 grid of 8-pixel regions; a box covering region (0, 1) whole and half of (0, 2)
    ov = sat.region_box_overlap((2, 3), 8, (0, 8, 8, 20))
    torch.testing.assert_close(ov, torch.tensor([0, 1, 0.5, 0, 0, 0], dtype=torch.float64))
    alphas = [torch.tensor([[0.0, 1.0, 0, 0, 0, 0], [0.0, 0, 1.0, 0, 0, 0]])]
    assert sat.localisation(alphas, [[(0, 8, 8, 20), (0, 8, 8, 20)]], (2, 3), 8) == [1.0, 0.5]
    # uniform attention gets the box's share of the image
    uni = [torch.full((1, 6), 1 / 6)]
    assert sat.localisation(uni, [[(0, 0, 16, 12)]], (2, 3), 8)[0] == pytest.approx(0.5)


def test_bleu_and_caption_tensors():
    score, sig = sat.bleu4(["sneaker bag shirt coat"], ["sneaker bag shirt coat"])
    assert score == pytest.approx(100.0) and sig.startswith("nrefs:1|") and "tok:13a" in sig
    assert sat.bleu4(["bag bag bag bag"], ["sneaker shirt coat dress"])[0] == 0.0
    vocab = sat.caption_vocab()
    inp, tgt = sat.caption_tensors([["bag", "coat"], ["shirt"]], vocab)
    b, c, s = vocab["bag"], vocab["coat"], vocab["shirt"]
    assert inp.tolist() == [[2, b, c], [2, s, 0]] and tgt.tolist() == [[b, c, 3], [s, 3, 0]]


def test_beam_one_equals_greedy():
    torch.manual_seed(3)
    vocab = sat.caption_vocab()
    cfg = sat._model_config(sat.Config(channels=(4, 4, 4), hidden_size=16, attn_dim=8,
                                       embed_dim=8), vocab)  # fmt: skip
    model = ShowAttendTell(cfg).eval()
    images = torch.rand(5, 1, 64, 96)
    greedy, g_alpha, _ = sat.greedy_captions(model, images, vocab, max_len=7)
    beam, b_alpha = sat.beam_captions(model, images, vocab, beam_size=1, max_len=7)
    assert beam == greedy
    for a, b in zip(g_alpha, b_alpha, strict=True):
        torch.testing.assert_close(a, b)
    # a wider beam never finds a less probable caption (no length penalty)
    wide, _ = sat.beam_captions(model, images, vocab, beam_size=4, max_len=7)
    assert len(wide) == 5


def test_config_errors():
    with pytest.raises(ValueError, match="max_items <= rows\\*cols"):
        sat.Config(rows=1, cols=3)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*num_pools"):
        sat.Config(cell=30)
    assert get("show-attend-tell").quick(sat.Config()).seeds == 1


@pytest.mark.data
def test_tiny_run_on_fashion_mnist(data_dir, tmp_path):
    cfg = sat.Config(seeds=1, train_size=128, epochs=1, val_size=16, test_size=24, examples=1,
                     channels=(4, 4, 4), hidden_size=16, attn_dim=8, embed_dim=8,
                     batch_size=32, data_root=str(data_dir))  # fmt: skip
    res = sat.run(cfg, tmp_path)
    assert res["test_compositions_seen_in_training"] == 0
    assert res["test_scenes"] == 24 and res["grid"] == "8x12"
    row = res["table"][0]
    for key in ("exact_match", "word_accuracy", "item_accuracy", "localisation"):
        assert 0.0 <= row[key] <= 1.0
    assert res["bleu_signature"].startswith("nrefs:1|")
    assert all(p.endswith(".png") for p in res["figures"])
    assert (tmp_path / "training.png").is_file()
    json.dumps(res)  # results.json-ready
    assert "| mean ± std |" in sat.table_text(res)


def test_digits_config_defaults_and_errors():
    cfg = sat.Config(items="digits").resolved()
    assert cfg.item_side == 16 and cfg.cell == 20  # 8x8 digits upscaled 2x, 4 px of slack
    assert (cfg.num_pools, cfg.epochs, cfg.alpha_c) == (2, 30, 0.001)
    # resolved late: a replace() of a default config still gets the digit defaults
    assert dataclasses.replace(sat.Config(), items="digits").resolved().cell == 20
    fashion = sat.Config().resolved()
    assert (fashion.cell, fashion.num_pools, fashion.epochs, fashion.alpha_c) == (32, 3, 24, 0.01)
    assert sat.Config(items="digits", epochs=5).resolved().epochs == 5  # set values win
    with pytest.raises(ValueError, match="expected items in"):
        sat.Config(items="mnist")
    with pytest.raises(ValueError, match="cell >= the item side 24"):
        sat.Config(items="digits", item_scale=3, cell=16)


def test_digits_run_learns_without_data_dir(tmp_path):
    """scikit-learn's digits need no data directory: a short run (about 10 s) on one-row scenes
    of two digits learns far above chance (1/10 per word) and writes every output."""
    cfg = sat.Config(items="digits", seeds=1, rows=1, cols=2, min_items=2, max_items=2,
                     train_size=1920, epochs=8, val_size=16, test_size=100, examples=1,
                     channels=(16, 32, 32), hidden_size=64, attn_dim=16, embed_dim=16,
                     batch_size=32, lr=5e-3, time_budget_min=None, cell=24, num_pools=3,
                     alpha_c=0.01)  # fmt: skip
    res = sat.run(cfg, tmp_path)
    assert res["items"] == "digits" and res["grid"] == "3x6"
    assert res["test_compositions_seen_in_training"] == 0
    row = res["table"][0]
    assert row["word_accuracy"] > 0.8, row  # 0.955 when written
    assert all(w in DIGIT_WORDS for ex in res["examples"] for w in ex["truth"].split())
    assert (tmp_path / "training.png").is_file()

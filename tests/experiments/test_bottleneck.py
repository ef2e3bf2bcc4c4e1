"""The `bottleneck` and `translate` experiments at a tiny scale."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from seqattn.config import replace_config
from seqattn.experiments import bottleneck, translate
from seqattn.experiments.bottleneck import BOS, EOS, OFFSET, make_batch
from seqattn.pipelines.translation import TranslationConfig


def test_make_batch_copy_and_reverse():
    cfg = bottleneck.Config(dataset="reverse", max_len=6)
    src, lengths, tgt_in, tgt_out = make_batch(cfg, [3, 5], torch.Generator().manual_seed(0))
    assert lengths.tolist() == [3, 5]
    assert src[0, 3:].eq(0).all() and bool((src[:, :3] >= OFFSET).all())
    assert tgt_out[0, :3].tolist() == src[0, :3].flip(0).tolist() and tgt_out[0, 3] == EOS
    assert tgt_in[1, 0] == BOS and tgt_in[1, 1:6].tolist() == tgt_out[1, :5].tolist()
    copy = dataclasses.replace(cfg, dataset="copy")
    src, _, _, tgt_out = make_batch(copy, [4], torch.Generator().manual_seed(0))
    assert tgt_out[0, :4].tolist() == src[0].tolist()


def test_bottleneck_quick_shape(tmp_path):
    cfg = bottleneck.Config(dataset="copy", decoders=("plain", "bahdanau"), min_len=3,
                            max_len=8, steps=3, hidden_size=8, embed_dim=8,
                            test_per_length=2, bucket_width=3)  # fmt: skip
    res = bottleneck.run(cfg, tmp_path)
    assert [r["decoder"] for r in res["table"]] == ["plain", "bahdanau"]
    assert [b["bucket"] for b in res["table"][0]["by_length"]] == ["3-5", "6-8"]
    for r in res["table"]:
        assert 0.0 <= r["exact_match"] <= r["token_accuracy"] <= 1.0
        assert r["steps"] == 3
    assert (tmp_path / "bottleneck_copy.png").exists()
    # attention views only for the attention decoder, labelled with source/target symbols
    views = res["attention"]
    assert views and all(v["title"].startswith("bahdanau") for v in views)
    json.dumps(views)  # results.json must hold them
    assert "| plain |" in bottleneck.table_text(res)
    (table,) = bottleneck.tables(res)
    assert [c.header for c in table.columns] == ["decoder", "exact match", "token acc", "3-5",
                                                 "6-8"]  # fmt: skip
    cells = table.cells()
    assert [row[0] for row in cells] == ["plain", "bahdanau"]
    row = res["table"][1]
    assert cells[1][1:] == [f"{row['exact_match']:.3f}", f"{row['token_accuracy']:.3f}",
                            *(f"{b['exact_match']:.2f}" for b in row["by_length"])]  # fmt: skip
    assert table.title == "copy task: exact match per source length"


def test_bottleneck_decoders_come_from_the_registry(tmp_path):
    """Every registered recurrent decoder is in the default list (location included, the
    Transformer not); a decoder registered later joins with no change to the experiment."""
    from seqattn.models.seq2seq import DECODERS
    from seqattn.models.seq2seq_decoders import PlainDecoder

    assert bottleneck.Config().decoders == ("plain", "context", "bahdanau", "luong", "location")
    with pytest.raises(ValueError, match="expected decoders from"):
        bottleneck.Config(decoders=("plain", "nope"))
    DECODERS.register("plain-again", type("PlainAgain", (PlainDecoder,), {}))
    try:
        cfg = bottleneck.Config(dataset="copy", min_len=3, max_len=4, steps=1, hidden_size=8,
                                embed_dim=8, test_per_length=1, bucket_width=2,
                                examples=0)  # fmt: skip
        assert cfg.decoders[-1] == "plain-again"
        res = bottleneck.run(dataclasses.replace(cfg, decoders=("location", "plain-again")),
                             tmp_path)  # fmt: skip
        assert [r["decoder"] for r in res["table"]] == ["location", "plain-again"]
    finally:
        DECODERS.unregister("plain-again")


def test_bottleneck_workers_train_the_same_models(tmp_path):
    """Decoders trained in two spawned worker processes equal those trained in this one
    (same seeds, same steps): the same table."""
    kw = dict(dataset="copy", decoders=("plain", "bahdanau"), min_len=3, max_len=6,
              steps=4, hidden_size=8, embed_dim=8, test_per_length=2, bucket_width=2,
              examples=0)  # fmt: skip
    one = bottleneck.run(bottleneck.Config(**kw), tmp_path / "one")
    two = bottleneck.run(bottleneck.Config(workers=2, **kw), tmp_path / "two")
    for a, b in zip(one["table"], two["table"], strict=True):
        assert a["decoder"] == b["decoder"] and a["steps"] == b["steps"]
        assert a["final_loss"] == pytest.approx(b["final_loss"], rel=1e-6)
        assert a["by_length"] == b["by_length"]
    with pytest.raises(ValueError, match="workers"):
        bottleneck.Config(workers=0)


@pytest.mark.slow
def test_attention_beats_the_summary_on_long_copies(tmp_path):
    """The effect the experiment exists to show, small: copy lengths 4-16."""
    cfg = bottleneck.Config(dataset="copy", decoders=("plain", "bahdanau"), min_len=4,
                            max_len=16, steps=300, hidden_size=32, embed_dim=16,
                            test_per_length=6, bucket_width=6, minutes_per_model=5)  # fmt: skip
    res = bottleneck.run(cfg, tmp_path)
    rows = {r["decoder"]: r for r in res["table"]}
    assert rows["bahdanau"]["token_accuracy"] > rows["plain"]["token_accuracy"] + 0.1


@pytest.mark.slow
def test_translate_experiment_on_a_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    src = ["ein Hund läuft .", "eine Katze schläft .", "ein Mann sitzt ."] * 6
    tgt = ["a dog runs .", "a cat sleeps .", "a man sits ."] * 6
    for split in ("train", "valid", "test"):
        (data / f"{split}.de").write_text("\n".join(src) + "\n", encoding="utf-8")
        (data / f"{split}.en").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    model = TranslationConfig(subword="word", min_freq=1, embed_dim=16, hidden_size=16,
                              epochs=15, batch_size=6, lr=0.02, dropout=0.0)  # fmt: skip
    cfg = translate.Config(dataset=str(data), model=model, beam=3, examples=1)
    res = translate.run(cfg, tmp_path / "run")
    assert [r["search"] for r in res["table"]] == ["greedy", "beam 3"]
    assert res["bleu_greedy"] > 50  # memorised a three-sentence corpus
    assert "nrefs:1|case:mixed" in res["table"][0]["signature"]
    assert res["attention"] and (tmp_path / "run" / "bleu_by_length.png").exists()
    (table,) = translate.tables(res)
    assert [cells[0] for cells in table.cells()] == ["greedy", "beam 3"]
    assert table.notes == [f"sacreBLEU: {res['table'][0]['signature']}"]
    assert "| greedy |" in translate.EXPERIMENT.table(res)


def test_bottleneck_model_dirs_are_validated():
    with pytest.raises(ValueError, match="model_dirs keys among decoders"):
        bottleneck.Config(dataset="multi30k", decoders=("plain",), model_dirs={"luong": "x"})
    with pytest.raises(ValueError, match="map decoder names to directory paths"):
        bottleneck.Config(dataset="multi30k", decoders=("plain",), model_dirs={"plain": 3})


def test_bottleneck_multi30k_evaluates_trained_model_dirs(tmp_path, data_dir):
    """model_dirs: the decoders are loaded, evaluated and plotted, not trained again."""
    from seqattn.data.datasets.parallel import load_multi30k
    from seqattn.pipelines.translation import fit_translation

    train = load_multi30k("train", src="de", tgt="en")[:300]
    tiny = replace_config(TranslationConfig(), {"bpe_vocab": 300, "model.embed_dim": 8,
                                                "model.hidden_size": 8, "epochs": 1,
                                                "batch_size": 32})  # fmt: skip
    fit_translation(train, None, tiny, tmp_path / "bahdanau", max_batches=2)
    fit_translation(train, None, replace_config(tiny, {"model.decoder": "plain"}),
                    tmp_path / "plain", max_batches=2)  # fmt: skip
    wrong = bottleneck.Config(dataset="multi30k", decoders=("plain",),
                              model_dirs={"plain": str(tmp_path / "bahdanau")})  # fmt: skip
    with pytest.raises(ValueError, match="expected a plain model for decoder 'plain'"):
        bottleneck.run(wrong, tmp_path / "wrong")
    cfg = bottleneck.Config(dataset="multi30k", decoders=("plain", "bahdanau"),
                            model_dirs={"plain": str(tmp_path / "plain"),
                                        "bahdanau": str(tmp_path / "bahdanau")})  # fmt: skip
    res = bottleneck.run(cfg, tmp_path / "out")
    assert [r["decoder"] for r in res["table"]] == ["plain", "bahdanau"]
    assert all(r["model_dir"] and r["steps"] == 2 and r["by_length"] for r in res["table"])
    assert not list((tmp_path / "out").glob("model-*"))  # nothing was trained
    assert (tmp_path / "out" / "bottleneck_multi30k.png").is_file()
    assert "| plain | gru |" in bottleneck.table_text(res)

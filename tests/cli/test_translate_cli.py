"""``seqattn train translate`` / ``seqattn translate``: a tiny round trip and every bad input."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from seqattn.cli.main import main
from seqattn.pipelines.translation import TranslationConfig, TranslationModel, default_model

SRC = ["ein Hund läuft .", "eine Katze schläft .", "ein Mann sitzt .", "eine Frau läuft ."] * 4
TGT = ["a dog runs .", "a cat sleeps .", "a man sits .", "a woman runs ."] * 4
TINY = ["--subword", "word", "--min-freq", "1", "--embed-dim", "8", "--hidden-size", "8",
        "--epochs", "4", "--batch-size", "2", "--max-length", "6", "--lr", "0.02",
        "--dropout", "0"]  # fmt: skip


def _write(path, lines):
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tr")
    src, tgt = _write(d / "train.de", SRC), _write(d / "train.en", TGT)
    out = str(d / "model")
    code = main(["train", "translate", "--src-train", src, "--tgt-train", tgt,
                 "--src-valid", src, "--tgt-valid", tgt, "--out", out, *TINY])  # fmt: skip
    assert code == 0
    return d / "model"


def test_train_writes_model_directory(model_dir, capsys):
    for name in ("model.safetensors", "config.json", "src_tokenizer.json", "tgt_vocab.json"):
        assert (model_dir / name).is_file()
    bundle = TranslationModel.load(model_dir)
    # the flags land in the nested config: model options under model, the rest on top
    model = bundle.config.model
    assert (model.decoder, model.embed_dim, model.hidden_size, model.dropout) == (
        "bahdanau", 8, 8, 0.0)  # fmt: skip
    assert (bundle.config.subword, bundle.config.max_length, bundle.config.lr) == (
        "word", 6, 0.02)  # fmt: skip
    assert bundle.info["train_pairs"] == len(SRC)


def test_model_directory_round_trip(model_dir, tmp_path):
    a = TranslationModel.load(model_dir)
    a.save(tmp_path / "copy")
    b = TranslationModel.load(tmp_path / "copy")
    for (k, v), (k2, v2) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                strict=True):  # fmt: skip
        assert k == k2 and torch.equal(v, v2)
    assert [t.text for t in a.translate(SRC[:3], beam=2)] == [
        t.text for t in b.translate(SRC[:3], beam=2)
    ]


def test_translate_sentences_and_file(model_dir, tmp_path, capsys):
    assert main(["translate", "--model", str(model_dir), "--beam", "1", SRC[0], SRC[1]]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    inp, out = _write(tmp_path / "in.de", SRC[:3]), tmp_path / "out.en"
    png = tmp_path / "align.png"
    code = main(["translate", "--model", str(model_dir), "--input", inp, "--output", str(out),
                 "--show-alignment", str(png)])  # fmt: skip
    assert code == 0
    assert len(out.read_text().splitlines()) == 3
    assert png.is_file()


def test_sentences_come_from_arguments_or_one_file(model_dir, tmp_path, capsys):
    model = ["translate", "--model", str(model_dir)]
    assert main(model) == 2
    assert "expected sentences as arguments or --input FILE (one of them), got neither" in (
        capsys.readouterr().err
    )
    inp = _write(tmp_path / "in.de", SRC[:1])
    assert main([*model, "--input", inp, SRC[0]]) == 2
    assert "got both" in capsys.readouterr().err
    assert main([*model, "--output", str(tmp_path / "o.en"), SRC[0]]) == 2
    assert "expected --output only with --input, got it with sentence arguments" in (
        capsys.readouterr().err
    )


def test_unknown_tokens_are_reported(model_dir, capsys):
    assert main(["translate", "--model", str(model_dir), "ein Zebra läuft ."]) == 0
    assert "1 unknown source tokens" in capsys.readouterr().err


def _err(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    return err


def test_bad_training_files(tmp_path, capsys):
    src = _write(tmp_path / "a.de", SRC[:3])
    tgt = _write(tmp_path / "a.en", TGT[:2])
    err = _err(["train", "translate", "--src-train", src, "--tgt-train", tgt, "--out",
                str(tmp_path / "m"), *TINY], capsys)  # fmt: skip
    assert "a.de" in err and "a.en" in err and "got 3 and 2" in err
    empty = _write(tmp_path / "b.en", [TGT[0], "", TGT[2]])
    err = _err(["train", "translate", "--src-train", src, "--tgt-train", empty, "--out",
                str(tmp_path / "m"), *TINY], capsys)  # fmt: skip
    assert "b.en:2" in err and "empty line" in err
    assert not (tmp_path / "m" / "model.safetensors").exists()
    err = _err(["train", "translate", "--src-train", src, "--tgt-train", src, "--out",
                str(tmp_path / "m"), "--decoder", "nope"], capsys)  # fmt: skip
    assert "expected decoder in" in err


def test_bad_translate_input(model_dir, tmp_path, capsys):
    inp = _write(tmp_path / "in.de", [SRC[0], "", SRC[1]])
    out = tmp_path / "out.en"
    err = _err(["translate", "--model", str(model_dir), "--input", inp, "--output", str(out)],
               capsys)  # fmt: skip
    assert "in.de:2" in err and "empty line" in err
    assert not out.exists()
    long = _write(tmp_path / "long.de", [SRC[0], "ein " * 10])
    err = _err(["translate", "--model", str(model_dir), "--input", long, "--output", str(out)],
               capsys)  # fmt: skip
    assert "long.de:2" in err and "at most 6 source tokens" in err and "got 10" in err
    assert not out.exists()
    err = _err(["translate", "--model", str(tmp_path / "nowhere"), "x"], capsys)
    assert "expected a translation model directory" in err
    err = _err(["translate", "--model", str(model_dir)], capsys)
    assert "got neither" in err
    err = _err(["translate", "--model", str(model_dir), "--input", inp, "x"], capsys)
    assert "got both" in err


def test_model_flags_are_checked_before_reading_data(tmp_path, capsys):
    err = _err(["train", "translate", "--src-train", str(tmp_path / "none.de"), "--tgt-train",
                str(tmp_path / "none.en"), "--out", str(tmp_path / "m"), "--decoder", "luong",
                "--luong-score", "dot"], capsys)  # fmt: skip
    assert "expected a unidirectional encoder for luong_score='dot'" in err
    assert "none.de" not in err


# -- the nested TranslationConfig and the flat configs of older versions ----------------------
FIXTURES = Path(__file__).parents[1] / "fixtures" / "flat_configs"


def test_the_nested_config_keeps_every_default():
    flat = json.loads((FIXTURES / "translation_default.json").read_text())
    cfg = TranslationConfig()
    assert TranslationConfig.from_dict(flat) == cfg
    nested = cfg.to_dict()
    for key, value in flat.items():
        assert (nested[key] if key in nested else nested["model"][key]) == value, key
    assert TranslationConfig.from_dict(nested) == cfg


def test_a_translator_directory_of_an_older_version_still_loads():
    """tests/fixtures/flat_configs/translator: its config.json holds the flat config."""
    expected = json.loads((FIXTURES / "expected.json").read_text())
    bundle = TranslationModel.load(FIXTURES / "translator")
    assert bundle.config.model == dataclasses.replace(
        default_model(), embed_dim=4, hidden_size=4, cell="lstm", decoder="luong", dropout=0.0
    )
    assert (bundle.config.subword, bundle.config.max_length, bundle.config.seed) == ("word", 20, 2)
    assert bundle.config.model_config(12, 12) == bundle.model.config
    out = bundle.translate(["ein hund 1"], beam=1)
    assert [t.text for t in out] == expected["translation"]
    assert [t.score for t in out] == expected["translation_score"]


def test_the_translate_experiment_reads_its_old_flat_config_file():
    from seqattn.config import load_config
    from seqattn.experiments import translate

    old = load_config(translate.Config, FIXTURES / "translate_quick.yaml")
    assert old == translate.quick(translate.Config())
    assert (old.model.model.hidden_size, old.model.bpe_vocab) == (64, 1000)


def test_train_ends_with_a_bleu_summary_and_says_why_it_stopped(tmp_path, capsys):
    src, tgt = _write(tmp_path / "t.de", SRC), _write(tmp_path / "t.en", TGT)
    out = tmp_path / "m"
    code = main(["train", "translate", "--src-train", src, "--tgt-train", tgt, "--src-valid", src,
                 "--tgt-valid", tgt, "--src-test", src, "--tgt-test", tgt, "--bleu-beam", "2",
                 "--out", str(out), *TINY])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "valid BLEU (16 sentences): " in printed and " greedy / " in printed
    assert "test BLEU (16 sentences): " in printed and "sacreBLEU nrefs:1|" in printed
    bleu = json.loads((out / "config.json").read_text())["info"]["bleu"]
    assert set(bleu) == {"valid", "test"} and set(bleu["test"]) == {"greedy", "beam2"}
    assert f"{bleu['test']['greedy']['bleu']:.2f} greedy" in printed
    assert TranslationModel.load(out).info["bleu"] == bleu  # saved with the model, hashed
    code = main(["train", "translate", "--src-train", src, "--tgt-train", tgt, "--no-bleu",
                 "--max-minutes", "1e-9", "--out", str(tmp_path / "m2"), *TINY])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "stopped after 1 steps (0 full epochs): time budget of 1e-09 min" in printed
    assert "BLEU" not in printed

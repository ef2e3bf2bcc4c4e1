"""``--resume`` with options that differ from the checkpoint's (issue 20, item 4): the options a
resumed run honours (epochs, patience) take their new values; any other difference is refused,
naming each option with both values, unless ``--resume-options checkpoint`` says the
checkpoint's win; what was used is what config.json and train_summary.json record."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import torch

from seqattn.cli.main import main
from seqattn.data.datasets.text_classification import TextExample
from seqattn.models import ClassifierConfig
from seqattn.pipelines import TextClassifierConfig, fit_text_classifier
from seqattn.pipelines.resume import option_differences, resume_config
from seqattn.training import list_checkpoints


def _train():
    return [TextExample(f"{w} film number {i}", "pos" if w == "good" else "neg", id=f"t.csv:{i}")
            for i in range(12) for w in ("good", "bad")]  # fmt: skip


def _cfg(**changes) -> TextClassifierConfig:
    model = ClassifierConfig(vocab_size=1, encoder="gru", head="mean", embed_dim=8, hidden_size=8,
                             dropout=0.0)  # fmt: skip
    return TextClassifierConfig(model=model, **{"epochs": 1, "lr": 0.02, "patience": None,
                                                **changes})  # fmt: skip


@pytest.fixture
def part(tmp_path):
    """A folder holding a one-epoch training (its checkpoint records lr 0.02)."""
    fit_text_classifier(_train(), None, _cfg(), tmp_path / "m")
    return tmp_path / "m"


def _checkpoints(folder):
    return [p.name for p in list_checkpoints(folder / "checkpoints")]


def test_a_changed_lr_is_refused_naming_both_values(part):
    before = _checkpoints(part)
    config_before = (part / "config.json").read_text()
    with pytest.raises(ValueError) as info:
        fit_text_classifier(_train(), None, _cfg(epochs=2, lr=0.1), part, resume=True)
    msg = str(info.value)
    assert "lr: checkpoint 0.02, now 0.1" in msg and "--resume-options checkpoint" in msg
    assert "epochs" not in msg.split("(")[0]  # epochs may change: not among the refused
    assert _checkpoints(part) == before and (part / "config.json").read_text() == config_before


def test_a_changed_model_option_is_refused(part):
    bigger = dataclasses.replace(_cfg(), model=dataclasses.replace(_cfg().model, hidden_size=12))
    with pytest.raises(ValueError, match="model.hidden_size: checkpoint 8, now 12"):
        fit_text_classifier(_train(), None, bigger, part, resume=True)


def test_checkpoint_options_win_when_asked_and_are_recorded(part, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="seqattn"):
        got = fit_text_classifier(_train(), None, _cfg(lr=0.1), part, resume=True,
                                  resume_options="checkpoint")  # fmt: skip
    assert any("ignoring the new lr: checkpoint 0.02, now 0.1" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    summary = json.loads((part / "train_summary.json").read_text())
    assert summary["config"]["lr"] == 0.02  # what was used, not what was typed
    assert summary["resume"]["used"] == "checkpoint"
    assert summary["resume"]["differences"] == {"lr": {"checkpoint": 0.02, "now": 0.1}}
    assert json.loads((part / "config.json").read_text())["train_config"]["lr"] == 0.02
    same = fit_text_classifier(_train(), None, _cfg(), tmp_path / "ref")  # the checkpoint's
    for a, b in zip(got.model.state_dict().values(), same.model.state_dict().values(),
                    strict=True):  # fmt: skip
        assert torch.equal(a, b)


def test_new_epochs_are_honoured_and_recorded(part):
    fit_text_classifier(_train(), None, _cfg(epochs=2), part, resume=True)
    summary = json.loads((part / "train_summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["config"]["epochs"] == 2
    assert summary["resume"]["differences"] == {"epochs": {"checkpoint": 1, "now": 2}}
    assert summary["resume"]["used"] == "new"


def test_unknown_policy_and_nothing_to_compare(tmp_path):
    with pytest.raises(ValueError, match=r"expected resume_options in \('refuse', 'checkpoint'\)"):
        resume_config(_cfg(), tmp_path, "mine", ())
    cfg, record = resume_config(_cfg(), tmp_path / "none", "refuse", ())
    assert cfg == _cfg() and record["differences"] is None and record["from"] is None
    assert option_differences({"a": (1, 2), "b": {"c": 1}}, {"a": [1, 2], "b": {}}) == {
        "b.c": (1, "(absent)")
    }


SRC = ["ein hund läuft .", "eine katze schläft .", "ein mann sitzt ."] * 4
TGT = ["a dog runs .", "a cat sleeps .", "a man sits ."] * 4
TINY = ["--subword", "word", "--min-freq", "1", "--embed-dim", "8", "--hidden-size", "8",
        "--batch-size", "4", "--max-length", "6", "--dropout", "0"]  # fmt: skip


def test_train_translate_resume_with_a_changed_lr(tmp_path, capsys):
    src, tgt = tmp_path / "t.de", tmp_path / "t.en"
    src.write_text("\n".join(SRC) + "\n")
    tgt.write_text("\n".join(TGT) + "\n")
    out = tmp_path / "tr"
    base = ["train", "translate", "--src-train", str(src), "--tgt-train", str(tgt),
            "--out", str(out), *TINY]  # fmt: skip
    assert main([*base, "--epochs", "1", "--lr", "0.02"]) == 0
    capsys.readouterr()
    assert main([*base, "--epochs", "2", "--lr", "0.1", "--resume"]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("train: ")]  # progress
    assert "Traceback" not in err and len(lines) == 1
    assert "lr: checkpoint 0.02, now 0.1" in err
    assert main([*base, "--epochs", "2", "--lr", "0.1", "--resume",
                 "--resume-options", "checkpoint"]) == 0  # fmt: skip
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["lr"] == 0.02 and saved["config"]["epochs"] == 1  # the checkpoint's
    assert saved["info"]["resume"]["used"] == "checkpoint"
    assert main([*base, "--epochs", "2", "--lr", "0.02", "--resume"]) == 0  # epochs may change
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["epochs"] == 2 and saved["info"]["epochs"] == 2

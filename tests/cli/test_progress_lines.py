"""Training progress off a terminal: the trainer's ProgressBar drawn as plain lines (LineBar),
on by default for every training command (``--no-progress`` turns it off)."""

from __future__ import annotations

import io

import pytest

from seqattn.cli._progress import LineBar, bar_factory
from seqattn.cli.main import build_parser
from seqattn.training import ProgressBar


class _Trainer:
    is_main, step, should_stop, stop_reason, last_val = True, 0, False, None, {}

    class config:  # noqa: N801 (the trainer's config attribute)
        monitor = "val_acc"

    def total_steps(self):
        return 4


def test_line_bar_under_the_trainer_callback():
    out, trainer = io.StringIO(), _Trainer()
    bar = ProgressBar(lambda **kw: LineBar(**kw, every_s=0.0, stream=out), metric="val_acc",
                      items_label=None, desc="train")  # fmt: skip
    bar.on_train_start(trainer)
    for _ in range(4):
        trainer.step += 1
        bar.on_step_end(trainer, {"loss": 0.5})
    trainer.should_stop, trainer.stop_reason = True, "early_stopping"
    bar.on_train_end(trainer)
    lines = out.getvalue().splitlines()
    assert lines[0] == "train: started (4 step)"
    assert lines[1].startswith("train: 1/4 step (")  # the postfix comes after the first tick
    assert lines[2].startswith("train: 2/4 step, loss=0.5 (")
    assert lines[-1].startswith("train (stopped: early_stopping): done, 4/4 step, loss=0.5 (")


def test_line_bar_is_quiet_between_intervals():
    out = io.StringIO()
    bar = LineBar(total=1000, desc="train", unit="step", every_s=3600.0, stream=out)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    assert len(out.getvalue().splitlines()) == 2  # started, done: no line per step


def test_factory_off_a_terminal_is_the_line_bar(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert bar_factory() is LineBar


@pytest.mark.parametrize("command", [["train", "classify"], ["train", "translate"],
                                     ["train", "caption"]])  # fmt: skip
def test_progress_is_on_by_default(command):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command[0]]
    train = sub._subparsers._group_actions[0].choices[command[1]]
    (action,) = [a for a in train._actions if a.dest == "progress"]
    assert action.default is True and "--no-progress" in action.option_strings

"""Progress for phases without a loop of their own: ``phase`` and the ``HookProgress`` trainer
callback print through the same hook as every other phase (the CLI's progress lines)."""

from __future__ import annotations

import io
from functools import partial

import pytest

from seqattn.cli.main import progress_lines
from seqattn.experiments.toolkit import HookProgress, phase


def _hook(stream):
    return partial(progress_lines, every_s=0.0, stream=stream)


def test_phase_announces_start_and_end():
    out = io.StringIO()
    with phase(_hook(out), "test: beam 5"):
        assert out.getvalue().splitlines() == ["test: beam 5: started (1 steps)"]
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("test: beam 5: done after 1/1 in ")


def test_phase_that_fails_says_stopped():
    out = io.StringIO()
    with pytest.raises(RuntimeError), phase(_hook(out), "eval"):
        raise RuntimeError("boom")
    assert out.getvalue().splitlines()[-1].startswith("eval: stopped after 1/1")


class _Trainer:
    is_main = True

    def total_steps(self):
        return 3


@pytest.mark.parametrize("early", [False, True])
def test_hook_progress_counts_the_steps_run(early):
    out = io.StringIO()
    cb, trainer = HookProgress(_hook(out), "train"), _Trainer()
    if early:
        cb.start()  # announced before the trainer's setup
    assert out.getvalue().startswith("train: started") == early
    cb.on_train_start(trainer)
    assert out.getvalue().splitlines()[0].startswith("train: started")
    for _ in range(3):
        cb.on_step_end(trainer, {})
    cb.on_train_end(trainer)
    lines = out.getvalue().splitlines()
    assert lines[0] == ("train: started" if early else "train: started (3 steps)")
    assert lines[-1].startswith("train: done after 3" + ("" if early else "/3"))
    assert sum(line.startswith("train: started") for line in lines) == 1


def test_hook_progress_draws_nothing_off_rank_0():
    out = io.StringIO()
    cb, trainer = HookProgress(_hook(out), "train"), _Trainer()
    trainer.is_main = False
    cb.on_train_start(trainer)
    cb.on_step_end(trainer, {})
    cb.on_train_end(trainer)
    assert out.getvalue() == ""

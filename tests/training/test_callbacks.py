"""ProgressBar and the trainer's throughput metrics, with a recording progress factory."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from seqattn.training import ProgressBar, Trainer, TrainerConfig

TOKENS_PER_EXAMPLE = 3


class RecordingBar:
    """Stands in for tqdm: records what the callback asks it to show."""

    made: list[RecordingBar] = []

    def __init__(self, **kwargs):
        self.kwargs, self.n, self.postfixes, self.closed = kwargs, kwargs["initial"], [], False
        RecordingBar.made.append(self)

    def update(self, n):
        self.n += n

    def set_postfix(self, postfix):
        self.postfixes.append(dict(postfix))

    def close(self):
        self.closed = True

    def set_description(self, desc):
        self.kwargs["desc"] = desc


def _trainer(tmp_path, callbacks, **cfg):
    torch.manual_seed(0)
    data = [(torch.randn(3), torch.randn(())) for _ in range(20)]
    model = torch.nn.Linear(3, 1)

    def loss_fn(m, batch):
        x = torch.stack([a for a, _ in batch])
        y = torch.stack([b for _, b in batch])
        # n_items counts "tokens": a fixed number per example, so items/s = 3 x examples/s
        return ((m(x).squeeze(-1) - y) ** 2).mean(), TOKENS_PER_EXAMPLE * len(batch)

    def val_fn(m):
        x = torch.stack([a for a, _ in data])
        y = torch.stack([b for _, b in data])
        return {"val_loss": float(((m(x).squeeze(-1) - y) ** 2).mean()), "val_acc": 0.5}

    config = TrainerConfig(**{"max_epochs": 3, "batch_size": 8, "log_every": 1, **cfg})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return Trainer(model, opt, loss_fn, data, config, tmp_path, val_fn=val_fn, callbacks=callbacks)


def test_progress_bar_shows_loss_metric_and_throughput(tmp_path):
    RecordingBar.made = []
    trainer = _trainer(tmp_path, [ProgressBar(RecordingBar, items_label="tok", desc="train")])
    trainer.fit()
    (bar,) = RecordingBar.made
    assert bar.kwargs == {"total": 9, "initial": 0, "desc": "train", "unit": "step"}
    assert bar.n == 9 == trainer.step and bar.closed
    assert all(set(p) >= {"loss", "ex/s", "tok/s"} for p in bar.postfixes)
    # before the first validation there is no metric; after it, the monitored one (val_loss)
    assert "val_loss" not in bar.postfixes[0] and bar.postfixes[-1]["val_loss"] == (
        f"{trainer.last_val['val_loss']:.4g}")  # fmt: skip
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in lines if "loss" in m]
    assert bar.postfixes[-2]["loss"] == f"{steps[-1]['loss']:.4g}"  # last step, then epoch end


def test_progress_bar_resumes_and_picks_metric(tmp_path):
    _trainer(tmp_path, [], max_steps=4, checkpoint_every=2).fit()
    RecordingBar.made = []
    trainer = _trainer(tmp_path, [ProgressBar(RecordingBar, metric="val_acc", items_label=None)])
    trainer.fit(resume=True)
    (bar,) = RecordingBar.made
    assert bar.kwargs["initial"] == 4 and bar.n == 9
    assert bar.postfixes[-1]["val_acc"] == "0.5" and "val_loss" not in bar.postfixes[-1]
    assert not any(k.endswith("/s") and k != "ex/s" for p in bar.postfixes for k in p)


def test_progress_bar_stays_silent_off_rank_0():
    made = []
    bar = ProgressBar(lambda **kw: made.append(kw))
    bar.on_train_start(SimpleNamespace(is_main=False))
    bar.on_step_end(SimpleNamespace(is_main=False, last_val={}), {"loss": 1.0})
    bar.on_train_end(SimpleNamespace(is_main=False))
    assert made == []
    with pytest.raises(TypeError, match="expected factory to be callable, got int"):
        ProgressBar(3)


def test_throughput_is_logged_per_window(tmp_path):
    _trainer(tmp_path, [], log_every=2, grad_accum=2).fit()
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in lines if "loss" in m]
    assert [m["step"] for m in steps] == [2, 4, 6]  # 3 batches -> 2 steps per epoch
    for m in steps:
        assert m["examples_per_s"] > 0
        assert m["items_per_s"] == pytest.approx(TOKENS_PER_EXAMPLE * m["examples_per_s"])


def test_the_bar_and_the_result_say_why_training_stopped(tmp_path):
    RecordingBar.made = []
    result = _trainer(tmp_path / "a", [ProgressBar(RecordingBar, desc="train")],
                      max_steps=4).fit()  # fmt: skip
    assert result["stopped"] == "max_steps" and RecordingBar.made[0].kwargs["desc"] == (
        "train (stopped: max_steps)")  # fmt: skip
    assert _trainer(tmp_path / "b", []).fit()["stopped"] == "max_epochs"
    result = _trainer(tmp_path / "c", [], patience=1, monitor="val_acc", mode="max").fit()
    assert result["stopped"] == "early_stopping" and result["epoch"] == 2  # val_acc flat


def test_a_time_budget_bar_fills_with_time_and_counts_steps(tmp_path):
    from seqattn.pipelines.translation import TimeBudget

    RecordingBar.made = []
    budget = TimeBudget(1e-9)  # spent at the first step
    bar = ProgressBar(RecordingBar, desc="train", budget_minutes=0.5)
    result = _trainer(tmp_path, [budget, bar]).fit()
    (made,) = RecordingBar.made
    assert made.kwargs["total"] == 30 and made.kwargs["unit"] == "s"
    assert made.postfixes[0]["step"] == "1/9"
    assert result["stopped"] == "time budget of 1e-09 min" and result["step"] == 1
    assert made.kwargs["desc"] == "train (stopped: time budget of 1e-09 min)"
    with pytest.raises(ValueError, match="expected budget_minutes > 0"):
        ProgressBar(budget_minutes=0)

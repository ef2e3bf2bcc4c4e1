"""The ``recall`` experiment: matched sizes, every mixer trains, tables and figures, configs."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from seqattn.experiments import recall
from seqattn.experiments.recall_models import (
    MIXERS,
    RecallModel,
    matched_width,
    parameter_count,
)


@pytest.mark.parametrize("mixer", MIXERS)
def test_every_mixer_is_causal(mixer):
    torch.manual_seed(0)
    model = RecallModel(mixer, vocab_size=11, dim=16, max_len=32).eval()
    x = torch.randint(11, (2, 12))
    y = x.clone()
    y[:, 7:] = (y[:, 7:] + 1) % 11  # change the future only
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (2, 12, 11)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_matched_width_is_the_closest_multiple_of_8():
    kw = {"vocab_size": 129, "layers": 2, "heads": 2, "max_len": 64}
    target = parameter_count(RecallModel("softmax_attention", dim=64, **kw))
    for mixer in MIXERS:
        d = matched_width(mixer, target, **kw)
        gap = abs(parameter_count(RecallModel(mixer, dim=d, **kw)) - target)
        for other in (d - 8, d + 8):
            if other >= 8:
                assert gap <= abs(parameter_count(RecallModel(mixer, dim=other, **kw)) - target)
        assert gap < 0.15 * target
    assert matched_width("softmax_attention", target, **kw) == 64
    assert matched_width("lstm", target, **kw) < 64 < matched_width("mingru", target, **kw)


def test_a_small_attention_model_learns_mqar():
    # the task is learnable in this setup: well above chance (1/64 values) in 300 steps
    cfg = recall.Config(tasks=("mqar",), models=("softmax_attention",), widths=(32,),
                        lengths=(32,), pair_every=8, num_keys=16, num_values=16, steps=300,
                        lr=3e-3, eval_examples=200, seeds=1)  # fmt: skip
    res = recall.train_cell(cfg, "mqar", "softmax_attention", 32, 32, 32, 0)
    assert res["accuracy"] > 0.5, res


def test_quick_run_writes_table_and_figures(tmp_path):
    cfg = recall.quick(recall.Config())
    cfg = dataclasses.replace(cfg, steps=5, widths=(16, 24), heads=2, eval_examples=16)
    res = recall.run(cfg, tmp_path)
    assert len(res["runs"]) == 2 * len(MIXERS) * 2
    rows = res["table"]
    assert {(r["task"], r["model"], r["width"]) for r in rows} == {
        (t, m, w) for t in recall.TASKS for m in MIXERS for w in (16, 24)
    }
    for r in rows:
        assert 0.0 <= r["accuracy_mean"] <= 1.0 and r["params"] > 0 and r["seeds"] == 1
    for p in res["figures"]:
        assert (tmp_path / p.split("/")[-1]).exists()
    assert [t.name for t in recall.tables(res)] == ["table_mqar", "table_selective_copy"]
    assert "| softmax_attention | 16 | 16 |" in recall.EXPERIMENT.table(res)
    json.dumps(res)


@pytest.mark.parametrize("change, message", [
    ({"models": ("transformer",)}, "models from"),
    ({"tasks": ()}, "tasks from"),
    ({"widths": (63,)}, "divisible by heads"),
    ({"lengths": (40,), "pair_every": 64}, "pair_every"),
    ({"lengths": (24,), "pair_every": 4}, "copy_tokens"),
])  # fmt: skip
def test_bad_configs_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        recall.Config(**change)


def test_positions_are_fixed_or_learned_and_only_for_attention():
    kw = {"vocab_size": 9, "dim": 16, "max_len": 20}
    fixed = RecallModel("softmax_attention", **kw)
    learned = RecallModel("softmax_attention", positions="learned", **kw)
    assert parameter_count(learned) - parameter_count(fixed) == 20 * 16
    assert RecallModel("mamba", **kw).pos is None
    with pytest.raises(ValueError, match="expected T <= 20"):
        fixed(torch.zeros(1, 21, dtype=torch.long))
    with pytest.raises(ValueError, match="positions"):
        RecallModel("linear_attention", positions="rotary", **kw)

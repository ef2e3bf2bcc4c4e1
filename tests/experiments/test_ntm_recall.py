"""The ``ntm-recall`` experiment at a tiny scale: every output it promises, the memory
initialisations, the scores, and bad configs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from seqattn.data.synthetic import associative_recall_batch
from seqattn.experiments import get, ntm_recall, ntm_tasks

TINY = dict(
    sequences=32, batch_size=8, controller_size=12, memory_slots=24, memory_width=5, seeds=1,
    eval_every=16, eval_size=10, generalisation_items=(6, 8), generalisation_size=4,
    compile=False,
)  # fmt: skip


def test_tiny_recall_run_writes_curves_ablation_views_and_table(tmp_path):
    cfg = ntm_recall.Config(**TINY)
    res = ntm_recall.run(cfg, tmp_path)
    kinds = [r["model"] for r in res["runs"]]
    assert kinds == ["ntm-constant", "ntm-learned", "ntm-random", "lstm"]
    by = {r["model"]: r for r in res["runs"]}
    assert [p["seen"] for p in by["ntm-constant"]["curve"]] == [16, 32]
    assert all(r["updates"] == 4 and r["nonfinite_losses"] == 0 for r in res["runs"])
    # the learned start adds M*W parameters; the LSTM gets about the NTM's count
    assert by["ntm-learned"]["params"] == by["ntm-constant"]["params"] + 24 * 5
    assert by["ntm-random"]["params"] == by["ntm-constant"]["params"]
    assert abs(by["lstm"]["params"] - by["ntm-constant"]["params"]) < 0.05 * 2000
    # costs are per sequence: 3 x 6 answer bits, chance is 18 bits
    for r in res["runs"]:
        assert 0 <= r["final_wrong_bits"] <= 18 and 0 < r["final_cost_bits"] < 60
        assert 0 < r["cost_bits_items8"] < 60
    assert set(res["init_slowdown_vs_constant"]) == {"learned", "random"}
    assert (tmp_path / "learning_curve.png").exists()
    assert sorted(p.split("/")[-1] for p in res["figures"][1:]) == [
        "heads_T32.png",
        "heads_T40.png",
    ]
    assert len(res["attention"]) == 4 and all(p.endswith(".html") for p in res["attention"])
    (table,) = ntm_recall.tables(res)
    headers = [c.header for c in table.columns]
    assert headers[-2:] == ["6 items", "8 items"] and "≤ 1 bits" in headers
    assert "| ntm-learned | 1 |" in get("ntm-recall").table(res)
    json.dumps(res)  # results.json must be plain JSON
    assert any("lstm_seed0_cost_bits" in m for m in res["metrics"])


def test_tiny_sort_run_has_no_generalisation_columns(tmp_path):
    cfg = ntm_recall.Config(task="priority-sort", sort_length=6, sort_outputs=4,
                            memory_inits=("constant",), **TINY)  # fmt: skip
    res = ntm_recall.run(cfg, tmp_path)
    assert [r["model"] for r in res["runs"]] == ["ntm-constant", "lstm"]
    assert not any(k.startswith("cost_bits_items") for k in res["table"][0])
    assert all(0 <= r["final_wrong_bits"] <= 4 * 8 for r in res["runs"])
    assert res["init_slowdown_vs_constant"] == {}
    assert [p.split("/")[-1] for p in res["figures"]] == ["learning_curve.png", "heads_T11.png"]


def test_memory_inits_change_the_start_memory_only():
    cfg = ntm_recall.Config(**TINY)
    models = {m: ntm_tasks.build_model(cfg, f"ntm-{m}", seed=3) for m in ntm_tasks.MEMORY_INITS}
    base = models["constant"].state_dict()
    for m in ("learned", "random"):
        sd = models[m].state_dict()
        assert all(torch.equal(sd[k], v) for k, v in base.items())  # same controller, heads
        start = models[m].cell.initial_state(2).memory
        assert start.shape == (2, 24, 5) and float(start.abs().max()) <= 1
    assert float(models["constant"].cell.initial_state(1).memory.max()) == pytest.approx(1e-6)
    learned, random = models["learned"].cell, models["random"].cell
    assert isinstance(learned.memory_start, torch.nn.Parameter)
    assert "memory_start" not in dict(random.named_parameters())
    assert 0.3 < float(random.memory_start.std()) < 0.5  # N(0, 0.5^2) truncated to +-1
    assert float(learned.memory_start.abs().max()) <= math.sqrt(6 / (1 + 24 * 5))
    # the learned start trains: a loss on the outputs reaches it
    x, y = associative_recall_batch(2, 3, generator=torch.Generator().manual_seed(0))
    logits = ntm_tasks.answer_logits(models["learned"], x, 3)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, y).backward()
    assert (
        learned.memory_start.grad is not None and float(learned.memory_start.grad.abs().sum()) > 0
    )
    # stepping the cell by hand (the training path) gives NTM.forward's answer logits
    with torch.no_grad():
        for model in models.values():
            full = model(x).logits[-3:]
            torch.testing.assert_close(ntm_tasks.answer_logits(model, x, 3), full)


def test_scores_in_bits_and_wrong_bits():
    class Fixed(torch.nn.Module):  # logits +-s on the target's bits (or flipped)
        def __init__(self, y, s):
            super().__init__()
            self.y, self.s = y, s

        def forward(self, x):
            out = torch.zeros(x.shape[0], *self.y.shape[1:])
            out[-self.y.shape[0] :] = (self.y * 2 - 1) * self.s
            return out

    x, y = associative_recall_batch(4, 3, generator=torch.Generator().manual_seed(1))
    right = ntm_tasks.scores(Fixed(y, 20.0), [(x, y)])
    assert right["wrong_bits"] == 0 and right["cost_bits"] < 1e-6
    wrong = ntm_tasks.scores(Fixed(y, -20.0), [(x, y)])
    assert wrong["wrong_bits"] == 18
    chance = ntm_tasks.scores(Fixed(y, 0.0), [(x, y)])  # p = 1/2 on every bit: 1 bit each
    assert chance["cost_bits"] == pytest.approx(18.0)


def test_config_errors():
    with pytest.raises(ValueError, match="expected task"):
        ntm_recall.Config(task="copy")
    with pytest.raises(ValueError, match="min_items <= max_items"):
        ntm_recall.Config(min_items=5, max_items=3)
    with pytest.raises(ValueError, match="memory_inits"):
        ntm_recall.Config(memory_inits=("zeros",))
    with pytest.raises(ValueError, match="threshold_bits > 0"):
        ntm_recall.Config(threshold_bits=0.0)
    with pytest.raises(ValueError, match="sort_outputs <= sort_length"):
        ntm_recall.Config(sort_outputs=30)


def test_compile_setting_leaves_the_lstm_baseline_eager():
    # compile=True compiles the NTM cell only; the baseline has none (a run once died here)
    cfg = ntm_recall.Config(**{**TINY, "compile": True, "sequences": 8})
    record, model = ntm_tasks.train_run(cfg, "lstm", 0, ntm_recall.held_out_set(cfg))
    assert record["updates"] == 1 and isinstance(model, ntm_tasks.CopyLSTM)

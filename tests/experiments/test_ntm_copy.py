"""The ``ntm-copy`` experiment at a tiny scale: every output it promises, and bad configs."""

from __future__ import annotations

import json

import pytest

from seqattn.experiments import ntm_copy
from seqattn.models.ntm import NTM


def test_tiny_run_writes_curves_views_and_table(tmp_path):
    cfg = ntm_copy.Config(
        sequences=48, batch_size=8, max_length=4, controller_size=16, memory_slots=16,
        memory_width=6, seeds=1, eval_every=16, eval_per_length=2,
        generalisation_lengths=(6,), generalisation_size=4, compile=False,
    )  # fmt: skip
    res = ntm_copy.run(cfg, tmp_path)
    ntm_run, lstm_run = res["runs"]
    assert (ntm_run["model"], lstm_run["model"]) == ("ntm", "lstm")
    assert ntm_run["curve_seen"] == [16, 32, 48] and ntm_run["updates"] == 6
    assert ntm_run["nonfinite_losses"] == 0
    # the baseline gets about the NTM's parameter count
    assert abs(lstm_run["params"] - ntm_run["params"]) < 0.05 * ntm_run["params"]
    # wrong bits are counts per sequence: between 0 and every bit of the answer
    assert 0 <= ntm_run["final_bits"] <= 4 * 8 and 0 <= ntm_run["bits_len6"] <= 6 * 8
    assert "median_bits_len6" in res["table"][0]
    assert (tmp_path / "learning_curve.png").exists() and (tmp_path / "ntm_copy_len4.png").exists()
    views = [p for p in res["attention"] if p.endswith(".html")]
    assert len(views) == 2 and all((tmp_path / p.split("/")[-1]).exists() for p in views)
    (table,) = ntm_copy.tables(res)
    assert [c.header for c in table.columns] == ["model", "runs", "params", "lengths 1-4",
                                                 "reached ≤ 0.1", "len 6"]  # fmt: skip
    assert [cells[:2] for cells in table.cells()] == [["NTM", "1"], ["LSTM", "1"]]
    assert "| NTM | 1 |" in ntm_copy.EXPERIMENT.table(res)
    json.dumps({k: v for k, v in res.items()})  # results.json must be plain JSON
    assert any("ntm_seed0_heldout_bits" in m for m in res["metrics"])


def test_wrong_bits_counts_bits():
    import torch

    from seqattn.data.synthetic.ntm_copy import ntm_copy_batch

    class Oracle(torch.nn.Module):  # answers the copy exactly (from the input), or flips it
        def __init__(self, flip: bool) -> None:
            super().__init__()
            self.flip = flip

        def forward(self, x):
            n = (x.shape[0] - 1) // 2
            out = torch.zeros(x.shape[0], x.shape[1], 8)
            out[-n:] = x[:n, :, :8]  # the answer phase repeats the input bits
            return (1 - out if self.flip else out) * 2 - 1  # logits: > 0 means bit 1

    batches = [ntm_copy_batch(4, n) for n in (1, 5)]
    assert ntm_copy.wrong_bits(Oracle(False), batches) == 0
    assert ntm_copy.wrong_bits(Oracle(True), batches) == (4 * 8 + 4 * 40) / 8


def test_lstm_matching_and_config_errors():
    ntm = NTM()
    n = sum(p.numel() for p in ntm.parameters())
    h = ntm_copy.lstm_matching(n, 9, 8)
    lstm = ntm_copy.CopyLSTM(9, h, 8)
    assert abs(sum(p.numel() for p in lstm.parameters()) - n) < 4 * (2 * h + 9)
    with pytest.raises(ValueError, match="min_length <= max_length"):
        ntm_copy.Config(min_length=5, max_length=2)
    with pytest.raises(ValueError, match="batch_size"):
        ntm_copy.Config(batch_size=0)
    with pytest.raises(ValueError, match="lr > 0"):
        ntm_copy.Config(lr=0.0)


@pytest.mark.slow
def test_worker_processes_give_the_same_runs(tmp_path):
    cfg = ntm_copy.Config(
        sequences=16, batch_size=8, max_length=3, controller_size=8, memory_slots=8,
        memory_width=4, seeds=2, baseline=False, eval_every=8, eval_per_length=2,
        generalisation_lengths=(5,), generalisation_size=2, compile=False,
    )  # fmt: skip
    one = ntm_copy.run(cfg, tmp_path / "one")
    two = ntm_copy.run(ntm_copy.Config(**{**cfg.__dict__, "workers": 2}), tmp_path / "two")
    for a, b in zip(one["runs"], two["runs"], strict=True):
        assert a["curve_bits"] == b["curve_bits"] and a["bits_len5"] == b["bits_len5"]


def test_a_nonfinite_loss_is_skipped_counted_and_training_goes_on(tmp_path, monkeypatch):
    import torch.nn.functional as F

    bce, calls = F.binary_cross_entropy_with_logits, []

    def second_is_nan(logits, y):  # the second training batch's loss is NaN
        calls.append(len(calls))
        loss = bce(logits, y)
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setattr(ntm_copy.F, "binary_cross_entropy_with_logits", second_is_nan)
    cfg = ntm_copy.Config(
        sequences=48, batch_size=8, max_length=4, controller_size=16, memory_slots=16,
        memory_width=6, seeds=1, baseline=False, eval_every=16, eval_per_length=2,
        generalisation_lengths=(6,), generalisation_size=4, compile=False,
    )  # fmt: skip
    (run,) = ntm_copy.run(cfg, tmp_path)["runs"]
    assert run["nonfinite_losses"] == 1 and len(calls) == 7  # 6 updates, one batch skipped
    assert run["updates"] == 6 and run["curve_seen"] == [16, 32, 48]
    assert all(b == b for b in run["curve_bits"])  # the NaN never reached the weights

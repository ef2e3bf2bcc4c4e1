"""The `clipping` and `tbptt` experiments at a tiny scale: the effects they exist to show."""

from __future__ import annotations

import json
import math

import pytest

from seqattn.experiments import clipping, tbptt_window


def test_clipping_bounds_the_identity_rnns_explosion(tmp_path):
    cfg = clipping.Config(
        length=30, steps=200, nonlinearities=("relu",), inits=("identity", "default"),
        seeds=1, eval_every=50, test_size=200,
    )  # fmt: skip
    res = clipping.run(cfg, tmp_path)
    rows = {(r["init"], r["clip"]): r for r in res["table"]}
    # IRNN without clipping: gradient norms explode by orders of magnitude over the default
    assert (
        rows[("identity", False)]["max_grad_norm"] > 30 * rows[("default", False)]["max_grad_norm"]
    )
    # with clipping the run stays finite
    assert rows[("identity", True)]["diverged"] == 0
    assert math.isfinite(rows[("identity", True)]["final_test_mse_mean"])
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) >= 4 and "test_mse" in json.loads(lines[0])
    assert (tmp_path / "test_mse.png").exists() and (tmp_path / "grad_norms.png").exists()
    (table,) = clipping.tables(res)
    assert table.title == f"Task: {res['task']}" and table.name == "table"
    headers = [c.header for c in table.columns]
    assert headers[:3] == ["nonlinearity", "init", "clipping"] and headers[6] == "diverged"
    cells = {tuple(row[:3]): row for row in table.cells()}
    assert cells[("relu", "identity", "yes")][6] == "0/1"
    assert set(cells) == {("relu", i, c) for i in ("identity", "default") for c in ("yes", "no")}
    assert clipping.table_text(res) == clipping.EXPERIMENT.table(res)


def test_tbptt_window_must_cover_the_delay(tmp_path):
    cfg = tbptt_window.Config(
        alphabet=4, delay=4, windows=(3, 12), epochs=30, stream_length=120, hidden_size=32,
        eval_streams=32,
    )  # fmt: skip
    res = tbptt_window.run(cfg, tmp_path)
    rows = {r["k2"]: r for r in res["table"]}
    assert rows[12]["accuracy_mean"] > 0.9  # k2 > d: learns to recall
    assert rows[3]["accuracy_mean"] < 0.6  # k2 < d: cannot learn to store
    # the memory an update keeps grows linearly with k2
    ratio = rows[12]["saved_mib_per_update"] / rows[3]["saved_mib_per_update"]
    assert 3 < ratio < 4.5
    assert rows[3]["updates"] == 30 * 40 and rows[12]["updates"] == 30 * 10
    assert (tmp_path / "tbptt_tradeoff.png").exists()
    (table,) = tbptt_window.tables(res)
    assert table.title.startswith("Task: streaming delayed recall: alphabet 4, delay d=4")
    assert [row[:2] for row in table.cells()] == [["3", "3"], ["12", "12"]]
    assert table.cells()[1][2] == f"{rows[12]['accuracy_mean']:.3f}"


def test_config_errors():
    with pytest.raises(ValueError, match="nonlinearities"):
        clipping.Config(nonlinearities=("sigmoid",))
    with pytest.raises(ValueError, match="k2 >= k1"):
        tbptt_window.Config(k1=8, windows=(4, 8))
    with pytest.raises(ValueError, match="delay < stream_length"):
        tbptt_window.Config(delay=600)

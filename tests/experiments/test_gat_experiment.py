"""The `gat` experiment at a tiny scale on the offline block graph; Cora when the data is there."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from seqattn.experiments import gat
from seqattn.viz import AttentionView


def test_tiny_cli_run_writes_results_attention_figures_and_report(tmp_path, capsys):
    from seqattn.cli.main import main

    args = ["dataset=sbm", "sbm_nodes=120", "seeds=2", "max_epochs=50", "patience=20", "heads=4"]
    code = main(["run", "gat", "--out", str(tmp_path), *[a for kv in args for a in ("--set", kv)]])
    assert code == 0
    assert "| sbm | 2 |" in capsys.readouterr().out
    assert (tmp_path / "report.html").exists()
    res = json.loads((tmp_path / "results.json").read_text())["results"]
    assert res["seeds"] == 2 and len(res["runs"]) == 2
    assert res["test_acc_mean"] > 60  # 3 classes: chance is 33%
    for r in res["runs"]:
        assert 1 <= r["kept_epoch"] <= r["epochs"] <= 50
        assert r["cpu_seconds"] > 0 and r["ms_per_epoch"] > 0 and r["cpu_ms_per_epoch"] > 0
    # every edge of both layers, per head, in the CSV; each node's weights sum to 1
    with open(res["attention_csv"]) as f:
        rows = list(csv.DictReader(f))
    edges = res["edges"] + res["nodes"]  # + one self-loop per node
    assert len(rows) == edges * (4 + 1)
    sums: dict[tuple[str, str, str], float] = {}
    for row in rows:
        key = (row["layer"], row["dst"], row["head"])
        sums[key] = sums.get(key, 0.0) + float(row["alpha"])
    assert len(sums) == res["nodes"] * (4 + 1)
    assert all(abs(v - 1) < 1e-4 for v in sums.values())
    # the entropy summary: never above uniform, per layer
    assert [e["layer"] for e in res["entropy"]] == [1, 2]
    for e in res["entropy"]:
        assert 0 < e["mean_entropy"] <= e["mean_uniform_entropy"] + 1e-6
        assert 0 < e["entropy_ratio"] <= 1 + 1e-6
    assert len(res["figures"]) == 3
    for fig in res["figures"]:
        assert (tmp_path / fig.split("/")[-1]).stat().st_size > 1000
    views = [AttentionView(**v) for v in res["attention"]]
    assert [v.kind for v in views] == ["multihead", "multihead"]
    assert views[0].weights.shape[0] == 4 and views[1].weights.shape[0] == 1
    torch.testing.assert_close(
        torch.tensor(views[0].weights.sum(-1)), torch.ones(4, 1, dtype=torch.float64)
    )
    assert res["metrics"][0]["step"] == 1 and "val_loss" in res["metrics"][0]
    summary, per_seed, entropy = gat.tables(res)
    assert summary.cells()[0][:2] == ["sbm", "2"] and summary.cells()[0][3] == "n/a"
    assert [cells[0] for cells in per_seed.cells()] == ["0", "1"]
    assert [c.header for c in entropy.columns][:2] == ["layer", "heads"]
    assert [cells[:2] for cells in entropy.cells()] == [["1", "4"], ["2", "1"]]
    assert "| layer | heads |" in gat.EXPERIMENT.table(res)


def test_row_normalize_keeps_zero_rows():
    x = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    assert gat.row_normalize(x).tolist() == [[0.25, 0.75], [0.0, 0.0]]


def test_attention_entropy_of_uniform_and_peaked():
    edge_index = torch.tensor([[0, 1, 2, 0, 1], [2, 2, 2, 1, 1]])
    alpha = torch.tensor([[1 / 3], [1 / 3], [1 / 3], [1.0], [0.0]], dtype=torch.float64)
    entropy, uniform = gat.attention_entropy(edge_index, alpha, 3)
    torch.testing.assert_close(entropy[:, 0], torch.tensor([0.0, 0.0, 1.0986], dtype=torch.float64),
                               atol=1e-4, rtol=0)  # fmt: skip
    torch.testing.assert_close(
        uniform, torch.log(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    )


def test_config_errors():
    with pytest.raises(ValueError, match="expected dataset in"):
        gat.Config(dataset="pubmedx")
    with pytest.raises(ValueError, match=r"expected dropout in \[0, 1\), got 1.5"):
        gat.Config(dropout=1.5)
    with pytest.raises(ValueError, match="expected patience to be a positive int, got 0"):
        gat.Config(patience=0)
    with pytest.raises(ValueError, match=r"expected focus_node in \[0, 89\], got 500"):
        gat.run(gat.Config(dataset="sbm", sbm_nodes=90, seeds=1, max_epochs=2, focus_node=500),
                "/nonexistent-not-written")  # fmt: skip


@pytest.mark.data
@pytest.mark.slow
def test_cora_one_seed_reaches_the_papers_range(data_dir, tmp_path):
    res = gat.run(gat.Config(dataset="cora", seeds=1), tmp_path)
    assert res["nodes"] == 2708 and res["edges"] == 10556
    assert res["test_acc_mean"] > 80.0  # paper: 83.0 ± 0.7


def test_early_stopping_is_the_authors_rule():
    """Reset on accuracy >= best OR loss <= best; save only when both; stop after `patience`
    epochs with neither (PetarV-/GAT execute_cora.py)."""
    stopper = gat.EarlyStopping(patience=3)
    epochs = [
        ((0.50, 1.00), (True, False)),  # both best: save
        ((0.60, 1.10), (False, False)),  # accuracy up, loss up: reset, no save
        ((0.55, 0.90), (False, False)),  # loss down, accuracy below best: reset, no save
        ((0.60, 0.90), (True, False)),  # ties on both count as best: save
        ((0.59, 0.95), (False, False)),  # neither: wait 1
        ((0.58, 0.91), (False, False)),  # wait 2
        ((0.60, 0.92), (False, False)),  # accuracy ties the best: reset, loss worse: no save
        ((0.50, 1.00), (False, False)),  # wait 1
        ((0.50, 1.00), (False, False)),  # wait 2
        ((0.50, 1.00), (False, True)),  # wait 3 = patience: stop
    ]
    for (acc, loss), expected in epochs:
        assert stopper.step(acc, loss) == expected
    assert (stopper.best_acc, stopper.best_loss) == (0.60, 0.90)


def test_authors_style_reaches_the_model_and_learns():
    cfg = gat.Config(dataset="sbm", sbm_nodes=90, seeds=1, max_epochs=30, patience=10, heads=2,
                     dropout_style="authors", attention_bias=True, init="authors")  # fmt: skip
    record, model, curve = gat.train_one(cfg, gat.load_graph(cfg), seed=0)
    assert all(m.dropout_style == "authors" and m.att_src_bias is not None for m in model.layers)
    assert record["test_acc"] > 0.5 and len(curve) == record["epochs"]  # 3 classes: chance 1/3
    with pytest.raises(ValueError, match=r"expected dropout_style in \(.*\), got 'tf'"):
        gat.Config(dropout_style="tf")

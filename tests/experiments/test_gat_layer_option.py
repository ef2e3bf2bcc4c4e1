"""The gat experiment's layer (gat | gatv2), residual and norm options, on the offline graph."""

from __future__ import annotations

import json

import pytest

from seqattn.experiments import gat
from seqattn.nn.graph import GATConv, GATv2Conv

# GATv2 starts slower at lr 0.005 (30 epochs, patience 10 stop it at chance): 60 and 30.
TINY = dict(dataset="sbm", sbm_nodes=90, seeds=1, max_epochs=60, patience=30, heads=2)


def test_gatv2_runs_through_the_experiment_on_sparse_features(tmp_path):
    from seqattn.cli.main import main

    args = [f"{k}={v}" for k, v in TINY.items()] + ["layer=gatv2"]
    code = main(["run", "gat", "--out", str(tmp_path), *[a for kv in args for a in ("--set", kv)]])
    assert code == 0
    res = json.loads((tmp_path / "results.json").read_text())["results"]
    assert res["layer"] == "gatv2" and res["paper_test_acc"] is None  # GAT's paper, not GATv2's
    assert res["test_acc_mean"] > 50  # 3 classes: chance is 33%
    assert [e["heads"] for e in res["entropy"]] == [2, 1]


def test_the_authors_options_stay_with_gat():
    cfg = gat.Config(**TINY, layer="gatv2")  # the defaults: the authors' dataflow, init, bias
    mc = cfg.model_config(5, 3)
    assert (mc.layer, mc.dropout_style, mc.attention_bias, mc.init) == (
        "gatv2",
        "pyg",
        False,
        "pyg",
    )
    default = gat.Config(**TINY).model_config(5, 3)
    got = (default.layer, default.dropout_style, default.attention_bias, default.init)
    assert got == ("gat", "authors", True, "authors")
    assert (default.residual, default.norm) == (False, "none")
    with pytest.raises(ValueError, match=r"expected layer in \('gat', 'gatv2'\), got 'gcn'"):
        gat.Config(layer="gcn")
    with pytest.raises(ValueError, match=r"expected norm in .*, got 'rms'"):
        gat.Config(norm="rms")


@pytest.mark.parametrize("layer", ["gat", "gatv2"])
def test_residual_and_norm_reach_the_model_and_learn(layer):
    cfg = gat.Config(**TINY, layer=layer, residual=True, norm="layer")
    record, model, curve = gat.train_one(cfg, gat.load_graph(cfg), seed=0)
    kind = GATConv if layer == "gat" else GATv2Conv
    assert all(isinstance(m, kind) for m in model.layers)
    assert model.residuals is not None and len(model.norms) == 1
    assert record["test_acc"] > 0.5 and len(curve) == record["epochs"]

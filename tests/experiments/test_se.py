"""The `se` experiment: cost accounting, the excitation statistics, a tiny run, the budget."""

from __future__ import annotations

import json
import math

import pytest
import torch

from seqattn.experiments import se
from seqattn.models.se_resnet import SEResNet, SEResNetConfig


def _fake_fashion(split, root=None):
    # Stand-in for load_fashion_mnist: uint8 (N, 28, 28) with a class-dependent bright row.
    n = 96 if split == "train" else 60
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 60, (n, 28, 28), generator=gen, dtype=torch.uint8)
    images[torch.arange(n), 2 + 2 * labels] = 250
    return images, labels


def test_count_macs_equals_the_analytic_count():
    model = SEResNet(SEResNetConfig(se_reduction=16))
    cfg = model.config

    def conv(cin, cout, size, k=3):
        return cin * cout * k * k * size * size

    size, cin, expected = 28, 16, conv(1, 16, 28)
    for i, width in enumerate(cfg.widths):
        for j in range(cfg.blocks_per_stage):
            if i > 0 and j == 0:
                size //= 2
            expected += conv(cin, width, size) + conv(width, width, size)
            expected += 2 * width * cfg.squeeze_width(width)  # the two SE FCs
            cin = width
    expected += 64 * 10  # classifier
    assert se.count_macs(model, torch.randn(1, 1, 28, 28)) == expected
    assert model.training  # restored
    # pooling + scaling: 2 C H W per block
    assert se.se_elementwise_ops(model) == 3 * 2 * (16 * 28 * 28 + 32 * 14 * 14 + 64 * 7 * 7)
    assert se.se_elementwise_ops(SEResNet(SEResNetConfig(se_reduction=None))) == 0


def test_class_specificity_extremes():
    labels = torch.arange(200) % 4
    by_class = torch.tensor([[0.1, 0.9], [0.3, 0.7], [0.5, 0.5], [0.9, 0.1]]).double()[labels]
    assert se.class_specificity(by_class, labels, 4) == pytest.approx(1.0)
    torch.testing.assert_close(se.class_means(by_class, labels, 4)[:, 0].double(),
                               torch.tensor([0.1, 0.3, 0.5, 0.9], dtype=torch.float64))  # fmt: skip
    # the same distribution in every class: class-agnostic
    noise = torch.rand(50, 3).repeat(4, 1)  # rows i and i + 50k identical
    same = torch.arange(200) // 50
    assert se.class_specificity(noise, same, 4) == pytest.approx(0.0, abs=1e-12)
    assert se.class_specificity(torch.full((8, 2), 0.5), torch.arange(8) % 2, 2) == 0.0


def test_tiny_run(tmp_path, monkeypatch):
    monkeypatch.setattr(se, "load_fashion_mnist", _fake_fashion)
    cfg = se.Config(train_size=64, test_size=60, epochs=1, batch_size=32, seeds=1,
                    reductions=(4,), extra_reductions=(32,), eval_batch_size=30)  # fmt: skip
    res = se.run(cfg, tmp_path)
    rows = {r["variant"]: r for r in res["table"]}
    assert list(rows) == ["plain", "SE r=4", "SE r=32"]
    plain, r4 = rows["plain"], rows["SE r=4"]
    extra = SEResNet(SEResNetConfig(se_reduction=4)).se_parameter_overhead()
    assert r4["params"] - plain["params"] == extra
    assert r4["param_overhead_pct"] == pytest.approx(100 * extra / plain["params"])
    assert 0 < r4["mac_overhead_pct"] < 0.1  # the FCs are tiny next to the convolutions
    assert rows["SE r=32"]["params"] < r4["params"]
    for r in res["runs"]:
        assert 0 <= r["test_acc"] <= 1 and r["train_cpu_s"] > 0
    assert res["runs"][2]["squeeze_widths"]["stage1.block1"] == 1  # clamped at r = 32
    assert res["skipped"] == []
    spec = res["specificity"]
    assert len(spec) == 2 * 9 and all(0 <= s["class_specificity"] <= 1 for s in spec)
    for name in ("excitations_by_class.png", "class_specificity.png", "train_loss.png"):
        assert (tmp_path / name).stat().st_size > 1000
    variants, by_block = se.tables(res)
    assert [cells[:2] for cells in variants.cells()] == [["plain", "1"], ["SE r=4", "1"],
                                                         ["SE r=32", "1"]]  # fmt: skip
    assert variants.cells()[0][3] == "—" and variants.title.startswith("Task: Fashion-MNIST")
    assert [c.header for c in by_block.columns] == ["block", "SE r=32", "SE r=4"]
    assert [cells[0] for cells in by_block.cells()][-1] == "stage3.block3"
    assert "| SE r=4 | 1 |" in se.EXPERIMENT.table(res)
    json.dumps(res)  # results.json must be able to hold it (no tensors left)
    assert not any(k.startswith("_") for r in res["runs"] for k in r)


def test_budget_skips_the_least_important_jobs(tmp_path, monkeypatch):
    monkeypatch.setattr(se, "load_fashion_mnist", _fake_fashion)
    cfg = se.Config(train_size=32, test_size=20, epochs=1, batch_size=32, seeds=2,
                    reductions=(8,), extra_reductions=(), budget_minutes=1e-6)  # fmt: skip
    res = se.run(cfg, tmp_path)
    assert [(r["reduction"], r["seed"]) for r in res["runs"]] == [(None, 0)]
    assert [(s["reduction"], s["seed"]) for s in res["skipped"]] == [(8, 0), (None, 1), (8, 1)]
    (variants,) = se.tables(res)  # no SE run: no specificity table
    assert variants.notes == [
        f"Skipped (over the wall-clock budget): r={r}, seed {s}" for r, s in ((8, 0), (None, 1),
                                                                               (8, 1))
    ]  # fmt: skip
    assert "Skipped (over the wall-clock budget): r=8, seed 0" in se.EXPERIMENT.table(res)
    assert math.isfinite(res["table"][0]["test_acc_mean"])


def test_quick_and_config_errors():
    q = se.quick(se.Config())
    assert (q.seeds, q.epochs, q.train_size, q.reductions) == (1, 1, 800, (16,))
    with pytest.raises(ValueError, match="dataset"):
        se.Config(dataset="cifar10")
    with pytest.raises(ValueError, match="train_size <= 60000"):
        se.Config(train_size=70000)
    with pytest.raises(ValueError, match="reductions as ints >= 1"):
        se.Config(reductions=(0,))
    with pytest.raises(ValueError, match="plot_blocks"):
        se.Config(plot_blocks=("stage4.block1",))


@pytest.mark.data
@pytest.mark.slow
def test_quick_config_on_real_data(tmp_path, data_dir):
    cfg = se.quick(se.Config(data_dir=str(data_dir)))
    res = se.run(cfg, tmp_path)
    assert len(res["runs"]) == 3 and res["runs"][0]["test_acc"] > 0.1

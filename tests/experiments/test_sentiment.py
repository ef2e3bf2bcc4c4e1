"""The sentiment experiment at toy scale: probe mode and a real-data-style CSV."""

from __future__ import annotations

import csv
import random

import pytest

from seqattn.experiments import sentiment


def test_probe_attention_remembers_every_position(tmp_path):
    cfg = sentiment.Config(
        models=("lstm:last", "lstm:attention"), lengths=(30,), seeds=1, train_size=1000,
        val_size=200, test_size=400, epochs=6, position_bins=5, hidden_size=32, embed_dim=32,
        lr=5e-3,
    )  # fmt: skip
    res = sentiment.run(cfg, tmp_path)
    rows = {r["model"]: r for r in res["table"]}
    assert rows["lstm:attention"]["accuracy_mean"] > 0.95
    assert rows["lstm:attention"]["accuracy_min_bin"] > 0.9
    assert len(rows["lstm:last"]["accuracy_by_position"]) == 5
    # the heat maps: one early-word example plus disagreements, over the token names
    views = res["attention"]
    assert views and abs(sum(views[0]["weights"]) - 1) < 1e-5
    assert len(views[0]["weights"]) == len(views[0]["keys"]) == 30
    assert any(k.startswith(("POS", "NEG")) for k in views[0]["keys"])
    assert (tmp_path / "accuracy_by_position.png").exists()
    assert "| probe T=30 | lstm:attention |" in sentiment.table_text(res)


def test_csv_dataset_reports_accuracy_by_length(tmp_path):
    rng = random.Random(0)
    filler = ["the", "a", "movie", "plot", "was", "and", "it", "of", "scenes", "actors", "some"]
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(600):
            label = rng.randint(0, 1)
            words = [rng.choice(filler) for _ in range(rng.randint(3, 30))]
            words.insert(rng.randrange(len(words)), "great" if label else "awful")
            w.writerow([" ".join(words), label])
    cfg = sentiment.Config(
        dataset=str(path), models=("gru:attention",), seeds=1, epochs=4, hidden_size=32,
        embed_dim=32, min_freq=1, length_buckets=(10, 20),
    )  # fmt: skip
    res = sentiment.run(cfg, tmp_path)
    (row,) = res["table"]
    assert row["accuracy_mean"] > 0.9
    assert len(row["accuracy_by_length"]) == 3 and res["length_buckets"] == ["1-10", "11-20", ">20"]
    assert res["attention"][0]["keys"][:3] == ["i", "love", "how"]  # the seed's long input
    assert "len 11-20" in sentiment.table_text(res)


def test_config_errors():
    with pytest.raises(ValueError, match="encoder:head"):
        sentiment.Config(models=("lstm-attention",))
    with pytest.raises(ValueError, match="expected dataset"):
        sentiment.Config(dataset="mnist")

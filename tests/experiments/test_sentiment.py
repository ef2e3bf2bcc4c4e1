"""The sentiment experiment at toy scale: probe mode and a real-data-style CSV."""

from __future__ import annotations

import csv
import dataclasses
import logging
import random
from pathlib import Path

import pytest
import yaml

from seqattn.experiments import sentiment


def _model(**changes):
    """The experiment's classifier options with ``changes``."""
    return dataclasses.replace(sentiment.default_model(), **changes)


def test_probe_attention_remembers_every_position(tmp_path):
    cfg = sentiment.Config(
        models=("lstm:last", "lstm:attention"), lengths=(30,), seeds=1, train_size=1000,
        val_size=200, test_size=400, epochs=6, position_bins=5,
        model=_model(hidden_size=32, embed_dim=32), lr=5e-3,
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
    (table,) = sentiment.tables(res)
    assert ["probe T=30", "lstm:attention"] in [cells[:2] for cells in table.cells()]
    assert [c.header for c in table.columns][-2:] == ["first 10%", "worst bin"]
    assert "| probe T=30 | lstm:attention |" in sentiment.EXPERIMENT.table(res)


def _reviews_csv(path, n=600, seed=0):
    rng = random.Random(seed)
    filler = ["the", "a", "movie", "plot", "was", "and", "it", "of", "scenes", "actors", "some"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(n):
            label = rng.randint(0, 1)
            words = [rng.choice(filler) for _ in range(rng.randint(3, 30))]
            words.insert(rng.randrange(len(words)), "great" if label else "awful")
            w.writerow([" ".join(words), label])
    return path


def test_csv_dataset_reports_accuracy_by_length(tmp_path):
    path = _reviews_csv(tmp_path / "reviews.csv")
    cfg = sentiment.Config(
        dataset=str(path), models=("gru:attention",), seeds=1, epochs=4,
        model=_model(hidden_size=32, embed_dim=32), min_freq=1, length_buckets=(10, 20),
    )  # fmt: skip
    res = sentiment.run(cfg, tmp_path)
    (row,) = res["table"]
    assert row["accuracy_mean"] > 0.9
    assert len(row["accuracy_by_length"]) == 3 and res["length_buckets"] == ["1-10", "11-20", ">20"]
    assert res["attention"][0]["keys"][:3] == ["i", "love", "how"]  # the seed's long input
    _, by_length = sentiment.tables(res)
    assert [c.header for c in by_length.columns] == ["task", "model", "len 1-10", "len 11-20",
                                                     "len >20"]  # fmt: skip
    assert by_length.cells()[0][:2] == [row["task"], "gru:attention"]


@pytest.mark.parametrize("freeze", [True, False])
def test_pretrained_embeddings_initialise_the_table(tmp_path, freeze):
    data = _reviews_csv(tmp_path / "reviews.csv", n=300)
    vectors = {"great": [1.0, 0.5, -0.5, 0.25], "awful": [-1.0, -0.5, 0.5, -0.25],
               "movie": [0.1, 0.2, 0.3, 0.4], "unrelated": [9.0, 9.0, 9.0, 9.0]}  # fmt: skip
    vec_path = tmp_path / "vectors.txt"
    vec_path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    cfg = sentiment.Config(
        dataset=str(data), models=("gru:attention",), seeds=1, epochs=2,
        model=_model(hidden_size=16, embed_dim=32, freeze_embeddings=freeze), min_freq=1,
        embeddings=str(vec_path),
    )  # fmt: skip
    task = sentiment._text_task(cfg)
    r = sentiment.train_model(cfg, task, "gru", "attention", seed=0)
    table = r["model"].embedding.weight
    assert table.shape == (task.vocab_size, 4)  # the vectors' dimension, not embed_dim
    assert table.requires_grad is not freeze
    great = table[task.vocab.stoi["great"]]
    if freeze:  # the pretrained rows are kept exactly
        assert great.tolist() == vectors["great"]
    else:  # fine-tuned from them
        assert not great.equal(great.new_tensor(vectors["great"]))
        assert (great - great.new_tensor(vectors["great"])).abs().max() < 0.5
    assert 0.0 <= r["accuracy"] <= 1.0


def test_config_errors():
    with pytest.raises(ValueError, match="encoder:head"):
        sentiment.Config(models=("lstm-attention",))
    with pytest.raises(ValueError, match="expected dataset"):
        sentiment.Config(dataset="mnist")
    with pytest.raises(ValueError, match="real dataset with embeddings"):
        sentiment.Config(embeddings="vectors.txt")
    with pytest.raises(FileNotFoundError, match="vectors file, got '/nowhere/v.txt'"):
        sentiment.Config(dataset="sst2", embeddings="/nowhere/v.txt")


def _rated_examples(n: int, seed: int = 0):
    """Texts whose rating is the sum of word polarities: a regression target with a sign."""
    from seqattn.data.datasets import TextExample

    rng = random.Random(seed)
    polar = {"great": 2.0, "good": 1.0, "bad": -1.0, "awful": -2.0}
    filler = ["the", "a", "movie", "plot", "was", "and", "it", "of", "scenes"]
    out = []
    while len(out) < n:
        words = [rng.choice(filler) for _ in range(rng.randint(3, 12))]
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(list(polar)))
        score = sum(polar.get(w, 0.0) for w in words)
        if score:
            out.append(TextExample(" ".join(words), int(score > 0), id=str(len(out)), score=score))
    return out


@pytest.mark.parametrize("objective", ["label", "rating"])
def test_cross_validation_with_ratings(tmp_path, monkeypatch, objective):
    examples = _rated_examples(500)
    monkeypatch.setattr(sentiment, "_load_examples", lambda cfg: (examples, None, None))
    cfg = sentiment.Config(
        dataset="vader-tweets", models=("gru:attention",), seeds=1, folds=3, epochs=5,
        model=_model(hidden_size=32, embed_dim=32), min_freq=1, objective=objective, lr=5e-3,
    )  # fmt: skip
    res = sentiment.run(cfg, tmp_path)
    (row,) = res["table"]
    assert row["runs"] == 3 and row["task"] == "vader-tweets (3-fold CV)"
    assert [d["test"] for d in res["data"]] == [167, 167, 166]  # every example tested once
    assert sum(row["count_by_length"]) == 500
    assert row["accuracy_mean"] > 0.85
    assert row["pearson_r_mean"] > (0.8 if objective == "rating" else 0.5)
    table, _ = sentiment.tables(res)
    assert table.columns[-1].header == "Pearson r (mean ± std)"
    assert table.notes == [
        "Reference: VADER lexicon (Hutto & Gilbert 2014), Pearson r = 0.881 with the mean human "
        "rating."
    ]
    assert "Pearson r" in sentiment.table_text(res)


def test_folds_partition_the_data():
    items = list(range(103))
    tests = [sentiment._fold(items, 5, k, seed=1)[1] for k in range(5)]
    assert sorted(x for t in tests for x in t) == items
    train, test = sentiment._fold(items, 5, 2, seed=1)
    assert not set(train) & set(test) and len(train) + len(test) == 103


def test_cv_and_rating_config_errors():
    with pytest.raises(ValueError, match="folds"):
        sentiment.Config(dataset="sst2", folds=5)
    with pytest.raises(ValueError, match="folds"):
        sentiment.Config(dataset="vader-tweets", folds=1)
    with pytest.raises(ValueError, match="objective"):
        sentiment.Config(dataset="vader-tweets", objective="regression")
    with pytest.raises(ValueError, match="ratings"):
        sentiment.Config(objective="rating")


def test_bucketed_training_batches_cover_every_example_once():
    import torch

    split = sentiment.Split([torch.ones(n, dtype=torch.long) for n in range(1, 301)],
                            torch.zeros(300, dtype=torch.long))  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    idx = [i for b, *_ in sentiment._batches(split, 8, gen, bucket=True) for i in b]
    assert sorted(idx) == list(range(300))


def test_early_stopping_keeps_the_best_validation_weights():
    cfg = sentiment.Config(models=("lstm:mean",), lengths=(12,), seeds=1, train_size=200,
                           val_size=100, test_size=50, epochs=6, patience=1,
                           model=_model(hidden_size=8, embed_dim=8))  # fmt: skip
    task = sentiment._probe_task(cfg, 12)
    r = sentiment.train_model(cfg, task, "lstm", "mean", seed=0)
    assert 1 <= r["best_epoch"] <= r["epochs_run"] <= min(cfg.epochs, r["best_epoch"] + 1)
    val = float((sentiment.predict(r["model"], task.val) == task.val.labels).float().mean())
    assert val == r["val_accuracy"]  # the model ends with its best epoch's weights
    assert r["train_seconds"] > 0 and r["examples_per_s"] > 0


# -- the nested config: model options under ``model``, old flat keys still read ---------------
FIXTURES = Path(__file__).parents[1] / "fixtures" / "flat_configs"


def test_flat_config_files_of_older_runs_still_load(caplog):
    """config.yaml files written before the model options were nested (fixtures)."""
    from seqattn.config import load_config

    with caplog.at_level(logging.WARNING, logger="seqattn.config"):
        quick = load_config(sentiment.Config, FIXTURES / "sentiment_quick.yaml")
    assert quick == sentiment.quick(sentiment.Config())
    assert "'hidden_size' -> 'model.hidden_size'" in caplog.text
    assert load_config(sentiment.Config, FIXTURES / "sentiment_default.yaml") == sentiment.Config()
    flat = yaml.safe_load((FIXTURES / "sentiment_default.yaml").read_text())
    assert sentiment.Config.from_dict(flat) == sentiment.Config()  # the one conversion
    assert sentiment.Config.from_dict(sentiment.Config().to_dict()) == sentiment.Config()


def test_nested_overrides_and_files(tmp_path, caplog):
    from seqattn.config import ConfigError, load_config, save_config
    from seqattn.experiments.runner import resolve_config

    cfg = resolve_config("sentiment", overrides=["model.hidden_size=256", "model.num_layers=2"])
    assert (cfg.model.hidden_size, cfg.model.num_layers, cfg.model.embed_dim) == (256, 2, 64)
    (tmp_path / "c.yaml").write_text("model:\n  dropout: 0.5\nepochs: 2\n")
    cfg = load_config(sentiment.Config, tmp_path / "c.yaml", ["model.embed_dim=32"])
    assert cfg.model == _model(dropout=0.5, embed_dim=32) and cfg.epochs == 2
    assert load_config(sentiment.Config, save_config(cfg, tmp_path / "again.yaml")) == cfg
    with caplog.at_level(logging.WARNING, logger="seqattn.config"):  # the old flat key
        old = resolve_config("sentiment", overrides=["hidden_size=128"])
    assert old.model.hidden_size == 128
    assert "deprecated config keys in overrides" in caplog.text
    assert "'hidden_size' -> 'model.hidden_size'" in caplog.text
    with pytest.raises(
        ConfigError,
        match=r"unknown config key model\.'hiden_size'; did you "
        r"mean model\.'hidden_size'\? \(valid keys: dropout, embed_dim, ",
    ):
        resolve_config("sentiment", overrides=["model.hiden_size=3"])
    with pytest.raises(ConfigError, match=r"did you mean 'model\.hidden_size'"):
        resolve_config("sentiment", overrides=["hiden_size=3"])
    with pytest.raises(
        ConfigError,
        match=r"model\.encoder to stay 'lstm' \(each entry of "
        r"models names them, e.g. models=\[gru:attention\]\), got 'gru'",
    ):
        resolve_config("sentiment", overrides=["model.encoder=gru"])
    with pytest.raises(ConfigError, match=r"model\.max_length to stay 400 .*max_tokens"):
        resolve_config("sentiment", overrides=["model.max_length=50"])
    with pytest.raises(ConfigError, match=r"model\.hidden_size: expected an int, got str"):
        resolve_config("sentiment", overrides=["model.hidden_size=big"])


def test_the_old_flat_constructor_and_attributes_still_work():
    with pytest.warns(DeprecationWarning, match=r"pass model=\.\.\. instead"):
        cfg = sentiment.Config(hidden_size=16, freeze_embeddings=True)
    assert cfg == sentiment.Config(model=_model(hidden_size=16, freeze_embeddings=True))
    with pytest.warns(DeprecationWarning, match=r"read \.model\.hidden_size"):
        assert cfg.hidden_size == 16


def test_runs_use_the_nested_model_options():
    cfg = sentiment.Config(models=("gru:max",), lengths=(12,), seeds=1, train_size=64,
                           val_size=32, test_size=32, epochs=1,
                           model=_model(hidden_size=6, embed_dim=5, num_layers=2))  # fmt: skip
    task = sentiment._probe_task(cfg, 12)
    mcfg = sentiment.train_model(cfg, task, "gru", "max", seed=0)["model"].config
    assert (mcfg.hidden_size, mcfg.embed_dim, mcfg.num_layers, mcfg.dropout) == (6, 5, 2, 0.1)
    assert (mcfg.encoder, mcfg.head, mcfg.max_length) == ("gru", "max", 12)
    assert (mcfg.vocab_size, mcfg.num_classes) == (task.vocab_size, task.num_classes)

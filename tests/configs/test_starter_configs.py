"""configs/: the starter YAML files load, and each `seqattn run` starter is its experiment's
defaults (so a changed default cannot leave a stale starter behind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqattn import experiments
from seqattn.cli.main import main
from seqattn.config import config_to_dict, load_config
from seqattn.pipelines.classification_config import TextClassifierConfig
from seqattn.pipelines.translation_config import TranslationConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_every_experiment_has_a_starter_equal_to_its_defaults(name):
    path = CONFIGS / "run" / f"{name}.yaml"
    assert path.is_file(), f"no starter {path}: seqattn run {name} --print-config > {path}"
    exp = experiments.get(name)
    loaded = experiments.resolve_config(exp, config_file=path)
    assert config_to_dict(loaded) == config_to_dict(exp.config_cls()), (
        f"{path} is not the defaults any more: seqattn run {name} --print-config > {path}"
    )


@pytest.mark.parametrize(
    "path, cls",
    [(p, TranslationConfig) for p in sorted((CONFIGS / "translate").glob("*.yaml"))]
    + [(p, TextClassifierConfig) for p in sorted((CONFIGS / "classify").glob("*.yaml"))],
    ids=lambda v: v.name if isinstance(v, Path) else "",
)
def test_train_starters_load(path, cls):
    cfg = load_config(cls, path)
    assert cfg != cls(), f"{path} changes nothing"
    head = path.read_text(encoding="utf-8").split("\n\n")[0]
    assert f"--config configs/{path.parent.name}/{path.name}" in head  # says how to use it


def test_there_are_the_documented_starters():
    assert {p.stem for p in (CONFIGS / "translate").glob("*.yaml")} >= {
        "multi30k-bahdanau", "multi30k-luong", "multi30k-transformer"}  # fmt: skip
    assert (CONFIGS / "classify" / "bilstm-attention.yaml").is_file()


def _csv(path: Path) -> Path:
    rows = [f"good fine film {i},pos\nbad dull film {i},neg" for i in range(12)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_train_classify_config_then_flags_then_set(tmp_path, capsys):
    """--config gives the values, a flag wins over it, --set wins over both."""
    import json

    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {hidden_size: 12, embed_dim: 6}\nepochs: 3\nlr: 0.01\n")
    args = ["train", "classify", "--train", str(_csv(tmp_path / "t.csv")), "--config", str(cfg)]
    args += ["--epochs", "1", "--lr", "0.02", "--set", "lr=0.005", "--out", str(tmp_path / "m")]
    assert main(args) == 0
    used = json.loads((tmp_path / "m" / "config.json").read_text())["train_config"]
    assert used["model"]["hidden_size"] == 12 and used["epochs"] == 1 and used["lr"] == 0.005
    capsys.readouterr()
    bad = ["train", "classify", "--train", str(tmp_path / "t.csv"), "--set", "model.hiden=3",
           "--out", str(tmp_path / "m2")]  # fmt: skip
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "unknown config key" in err and "hidden_size" in err
    assert not (tmp_path / "m2").exists()


def test_print_config_is_a_config_file(tmp_path, capsys):
    assert main(["run", "vanishing-gradients", "--set", "seeds=2", "--print-config"]) == 0
    path = tmp_path / "vg.yaml"
    path.write_text(capsys.readouterr().out)
    cfg = experiments.resolve_config(experiments.get("vanishing-gradients"), config_file=path)
    assert cfg.seeds == 2

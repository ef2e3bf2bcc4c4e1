"""YAML configs: round trips, dotted overrides, type checks, unknown keys with suggestions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from seqattn.config import ConfigError, apply_overrides, config_to_dict, load_config, save_config


@dataclass(frozen=True)
class ModelCfg:
    hidden_size: int = 64
    dropout: float = 0.1
    cell: str = "lstm"
    bidirectional: bool = False


@dataclass(frozen=True)
class RunCfg:
    model: ModelCfg = field(default_factory=ModelCfg)
    lr: float = 1e-3
    lengths: tuple[int, ...] = (10, 20)
    name: str | None = None


def test_roundtrip_through_yaml(tmp_path):
    cfg = RunCfg(model=ModelCfg(hidden_size=128, bidirectional=True), lengths=(5,), name="x")
    path = save_config(cfg, tmp_path / "c.yaml")
    assert load_config(RunCfg, path) == cfg
    assert config_to_dict(cfg)["lengths"] == [5]


def test_yaml_file_then_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("model:\n  hidden_size: 32\nlr: 0.01\n")
    cfg = load_config(RunCfg, tmp_path / "c.yaml", ["model.dropout=0", "lengths=[1, 2, 3]"])
    assert cfg.model == ModelCfg(hidden_size=32, dropout=0.0)
    assert cfg.lr == 0.01 and cfg.lengths == (1, 2, 3)
    assert isinstance(cfg.model.dropout, float)
    assert apply_overrides(cfg, ["name=null"]).name is None


def test_float_in_exponent_notation_without_a_dot():
    """YAML 1.1 (PyYAML) reads 1e-3 as a string; a float field takes it as the number."""
    assert apply_overrides(RunCfg(), ["lr=1e-3"]).lr == 1e-3
    assert apply_overrides(RunCfg(), ["lr=-2E4"]).lr == -2e4
    with pytest.raises(ConfigError, match="lr: expected a float, got str 'fast'"):
        apply_overrides(RunCfg(), ["lr=fast"])


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["model.hiden_size=3"],
         r"unknown config key model\.'hiden_size'; did you mean model\.'hidden_size'"),
        (["modle.hidden_size=3"], r"did you mean 'model'"),
        (["model.hidden_size=2.5"], r"model\.hidden_size: expected an int, got float 2\.5"),
        (["model.bidirectional=1"], r"expected true or false, got 1"),
        (["lengths=5"], r"lengths: expected a list"),
        (["lengths=[1, x]"], r"lengths\[1\]: expected an int"),
        (["lr"], r"expected an override KEY=VALUE"),
        (["lr.x=1"], r"lr is not a section"),
    ],
)  # fmt: skip
def test_bad_overrides(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(RunCfg, None, overrides)


def test_bad_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("model:\n  hidden: 3\n")
    with pytest.raises(ConfigError, match=r"unknown config key model\.'hidden'"):
        load_config(RunCfg, tmp_path / "bad.yaml")
    (tmp_path / "broken.yaml").write_text("model: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(RunCfg, tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(RunCfg, tmp_path / "missing.yaml")


def test_cli_saves_resolved_config_and_rejects_unknown_keys(tmp_path, capsys):
    from seqattn.cli.main import main

    args = ["run", "vanishing-gradients", "--out", str(tmp_path), "--set", "cells=[gru]",
            "--set", "inits=[default]", "--set", "length=8", "--set", "seeds=1",
            "--set", "position_models=[]", "--set", "jacobian=false"]  # fmt: skip
    assert main(args) == 0
    saved = (tmp_path / "config.yaml").read_text()
    assert "length: 8" in saved and "- gru" in saved
    assert main(["run", "vanishing-gradients", "--config", str(tmp_path / "config.yaml"),
                 "--out", str(tmp_path / "again")]) == 0  # fmt: skip
    assert main(["run", "vanishing-gradients", "--set", "hiden_size=3"]) == 2
    assert "did you mean 'hidden_size'" in capsys.readouterr().err


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os

    from seqattn.io import atomic_write_text

    path = atomic_write_text(tmp_path / "f.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask

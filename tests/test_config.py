"""YAML configs: round trips, dotted overrides, type checks, unknown keys with suggestions,
nested sections whose keys used to be flat."""

from __future__ import annotations

import dataclasses
import logging
import pickle
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
import yaml

from seqattn.config import (
    ConfigError,
    apply_overrides,
    check_unchanged,
    config_from_dict,
    config_to_dict,
    flat_kwargs,
    load_config,
    moved_to,
    replace_config,
    save_config,
)


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


# -- nested sections whose keys used to be flat -----------------------------------------------
@flat_kwargs
@dataclass(frozen=True)
class PipeCfg:
    """A pipeline config whose model options moved from the top level into ``model``."""

    model: ModelCfg = field(default_factory=lambda: ModelCfg(hidden_size=32, cell="gru"))
    epochs: int = 3

    config_aliases: ClassVar[dict[str, str]] = moved_to("model", ["hidden_size", "cell"])


@dataclass(frozen=True)
class ExpCfg:
    pipe: PipeCfg = field(default_factory=PipeCfg)
    seeds: int = 1


def test_a_partial_section_starts_from_the_fields_default_not_its_class():
    assert config_from_dict(PipeCfg, {"model": {"dropout": 0.5}}).model == ModelCfg(
        hidden_size=32, cell="gru", dropout=0.5)  # fmt: skip
    assert replace_config(PipeCfg(), {"model.dropout": 0.5}) == PipeCfg(
        model=ModelCfg(hidden_size=32, cell="gru", dropout=0.5))  # fmt: skip
    assert replace_config(PipeCfg(), {"epochs": 1, "epochs ": 2}).epochs == 2  # later wins


def test_old_flat_keys_are_read_at_their_new_place_with_a_deprecation(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="seqattn.config"):
        cfg = config_from_dict(PipeCfg, {"hidden_size": 8, "epochs": 1})
    assert cfg == PipeCfg(model=ModelCfg(hidden_size=8, cell="gru"), epochs=1)
    assert "'hidden_size' -> 'model.hidden_size'" in caplog.text
    # inside a section of another config (an experiment's): old files, overrides, mappings
    (tmp_path / "old.yaml").write_text("pipe:\n  hidden_size: 4\n  cell: lstm\nseeds: 2\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="seqattn.config"):
        old = load_config(ExpCfg, tmp_path / "old.yaml", ["pipe.hidden_size=5"])
    assert old.pipe.model == ModelCfg(hidden_size=5, cell="lstm") and old.seeds == 2
    assert f"deprecated config keys in {tmp_path / 'old.yaml'}" in caplog.text
    assert "'pipe.cell' -> 'pipe.model.cell'" in caplog.text
    assert "deprecated config keys in overrides" in caplog.text
    assert load_config(ExpCfg, save_config(old, tmp_path / "new.yaml")) == old
    assert "hidden_size" not in yaml.safe_load((tmp_path / "new.yaml").read_text())["pipe"]


def test_unknown_and_doubled_keys_of_nested_configs():
    with pytest.raises(
        ConfigError,
        match=r"unknown config key 'hiden_size'; did you mean "
        r"'model\.hidden_size'\? \(valid keys: epochs, model\)",
    ):
        apply_overrides(PipeCfg(), ["hiden_size=3"])
    with pytest.raises(
        ConfigError,
        match=r"unknown config key pipe\.model\.'hiden_size'; did "
        r"you mean pipe\.model\.'hidden_size'\? \(valid keys: bidirectional, ",
    ):
        load_config(ExpCfg, None, ["pipe.model.hiden_size=3"])
    with pytest.raises(
        ConfigError,
        match=r"'hidden_size' \(the old name of 'model\.hidden_size'"
        r"\) or 'model\.hidden_size', got both",
    ):
        config_from_dict(PipeCfg, {"hidden_size": 3, "model": {"hidden_size": 4}})
    with pytest.raises(ConfigError, match=r"model\.hidden_size: expected an int, got str 'x'"):
        replace_config(PipeCfg(), {"hidden_size": "x"})
    with pytest.raises(TypeError, match="expected a dataclass instance"):
        replace_config(PipeCfg, {})


def test_flat_kwargs_keeps_the_old_constructor_and_attributes():
    with pytest.warns(DeprecationWarning, match=r"PipeCfg\(hidden_size=\.\.\.\) is deprecated"):
        cfg = PipeCfg(hidden_size=8, epochs=2)
    assert cfg == PipeCfg(model=ModelCfg(hidden_size=8, cell="gru"), epochs=2)
    with pytest.warns(DeprecationWarning, match=r"PipeCfg\.cell is deprecated: read \.model\.cell"):
        assert cfg.cell == "gru"
    with pytest.raises(AttributeError, match="no attribute 'dropout'"):
        cfg.dropout  # noqa: B018 (only the declared aliases resolve)
    assert PipeCfg(**config_to_dict(cfg)) == cfg  # a section as a mapping
    assert dataclasses.replace(cfg, epochs=5).epochs == 5
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_check_unchanged_names_the_key_and_the_reason():
    check_unchanged(ModelCfg(), ModelCfg(), ["hidden_size"], "model", "set by the data")
    with pytest.raises(
        ValueError,
        match=r"expected model\.cell to stay 'lstm' \(set per run\), "
        r"got 'gru'",
    ):
        check_unchanged(ModelCfg(cell="gru"), ModelCfg(), ["cell"], "model", "set per run")

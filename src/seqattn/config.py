"""Frozen dataclass configs <-> YAML, with dotted, type-checked overrides.

    cfg = load_config(ExperimentConfig, "cfg.yaml", overrides=["model.hidden_size=256"])
    save_config(cfg, "run/config.yaml")

Unknown keys are errors that suggest the closest valid key; values are checked against the
field's type (ints stay ints, a float field takes an int, tuples take lists, ``X | None`` takes
null, nested dataclasses take mappings).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = [
    "ConfigError",
    "config_to_dict",
    "config_from_dict",
    "apply_overrides",
    "load_config",
    "save_config",
]

C = TypeVar("C")


class ConfigError(ValueError):
    """A config key or value that does not fit the config's dataclass."""


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML-ready dict (tuples become lists)."""

    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return plain(cfg)


def _unknown_key(key: str, valid: Iterable[str], where: str) -> ConfigError:
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean {where}{close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {where}{key!r}{hint} (valid keys: {', '.join(valid)})")


_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: expected {tp}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return config_from_dict(tp, value, prefix=f"{where}.")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (a, v) in pairs)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an int, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            # PyYAML follows YAML 1.1, where "1e-3" (no dot) is a string, not a float
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a float, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
        return value
    if tp is Path:
        return Path(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__}")
    return value


def config_from_dict(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
    """Build ``cls`` from a mapping; unknown keys and ill-typed values raise ConfigError."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"expected a dataclass type, got {cls!r}")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise _unknown_key(str(key), fields, prefix)
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{prefix or 'config'}: {err}") from err


def apply_overrides(cfg: C, overrides: Iterable[str]) -> C:
    """Apply ``"a.b=value"`` overrides (values parsed as YAML) to a dataclass config."""
    data = config_to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"expected an override KEY=VALUE (e.g. model.hidden_size=256), got {item!r}"
            )
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        node, parts = data, key.strip().split(".")
        cls = type(cfg)
        for depth, part in enumerate(parts):
            names = [f.name for f in dataclasses.fields(cls)]
            where = ".".join(parts[:depth]) + ("." if depth else "")
            if part not in names:
                raise _unknown_key(part, names, where)
            if depth == len(parts) - 1:
                node[part] = value
            else:
                sub = typing.get_type_hints(cls)[part]
                if not dataclasses.is_dataclass(sub):
                    raise ConfigError(f"{where}{part} is not a section; cannot set {key!r}")
                node, cls = node[part], sub
    return config_from_dict(type(cfg), data)


def load_config(cls: type[C], path: str | Path | None = None, overrides: Iterable[str] = ()) -> C:
    """Defaults of ``cls``, then the YAML file (if any), then the overrides."""
    cfg = cls()
    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
        merged = config_to_dict(cfg)
        _deep_update(merged, data, cls, "")
        cfg = config_from_dict(cls, merged)
    return apply_overrides(cfg, overrides)


def _deep_update(base: dict, new: Mapping, cls, prefix: str) -> None:
    if not isinstance(new, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(new).__name__}")
    hints = typing.get_type_hints(cls)
    for key, value in new.items():
        if key not in base:
            raise _unknown_key(str(key), base, prefix)
        sub = hints.get(key)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(sub):
            _deep_update(base[key], value, sub, f"{prefix}{key}.")
        else:
            base[key] = value


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the config as YAML, atomically."""
    from seqattn.io import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))

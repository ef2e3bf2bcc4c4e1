"""Frozen dataclass configs <-> YAML, with dotted, type-checked overrides.

    cfg = load_config(ExperimentConfig, "cfg.yaml", overrides=["model.hidden_size=256"])
    cfg = replace_config(cfg, {"model.hidden_size": 128, "lr": 3e-4})
    save_config(cfg, "run/config.yaml")

Unknown keys are errors that name the key, suggest the closest valid one and list the valid
ones; values are checked against the field's type (ints stay ints, a float field takes an int,
tuples take lists, ``X | None`` takes null, nested dataclasses take mappings).

Keys that moved: a config class may declare ``config_aliases``, a ``ClassVar`` mapping an old
key to its new dotted place (``{"hidden_size": "model.hidden_size"}``, see :func:`moved_to`).
Files, mappings and overrides that use an old key are read as the new key, with a deprecation
message on the ``seqattn.config`` logger; :func:`flat_kwargs` makes the class's constructor and
attribute reads take the old names as well (with a :class:`DeprecationWarning`). This is the one
place where old flat configs become nested ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import logging
import re
import types
import typing
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = [
    "ConfigError",
    "config_to_dict",
    "config_from_dict",
    "apply_overrides",
    "replace_config",
    "load_config",
    "save_config",
    "moved_to",
    "flat_kwargs",
    "check_unchanged",
    "ConfigDict",
]

C = TypeVar("C")
log = logging.getLogger("seqattn.config")


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


def _unknown_key(
    key: str, valid: Iterable[str], where: str, aliases: Mapping[str, str] | None = None
) -> ConfigError:
    valid = sorted(valid)
    aliases = aliases or {}
    close = difflib.get_close_matches(key, [*valid, *aliases], n=1, cutoff=0.5)
    hint = ""
    if close:
        hint = f"; did you mean {where}{aliases.get(close[0], close[0])!r}?"
    return ConfigError(f"unknown config key {where}{key!r}{hint} (valid keys: {', '.join(valid)})")


# -- keys that moved ------------------------------------------------------------------------
def moved_to(section: str, names: Iterable[str]) -> dict[str, str]:
    """``config_aliases`` for flat keys that moved into the nested ``section``.

    >>> moved_to("model", ["hidden_size", "dropout"])
    {'hidden_size': 'model.hidden_size', 'dropout': 'model.dropout'}
    """
    return {name: f"{section}.{name}" for name in names}


def _aliases(cls: Any) -> Mapping[str, str]:
    return getattr(cls, "config_aliases", None) or {}


def _field_names(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _deprecated(moved: list[tuple[str, str]], what: str) -> None:
    if moved:
        pairs = ", ".join(f"{old!r} -> {new!r}" for old, new in moved)
        log.warning("deprecated config keys in %s, read as their new place: %s", what, pairs)


def _nest(cls: Any, data: Any, prefix: str, moved: list[tuple[str, str]]) -> Any:
    """``data`` with the old keys of ``cls`` (and of its sections) moved to their new place."""
    if not isinstance(data, Mapping) or not dataclasses.is_dataclass(cls):
        return data
    aliases, names = _aliases(cls), set(_field_names(cls))
    out = {k: v for k, v in data.items() if k in names or k not in aliases}
    for key, value in data.items():
        if key in names or key not in aliases:
            continue
        *sections, last = aliases[key].split(".")
        node = out
        for part in sections:
            sub = node.get(part, {})
            node[part] = config_to_dict(sub) if dataclasses.is_dataclass(sub) else dict(sub)
            node = node[part]
        if last in node:
            raise ConfigError(
                f"expected {prefix}{key!r} (the old name of {prefix}{aliases[key]!r}) or "
                f"{prefix}{aliases[key]!r}, got both"
            )
        node[last] = value
        moved.append((prefix + key, prefix + aliases[key]))
    hints = typing.get_type_hints(cls)
    for key, value in out.items():
        sub = hints.get(key)
        if key in names and dataclasses.is_dataclass(sub) and isinstance(value, Mapping):
            out[key] = _nest(sub, value, f"{prefix}{key}.", moved)
    return out


def _resolve_key(cls: Any, key: str, moved: list[tuple[str, str]]) -> list[str]:
    """The dotted ``key`` as field names, old names replaced by their new place."""
    parts, out = key.strip().split("."), []
    while parts:
        part = parts.pop(0)
        names, aliases = _field_names(cls), _aliases(cls)
        where = ".".join(out) + ("." if out else "")
        if part not in names and part in aliases:
            moved.append((where + part, where + aliases[part]))
            parts = aliases[part].split(".") + parts
            continue
        if part not in names:
            raise _unknown_key(part, names, where, aliases)
        out.append(part)
        if parts:
            sub = typing.get_type_hints(cls)[part]
            if not dataclasses.is_dataclass(sub):
                raise ConfigError(f"{where}{part} is not a section; cannot set {key!r}")
            cls = sub
    return out


class ConfigDict:
    """Mixin for dataclass configs: ``to_dict`` (nested, JSON/YAML-ready) and ``from_dict``
    (nested, or with the old keys of ``config_aliases``; ConfigError on a bad key or value)."""

    def to_dict(self) -> dict[str, Any]:
        """A nested, JSON-ready dict (sections as mappings)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """The config of :meth:`to_dict`'s output, or of an older version's dict (keys that
        moved read at their new place). Unknown keys and ill-typed values raise ConfigError."""
        return config_from_dict(cls, data)


def check_unchanged(
    section: Any, reference: Any, names: Iterable[str], where: str, reason: str
) -> None:
    """ValueError when a field ``names`` of ``section`` differs from ``reference``'s: the fields
    of a nested model config that the code fills in itself (from the data...).

    >>> from seqattn.models import ClassifierConfig
    >>> check_unchanged(ClassifierConfig(vocab_size=5), ClassifierConfig(vocab_size=1),
    ...                 ["vocab_size"], "model", "filled in from the data")
    Traceback (most recent call last):
    ...
    ValueError: expected model.vocab_size to stay 1 (filled in from the data), got 5
    """
    for name in names:
        got, want = getattr(section, name), getattr(reference, name)
        if got != want:
            raise ValueError(f"expected {where}.{name} to stay {want!r} ({reason}), got {got!r}")


def flat_kwargs(cls: type[C]) -> type[C]:
    """Class decorator (above ``@dataclass``): the constructor takes the old keys of
    ``cls.config_aliases`` (``Cfg(hidden_size=8)`` for ``Cfg(model=...(hidden_size=8))``) and
    attribute reads find them (``cfg.hidden_size``), both with a :class:`DeprecationWarning`;
    a section may be given as a mapping (``Cfg(**cfg.to_dict())``), over the field's default."""
    init, aliases = cls.__init__, _aliases(cls)

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        old = {k: kwargs.pop(k) for k in list(kwargs) if k in aliases}
        if old:
            warnings.warn(
                f"{cls.__name__}({', '.join(old)}=...) is deprecated: pass "
                f"{', '.join(sorted({aliases[k].split('.')[0] for k in old}))}=... instead",
                DeprecationWarning,
                stacklevel=2,
            )
            for section in {aliases[k].split(".")[0] for k in old}:
                base = kwargs.get(section)
                if base is None:
                    base = _default(next(f for f in dataclasses.fields(cls) if f.name == section))
                changes = {aliases[k].split(".", 1)[1]: v for k, v in old.items()
                           if aliases[k].split(".")[0] == section}  # fmt: skip
                kwargs[section] = replace_config(base, changes)
        for f in dataclasses.fields(cls):  # a section given as a mapping (``to_dict``'s)
            if f.init and isinstance(kwargs.get(f.name), Mapping):
                base = _default(f)
                if dataclasses.is_dataclass(base):
                    kwargs[f.name] = replace_config(base, kwargs[f.name])
        init(self, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name not in aliases:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        warnings.warn(
            f"{cls.__name__}.{name} is deprecated: read .{aliases[name]}",
            DeprecationWarning,
            stacklevel=2,
        )
        value = self
        for part in aliases[name].split("."):
            value = getattr(value, part)
        return value

    cls.__init__ = __init__
    cls.__getattr__ = __getattr__
    return cls


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
    """Build ``cls`` from a mapping, nested or with old flat keys (see ``config_aliases``);
    unknown keys and ill-typed values raise ConfigError."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"expected a dataclass type, got {cls!r}")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    moved: list[tuple[str, str]] = []
    data = _nest(cls, data, prefix, moved)
    _deprecated(moved, f"a {cls.__name__} mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise _unknown_key(str(key), fields, prefix, _aliases(cls))
        default = _default(fields[key])
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            # a section given in part: the rest from this field's default, not its class's
            merged = config_to_dict(default)
            _deep_update(merged, value, hints[key], f"{prefix}{key}.")
            value = merged
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {err}") from err


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def apply_overrides(cfg: C, overrides: Iterable[str]) -> C:
    """Apply ``"a.b=value"`` overrides (values parsed as YAML) to a dataclass config."""
    changes = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"expected an override KEY=VALUE (e.g. model.hidden_size=256), got {item!r}"
            )
        key, raw = item.split("=", 1)
        changes[key] = yaml.safe_load(raw) if raw.strip() else ""
    return replace_config(cfg, changes)


def replace_config(cfg: C, changes: Mapping[str, Any]) -> C:
    """``dataclasses.replace`` for nested configs: dotted keys (``"model.hidden_size"``), each
    value type-checked against its field; later keys win. Raises ConfigError.

    >>> from seqattn.models import ClassifierConfig
    >>> replace_config(ClassifierConfig(vocab_size=9), {"hidden_size": 4}).hidden_size
    4
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    data, moved = config_to_dict(cfg), []
    for key, value in changes.items():
        node, parts = data, _resolve_key(type(cfg), str(key), moved)
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    _deprecated(moved, "overrides")
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
        moved: list[tuple[str, str]] = []
        data = _nest(cls, data, "", moved)
        _deprecated(moved, str(path))
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
            raise _unknown_key(str(key), base, prefix, _aliases(cls))
        sub = hints.get(key)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(sub):
            _deep_update(base[key], value, sub, f"{prefix}{key}.")
        else:
            base[key] = value


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the config as YAML, atomically."""
    from seqattn.io import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))

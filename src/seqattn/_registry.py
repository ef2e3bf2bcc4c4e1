"""Named registries (decoders, classifier heads): one registration beside each class.

A :class:`Registry` maps a name to what builds the thing (a class or a builder function). It
reads as the tuple of its names where a tuple of names was expected before registries
(iteration, ``in``, ``repr`` and equality with a tuple), so ``f"expected head in {HEADS}"``
and ``HEADS == ("last", ...)`` keep working, and it stays current: a name registered later
(by a plugin, or a test) shows up in every check and every CLI choice.

:class:`LazyNames` is the CLI's view of a registry: the CLI imports no torch at parse time,
so it names the registry by module and attribute and resolves it only when asked (a value to
check, ``--help`` to print). This module imports nothing from seqattn and no torch.

Example:
    >>> HEADS = Registry("head")
    >>> @HEADS.register("mean")
    ... def mean_head(d):
    ...     return d
    >>> HEADS, "mean" in HEADS, HEADS == ("mean",), HEADS["mean"](3)
    (('mean',), True, True, 3)
    >>> HEADS.check("max")
    Traceback (most recent call last):
    ...
    ValueError: expected head in ('mean',), got 'max'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["LazyNames", "Registry"]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Name -> entry, in registration order; reads as the tuple of its names.

    Args:
        kind: what the entries are (``"decoder"``), for error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None, *, replace: bool = False):
        """Register ``entry`` under ``name``; without ``entry``, a decorator.

        Raises ValueError for a name already taken (unless ``replace``) or not a string.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"expected a {self.kind} name as a non-empty str, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"expected a new {self.kind} name, got {name!r} (registered)")

        def add(obj: T) -> T:
            self._entries[name] = obj
            return obj

        return add if entry is None else add(entry)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plugins that registered it)."""
        self.check(name)
        del self._entries[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def check(self, name: Any) -> None:
        """Raise ``ValueError("expected <kind> in (...), got ...")`` unless ``name`` is one."""
        if name not in self._entries:
            raise ValueError(f"expected {self.kind} in {self.names()}, got {name!r}")

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise KeyError(f"expected {self.kind} in {self.names()}, got {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple | list):
            return self.names() == tuple(other)
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.names())


class LazyNames(Sequence[str]):
    """The names of a registry (or any sequence of names) named by ``module:attribute``,
    imported on first use: iteration, ``in``, ``len``, equality with a tuple.

    :meth:`help` gives an argparse help text that lists the names only when the help is
    printed (argparse expands help strings with ``%``), so building a parser imports nothing.

    Example:
        >>> names = LazyNames("seqattn._registry:__all__")
        >>> list(names), "Registry" in names
        (['LazyNames', 'Registry'], True)
    """

    def __init__(self, target: str) -> None:
        module, sep, attr = target.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"expected 'module:attribute', got {target!r}")
        self.target = target

    def resolve(self) -> tuple[str, ...]:
        module, _, attr = self.target.partition(":")
        return tuple(getattr(importlib.import_module(module), attr))

    def __getitem__(self, index):  # type: ignore[override]
        return self.resolve()[index]

    def __len__(self) -> int:
        return len(self.resolve())

    def __contains__(self, name: object) -> bool:
        return name in self.resolve()

    def __iter__(self) -> Iterator[str]:
        return iter(self.resolve())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyNames):
            return self.resolve() == other.resolve()
        if isinstance(other, Sequence | Mapping) and not isinstance(other, str):
            return self.resolve() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyNames({self.target!r})"

    def help(self, template: str) -> str:
        """An argparse help string: ``template`` with ``{}`` replaced by the names joined with
        ``", "``, formatted when argparse prints the help."""
        return _LazyHelp(template, lambda: ", ".join(self.resolve()))


class _LazyHelp(str):
    """A help string whose ``{}`` is filled in when argparse expands it (``help % params``)."""

    def __new__(cls, template: str, fill: Callable[[], str]) -> _LazyHelp:
        obj = super().__new__(cls, template)
        obj._fill = fill
        return obj

    def __mod__(self, params: Any) -> str:
        return str.__mod__(str(self).replace("{}", self._fill()), params)

"""Griffe extension for the API reference (mkdocs.yml): seqattn's docstrings title their doctest
sections ``Example:``; griffe's Google parser knows only ``Examples:`` and would render the
doctest as prose. Retitle them before parsing so they render as code."""

from __future__ import annotations

import re

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """``Example:`` -> ``Examples:`` in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
